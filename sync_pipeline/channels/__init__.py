"""Sales-channel connectors: one module per platform on the shared machinery in http.py and base.py."""

from __future__ import annotations

from sync_pipeline.channels.amazon import AmazonConnector
from sync_pipeline.channels.amazon.inventory import AmazonInventory
from sync_pipeline.channels.amazon.mapping import AMAZON_CSV_ORDERS, AMAZON_ORDERS
from sync_pipeline.channels.amazon.tracking import AmazonTracking
from sync_pipeline.channels.base import ChannelConnector, RawOrder
from sync_pipeline.channels.bigcommerce import BigCommerceConnector
from sync_pipeline.channels.bigcommerce import webhooks as bigcommerce_webhooks
from sync_pipeline.channels.bigcommerce.inventory import BigCommerceInventory
from sync_pipeline.channels.bigcommerce.mapping import BIGCOMMERCE_CSV_ORDERS, BIGCOMMERCE_ORDERS
from sync_pipeline.channels.bigcommerce.tracking import BigCommerceTracking
from sync_pipeline.channels.bobshop import BobShopConnector
from sync_pipeline.channels.bobshop.inventory import BobShopInventory
from sync_pipeline.channels.bobshop.mapping import BOBSHOP_CSV_ORDERS, BOBSHOP_ORDERS
from sync_pipeline.channels.ebay import EbayConnector
from sync_pipeline.channels.ebay.inventory import EbayInventory
from sync_pipeline.channels.ebay.mapping import EBAY_CSV_ORDERS, EBAY_ORDERS
from sync_pipeline.channels.ebay.tracking import EbayTracking
from sync_pipeline.channels.inventory import InventoryPush
from sync_pipeline.channels.magento import MagentoConnector
from sync_pipeline.channels.magento.inventory import MagentoInventory
from sync_pipeline.channels.magento.mapping import MAGENTO_CSV_ORDERS, MAGENTO_ORDERS
from sync_pipeline.channels.magento.tracking import MagentoTracking
from sync_pipeline.channels.shopify import ShopifyConnector
from sync_pipeline.channels.shopify import webhooks as shopify_webhooks
from sync_pipeline.channels.shopify.inventory import ShopifyInventory
from sync_pipeline.channels.shopify.mapping import SHOPIFY_CSV_ORDERS, SHOPIFY_ORDERS
from sync_pipeline.channels.shopify.tracking import ShopifyTracking
from sync_pipeline.channels.takealot import TakealotConnector
from sync_pipeline.channels.takealot.inventory import TakealotInventory
from sync_pipeline.channels.takealot.mapping import TAKEALOT_CSV_ORDERS, TAKEALOT_ORDERS
from sync_pipeline.channels.tracking import TrackingPush
from sync_pipeline.channels.webhooks import DeliveryReader
from sync_pipeline.channels.woocommerce import WooCommerceConnector
from sync_pipeline.channels.woocommerce import webhooks as woocommerce_webhooks
from sync_pipeline.channels.woocommerce.inventory import WooCommerceInventory
from sync_pipeline.channels.woocommerce.mapping import WOOCOMMERCE_CSV_ORDERS, WOOCOMMERCE_ORDERS
from sync_pipeline.channels.woocommerce.tracking import WooCommerceTracking
from sync_pipeline.orders.mapping import ChannelMapping

CONNECTORS: dict[str, type[ChannelConnector]] = {
    c.type: c for c in (
        ShopifyConnector, WooCommerceConnector, AmazonConnector, TakealotConnector, BigCommerceConnector, EbayConnector,
        MagentoConnector, BobShopConnector,
    )
}

# Per channel type, the field table for each source: the API's payloads and the channel's CSV export.
ORDER_MAPPINGS: dict[str, dict[str, ChannelMapping]] = {
    "shopify": {"api": SHOPIFY_ORDERS, "csv": SHOPIFY_CSV_ORDERS},
    "woocommerce": {"api": WOOCOMMERCE_ORDERS, "csv": WOOCOMMERCE_CSV_ORDERS},
    "amazon": {"api": AMAZON_ORDERS, "csv": AMAZON_CSV_ORDERS},
    "takealot": {"api": TAKEALOT_ORDERS, "csv": TAKEALOT_CSV_ORDERS},
    "bigcommerce": {"api": BIGCOMMERCE_ORDERS, "csv": BIGCOMMERCE_CSV_ORDERS},
    "ebay": {"api": EBAY_ORDERS, "csv": EBAY_CSV_ORDERS},
    "magento": {"api": MAGENTO_ORDERS, "csv": MAGENTO_CSV_ORDERS},
    "bobshop": {"api": BOBSHOP_ORDERS, "csv": BOBSHOP_CSV_ORDERS},
}

# Per channel type, how it takes tracking numbers; Takealot delivers to its customers itself and takes none, and Bob
# Shop's status updates are made on its site by hand (tracking/push.py NO_TRACKING_PUSH says why, per type).
TRACKING_PUSHES: dict[str, type[TrackingPush]] = {
    "shopify": ShopifyTracking, "woocommerce": WooCommerceTracking, "amazon": AmazonTracking,
    "bigcommerce": BigCommerceTracking, "ebay": EbayTracking, "magento": MagentoTracking,
}

# Per channel type, how it takes stock.
INVENTORY_PUSHES: dict[str, type[InventoryPush]] = {
    "shopify": ShopifyInventory, "woocommerce": WooCommerceInventory, "amazon": AmazonInventory,
    "bigcommerce": BigCommerceInventory, "ebay": EbayInventory, "takealot": TakealotInventory,
    "magento": MagentoInventory, "bobshop": BobShopInventory,
}

__all__ = ["CONNECTORS", "INVENTORY_PUSHES", "ORDER_MAPPINGS", "TRACKING_PUSHES", "ChannelConnector", "RawOrder"]

# Per channel type that sends order webhooks, how its deliveries are read and checked.
WEBHOOK_READERS: dict[str, DeliveryReader] = {
    "shopify": shopify_webhooks.read_delivery, "woocommerce": woocommerce_webhooks.read_delivery,
    "bigcommerce": bigcommerce_webhooks.read_delivery,
}
