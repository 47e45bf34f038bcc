"""Takealot: the Seller API v2 client."""

from sync_pipeline.channels.takealot.client import TakealotConnector

__all__ = ["TakealotConnector"]
