"""Takealot's stock push (Seller API v2): a lead-time offer's stock at the seller's (the 3PL's) merchant warehouse.

- listings: `GET v2/offers` (page_size 100, page_number until total_results). A listing is an offer: `listing_id`
  its `offer_id` (the SKU is not used: Takealot matches `SKU<sku>` exactly as the offer holds it, and an offer's
  SKU may differ from the warehouse's by case), `tracked` it is a lead-time offer (`leadtime_days` set: the others'
  stock is held at Takealot's DCs, `stock_at_takealot`, and takes none from us), `active` its status is
  "Buyable" or "Not Buyable" ("Disabled by Seller" / "Disabled by Takealot" are not), `ids`
  {"merchant_warehouse_id"}, `quantity` that warehouse's `quantity_available` (None for an offer that is not
  lead-time). The warehouse is the channel option `merchant_warehouse_id` when set, else the offer's first
  `leadtime_stock` entry; the other entries of an offer with several are neither read nor written.
- write: `PATCH v2/offers/offer/ID<offer_id> {"leadtime_stock": [{"merchant_warehouse_id", "quantity"}]}` per
  offer (batch_size 1; `POST v2/offers/batch` is not simulated). Absolute, so the shared retries may repeat it.

Answers: 200 PUSHED; 404 PRODUCT_NOT_FOUND; 400 "not a leadtime offer" INVENTORY_NOT_TRACKED, on the quantity
INVALID_QUANTITY, any other NOT_SUPPORTED with Takealot's words. An offer read as not lead-time, or with no
merchant warehouse to write to, is not sent (no call)."""

from __future__ import annotations

from collections.abc import Collection

import requests

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

PAGE_SIZE = 100
ACTIVE_STATUSES = ("Buyable", "Not Buyable")


class TakealotInventory(InventoryPush):
    batch_size = 1

    @property
    def _seller(self) -> str:
        return self.connector.config.name

    @property
    def _warehouse_option(self) -> int | None:
        value = self.connector.config.options.get("merchant_warehouse_id")
        return int(value) if value not in (None, "") else None

    # --- the interface --------------------------------------------------------------------------------
    def listings(self, skus: Collection[str] = ()) -> list[Listing]:
        listings: list[Listing] = []
        page = 1
        while True:
            response = self.http.request("GET", f"{self.connector.config.base_url}/v2/offers", endpoint="v2/offers",
                                         params={"page_number": page, "page_size": PAGE_SIZE})
            body = response.json()
            offers = body.get("offers") or []
            listings.extend(self._listing(offer) for offer in offers)
            if not offers or len(listings) >= int(body.get("total_results") or 0):
                return listings
            page += 1

    def write(self, updates: list[StockUpdate]) -> list[Written]:
        return [self._write_one(update) for update in updates]

    # --- mapping --------------------------------------------------------------------------------------
    def _listing(self, offer: dict) -> Listing:
        tracked = offer.get("leadtime_days") is not None
        stock = [entry for entry in offer.get("leadtime_stock") or [] if isinstance(entry, dict)]
        wanted = self._warehouse_option
        chosen = next((e for e in stock if wanted is None or _warehouse_id(e) == wanted), None)
        warehouse = _warehouse_id(chosen) if chosen else wanted
        quantity = chosen.get("quantity_available") if chosen and tracked else None
        return Listing(
            listing_id=str(offer["offer_id"]), sku=offer.get("sku") or "",
            quantity=int(quantity) if quantity is not None else None,
            tracked=tracked, active=offer.get("status") in ACTIVE_STATUSES,
            ids={"merchant_warehouse_id": warehouse},
        )

    # --- writing --------------------------------------------------------------------------------------
    def _write_one(self, update: StockUpdate) -> Written:
        listing = update.listing
        if not listing.tracked:
            return Written(listing.listing_id, INVENTORY_NOT_TRACKED, _not_tracked(listing))
        warehouse = listing.ids.get("merchant_warehouse_id") or self._warehouse_option
        if warehouse is None:
            return Written(listing.listing_id, NOT_SUPPORTED, (
                f"offer {listing.listing_id} (SKU {listing.sku}) on Takealot ({self._seller}) has no merchant "
                "warehouse in its lead-time stock, so the push cannot tell where its stock goes; nothing was written. "
                "Set the channel's option merchant_warehouse_id to the 3PL's Takealot merchant warehouse id"))
        identifier = f"ID{listing.listing_id}"
        response = self.http.request(
            "PATCH", f"{self.connector.config.base_url}/v2/offers/offer/{identifier}",
            endpoint="v2/offers/offer/{identifier}", allowed=(200, 400, 404),
            json={"leadtime_stock": [{"merchant_warehouse_id": int(warehouse), "quantity": update.quantity}]},
        )
        if response.status_code == 200:
            return Written(listing.listing_id, PUSHED)
        return self._refused(update, response)

    def _refused(self, update: StockUpdate, response: requests.Response) -> Written:
        listing, status = update.listing, response.status_code
        said = self.http.redact(_message(response))
        where = f"offer {listing.listing_id} (SKU {listing.sku}) on Takealot ({self._seller})"
        if status == 404:
            return Written(listing.listing_id, PRODUCT_NOT_FOUND, (
                f"{where} is not there any more (HTTP 404: {said}); no stock was written. If the offer was "
                "removed on purpose nothing is to do; otherwise create it again on the Seller Portal"))
        text = said.lower()
        if "leadtime" in text or "lead-time" in text or "lead time" in text:
            return Written(listing.listing_id, INVENTORY_NOT_TRACKED, _not_tracked(listing, said))
        if "quantity" in text:
            return Written(listing.listing_id, INVALID_QUANTITY, (
                f"Takealot refused {update.quantity} as the stock of {where} (HTTP {status}: {said}); nothing was written"))
        return Written(listing.listing_id, NOT_SUPPORTED, (
            f"Takealot refused the stock of {where} with HTTP {status}: {said}; nothing was written. Check the offer "
            "and the merchant warehouse id on the Seller Portal"))


def _warehouse_id(entry: dict) -> int | None:
    warehouse = entry.get("merchant_warehouse") or {}
    value = warehouse.get("warehouse_id", entry.get("merchant_warehouse_id"))
    return int(value) if value is not None else None


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("message", body) if isinstance(body, dict) else body)[:300]


def _not_tracked(listing: Listing, said: str | None = None) -> str:
    told = f" (Takealot: {said})" if said else ""
    return (f"offer {listing.listing_id} (SKU {listing.sku}) is not a lead-time offer on Takealot{told}: its stock is "
            "held at Takealot's DCs, so none was written from the warehouse. To sell it from the 3PL's stock, make it a "
            "lead-time offer on the Seller Portal")
