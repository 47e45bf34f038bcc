"""WooCommerce: the REST API v3 client."""

from sync_pipeline.channels.woocommerce.client import WooCommerceConnector

__all__ = ["WooCommerceConnector"]
