"""BigCommerce: the Orders V2 API client."""

from sync_pipeline.channels.bigcommerce.client import BigCommerceConnector

__all__ = ["BigCommerceConnector"]
