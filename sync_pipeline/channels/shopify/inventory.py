"""Shopify's stock push (REST Admin API): one inventory level per variant, at the app's own location.

- listings: `GET locations.json` once (the app's location, below), `GET products.json` (limit 250, every status,
  page_info paging by the Link header), then `GET inventory_levels.json?location_ids=<the app's>` (limit 250,
  paged the same way): one call per 250 levels instead of one per 50 `inventory_item_ids`. A listing is a variant:
  `listing_id` its `inventory_item_id` (what holds the stock), `quantity` its level's `available` at the app's
  location (None when Shopify keeps no level there, or the item is not tracked: `available` null), `tracked`
  `inventory_management == "shopify"`, `active` the product's `status == "active"`, `ids` {"location_id"}.
  The variant's `inventory_quantity` is not used: on Shopify it sums every location.
- write: `POST inventory_levels/set.json {location_id, inventory_item_id, available}` per listing (batch_size 1:
  the GraphQL bulk form is not simulated). Setting is absolute, so the shared retries may repeat it.

The app's location: the channel option `location_id` when set; otherwise the one active location that is not
`legacy` (Shopify marks a fulfillment service's location `legacy: true`, and an item stocked by a fulfillment
service cannot also be stocked by us: set.json there is refused with 422). Several such locations and no option
is a set-up a person must settle (ChannelRequestError).

Answers to set.json: 200 PUSHED; 404 PRODUCT_NOT_FOUND (deleted item, or an unknown location); 422 "does not have
inventory tracking enabled" INVENTORY_NOT_TRACKED; any other 400/422 NOT_SUPPORTED with Shopify's words; 409/423
RETRYING. A listing read as untracked is not sent at all (INVENTORY_NOT_TRACKED, no call)."""

from __future__ import annotations

import requests

from sync_pipeline.channels.http import ChannelRequestError
from sync_pipeline.channels.inventory import (
    INVENTORY_NOT_TRACKED,
    NOT_SUPPORTED,
    PRODUCT_NOT_FOUND,
    PUSHED,
    RETRYING,
    InventoryPush,
    Listing,
    StockUpdate,
    Written,
)
from sync_pipeline.channels.shopify.tracking import _errors

PAGE_LIMIT = 250


class ShopifyInventory(InventoryPush):
    batch_size = 1

    def __init__(self, connector):
        super().__init__(connector)
        self._location_id: int | None = None

    @property
    def _api(self) -> str:
        return self.connector.api_url

    @property
    def _shop(self) -> str:
        return self.connector.config.name

    # --- the interface --------------------------------------------------------------------------------
    def listings(self) -> list[Listing]:
        location_id = self.location_id()
        variants = [(product, variant)
                    for page in self._pages("products.json", {"limit": PAGE_LIMIT}, "products")
                    for product in page for variant in product.get("variants") or []]
        levels = {int(level["inventory_item_id"]): level.get("available")
                  for page in self._pages("inventory_levels.json",
                                          {"location_ids": str(location_id), "limit": PAGE_LIMIT}, "inventory_levels")
                  for level in page if int(level.get("location_id", location_id)) == location_id}
        listings = []
        for product, variant in variants:
            item = variant.get("inventory_item_id")
            if item is None:
                continue
            tracked = variant.get("inventory_management") == "shopify"
            available = levels.get(int(item))
            listings.append(Listing(
                listing_id=str(item), sku=variant.get("sku") or "",
                quantity=int(available) if tracked and available is not None else None,
                tracked=tracked, active=product.get("status") == "active", ids={"location_id": location_id},
            ))
        return listings

    def write(self, updates: list[StockUpdate]) -> list[Written]:
        return [self._write_one(update) for update in updates]

    # --- reading --------------------------------------------------------------------------------------
    def location_id(self) -> int:
        """The location the app writes to: read once per push (see the module docstring)."""
        if self._location_id is not None:
            return self._location_id
        option = self.connector.config.options.get("location_id")
        if option not in (None, ""):
            self._location_id = int(option)
            return self._location_id
        response = self.http.request("GET", f"{self._api}/locations.json", endpoint="locations.json")
        locations = response.json()["locations"]
        own = [l for l in locations if l.get("active", True) and not l.get("legacy")]
        if len(own) != 1:
            names = ", ".join(f"{l.get('name')} ({l.get('id')})" for l in (own or locations)) or "none"
            raise ChannelRequestError(self._shop, (
                f"Shopify ({self._shop}) has {len(own)} active locations that are not a fulfillment service's "
                f"({names}), so the stock push cannot tell which one is the warehouse's; no stock was written. "
                "Set the channel's option location_id to the warehouse's Shopify location id"))
        self._location_id = int(own[0]["id"])
        return self._location_id

    def _pages(self, path: str, params: dict, key: str):
        """Every page of a list, following the Link header's next (page_info and limit only)."""
        url: str | None = f"{self._api}/{path}"
        while url:
            response = self.http.request("GET", url, endpoint=path, params=params)
            yield response.json()[key]
            url, params = response.links.get("next", {}).get("url"), None

    # --- writing --------------------------------------------------------------------------------------
    def _write_one(self, update: StockUpdate) -> Written:
        listing = update.listing
        if not listing.tracked:
            return Written(listing.listing_id, INVENTORY_NOT_TRACKED, _not_tracked(listing))
        location_id = listing.ids.get("location_id") or self.location_id()
        response = self.http.request(
            "POST", f"{self._api}/inventory_levels/set.json", endpoint="inventory_levels/set.json",
            allowed=(200, 400, 404, 409, 422, 423),
            json={"location_id": int(location_id), "inventory_item_id": int(listing.listing_id),
                  "available": update.quantity},
        )
        if response.status_code == 200:
            return Written(listing.listing_id, PUSHED)
        return self._refused(listing, response)

    def _refused(self, listing: Listing, response: requests.Response) -> Written:
        status, item = response.status_code, listing.listing_id
        said = self.http.redact(_errors(response))
        where = f"SKU {listing.sku} (inventory item {item}) on Shopify ({self._shop})"
        if status == 404:
            return Written(item, PRODUCT_NOT_FOUND, (
                f"{where} is not there any more (HTTP 404: {said}); no stock was written. If the product was "
                "deleted on purpose nothing is to do; otherwise list it again or correct its SKU"))
        if status == 422 and "tracking" in said.lower():
            return Written(item, INVENTORY_NOT_TRACKED, _not_tracked(listing, said))
        if status in (409, 423):
            return Written(item, RETRYING, f"{where} is locked (HTTP {status}: {said}); written on the next run")
        return Written(item, NOT_SUPPORTED, (
            f"Shopify refused the stock of {where} with HTTP {status}: {said}. No stock was written; check the "
            "item's locations in Shopify admin (an item stocked by a fulfillment service takes no stock from us)"))


def _not_tracked(listing: Listing, said: str | None = None) -> str:
    told = f" (Shopify: {said})" if said else ""
    return (f"SKU {listing.sku} (inventory item {listing.listing_id}) has inventory tracking off on Shopify{told}, "
            "so no stock was written. If Shopify should count it, tick \"Track quantity\" on the variant in Shopify "
            "admin; the next run writes it")
