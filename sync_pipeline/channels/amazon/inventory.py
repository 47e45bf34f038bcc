"""Amazon Listings Items API 2021-08-01: a seller-fulfilled listing's stock as its fulfillment_availability.

`GET /listings/2021-08-01/items/{sellerId}?marketplaceIds=&includedData=summaries,fulfillmentAvailability
&pageSize=20&pageToken=` (searchListingsItems) lists the seller's listings by SKU with their status and
fulfillment availability; `PATCH /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=` {productType,
patches: [{op: replace, path: /attributes/fulfillment_availability, value: [{fulfillment_channel_code: DEFAULT,
quantity}]}]} sets one listing's quantity (Amazon has no bulk form here but the JSON_LISTINGS_FEED, so batch_size
is 1). Every call is on one bucket, listingsItems (5/s, burst 5).

One search pages at most 1,000 listings. A seller with more is read in two steps: the first 1,000 by paging, then
the SKUs the sync looks for (the warehouse's, the SKU map's, those listed before) that the pages did not reach,
20 per call through `identifiers=<sku,...>&identifiersType=SKU`: 20,000 listings cost 50 + 950 reads.

Only DEFAULT (merchant-fulfilled) listings are ours to set: an FBA listing's quantity is Amazon's, so it is
listed as not tracked. Amazon answers a readable PATCH it cannot take with 200 status INVALID and issues; that is
a status of the listing, never an error of the run.

The seller id (Seller Central > Settings > Account Info > Merchant Token) is the channel option `seller_id`. It is
an account's id that nothing in the channel's settings can give: the simulator derives its own from the channel
name, but a real one cannot be derived, and Amazon's rule of form (A + 13 capitals and digits) fits the derived
value too, so a guessed id would be sent as if real. Without the option the push stops with the fix."""

from __future__ import annotations

import logging
from collections.abc import Collection
from urllib.parse import quote

from sync_pipeline.channels.http import ChannelRequestError
from sync_pipeline.channels.inventory import (
    INVALID_QUANTITY,
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

log = logging.getLogger(__name__)

BUCKET = "listingsItems"
LISTINGS_PATH = "/listings/2021-08-01/items"
PAGE_SIZE = 20  # the most searchListingsItems takes
SEARCH_CAP = 1000  # Amazon pages at most this many results of one search
IDENTIFIERS_PER_CALL = 20  # the most SKUs searchListingsItems takes in `identifiers`
MERCHANT_CHANNEL = "DEFAULT"
FULFILLMENT_PATH = "/attributes/fulfillment_availability"


class AmazonInventory(InventoryPush):
    batch_size = 1  # one PATCH per listing: the Listings Items API has no bulk form
    daily_writes_per_listing = None

    def _seller(self) -> str:
        seller = str(self.connector.config.options.get("seller_id") or "").strip()
        if not seller:
            raise ChannelRequestError(self.connector.config.name, (
                "the Amazon stock push needs the seller id: find it in Seller Central (Settings > Account Info > "
                "Merchant Token) and put it in channels.yaml under this channel's options as seller_id; nothing was "
                "read or written"
            ))
        return seller

    def _params(self, **more) -> dict:
        return {"marketplaceIds": self.connector.marketplace_id, **more}

    # --- listings -----------------------------------------------------------------------------------------------
    def listings(self, skus: Collection[str] = ()) -> list[Listing]:
        """Every listing by paging one search; when Amazon's cap on a search cuts it short, the SKUs looked for that
        it did not reach are asked for by name, IDENTIFIERS_PER_CALL at a time."""
        found = self._search()
        if len(found) >= SEARCH_CAP:
            seen = {listing.sku for listing in found}
            rest = sorted(set(skus) - seen)
            for start in range(0, len(rest), IDENTIFIERS_PER_CALL):
                found.extend(self._search(rest[start:start + IDENTIFIERS_PER_CALL]))
            log.info("%s: Amazon pages at most %d listings of one search: %d more were asked for by SKU, %d found; a "
                     "listing past the cap whose SKU neither the warehouse nor the SKU map names is not seen",
                     self.connector.config.name, SEARCH_CAP, len(rest), len(found) - SEARCH_CAP)
        return found

    def _search(self, identifiers: list[str] | None = None) -> list[Listing]:
        """One searchListingsItems, every page: all listings (up to the cap), or those with these SKUs."""
        path = f"{LISTINGS_PATH}/{quote(self._seller(), safe='')}"
        found: list[Listing] = []
        token: str | None = None
        while True:
            params = self._params(includedData="summaries,fulfillmentAvailability", pageSize=PAGE_SIZE)
            if identifiers:
                params.update(identifiers=",".join(identifiers), identifiersType="SKU")
            if token:
                params["pageToken"] = token
            response = self.connector.request(
                "GET", path, endpoint="listings/2021-08-01/items/{sellerId}", bucket=BUCKET, params=params,
            )
            body = response.json()
            found.extend(self._listing(item) for item in body.get("items") or [])
            token = (body.get("pagination") or {}).get("nextToken")
            if not token:
                return found

    @staticmethod
    def _listing(item: dict) -> Listing:
        summary = (item.get("summaries") or [{}])[0]
        availability = item.get("fulfillmentAvailability") or []
        merchant = next((a for a in availability if a.get("fulfillmentChannelCode") == MERCHANT_CHANNEL), None)
        shown = merchant if merchant is not None else (availability[0] if availability else None)
        quantity = shown.get("quantity") if shown is not None else None
        return Listing(
            listing_id=item["sku"], sku=item["sku"], quantity=quantity if isinstance(quantity, int) else None,
            tracked=merchant is not None,  # FBA (AMAZON_*) stock is Amazon's to count
            active="BUYABLE" in (summary.get("status") or []),
            ids={"product_type": summary.get("productType") or "PRODUCT"},
        )

    # --- write --------------------------------------------------------------------------------------------------
    def write(self, updates: list[StockUpdate]) -> list[Written]:
        seller = self._seller()
        return [self._patch(seller, update) for update in updates]

    def _patch(self, seller: str, update: StockUpdate) -> Written:
        sku = update.listing.listing_id
        body = {
            "productType": update.listing.ids.get("product_type") or "PRODUCT",
            "patches": [{"op": "replace", "path": FULFILLMENT_PATH,
                         "value": [{"fulfillment_channel_code": MERCHANT_CHANNEL, "quantity": update.quantity}]}],
        }
        # Setting an absolute quantity may be repeated, so the shared retries apply.
        response = self.connector.request(
            "PATCH", f"{LISTINGS_PATH}/{quote(seller, safe='')}/{quote(sku, safe='')}",
            endpoint="listings/2021-08-01/items/{sellerId}/{sku}", bucket=BUCKET, params=self._params(),
            json=body, allowed=(200, 400, 404),
        )
        if response.status_code == 404:
            return Written(sku, PRODUCT_NOT_FOUND, (
                f"Amazon has no listing with SKU {sku!r} in marketplace {self.connector.marketplace_id} "
                f"({self._said(response)}): it was deleted, or the SKU differs (SKUs match exactly, case included). "
                "Fix the SKU in Seller Central or in the warehouse; nothing was written"
            ))
        if response.status_code == 400:
            raise ChannelRequestError(self.connector.config.name, (
                f"Amazon could not read the stock update of SKU {sku!r} ({self._said(response)}); nothing was written"
            ))
        answer = response.json()
        status = answer.get("status")
        if status in ("ACCEPTED", "VALID"):
            return Written(sku, PUSHED)
        issues = "; ".join(
            self.http.redact(f"{i.get('code', '')}: {i.get('message', '')}") for i in answer.get("issues") or []
        ) or f"status {status}"
        text = issues.casefold()
        if "fulfilled by amazon" in text or "amazon fulfillment" in text or "managed by amazon" in text:
            return Written(sku, INVENTORY_NOT_TRACKED, (
                f"Amazon keeps the stock of SKU {sku!r}: it is fulfilled by Amazon (FBA) ({issues}); its quantity is "
                "not ours to set. Make it merchant-fulfilled in Seller Central if the warehouse should set it"
            ))
        if "quantity" in text:
            return Written(sku, INVALID_QUANTITY, (
                f"Amazon refused quantity {update.quantity} for SKU {sku!r} ({issues}); nothing was written"
            ))
        if status == "INVALID":
            return Written(sku, NOT_SUPPORTED, (
                f"Amazon refused the stock of SKU {sku!r} ({issues}); fix the listing in Seller Central, then it is "
                "written on the next run"
            ))
        return Written(sku, RETRYING, f"Amazon answered SKU {sku!r} with {issues}; it is written again on the next run")

    def _said(self, response) -> str:
        """Amazon's words (redacted): 'HTTP 404 NOT_FOUND: message'."""
        try:
            error = (response.json().get("errors") or [{}])[0]
        except (ValueError, AttributeError, IndexError):
            return self.http.redact(f"HTTP {response.status_code}: {response.text[:200]}")
        return self.http.redact(f"HTTP {response.status_code} {error.get('code', '')}: {error.get('message', '')}")
