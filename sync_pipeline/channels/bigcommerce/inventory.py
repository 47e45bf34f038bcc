"""BigCommerce Catalog and Inventory V3: a listing's stock at the level the product tracks it, at location 1.

`GET /v3/catalog/products?include=variants&page=&limit=250` lists every product with its variants. A product
tracked by product holds its stock itself (listing "product:<id>"); one tracked by variant holds it in each
variant (listing "variant:<id>"); one with inventory_tracking "none" keeps none (listed, not tracked, so the flow
can say so). `PUT /v3/inventory/adjustments/absolute` {reason, items: [{location_id: 1, product_id | variant_id,
quantity}]} sets many at once and answers 200 {transaction_id}.

BigCommerce checks every item before it applies any: one bad item (unknown, untracked, tracked at the other
level, a bad quantity) refuses the whole call with 422 application/problem+json whose title lists the items'
messages. Then the items it names get their status from those words and the others are sent again without them,
so one bad listing never holds back the rest. Items are named by id, never by SKU, so a message names one item.
Every call is on the store's one quota, with the connector's bucket."""

from __future__ import annotations

from collections.abc import Collection

from sync_pipeline.channels.http import ChannelRequestError
from sync_pipeline.channels.inventory import (
    INVALID_QUANTITY,
    INVENTORY_NOT_TRACKED,
    NOT_SUPPORTED,
    PRODUCT_NOT_FOUND,
    RETRYING,
    InventoryPush,
    Listing,
    StockUpdate,
    Written,
    write_whole,
)

PAGE_SIZE = 250  # the most v3/catalog/products takes
LOCATION_ID = 1  # the store's default location
REASON = "3PL warehouse stock sync"


class BigCommerceInventory(InventoryPush):
    # BigCommerce's reference (in /work/shared/reference) states no item limit for absolute adjustments; 250 keeps a
    # call's body and a 422's title small while one call still sets a whole catalogue page.
    batch_size = 250
    daily_writes_per_listing = None

    # --- listings -----------------------------------------------------------------------------------------------
    def listings(self, skus: Collection[str] = ()) -> list[Listing]:
        found: list[Listing] = []
        page = 1
        while True:
            response = self.http.request(
                "GET", f"{self.connector.api_url}/v3/catalog/products", endpoint="v3/catalog/products",
                params={"include": "variants", "page": page, "limit": PAGE_SIZE},
            )
            body = response.json()
            products = body.get("data") or []
            for product in products:
                found.extend(self._listings(product))
            pagination = (body.get("meta") or {}).get("pagination") or {}
            if not products or page >= int(pagination.get("total_pages") or page):
                return found
            page += 1

    @staticmethod
    def _listings(product: dict) -> list[Listing]:
        tracking = product.get("inventory_tracking") or "none"
        active = bool(product.get("is_visible")) and product.get("availability") != "disabled"
        variants = product.get("variants") or []
        optioned = [v for v in variants if v.get("option_values")]  # real variants, not the base one
        if tracking == "variant" or (tracking == "none" and optioned):
            return [
                Listing(
                    listing_id=f"variant:{v['id']}", sku=v.get("sku") or "",
                    quantity=v.get("inventory_level") if tracking == "variant" else None,
                    tracked=tracking == "variant", active=active, ids={"variant_id": v["id"]},
                )
                for v in (variants if tracking == "variant" else optioned)
            ]
        return [Listing(
            listing_id=f"product:{product['id']}", sku=product.get("sku") or "",
            quantity=product.get("inventory_level") if tracking == "product" else None,
            tracked=tracking == "product", active=active, ids={"product_id": product["id"]},
        )]

    # --- write --------------------------------------------------------------------------------------------------
    def write(self, updates: list[StockUpdate]) -> list[Written]:
        return write_whole(updates, self._adjust, self._refusal)

    @staticmethod
    def _item(update: StockUpdate) -> tuple[str, int]:
        ids = update.listing.ids
        return ("variant_id", ids["variant_id"]) if "variant_id" in ids else ("product_id", ids["product_id"])

    def _adjust(self, updates: list[StockUpdate], indexes: list[int]) -> tuple[str | None, dict[int, Written]]:
        """One call for these items: (None, {}) when it was taken, else BigCommerce's words and the items they name."""
        items = []
        for index in indexes:
            key, value = self._item(updates[index])
            items.append({"location_id": LOCATION_ID, key: value, "quantity": updates[index].quantity})
        # Absolute quantities: a repeat sets the same values, so the shared retries apply.
        response = self.http.request(
            "PUT", f"{self.connector.api_url}/v3/inventory/adjustments/absolute",
            endpoint="v3/inventory/adjustments/absolute", json={"reason": REASON, "items": items}, allowed=(200, 422),
        )
        if response.status_code == 200:
            return None, {}
        title = self._title(response)
        refused = {}
        for index in indexes:
            key, value = self._item(updates[index])
            named = f"Item with {key} {value} "
            if named in title:
                message = title[title.index(named):].split(", Item with ", 1)[0].rstrip("]")
                refused[index] = self._refusal(updates[index], self.http.redact(message))
        return self.http.redact(f"HTTP 422: {title}"), refused

    @staticmethod
    def _title(response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:500]
        title = body.get("title") if isinstance(body, dict) else None
        return str(title if title is not None else body)

    def _refusal(self, update: StockUpdate, said: str) -> Written:
        listing_id, text = update.listing.listing_id, said.casefold()
        what = f"BigCommerce {listing_id} (SKU {update.listing.sku!r})"
        if "does not exist" in text:
            return Written(listing_id, PRODUCT_NOT_FOUND, (
                f"{what} is gone ({said}): it was deleted in the control panel. Relist it, or drop the SKU from the "
                "channel; nothing was written"
            ))
        if "not tracked" in text:
            return Written(listing_id, INVENTORY_NOT_TRACKED, (
                f"{what} keeps no stock ({said}): turn on inventory tracking for the product in the control panel "
                "(Products > edit > Inventory) and it is written on the next run"
            ))
        if "is tracked by" in text:
            return Written(listing_id, RETRYING, (
                f"{what} is now tracked at the other level ({said}): someone changed its inventory tracking; the "
                "listing is read again and written on the next run"
            ))
        if "quantity" in text:
            return Written(listing_id, INVALID_QUANTITY, f"BigCommerce refused quantity {update.quantity} for {what} ({said})")
        if "location" in text:
            raise ChannelRequestError(self.connector.config.name, (
                f"BigCommerce refused location {LOCATION_ID} ({said}): the store has no default location 1; nothing "
                "was written"
            ))
        return Written(listing_id, NOT_SUPPORTED, f"BigCommerce refused the stock of {what} ({said}); fix the product "
                                                  "in the control panel, then it is written on the next run")
