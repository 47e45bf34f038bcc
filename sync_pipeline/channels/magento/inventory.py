"""Magento 2 MSI: a listing's stock is its source item at the channel's source (`options.source_code`, default
`default`).

Listings are the products that hold stock (every type but the composites: a configurable, bundle or grouped product
has none of its own; its simples are listed), from `GET /V1/products`, with their quantity at the source from
`GET /V1/inventory/source-items` (filter source_code eq), both paged by searchCriteria and stopped by total_count.
`status` 1 is enabled, 2 disabled (NOT_ACTIVE); `extension_attributes.stock_item.manage_stock` false keeps no stock
(INVENTORY_NOT_TRACKED). A product without a source item at the source shows no quantity and gets one when written.

`POST /V1/inventory/source-items` {sourceItems: [{sku, source_code, quantity, status}]} sets many at once and
answers []. It is all or nothing: a refused call saved none of its items. An item it names (a product deleted since
it was read) is taken out with its status and the rest sent again; a refusal naming none sends each alone, so one
bad item never holds back the others. A source the store lacks stops this channel's stock push with an error naming
the setting, the source asked for and the store's sources (read from `GET /V1/inventory/sources`), checked before
any listing is read."""

from __future__ import annotations

from collections.abc import Collection

from sync_pipeline.channels.http import ChannelRequestError
from sync_pipeline.channels.inventory import (
    NOT_SUPPORTED,
    PRODUCT_NOT_FOUND,
    InventoryPush,
    Listing,
    StockUpdate,
    Written,
    write_whole,
)
from sync_pipeline.channels.magento.client import filled

# Product and source item pages: well under 2.4.7's default web API maximum page size (300), with full products.
PAGE_SIZE = 100
COMPOSITE_TYPES = frozenset({"configurable", "bundle", "grouped"})


class MagentoInventory(InventoryPush):
    # MSI's SourceItemsSave takes any number in one transaction; 100 keeps a refused call (which saves nothing and is
    # sent again without the item it names) cheap to repeat, and one call still sets a whole catalogue page.
    batch_size = 100
    daily_writes_per_listing = None

    @property
    def source_code(self) -> str:
        return str(self.connector.config.options.get("source_code", "default"))

    def _check_source(self) -> None:
        """The configured source must be one of the store's: otherwise no write of this channel can land."""
        sources = [source.get("source_code") for page in self.connector.search(
            "/inventory/sources", "V1/inventory/sources", [], PAGE_SIZE) for source in page]
        if self.source_code not in sources:
            raise ChannelRequestError(self.connector.config.name, (
                f"wrong inventory source configured: options.source_code in data/channels.yaml is "
                f"{self.source_code!r}, which this Magento store does not have (its sources: "
                f"{', '.join(map(str, sources)) or 'none'}); set it to the source the warehouse's stock belongs to "
                "(Stores > Inventory > Sources). Nothing was written for this channel"
            ))

    # --- listings -----------------------------------------------------------------------------------------------
    def listings(self, skus: Collection[str] = ()) -> list[Listing]:
        self._check_source()
        quantities = {
            item.get("sku"): item.get("quantity")
            for page in self.connector.search("/inventory/source-items", "V1/inventory/source-items",
                                              [("source_code", "eq", self.source_code)], PAGE_SIZE)
            for item in page
        }
        found = []
        for page in self.connector.search("/products", "V1/products", [], PAGE_SIZE, sort="entity_id"):
            for product in page:
                if product.get("type_id") in COMPOSITE_TYPES:
                    continue
                stock_item = (product.get("extension_attributes") or {}).get("stock_item") or {}
                quantity = quantities.get(product.get("sku"))
                found.append(Listing(
                    listing_id=str(product["id"]), sku=product.get("sku") or "",
                    quantity=int(float(quantity)) if quantity is not None else None,
                    tracked=stock_item.get("manage_stock", True) not in (False, 0, "0"),
                    active=int(product.get("status") or 0) == 1, ids={"sku": product.get("sku") or ""},
                ))
        return found

    # --- write --------------------------------------------------------------------------------------------------
    def write(self, updates: list[StockUpdate]) -> list[Written]:
        return write_whole(updates, self._save, self._refusal)

    def _save(self, updates: list[StockUpdate], indexes: list[int]) -> tuple[str | None, dict[int, Written]]:
        """One call for these items: (None, {}) when it was taken, else Magento's words and the items they name."""
        items = [{"sku": updates[i].listing.ids.get("sku") or updates[i].listing.sku, "source_code": self.source_code,
                  "quantity": updates[i].quantity, "status": 1 if updates[i].quantity > 0 else 0} for i in indexes]
        # Absolute quantities: a repeat sets the same values, so the shared retries apply.
        response = self.connector.request("POST", "/inventory/source-items", endpoint="V1/inventory/source-items",
                                          json={"sourceItems": items}, allowed=(200, 400))
        if response.status_code == 200:
            return None, {}
        said = self._words(response)
        self._check_source()  # a source the store lacks stops the channel, saying so, whatever the refusal's words
        refused = {i: self._refusal(updates[i], said) for i, item in zip(indexes, items)
                   if self._names(said, item["sku"])}
        return said, refused

    def _words(self, response) -> str:
        """Magento's message, filled in, with any validation errors it lists (redacted)."""
        text = self.connector.said(response)
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            errors = []
        details = [self.connector.http.redact(filled(e)) for e in errors if isinstance(e, dict)]
        return f"HTTP {response.status_code}: " + "; ".join([text, *details] if details else [text])

    @staticmethod
    def _names(said: str, sku: str) -> bool:
        return any(f"{quote}{sku}{quote}" in said for quote in ('"', "'", "\u201c"))

    def _refusal(self, update: StockUpdate, said: str) -> Written:
        listing_id, text = update.listing.listing_id, said.casefold()
        what = f"Magento product {listing_id} (SKU {update.listing.sku!r})"
        if "not exist" in text or "not found" in text or "no such" in text:
            return Written(listing_id, PRODUCT_NOT_FOUND, (
                f"{what} is gone ({said}): it was deleted in the admin. Create it again, or drop the SKU from the "
                "channel; nothing was written"
            ))
        return Written(listing_id, NOT_SUPPORTED, (
            f"Magento refused the stock of {what} at source {self.source_code!r} ({said}); fix the product in the admin "
            "(Catalog > Products), then it is written on the next run"
        ))
