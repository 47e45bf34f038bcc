"""Shopify's stock push: REST Admin reads, GraphQL Admin writes, at the app's own location.

- listings: `GET locations.json` once (the app's location, below), `GET products.json` (limit 250, every status,
  page_info paging by the Link header), then `GET inventory_levels.json?location_ids=<the app's>` (limit 250,
  paged the same way): one call per 250 levels instead of one per 50 `inventory_item_ids`. A listing is a variant:
  `listing_id` its `inventory_item_id` (what holds the stock), `quantity` its level's `available` at the app's
  location (None when Shopify keeps no level there, or the item is not tracked: `available` null), `tracked`
  `inventory_management == "shopify"`, `active` the product's `status == "active"`, `ids` {"location_id"}.
  The variant's `inventory_quantity` is not used: on Shopify it sums every location. The SKUs the sync looks for are
  not needed: every listing is paged.
- write: one GraphQL `inventorySetQuantities` mutation per batch of up to 250 (batch_size; the Admin API refuses an
  input array past 250), `POST graphql.json` in the API version the channel uses (API_VERSION, 2025-01): `{name:
  "available", reason: "correction", referenceDocumentUri: "gid://sync-pipeline/StockSync/<channel>",
  ignoreCompareQuantity: true, quantities: [{inventoryItemId: "gid://shopify/InventoryItem/<id>", locationId:
  "gid://shopify/Location/<id>", quantity}]}` (https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/
  inventorySetQuantities). One call sets 250 listings where REST's set.json set one at 2 calls/s: a 20,000-SKU shop
  is 80 calls instead of 20,000 (2.8 hours).

Compare-and-set is opted out of. In 2025-01 the mutation compares unless `ignoreCompareQuantity` is true (otherwise
every quantity needs the `compareQuantity` it expects, or COMPARE_QUANTITY_REQUIRED); `changeFromQuantity` (null to
opt out) replaces both from 2026-04 and is not in this version. Shopify's docs keep the mutation for a system that is
the source of truth for the quantities, which the warehouse is: what is written is its free Good stock less what is
promised, absolute. A compared write would be refused whenever the level moved since the run read it (a sale, a
person's edit), and the answer to that refusal would be to write the warehouse's figure anyway; a sale in between
reaches the warehouse as an order and the next run writes its effect. Setting is absolute, so the shared retries (5xx,
dropped connections, a lost reply) and a resent batch repeat a write harmlessly.

The call goes through the channel's one session (shared retries, call log) on its own throttle bucket (client.py's
GRAPHQL_BUCKET, sized in calls of INVENTORY_SET_COST points). GraphQL reports its limit in the answer's
`extensions.cost.throttleStatus`, not a header, so each answer corrects that bucket here: the points available, the
bucket and the restore rate, in calls. A THROTTLED answer (HTTP 200 `errors[].extensions.code` THROTTLED: nothing ran)
blocks the bucket until the points it lacked are restored and is sent again, up to THROTTLED_SENDS times; after that
ChannelUnavailable (the batch goes on the next run). A channel's `rate_limit` in channels.yaml (meant for REST) sizes
this bucket too until the first answer's throttleStatus corrects it.

Answers per quantity, by `userErrors[].field` ["input", "quantities", "<i>", ...]: none PUSHED; INVALID_INVENTORY_ITEM
PRODUCT_NOT_FOUND (deleted); a message about inventory tracking INVENTORY_NOT_TRACKED; INVALID_LOCATION,
ITEM_NOT_STOCKED_AT_LOCATION (the item is not stocked there, e.g. stocked by a fulfillment service) and
NON_MUTABLE_INVENTORY_ITEM NOT_SUPPORTED; INVALID_QUANTITY_* INVALID_QUANTITY; IDEMPOTENCY_CONCURRENT_REQUEST
RETRYING; any other NOT_SUPPORTED with Shopify's words; HTTP 423 (the shop locked) RETRYING for the batch. The
mutation is all or nothing (a userError and no quantity of the call is set), so the rest of the batch is sent again
without the refused ones, up to RESENDS times: one bad listing never holds back 249 good ones. Were Shopify to set the
others after all, the resend would only set them again.
A userError of the whole input (name, reason) or top-level `errors` (a document the API version refuses) is a request
this code cannot make: ChannelRequestError; a top-level INTERNAL_SERVER_ERROR is Shopify's: ChannelUnavailable. A
listing read as untracked is not sent at all (INVENTORY_NOT_TRACKED, no call).

The app's location: the channel option `location_id` when set; otherwise the one active location that is not
`legacy` (Shopify marks a fulfillment service's location `legacy: true`, and an item stocked by a fulfillment
service cannot also be stocked by us). Several such locations and no option is a set-up a person must settle
(ChannelRequestError)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sync_pipeline.channels.base import utc
from sync_pipeline.channels.http import ChannelRequestError, ChannelUnavailable, RateLimitReading
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
from sync_pipeline.channels.shopify.client import GRAPHQL_BUCKET, INVENTORY_SET_COST

PAGE_LIMIT = 250
MAX_QUANTITIES = 250  # the Admin API's limit on every input array
THROTTLED_SENDS = 6  # sends of one mutation answered THROTTLED before the batch is left to the next run
RESENDS = 3  # sends of a batch again without the quantities Shopify refused
ENDPOINT = "graphql.json inventorySetQuantities"
SET_QUANTITIES = """mutation StockSet($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}"""


class ShopifyInventory(InventoryPush):
    batch_size = MAX_QUANTITIES
    change_history = ("Shopify admin: the variant's inventory adjustment history names the staff member or app that "
                      "changed it")

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
    def listings(self, skus: Collection[str] = ()) -> list[Listing]:
        location_id = self.location_id()
        variants = [(product, variant)
                    for page in self._pages("products.json", {"limit": PAGE_LIMIT}, "products")
                    for product in page for variant in product.get("variants") or []]
        levels = {int(level["inventory_item_id"]): level
                  for page in self._pages("inventory_levels.json",
                                          {"location_ids": str(location_id), "limit": PAGE_LIMIT}, "inventory_levels")
                  for level in page if int(level.get("location_id", location_id)) == location_id}
        listings = []
        for product, variant in variants:
            item = variant.get("inventory_item_id")
            if item is None:
                continue
            tracked = variant.get("inventory_management") == "shopify"
            level = levels.get(int(item), {})
            available = level.get("available")
            listings.append(Listing(
                listing_id=str(item), sku=variant.get("sku") or "",
                quantity=int(available) if tracked and available is not None else None,
                tracked=tracked, active=product.get("status") == "active", ids={"location_id": location_id},
                changed_at=utc(datetime.fromisoformat(level["updated_at"])) if level.get("updated_at") else None,
            ))
        return listings

    def write(self, updates: list[StockUpdate]) -> list[Written]:
        if len(updates) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} updates a call, got {len(updates)}")
        written: dict[int, Written] = {}
        pending = []
        for index, update in enumerate(updates):
            if update.listing.tracked:
                pending.append(index)
            else:
                written[index] = Written(update.listing.listing_id, INVENTORY_NOT_TRACKED, _not_tracked(update.listing))
        for _ in range(1 + RESENDS):
            if not pending:
                break
            refused = self._set([(index, updates[index]) for index in pending])
            written.update(refused)
            if not refused:  # the call set every quantity it held
                written.update((index, Written(updates[index].listing.listing_id, PUSHED)) for index in pending)
                pending = []
            else:  # nothing of it was set: the rest goes again without the refused
                pending = [index for index in pending if index not in refused]
        for index in pending:
            listing = updates[index].listing
            written[index] = Written(listing.listing_id, RETRYING, (
                f"{self._where(listing)}: Shopify refused other listings of its batch {1 + RESENDS} times, and the "
                "mutation sets none of a batch it refuses part of; it is written on the next run"))
        return [written[index] for index in range(len(updates))]

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
    def _set(self, batch: list[tuple[int, StockUpdate]]) -> dict[int, Written]:
        """One inventorySetQuantities of the batch: {} when Shopify set every quantity, else the refused ones by the
        caller's index (and then, the mutation being all or nothing, none of the batch was set)."""
        quantities = [{
            "inventoryItemId": f"gid://shopify/InventoryItem/{update.listing.listing_id}",
            "locationId": f"gid://shopify/Location/{self._location_of(update.listing)}",
            "quantity": update.quantity,
        } for _, update in batch]
        body = self._send({"input": {
            "name": "available", "reason": "correction",
            "referenceDocumentUri": f"gid://sync-pipeline/StockSync/{self._shop}",
            "ignoreCompareQuantity": True, "quantities": quantities,
        }})
        if body is None:  # HTTP 423: the shop is locked
            return {index: Written(update.listing.listing_id, RETRYING, (
                f"{self._where(update.listing)}: the shop is locked (HTTP 423), so Shopify took no stock; written on "
                "the next run")) for index, update in batch}
        payload = (body.get("data") or {}).get("inventorySetQuantities") if isinstance(body.get("data"), dict) else None
        codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or [] if isinstance(e, dict)}
        if "INTERNAL_SERVER_ERROR" in codes:  # Shopify's own failure, in a 200: whether it ran is unknown
            raise ChannelUnavailable(self._shop, (
                f"POST {ENDPOINT} was answered with Shopify's internal error "
                f"({self.http.redact(_said(body['errors']))}); whether the stock was written is unknown: the next "
                "scheduled run writes it again"))
        if body.get("errors") or not isinstance(payload, dict):
            raise ChannelRequestError(self._shop, (
                f"Shopify refused the inventorySetQuantities call for {len(batch)} listings: "
                f"{self.http.redact(_said(body.get('errors')) or str(body)[:300])}. No stock was written; the request "
                f"is one this version of the pipeline cannot make (API version {self._api.rsplit('/', 1)[-1]})"))
        refused: dict[int, Written] = {}
        whole = []
        for error in payload.get("userErrors") or []:
            position = _quantity_position(error.get("field"))
            if position is None or position >= len(batch):
                whole.append(error)
                continue
            index, update = batch[position]
            refused.setdefault(index, self._refused(update, error))
        if whole:
            raise ChannelRequestError(self._shop, (
                f"Shopify refused the whole inventorySetQuantities call for {len(batch)} listings: "
                f"{self.http.redact(_said(whole))}. No stock was written; the input is one this version of the "
                "pipeline cannot send"))
        return refused

    def _send(self, variables: dict) -> dict | None:
        """POST the mutation, waiting out THROTTLED answers; the answer's JSON, or None when the shop is locked."""
        for _ in range(THROTTLED_SENDS):
            response = self.http.request(
                "POST", f"{self._api}/graphql.json", endpoint=ENDPOINT, bucket=GRAPHQL_BUCKET, allowed=(200, 423),
                json={"query": SET_QUANTITIES, "variables": variables},
            )
            if response.status_code == 423:
                return None
            try:
                body = response.json()
            except ValueError:
                raise ChannelRequestError(self._shop, (
                    f"Shopify answered {ENDPOINT} with HTTP {response.status_code} and no JSON "
                    f"({self.http.redact(response.text[:200])}); whether stock was written is unknown and it is "
                    "written again on the next run")) from None
            if not isinstance(body, dict):
                body = {"errors": [{"message": str(body)[:300]}]}
            throttled = any(isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
                            for e in body.get("errors") or [])
            self._observe(body.get("extensions"), throttled)
            if not throttled:
                return body
            self.http.log.bump("retries")
        raise ChannelUnavailable(self._shop, (
            f"POST {ENDPOINT} was answered THROTTLED {THROTTLED_SENDS} times (Shopify's GraphQL points bucket stayed "
            "short of the mutation's cost); the shopify API is overloaded: the next scheduled run retries"),
            code="RATE_LIMITED")

    def _observe(self, extensions: Any, throttled: bool) -> None:
        """Correct the GraphQL bucket from the answer's throttleStatus, in calls of the mutation's requested cost; a
        THROTTLED answer blocks it until the points it lacked are restored (the shared throttle then waits)."""
        bucket = self.http.buckets.get(GRAPHQL_BUCKET)
        cost = (extensions or {}).get("cost") if isinstance(extensions, dict) else None
        status = (cost or {}).get("throttleStatus") if isinstance(cost, dict) else None
        if bucket is None or not isinstance(status, dict):
            return
        try:
            points = float(cost.get("requestedQueryCost") or INVENTORY_SET_COST)
            available = float(status["currentlyAvailable"])
            maximum, restore = float(status["maximumAvailable"]), float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return
        if points <= 0 or maximum <= 0 or restore <= 0:
            return
        lacking = max(0.0, points - available)
        bucket.observe(RateLimitReading(
            remaining=available / points, capacity=maximum / points, per_second=restore / points,
            reset_after=lacking / restore if throttled and lacking else None,
        ))

    def _location_of(self, listing: Listing) -> int:
        return int(listing.ids.get("location_id") or self.location_id())

    def _where(self, listing: Listing) -> str:
        return f"SKU {listing.sku} (inventory item {listing.listing_id}) on Shopify ({self._shop})"

    def _refused(self, update: StockUpdate, error: dict) -> Written:
        listing = update.listing
        code = str(error.get("code") or "")
        said = self.http.redact(f"{code + ': ' if code else ''}{error.get('message') or 'no message'}")
        where, item = self._where(listing), listing.listing_id
        if code == "INVALID_INVENTORY_ITEM":
            return Written(item, PRODUCT_NOT_FOUND, (
                f"{where} is not there any more (Shopify: {said}); no stock was written. If the product was deleted on "
                "purpose nothing is to do; otherwise list it again or correct its SKU"))
        if "tracking" in said.lower():
            return Written(item, INVENTORY_NOT_TRACKED, _not_tracked(listing, said))
        if code == "INVALID_LOCATION":
            return Written(item, NOT_SUPPORTED, (
                f"Shopify ({self._shop}) has no location {self._location_of(listing)}, where the stock push writes "
                f"{where} (Shopify: {said}). No stock was written; set the channel's option location_id to the "
                "warehouse's Shopify location id (Settings > Locations in Shopify admin)"))
        if code == "ITEM_NOT_STOCKED_AT_LOCATION":
            return Written(item, NOT_SUPPORTED, (
                f"{where} is not stocked at location {self._location_of(listing)} (Shopify: {said}). No stock was "
                "written; stock the item at the warehouse's location in Shopify admin (the variant's Inventory, "
                "Edit locations), unless a fulfillment service stocks it: an item stocked by a fulfillment service "
                "takes no stock from us"))
        if code.startswith("INVALID_QUANTITY"):
            return Written(item, INVALID_QUANTITY, (
                f"Shopify refused {update.quantity} as the stock of {where} (Shopify: {said}); no stock was written. "
                "Check the warehouse's figure for the SKU"))
        if code.startswith("IDEMPOTENCY_CONCURRENT"):
            return Written(item, RETRYING, f"{where} was being set by another request (Shopify: {said}); written on "
                                           "the next run")
        return Written(item, NOT_SUPPORTED, (
            f"Shopify refused the stock of {where}: {said}. No stock was written; check the item in Shopify admin (a "
            "bundle's stock follows its components; an item stocked by a fulfillment service takes no stock from us)"))


def _quantity_position(field: Any) -> int | None:
    """The quantity a userError names (field ["input", "quantities", "<i>", ...]), or None for the whole input."""
    if isinstance(field, list) and len(field) >= 3 and field[:2] == ["input", "quantities"]:
        try:
            return int(field[2])
        except (TypeError, ValueError):
            return None
    return None


def _said(errors: Any) -> str:
    """GraphQL errors or userErrors as one line: code and message of each."""
    if not isinstance(errors, list):
        return "" if errors is None else str(errors)[:300]
    parts = []
    for error in errors:
        if isinstance(error, dict):
            code = error.get("code") or (error.get("extensions") or {}).get("code")
            parts.append(f"{code + ': ' if code else ''}{error.get('message')}")
        else:
            parts.append(str(error))
    return "; ".join(parts)[:600]


def _not_tracked(listing: Listing, said: str | None = None) -> str:
    told = f" (Shopify: {said})" if said else ""
    return (f"SKU {listing.sku} (inventory item {listing.listing_id}) has inventory tracking off on Shopify{told}, "
            "so no stock was written. If Shopify should count it, tick \"Track quantity\" on the variant in Shopify "
            "admin; the next run writes it")
