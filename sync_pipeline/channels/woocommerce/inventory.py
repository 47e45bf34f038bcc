"""WooCommerce's stock push (REST API v3): a simple product's or a variation's `stock_quantity`.

- listings: `GET wc/v3/products` (status any, per_page 100, orderby id asc, every page by X-WP-TotalPages). A
  listing is a simple product: `listing_id` its id, `quantity` its `stock_quantity` (None when stock is not
  managed), `tracked` `manage_stock` is true, `active` `status == "publish"`. A variable product holds no stock: its
  variations do, each a listing of its own, read with `GET wc/v3/products/<id>/variations` (per_page 100, every
  page: one call per 100 variations of each variable product), `ids.parent_id` its product.
- write: `POST wc/v3/products/batch {"update": [{"id", "stock_quantity"}]}` for simple products and `POST
  wc/v3/products/<parent>/variations/batch` (the same body) for each variable product's variations, up to 100
  items a call.

WooCommerce ignores a stock_quantity for a product whose manage_stock is false, without an error. So an untracked
listing is never sent (INVENTORY_NOT_TRACKED, no call), and `manage_stock: true` is never sent either: whether
WooCommerce counts a product's stock is the shop's choice. A product that comes back with manage_stock false (it
was switched off since it was read) is INVENTORY_NOT_TRACKED too.

Answers per item: the product PUSHED; `woocommerce_rest_product_invalid_id` PRODUCT_NOT_FOUND (deleted, or in the
trash); `rest_invalid_param` on stock_quantity INVALID_QUANTITY; any other item error NOT_SUPPORTED with Woo's
words. A refusal of the whole call (a body Woo cannot read) is a request it cannot take: ChannelRequestError."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timezone

from sync_pipeline.channels.http import ChannelRequestError
from sync_pipeline.channels.inventory import (
    INVALID_QUANTITY,
    INVENTORY_NOT_TRACKED,
    NOT_SUPPORTED,
    PRODUCT_NOT_FOUND,
    PUSHED,
    InventoryPush,
    Listing,
    StockUpdate,
    Written,
)

PER_PAGE = 100


class WooCommerceInventory(InventoryPush):
    batch_size = 100
    change_history = ("WooCommerce keeps no stock history: the product's 'Last modified' in the admin says when; ask "
                      "who edits products, or which plugin writes stock")

    @property
    def _products(self) -> str:
        return f"{self.connector.config.base_url}/wp-json/wc/v3/products"

    @property
    def _store(self) -> str:
        return self.connector.config.name

    # --- the interface --------------------------------------------------------------------------------
    def listings(self, skus: Collection[str] = ()) -> list[Listing]:
        listings, page, pages = [], 1, 1
        while page <= pages:
            response = self.http.request(
                "GET", self._products, endpoint="wc/v3/products",
                params={"status": "any", "per_page": PER_PAGE, "page": page, "orderby": "id", "order": "asc"},
            )
            products = response.json()
            for product in products:
                if product.get("type") == "variable":
                    listings.extend(self._variations(product["id"]))
                else:
                    listings.append(self._listing(product))
            pages = _pages(response, page, len(products))
            page += 1
        return listings

    def _variations(self, parent_id: int) -> list[Listing]:
        found, page, pages = [], 1, 1
        while page <= pages:
            response = self.http.request(
                "GET", f"{self._products}/{parent_id}/variations", endpoint="wc/v3/products/variations",
                params={"per_page": PER_PAGE, "page": page, "orderby": "id", "order": "asc"},
            )
            variations = response.json()
            found.extend(self._listing(variation, parent_id) for variation in variations)
            pages = _pages(response, page, len(variations))
            page += 1
        return found

    def write(self, updates: list[StockUpdate]) -> list[Written]:
        if len(updates) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} updates a call, got {len(updates)}")
        written: dict[int, Written] = {}
        sent: list[tuple[int, StockUpdate]] = []
        for index, update in enumerate(updates):
            if update.listing.tracked:
                sent.append((index, update))
            else:
                written[index] = Written(update.listing.listing_id, INVENTORY_NOT_TRACKED, _not_tracked(update.listing))
        by_parent: dict[int | None, list[tuple[int, StockUpdate]]] = {}
        for index, update in sent:  # simple products in one call, each variable product's variations in one
            by_parent.setdefault(update.listing.ids.get("parent_id"), []).append((index, update))
        for parent_id, group in by_parent.items():
            body = {"update": [{"id": int(u.listing.listing_id), "stock_quantity": u.quantity} for _, u in group]}
            url, endpoint = ((f"{self._products}/batch", "wc/v3/products/batch") if parent_id is None else
                             (f"{self._products}/{parent_id}/variations/batch", "wc/v3/products/variations/batch"))
            response = self.http.request("POST", url, endpoint=endpoint, json=body)
            items = (response.json() or {}).get("update") or []
            if len(items) != len(group):
                raise ChannelRequestError(self._store, (
                    f"WooCommerce answered {endpoint.removeprefix('wc/v3/')} with {len(items)} items for the "
                    f"{len(group)} sent; the stock written is unknown and is written again on the next run"))
            for (index, update), item in zip(group, items):
                written[index] = self._item(update, item)
        return [written[index] for index in range(len(updates))]

    # --- mapping --------------------------------------------------------------------------------------
    @staticmethod
    def _listing(product: dict, parent_id: int | None = None) -> Listing:
        """A simple product, or (with `parent_id`) a variation of that variable product."""
        tracked = product.get("manage_stock") is True
        quantity = product.get("stock_quantity")
        return Listing(
            listing_id=str(product["id"]), sku=product.get("sku") or "",
            quantity=int(quantity) if tracked and quantity is not None else None,
            tracked=tracked, active=product.get("status") == "publish",
            ids={"parent_id": parent_id} if parent_id is not None else {},
            changed_at=(datetime.fromisoformat(product["date_modified_gmt"]).replace(tzinfo=timezone.utc)
                        if product.get("date_modified_gmt") else None),
        )

    def _item(self, update: StockUpdate, item: dict) -> Written:
        listing = update.listing
        where = f"SKU {listing.sku} ({_what(listing)}) on WooCommerce ({self._store})"
        error = item.get("error") if isinstance(item, dict) else {"code": None, "message": str(item)[:300]}
        if not error:
            if item.get("manage_stock") is not True:
                return Written(listing.listing_id, INVENTORY_NOT_TRACKED, _not_tracked(listing))
            return Written(listing.listing_id, PUSHED)
        code = error.get("code")
        said = self.http.redact(f"{code}: {error.get('message')}")
        if code == "woocommerce_rest_product_invalid_id":
            return Written(listing.listing_id, PRODUCT_NOT_FOUND, (
                f"{where} is not there any more ({said}); no stock was written. If it was deleted or trashed on "
                "purpose nothing is to do; otherwise restore it from the trash or list it again"))
        if code == "rest_invalid_param" and "stock_quantity" in said:
            return Written(listing.listing_id, INVALID_QUANTITY, (
                f"WooCommerce refused {update.quantity} as the stock of {where} ({said}); nothing was written"))
        return Written(listing.listing_id, NOT_SUPPORTED, (
            f"WooCommerce refused the stock of {where} ({said}); nothing was written: check the product in "
            "WooCommerce admin"))


def _pages(response, page: int, count: int) -> int:
    """The collection's pages, from X-WP-TotalPages (or, without it, one more while pages come back full)."""
    return int(response.headers.get("X-WP-TotalPages") or (page + 1 if count == PER_PAGE else page))


def _what(listing: Listing) -> str:
    parent = listing.ids.get("parent_id")
    return f"variation {listing.listing_id} of product {parent}" if parent else f"product {listing.listing_id}"


def _not_tracked(listing: Listing) -> str:
    return (f"SKU {listing.sku} ({_what(listing)}) does not manage stock on WooCommerce, which ignores "
            "any quantity sent to it, so none was written. If WooCommerce should count it, tick \"Manage stock?\" "
            "on the product's Inventory tab; the next run writes it")
