"""The simulated platforms, by channel type."""

from sync_pipeline.simulator.platforms.amazon import Amazon
from sync_pipeline.simulator.platforms.base import Platform
from sync_pipeline.simulator.platforms.bigcommerce import BigCommerce
from sync_pipeline.simulator.platforms.bobshop import BobShop
from sync_pipeline.simulator.platforms.ebay import Ebay
from sync_pipeline.simulator.platforms.magento import Magento
from sync_pipeline.simulator.platforms.shopify import Shopify
from sync_pipeline.simulator.platforms.takealot import Takealot
from sync_pipeline.simulator.platforms.woocommerce import WooCommerce

PLATFORMS: dict[str, type[Platform]] = {p.type: p for p in (Shopify, WooCommerce, Amazon, Takealot, BigCommerce, Ebay,
                                                   BobShop, Magento)}

__all__ = ["PLATFORMS", "Platform"]
