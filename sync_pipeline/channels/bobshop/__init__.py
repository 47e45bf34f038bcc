"""Bob Shop: orders by export file, stock by the Store Integrator's XML tradefeed, no tracking push."""

from sync_pipeline.channels.bobshop.client import BobShopConnector

__all__ = ["BobShopConnector"]
