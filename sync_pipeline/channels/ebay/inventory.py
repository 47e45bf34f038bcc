"""eBay Sell Inventory API: a listing's stock as its inventory item's ship-to quantity and its offer's quantity.

`GET /sell/inventory/v1/inventory_item?limit=200&offset=` pages the inventory items (following `next`); each SKU's
offer comes from `GET /sell/inventory/v1/offer?sku=`, one call per SKU (the API takes no list of SKUs there, and
the simulator serves no bulk read), so listings() costs ceil(N/200) + N calls. `POST
/sell/inventory/v1/bulk_update_price_quantity` {requests: [{sku, shipToLocationAvailability: {quantity}, offers:
[{offerId, availableQuantity}]}]} sets up to 25 listings in one call and answers one response per offer (200 when
all were taken, 207 when some were not). Both quantities are sent: eBay sells the lesser of the two.

Only listings the Inventory API manages are seen: one made in Seller Hub or the Trading API is absent from the reads
and a write to its SKU is "not found" (it would need Trading ReviseInventoryStatus). eBay allows 250 revisions of a
listing per calendar day; the 251st is refused and HELD_BACK until the next day."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Collection

from sync_pipeline.channels.inventory import (
    HELD_BACK,
    INVALID_QUANTITY,
    NOT_SUPPORTED,
    PRODUCT_NOT_FOUND,
    PUSHED,
    RETRYING,
    InventoryPush,
    Listing,
    StockUpdate,
    Written,
)

INVENTORY_PATH = "/sell/inventory/v1"
PAGE_SIZE = 200  # the most getInventoryItems takes
SKU_UNKNOWN = 25702  # eBay's "SKU could not be found"
BAD_ITEM, OFFER_MISMATCH, REVISION_LIMIT = 25900, 25901, 25902  # the simulator's ids (unverified against eBay)


class EbayInventory(InventoryPush):
    batch_size = 25  # bulkUpdatePriceQuantity takes at most 25
    daily_writes_per_listing = 250  # revisions of one listing per calendar day

    # --- listings -----------------------------------------------------------------------------------------------
    def listings(self, skus: Collection[str] = ()) -> list[Listing]:
        found: list[Listing] = []
        offset = 0
        while True:
            response = self.connector.request(
                "GET", f"{INVENTORY_PATH}/inventory_item", endpoint="sell/inventory/v1/inventory_item",
                params={"limit": PAGE_SIZE, "offset": offset},
            )
            body = response.json()
            items = body.get("inventoryItems") or []
            for item in items:
                listing = self._listing(item)
                if listing is not None:
                    found.append(listing)
            if not body.get("next") or not items:
                break
            offset += len(items)  # offset counts items; `next` says the same
        return found

    def _listing(self, item: dict) -> Listing | None:
        sku = item["sku"]
        response = self.connector.request(
            "GET", f"{INVENTORY_PATH}/offer", endpoint="sell/inventory/v1/offer", params={"sku": sku},
            allowed=(200, 404),
        )
        if response.status_code == 404:
            return None  # gone between the two reads
        offers = [o for o in response.json().get("offers") or [] if o.get("format", "FIXED_PRICE") == "FIXED_PRICE"]
        offer = next((o for o in offers if o.get("status") == "PUBLISHED"), offers[0] if offers else None)
        shown = [q for q in (
            ((item.get("availability") or {}).get("shipToLocationAvailability") or {}).get("quantity"),
            offer.get("availableQuantity") if offer else None,
        ) if isinstance(q, int)]
        return Listing(
            listing_id=sku, sku=sku, quantity=min(shown) if shown else None, tracked=True,
            active=offer is not None and offer.get("status") == "PUBLISHED",
            ids={"offer_id": offer.get("offerId") if offer else None},
        )

    # --- write --------------------------------------------------------------------------------------------------
    def write(self, updates: list[StockUpdate]) -> list[Written]:
        if not updates:
            return []
        requests = []
        for update in updates:
            request: dict = {"sku": update.listing.listing_id,
                             "shipToLocationAvailability": {"quantity": update.quantity}}
            if update.listing.ids.get("offer_id"):
                request["offers"] = [{"offerId": update.listing.ids["offer_id"], "availableQuantity": update.quantity}]
            requests.append(request)
        # Absolute quantities: a repeat sets the same values, so the shared retries apply.
        response = self.connector.request(
            "POST", f"{INVENTORY_PATH}/bulk_update_price_quantity", endpoint="sell/inventory/v1/bulk_update_price_quantity",
            json={"requests": requests}, allowed=(200, 207),
        )
        answers: dict[str, deque] = defaultdict(deque)
        for answer in response.json().get("responses") or []:
            answers[str(answer.get("sku"))].append(answer)
        written = []
        for update, request in zip(updates, requests):
            sku = request["sku"]
            mine = [answers[sku].popleft() for _ in range(max(1, len(request.get("offers") or []))) if answers[sku]]
            written.append(self._status(update, mine))
        return written

    def _status(self, update: StockUpdate, answers: list[dict]) -> Written:
        sku = update.listing.listing_id
        if not answers:
            return Written(sku, RETRYING, f"eBay gave no answer for SKU {sku!r} in the bulk update; it is written again "
                                          "on the next run")
        failed = [a for a in answers if a.get("statusCode") != 200]
        if not failed:
            return Written(sku, PUSHED)
        error = (failed[0].get("errors") or [{}])[0]
        said = self.http.redact(f"{failed[0].get('statusCode')} errorId {error.get('errorId')}: {error.get('message', '')}")
        error_id = error.get("errorId")
        if error_id == SKU_UNKNOWN or failed[0].get("statusCode") == 404:
            return Written(sku, PRODUCT_NOT_FOUND, (
                f"eBay's Inventory API has no SKU {sku!r} ({said}): the listing was ended or deleted, the SKU differs "
                "(eBay SKUs are case-sensitive), or it was made in Seller Hub or the Trading API, which this push cannot "
                "set. Fix the SKU, or recreate the listing through the Inventory API; nothing was written"
            ))
        if error_id == REVISION_LIMIT:
            return Written(sku, HELD_BACK, (
                f"eBay takes at most {self.daily_writes_per_listing} revisions of a listing per day and SKU {sku!r} has "
                f"had them ({said}); quantity {update.quantity} is written after midnight UTC"
            ))
        if error_id == BAD_ITEM:
            return Written(sku, INVALID_QUANTITY, f"eBay refused quantity {update.quantity} for SKU {sku!r} ({said})")
        if error_id == OFFER_MISMATCH:
            return Written(sku, RETRYING, (
                f"eBay says offer {update.listing.ids.get('offer_id')} is no longer SKU {sku!r}'s ({said}); the offer is "
                "read again and the stock written on the next run"
            ))
        if isinstance(failed[0].get("statusCode"), int) and failed[0]["statusCode"] >= 500:
            return Written(sku, RETRYING, f"eBay could not take SKU {sku!r} now ({said}); it is written on the next run")
        return Written(sku, NOT_SUPPORTED, f"eBay refused the stock of SKU {sku!r} ({said}); fix the listing in Seller "
                                           "Hub, then it is written on the next run")
