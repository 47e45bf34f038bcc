"""eBay: the Sell Fulfillment API client."""

from sync_pipeline.channels.ebay.client import EbayConnector

__all__ = ["EbayConnector"]
