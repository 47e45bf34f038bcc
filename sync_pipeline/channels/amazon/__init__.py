"""Amazon: the SP-API Orders v0 client."""

from sync_pipeline.channels.amazon.client import AmazonConnector

__all__ = ["AmazonConnector"]
