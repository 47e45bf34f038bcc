"""Magento 2 / Adobe Commerce: the REST API client (orders, tracking as shipments, MSI stock)."""

from sync_pipeline.channels.magento.client import MagentoConnector

__all__ = ["MagentoConnector"]
