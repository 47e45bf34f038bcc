"""Sales-channel connectors: one module per platform on the shared machinery in http.py and base.py."""

from __future__ import annotations

from sync_pipeline.channels.amazon import AmazonConnector
from sync_pipeline.channels.base import ChannelConnector, RawOrder
from sync_pipeline.channels.shopify import ShopifyConnector
from sync_pipeline.channels.takealot import TakealotConnector
from sync_pipeline.channels.woocommerce import WooCommerceConnector

CONNECTORS: dict[str, type[ChannelConnector]] = {
    c.type: c for c in (ShopifyConnector, WooCommerceConnector, AmazonConnector, TakealotConnector)
}

__all__ = ["CONNECTORS", "ChannelConnector", "RawOrder"]
