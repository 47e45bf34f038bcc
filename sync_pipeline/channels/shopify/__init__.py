"""Shopify: the REST Admin API client."""

from sync_pipeline.channels.shopify.client import ShopifyConnector

__all__ = ["ShopifyConnector"]
