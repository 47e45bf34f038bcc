"""Shopify REST Admin API (orders.json): X-Shopify-Access-Token, cursor paging by page_info in the Link
header (filters refused beside page_info), shop-local offsets in timestamps, and the 40-call leaky bucket
reported in X-Shopify-Shop-Api-Call-Limit, one bucket for every REST endpoint below (GraphQL has its own, by cost).
`GET admin/api/<v>/orders/count.json` takes the list's filters (`status`, open by default, and the created_at and
updated_at bounds; no page_info) and answers {"count": N}, N the orders the list would page through.

Tracking (fulfillment orders and fulfillments, answers built on templates/shopify_fulfillment_*.json):
- `GET admin/api/<v>/orders/<id>/fulfillment_orders.json`: one fulfillment order per order (id = order id +
  1e9, its line items' ids = line item id + 1e10), each line's `fulfillable_quantity` the order line's less what
  the channel's fulfillments (`self.tracking`) hold; `status` "open", "in_progress" once part is fulfilled (as
  Shopify does), "closed" when nothing is left or the order is cancelled.
- `POST admin/api/<v>/fulfillments.json` `{"fulfillment": {"line_items_by_fulfillment_order": [{
  "fulfillment_order_id", "fulfillment_order_line_items": [{"id", "quantity"}]}], "tracking_info": {"number" |
  "numbers", "company", "url" | "urls"}, "notify_customer", "message"}}` -> 201 `{"fulfillment": {...}}` (name
  "#1001.<n>"; a URL is derived for Shopify's known companies when none is sent; any other company text is kept;
  its id is the fulfillment_id of its record in `self.tracking`, the lines in line item ids).
  Leaving out `fulfillment_order_line_items` fulfils what is left of that fulfillment order.
- `GET admin/api/<v>/orders/<id>/fulfillments.json`: the order's fulfillments (the payload's own, then the
  channel's).
- `POST admin/api/<v>/fulfillments/<id>/update_tracking.json` `{"fulfillment": {"tracking_info": {...},
  "notify_customer"}}` -> 200: the numbers changed in place (the old ones in the record's previous_numbers).
Refusals: a body that is not `{"fulfillment": {...}}` with known keys, or a malformed group or line: 400
`{"errors": {<field>: ...}}`; an unknown fulfillment order (or one of another order in the same body): 404 /
422; a line id not on its fulfillment order, or more units than are fulfillable (or none): 422; a closed
fulfillment order: 422 "... has an unfulfillable status= closed.". Tracking anomalies of the order: deleted -> 404 on every endpoint
of the order (orders/<id>.json too); already fulfilled -> a "hand" fulfillment of every line appears the first
time the order's fulfillment orders or fulfillments are read or pushed, so its fulfillment order is closed;
cancelled (or a cancelled order) -> 422 "The order has been canceled and can't be fulfilled."; locked -> 409
"Conflict: the order is being edited ..." for the first pushes (create or update_tracking), then accepted
(409, not 423: Shopify's 423 locks a whole shop); permission denied -> 403 `{"errors": "[API] This action requires
merchant approval for write_merchant_managed_fulfillment_orders scope."}` on the two writes (reads work).

Inventory (`self.listings`: one product with one variant per listed product; product id 7e9 + n, variant id 4e10 +
n as in orders, inventory item id 4.5e10 + n; shapes synthesised from the REST reference, the level from
templates/shopify_inventory_levels_set.json):
- `GET admin/api/<v>/products.json` (`limit` <= 250, `status` active,draft,archived, `ids`; cursor paging by
  page_info in the Link header as orders, filters refused beside it), by id: `status`, variants with `sku`,
  `inventory_item_id`, `inventory_management` ("shopify", or null when not tracked), `inventory_quantity`.
- `GET admin/api/<v>/locations.json`: LOCATION_ID (the 3PL's, the app's) and OTHER_LOCATION_ID (a fulfillment
  service's, `legacy: true`, which stocks none of these items and which the app must not write to).
- `GET admin/api/<v>/inventory_levels.json?inventory_item_ids=&location_ids=` (either or both, <= 50 ids each;
  `limit`/page_info as above): one level per live item at LOCATION_ID (`available` null when not tracked).
- `POST admin/api/<v>/inventory_levels/set.json` `{"location_id", "inventory_item_id", "available"}` -> 200
  `{"inventory_level": {...}}`. Refusals: not a JSON object or a field missing 400 `{"errors": {<field>:
  "Required parameter missing or invalid"}}`; a field not an integer 422; an unknown location 404; the other
  location 422 `{"errors": ["An item cannot be active at more than one location if one of them is a fulfillment
  service location."]}`; an unknown or deleted item 404; not tracked 422 `{"errors": ["Inventory item does not
  have inventory tracking enabled"]}`. A negative `available` is taken (Shopify allows overselling).
- `POST admin/api/<v>/graphql.json` `{"query", "variables"?, "operationName"?}`: the GraphQL Admin API, of which only
  the `inventorySetQuantities` mutation is served (below); it writes the same ListingStore as set.json (the shared
  `_location_refusal`, `_item_refusal`, `_set_available`), so `sim.listings(ch)` and the history record it alike.
Listing anomalies: case mismatch -> the variant's sku lower-cased; deleted -> absent from products and levels, set
404; not tracked -> `inventory_management: null`, set 422; not active -> product `status` draft or archived (set
still works, as on Shopify); drift -> after the first set, the next read of it (products or levels) first
applies a hand change (the written quantity less 1..5, or plus when that would go below 0).

GraphQL `inventorySetQuantities(input: InventorySetQuantitiesInput!)`, in 2025-01's shape whatever version the path
names (https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/inventorySetQuantities): input `{name, reason,
referenceDocumentUri?, ignoreCompareQuantity? (default false), quantities: [{inventoryItemId, locationId, quantity,
compareQuantity?}]}` (input-objects/InventorySetQuantitiesInput, InventoryQuantityInput; 2026-04's
`changeFromQuantity` is refused as an undefined field, its `@idempotent` ignored like any directive but @skip and
@include). The document is parsed with graphql-core and checked against the part of the schema served (payload
`inventoryAdjustmentGroup {id createdAt reason referenceDocumentUri changes {name delta quantityAfterChange
ledgerDocumentUri item {id sku tracked} location {id name}}}`, `userErrors {field message code}`; aliases,
fragments, @skip/@include). Every answer is HTTP 200 with `extensions.cost {requestedQueryCost, actualQueryCost,
throttleStatus {maximumAvailable, currentlyAvailable, restoreRate}}` (actualQueryCost null when the document did not
run); the shapes come from templates/shopify_inventory_set_quantities.json (the shopify.dev example, and a live
2025-01 answer's userErrors and cost).
- Refused before running, as top-level `errors` with no `data`, in graphql-ruby's words as far as known (a syntax
  error in graphql-core's): any field but this mutation ("Field 'shop' doesn't exist on type 'QueryRoot'", code
  undefinedField); a payload field unknown or
  selected wrongly (selectionMismatch); `input` missing, or a value the input types refuse ("Variable $input of type
  InventorySetQuantitiesInput! was provided invalid value for reason (Expected value to not be null), ...",
  `extensions {value, problems [{path, explanation}]}`; an ID not a gid is "Invalid global id `123`"; an Int past
  32 bits); more than 250 quantities: "The input array size of 251 is greater than the maximum allowed of 250.",
  `path ["inventorySetQuantities", "input", "quantities"]`, code MAX_INPUT_SIZE_EXCEEDED (the Admin API's limit on
  every input array, https://shopify.dev/docs/api/usage/limits). A 400 `{"errors": {"query": ...}}` for a body that is
  not JSON with a query.
- Cost (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits): 10 for the mutation plus 1 per object
  field selected (a plain list's items counted once; scalars 0), so the documented example's selection requests 11 and
  `... changes { item { id } location { id name } }` 13, which is what a live 2025-01 shop answers; nothing scales with
  the number of quantities (no source says it does). Actual: the same when the group is returned, 10 when it is null
  (userErrors), as that live answer shows. The points come from this shop's own bucket, scenario rate limit
  `shopify_graphql` (default 2000 points restoring 100/s: the Standard plan's 100 points/s, the 2000 a live answer's
  maximumAvailable), separate from the REST bucket and sending no X-Shopify-Shop-Api-Call-Limit: the requested cost is
  taken before running and the difference refunded after; short of it, nothing runs and the answer is HTTP 200
  `{"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": ...}}], "extensions":
  {"cost": {..., "actualQueryCost": null}}}`. Injected faults (5xx, 429, resets, lost_reply) meet this route like any.
- userErrors, checked in this order, each stopping the check: reason not one of Shopify's (INVALID_REASON, ["input",
  "reason"]); a quantity without compareQuantity unless ignoreCompareQuantity (COMPARE_QUANTITY_REQUIRED, ["input",
  "ignoreCompareQuantity"]); name not `available` or `on_hand` (INVALID_NAME, ["input", "name"]); a
  referenceDocumentUri that is no URI (INVALID_REFERENCE_DOCUMENT). Then each quantity, all reported, field
  ["input", "quantities", "<i>", <input field>]: above 1,000,000,000 or below -1,000,000,000
  (INVALID_QUANTITY_TOO_HIGH/_LOW; a negative `available` is taken, a negative `on_hand` is INVALID_QUANTITY_NEGATIVE);
  the same item and location twice (NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR on each, "locationId"); an unknown
  or deleted item (INVALID_INVENTORY_ITEM "The specified inventory item could not be found.", "inventoryItemId"); a
  location not the shop's (INVALID_LOCATION, "locationId"); OTHER_LOCATION_ID, the fulfillment service's, which stocks
  none of the items (ITEM_NOT_STOCKED_AT_LOCATION "The specified inventory item is not stocked at the location.");
  an untracked item (NON_MUTABLE_INVENTORY_ITEM with set.json's words "Inventory item does not have inventory
  tracking enabled": the enum has no code of its own for it, and what a live shop says is not recorded; an
  assumption); compareQuantity not the level's (COMPARE_QUANTITY_STALE). Messages and field paths are those of live
  2025-01/2026-04 answers where one was found (airhorns/shopify-draft-proxy's conformance captures), else the enum's
  descriptions (enums/InventorySetQuantitiesUserErrorCode).
- All or nothing: with any userError nothing is set and `inventoryAdjustmentGroup` is null. shopify.dev does not say
  either way. The live answers recorded with userErrors all have a null group, but none mixes refused and acceptable
  quantities, so they do not settle it; the conformance emulator built from live answers (airhorns/shopify-draft-proxy,
  its inventory_set_quantities) checks every quantity before writing any, and a set of stock is one adjustment group.
  The client does not depend on it: it resends the rest of a refused batch, and setting again is harmless. Else every
  quantity is written (history source "api", drift armed, as set.json) and the group lists the non-zero deltas, first
  under `name` for every item, then under the other name (no committed units are simulated, so on_hand and available
  move together), reason as sent, quantityAfterChange null."""

from __future__ import annotations

import json
import random
import re
import string
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from graphql import GraphQLSyntaxError, get_location, print_ast
from graphql import parse as graphql_parse
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from graphql.utilities import value_from_ast_untyped

from sync_pipeline.simulator.orders import (
    Address,
    Line,
    Market,
    Person,
    Product,
    SimOrder,
    SimOrderRecord,
    listed_products,
)
from sync_pipeline.simulator.platforms.base import (
    AdminError,
    ApiRequest,
    ApiResponse,
    ListingStore,
    Platform,
    Route,
    Window,
    admin_time,
    decode_token,
    drift_bounce,
    encode_token,
    iso_utc,
    load_template,
    overwrite,
    parse_time,
    require,
    signature,
)
from sync_pipeline.simulator.ratelimit import Bucket, BucketReading, decimal

TEMPLATE = load_template("shopify_order.json")
FULFILLMENT_ORDERS_TEMPLATE = load_template("shopify_fulfillment_orders_list.json")
FULFILLMENT_TEMPLATE = load_template("shopify_fulfillment_create.json")
UPDATED_FULFILLMENT_TEMPLATE = load_template("shopify_fulfillment_update_tracking.json")
LEVEL_TEMPLATE = load_template("shopify_inventory_levels_set.json")
MAX_LIMIT = 250
DEFAULT_LIMIT = 50
STATUSES = ("open", "closed", "cancelled", "any")
TIME_FILTERS = ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max")
PAGING_PARAMS = ("limit", "fields", "page_info")
SHIPPING = {
    "free": "Free Shipping", "economy": "Economy", "standard": "Standard Shipping",
    "express": "Express Shipping", "overnight": "Express Overnight", "same_day": "Same Day Courier",
}
ZERO_DATE = "0000-00-00 00:00:00"  # invalid_date
CARRIERS = [
    ("UPS", "https://www.ups.com/track?tracknum={}", "1Z999AA1{:010d}"),
    ("USPS", "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1={}", "9400111{:015d}"),
    ("FedEx", "https://www.fedex.com/fedextrack/?trknbr={}", "7{:011d}"),
    ("DHL Express", "https://www.dhl.com/en/express/tracking.html?AWB={}", "{:010d}"),
]
TAX_TITLES = {"US": "State Tax", "CA": "GST/HST", "JP": "Consumption Tax"}
LOCATION_ID = 655441491  # the shop's one location (the generated orders' fulfillments name it too)
FULFILLMENT_ORDER_OFFSET = 1_000_000_000  # fulfillment order id = order id + this
FULFILLMENT_ORDER_LINE_OFFSET = 10_000_000_000  # fulfillment order line item id = line item id + this
OTHER_LOCATION_ID = 655441492  # a fulfillment service's location: the app must not write to it
PRODUCT_OFFSET, VARIANT_OFFSET, INVENTORY_ITEM_OFFSET = 7_000_000_000, 40_000_000_000, 45_000_000_000
PRODUCT_STATUSES = ("active", "draft", "archived")
MAX_LEVEL_IDS = 50
LISTED_SINCE = datetime(2024, 3, 1, tzinfo=timezone.utc)
NOT_TRACKED = "Inventory item does not have inventory tracking enabled"
FULFILLMENT_SERVICE_LOCATION = ("An item cannot be active at more than one location if one of them is a fulfillment "
                                "service location.")
# Tracking companies Shopify knows, with the URL it derives when none is sent.
TRACKING_URLS = {
    "UPS": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}",
    "DHL Express": "https://www.dhl.com/en/express/tracking.html?AWB={}",
    "Royal Mail": "https://www.royalmail.com/track-your-item#/tracking-results/{}",
    "DPD": "https://tracking.dpd.de/status/en_US/parcel/{}",
}
FULFILLMENT_KEYS = {"line_items_by_fulfillment_order", "tracking_info", "notify_customer", "message", "origin_address"}
TRACKING_INFO_KEYS = {"number", "numbers", "company", "url", "urls"}
MISSING = "Required parameter missing or invalid"
CANCELLED_ORDER = "The order has been canceled and can't be fulfilled."
LOCKED_ORDER = "Conflict: the order is being edited in another request. Wait a moment and try again."
MISSING_SCOPE = "[API] This action requires merchant approval for write_merchant_managed_fulfillment_orders scope."
# GraphQL Admin inventorySetQuantities (2025-01's input shape; see the module docstring and
# templates/shopify_inventory_set_quantities.json, whose shapes the answers keep).
SET_QUANTITIES = json.loads(load_template("shopify_inventory_set_quantities.json"))
SET_TEMPLATE = SET_QUANTITIES["response_body"]["data"]["inventorySetQuantities"]
COST_TEMPLATE = SET_QUANTITIES["response_body"]["extensions"]["cost"]
USER_ERROR_TEMPLATE = SET_QUANTITIES["user_errors_example"]["data"]["inventorySetQuantities"]["userErrors"][0]
THROTTLED = SET_QUANTITIES["throttled_example"]["errors"][0]
MAX_INPUT_SIZE = 250  # every input array of the Admin API (shopify.dev/docs/api/usage/limits)
MUTATION_COST = 10  # a mutation's base points; each object field selected under it adds 1
QUANTITY_NAMES = ("available", "on_hand")
QUANTITY_LIMIT = 1_000_000_000
REASONS = ("correction", "cycle_count_available", "damaged", "movement_created", "movement_updated",
           "movement_received", "movement_canceled", "other", "promotion", "quality_control", "received",
           "reservation_created", "reservation_deleted", "reservation_updated", "restock", "safety_stock", "shrinkage")
LOCATION_NAME = "3PL Warehouse"
GROUP_OFFSET = 90_000_000_000  # inventory adjustment group ids
ITEM_NOT_FOUND = "The specified inventory item could not be found."
LOCATION_NOT_FOUND = "The specified location could not be found."
NOT_STOCKED = "The specified inventory item is not stocked at the location."
DUPLICATE_PAIR = "The combination of inventoryItemId and locationId must be unique."
INVALID_NAME = "The quantity name must be either 'available' or 'on_hand'."
COMPARE_REQUIRED = "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity."
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
GID = re.compile(r"gid://[\w-]+/\w+/[^/\s]+")
# The input types, as 2025-01 has them ("!": required; "[...]": a list).
INPUTS = {
    "InventorySetQuantitiesInput": {"name": "String!", "reason": "String!", "referenceDocumentUri": "String",
                                    "ignoreCompareQuantity": "Boolean", "quantities": "[InventoryQuantityInput!]!"},
    "InventoryQuantityInput": {"inventoryItemId": "ID!", "locationId": "ID!", "quantity": "Int!",
                               "compareQuantity": "Int"},
}


def _scalar(shown: str) -> tuple[str, None, bool]:
    return shown, None, False


# The output types served: type -> field -> (the type as Shopify prints it, the object type or None for a scalar or
# enum, whether it is a plain list of objects). Cost: 1 per object field selected, once per list (its items' fields).
SCHEMA = {
    "InventorySetQuantitiesPayload": {
        "inventoryAdjustmentGroup": ("InventoryAdjustmentGroup", "InventoryAdjustmentGroup", False),
        "userErrors": ("[InventorySetQuantitiesUserError!]!", "InventorySetQuantitiesUserError", True),
    },
    "InventoryAdjustmentGroup": {
        "id": _scalar("ID!"), "createdAt": _scalar("DateTime!"), "reason": _scalar("String!"),
        "referenceDocumentUri": _scalar("String"), "changes": ("[InventoryChange!]!", "InventoryChange", True),
    },
    "InventoryChange": {
        "name": _scalar("String!"), "delta": _scalar("Int!"), "quantityAfterChange": _scalar("Int"),
        "ledgerDocumentUri": _scalar("URL"), "item": ("InventoryItem", "InventoryItem", False),
        "location": ("Location", "Location", False),
    },
    "InventoryItem": {"id": _scalar("ID!"), "sku": _scalar("String"), "tracked": _scalar("Boolean!")},
    "Location": {"id": _scalar("ID!"), "name": _scalar("String!")},
    "InventorySetQuantitiesUserError": {
        "field": _scalar("[String!]"), "message": _scalar("String!"),
        "code": _scalar("InventorySetQuantitiesUserErrorCode"),
    },
}
ROOT_TYPES = {OperationType.QUERY: "QueryRoot", OperationType.MUTATION: "Mutation"}


class Shopify(Platform):
    type = "shopify"
    listing_draws = "stream"
    credential_names = ("access_token", "webhook_secret")
    market = Market({"USD": 70, "CAD": 8, "EUR": 8, "GBP": 7, "JPY": 7})
    rate_limit_keys = {
        "orders": "shopify", "order": "shopify", "fulfillment_orders": "shopify", "fulfillments": "shopify",
        "create_fulfillment": "shopify", "update_tracking": "shopify", "products": "shopify", "locations": "shopify",
        "inventory_levels": "shopify", "set_inventory_level": "shopify", "count": "shopify",
        "graphql": "shopify_graphql",  # the GraphQL Admin's points bucket, separate from the REST one
    }
    errors = {
        400: ("", "Bad Request"),
        401: ("", "[API] Invalid API key or access token (unrecognized login or wrong password)"),
        403: ("", MISSING_SCOPE),
        404: ("", "Not Found"),
        409: ("", LOCKED_ORDER),
        422: ("", "Unprocessable Entity"),
        429: ("", "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."),
        500: ("", "Internal Server Error"),
        503: ("", "Service Unavailable"),
    }

    def __init__(self, spec, credentials, scenario):
        super().__init__(spec, credentials, scenario)
        self._writes = threading.Lock()  # a push's checks and its store are one step
        self._urls: dict[str, list[str]] = {}  # fulfillment id -> the tracking URLs sent with it, when some were
        self._groups = 0  # inventory adjustment groups made (their ids)
        self.listings = ListingStore(map(self._listing, listed_products(scenario.seed, spec)), drift_bounce,
                                     stamp_updated_at=True)

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        path, method = request.path, request.method
        if path[:2] != ["admin", "api"] or len(path) < 4:
            return None
        rest = path[3:]
        if method == "GET" and rest == ["orders.json"]:
            return Route("orders", self.list_orders, window=self.created_window)
        if method == "GET" and rest == ["orders", "count.json"]:
            return Route("count", self.count_orders)
        if method == "GET" and len(rest) == 2 and rest[0] == "orders" and rest[1].endswith(".json"):
            return Route("order", self.get_order)
        if method == "GET" and len(rest) == 3 and rest[0] == "orders" and rest[2] == "fulfillment_orders.json":
            return Route("fulfillment_orders", lambda r: self.list_fulfillment_orders(rest[1]))
        if method == "GET" and len(rest) == 3 and rest[0] == "orders" and rest[2] == "fulfillments.json":
            return Route("fulfillments", lambda r: self.list_fulfillments(rest[1]))
        if method == "POST" and rest == ["fulfillments.json"]:
            return Route("create_fulfillment", self.create_fulfillment)
        if method == "POST" and len(rest) == 3 and rest[0] == "fulfillments" and rest[2] == "update_tracking.json":
            return Route("update_tracking", lambda r: self.update_tracking(r, rest[1]))
        if method == "GET" and rest == ["products.json"]:
            return Route("products", self.list_products)
        if method == "GET" and rest == ["locations.json"]:
            return Route("locations", self.list_locations)
        if method == "GET" and rest == ["inventory_levels.json"]:
            return Route("inventory_levels", self.list_inventory_levels)
        if method == "POST" and rest == ["inventory_levels", "set.json"]:
            return Route("set_inventory_level", self.set_inventory_level)
        if method == "POST" and rest == ["graphql.json"]:
            return Route("graphql", self.graphql)
        return None

    def bucket(self, route: Route) -> Bucket | None:
        if route.operation == "graphql":
            return None  # cost-based: the handler takes each document's points from its own bucket (GraphQL below)
        return self._buckets["orders"] if route.operation in self.rate_limit_keys else None  # one per shop (REST)

    def authorized(self, request: ApiRequest) -> bool:
        return self.check_credentials(request.headers.get("X-Shopify-Access-Token"), "access_token")

    def error(self, status: int, message: Any = None, code: str | None = None) -> ApiResponse:
        return ApiResponse(status, {"errors": message if message is not None else self.errors[status][1]})

    def rate_headers(self, reading: BucketReading) -> dict[str, str]:
        return {"X-Shopify-Shop-Api-Call-Limit": f"{reading.used}/{reading.capacity}"}

    def too_many_requests(self, reading: BucketReading) -> ApiResponse:
        response = self.error(429)
        response.headers["Retry-After"] = decimal(reading.seconds_to_one_token)
        return response

    def get_order(self, request: ApiRequest) -> ApiResponse:
        record = self._order(request.path[4][: -len(".json")])
        return ApiResponse(200, {"order": record.payload}) if record else self.error(404)

    def _filters(self, request: ApiRequest) -> tuple[dict, tuple[str, tuple[datetime, int]] | None] | ApiResponse:
        """The list filters, and the cursor (direction, position) when paging: from page_info alone, or from
        the query's filters."""
        page_info = request.param("page_info")
        if page_info is not None:
            for name in request.query:
                if name not in PAGING_PARAMS:
                    return self.error(400, {"page_info": f"{name} cannot be passed when page_info is present"})
            token = decode_token(page_info) or {}
            try:
                filters, direction, (placed, order_id) = token["filters"], token["direction"], token["key"]
                cursor = (direction, (datetime.fromisoformat(placed), int(order_id)))
                if direction not in ("next", "previous") or not set(filters) <= {"status", *TIME_FILTERS}:
                    raise ValueError(direction)
            except (KeyError, TypeError, ValueError):
                return self.error(400, {"page_info": "Invalid value."})
            return filters, cursor
        status = request.param("status", "open")
        if status not in STATUSES:
            return self.error(400, {"status": f"{status!r} is not one of {', '.join(STATUSES)}"})
        filters: dict = {"status": status}
        for name in TIME_FILTERS:
            value = request.param(name)
            if value is None:
                continue
            try:  # a time without an offset is in the shop's time zone
                filters[name] = parse_time(value, self.tz).isoformat()
            except ValueError:
                return self.error(400, {name: f"{value!r} is not an ISO-8601 time"})
        return filters, None

    def created_window(self, request: ApiRequest) -> Window:
        parsed = self._filters(request)
        if isinstance(parsed, ApiResponse):
            return None, None
        low, high = parsed[0].get("created_at_min"), parsed[0].get("created_at_max")
        return (datetime.fromisoformat(low) if low else None), (datetime.fromisoformat(high) if high else None)

    def list_orders(self, request: ApiRequest) -> ApiResponse:
        limit_text = request.param("limit", str(DEFAULT_LIMIT))
        if not limit_text.isdigit() or int(limit_text) < 1:
            return self.error(400, {"limit": "must be a positive integer"})
        limit = int(limit_text)
        if limit > MAX_LIMIT:
            return self.error(400, {"limit": f"must be less than or equal to {MAX_LIMIT}"})
        parsed = self._filters(request)
        if isinstance(parsed, ApiResponse):
            return parsed
        filters, cursor = parsed
        matching = [r for r in self.store.all() if _matches(r, filters)]
        keys = [_key(r) for r in matching]
        start, end = 0, limit
        if cursor is not None:
            direction, position = cursor
            if direction == "next":
                start = sum(1 for k in keys if k <= position)
                end = start + limit
            else:
                end = sum(1 for k in keys if k < position)
                start = max(0, end - limit)
        page = matching[start:end]
        fields = [f for f in (request.param("fields") or "").split(",") if f]
        orders = [{k: v for k, v in r.payload.items() if k in fields} if fields else r.payload for r in page]
        links = []
        base = f"{request.channel_url}/{'/'.join(request.path)}"
        for direction, record, present in (
            ("next", page[-1] if page else None, start + len(page) < len(matching)),
            ("previous", page[0] if page else None, start > 0),
        ):
            if present and record is not None:
                placed, order_id = _key(record)
                token = encode_token({"filters": filters, "direction": direction, "key": [placed.isoformat(), order_id]})
                query = {"limit": limit, **({"fields": ",".join(fields)} if fields else {}), "page_info": token}
                links.append(f'<{base}?{urlencode(query)}>; rel="{direction}"')
        return ApiResponse(200, {"orders": orders}, {"Link": ", ".join(links)} if links else {})

    def count_orders(self, request: ApiRequest) -> ApiResponse:
        """orders/count.json: the list's filters, counted over the same store."""
        if request.param("page_info") is not None:
            return self.error(400, {"page_info": "page_info is not a parameter of count"})
        parsed = self._filters(request)
        if isinstance(parsed, ApiResponse):
            return parsed
        return ApiResponse(200, {"count": sum(1 for r in self.store.all() if _matches(r, parsed[0]))})

    # --- tracking -------------------------------------------------------------------------------------
    def _order(self, order_id: str) -> SimOrderRecord | None:
        """The order, or None when the channel does not hold it (unknown, or deleted: tracking_order_deleted)."""
        record = self.store.get(order_id)
        if record is None or self.tracking_anomaly(order_id) == "tracking_order_deleted":
            return None
        return record

    def _looked_at(self, record: SimOrderRecord) -> None:
        """A person fulfilled it by hand first (tracking_already_fulfilled): every line, once."""
        self.hand_fulfilled(record.external_order_id, [
            {"line_id": line["id"], "quantity": line["quantity"]} for line in record.payload["line_items"]
        ])

    def _cancelled(self, record: SimOrderRecord) -> bool:
        return bool(record.payload.get("cancelled_at")) or (
            self.tracking_anomaly(record.external_order_id) == "tracking_order_cancelled")

    def _left(self, record: SimOrderRecord) -> dict[int, int]:
        """Units still to fulfil, by line item id: the order line's fulfillable quantity less the channel's
        fulfillments; nothing on a cancelled order."""
        done = Counter()
        for fulfillment in self.tracking.of(record.external_order_id):
            for line in fulfillment["lines"]:
                done[line["line_id"]] += line["quantity"]
        if self._cancelled(record):
            return {line["id"]: 0 for line in record.payload["line_items"]}
        return {line["id"]: max(0, _fulfillable(line) - done[line["id"]]) for line in record.payload["line_items"]}

    def _fulfillment_order(self, record: SimOrderRecord) -> dict:
        payload = record.payload
        left = self._left(record)
        fo_id = int(payload["id"]) + FULFILLMENT_ORDER_OFFSET
        fulfillment_order = json.loads(FULFILLMENT_ORDERS_TEMPLATE)["response_body"]["fulfillment_orders"][0]
        line_template = fulfillment_order["line_items"][0]
        lines = [
            overwrite(dict(line_template), id=line["id"] + FULFILLMENT_ORDER_LINE_OFFSET, fulfillment_order_id=fo_id,
                      quantity=line["quantity"], line_item_id=line["id"], inventory_item_id=line.get("variant_id"),
                      fulfillable_quantity=left[line["id"]], variant_id=line.get("variant_id"))
            for line in payload["line_items"]
        ]
        remaining = sum(left.values())
        status = ("closed" if remaining == 0 else "open" if remaining == sum(map(_fulfillable, payload["line_items"]))
                  else "in_progress")
        ship_to = payload.get("shipping_address")
        destination = None if not ship_to else overwrite(
            dict(fulfillment_order["destination"]), id=fo_id + 1, address1=ship_to.get("address1"),
            address2=ship_to.get("address2"), city=ship_to.get("city"), company=ship_to.get("company"),
            country=ship_to.get("country"), email=payload.get("email"), first_name=ship_to.get("first_name"),
            last_name=ship_to.get("last_name"), phone=ship_to.get("phone"), province=ship_to.get("province"),
            zip=ship_to.get("zip"),
        )
        fulfillments = self.tracking.of(record.external_order_id)
        changed = max([f["updated_at"] for f in fulfillments], default=None)
        created = payload.get("processed_at") or payload.get("created_at")
        return overwrite(
            fulfillment_order, id=fo_id, created_at=created,
            updated_at=self._local(parse_time(changed)) if changed else created,
            order_id=payload["id"], assigned_location_id=LOCATION_ID,
            request_status="closed" if status == "closed" else "unsubmitted", status=status,
            supported_actions=[] if status == "closed" else ["create_fulfillment", "hold", "move"],
            destination=destination, line_items=lines,
            assigned_location=overwrite(dict(fulfillment_order["assigned_location"]), location_id=LOCATION_ID),
        )

    def list_fulfillment_orders(self, order_id: str) -> ApiResponse:
        record = self._order(order_id)
        if record is None:
            return self.error(404)
        self._looked_at(record)
        return ApiResponse(200, {"fulfillment_orders": [self._fulfillment_order(record)]})

    def _render_fulfillment(self, record: SimOrderRecord, fulfillment: dict, position: int) -> dict:
        """A fulfillment of the channel's store in the real response's shape."""
        payload = record.payload
        body = json.loads(FULFILLMENT_TEMPLATE)["response_body"]["fulfillment"]
        line_template = body["line_items"][0]
        left = self._left(record)
        order_lines = {line["id"]: line for line in payload["line_items"]}
        lines = []
        for line in fulfillment["lines"]:
            order_line = order_lines.get(line["line_id"], {})
            rendered = {key: order_line.get(key, value) for key, value in line_template.items()}
            rendered.update(quantity=line["quantity"], fulfillable_quantity=left.get(line["line_id"], 0),
                            fulfillment_status="fulfilled" if left.get(line["line_id"], 0) == 0 else "partial")
            lines.append(rendered)
        numbers = fulfillment["tracking_numbers"]
        urls = self._urls.get(fulfillment["fulfillment_id"]) or [
            TRACKING_URLS[fulfillment["carrier"]].format(n) for n in numbers if fulfillment["carrier"] in TRACKING_URLS
        ]
        fulfillment_id = int(fulfillment["fulfillment_id"])
        return overwrite(
            body, id=fulfillment_id, order_id=payload["id"], status="success",
            created_at=self._local(parse_time(fulfillment["created_at"])), service="manual",
            updated_at=self._local(parse_time(fulfillment["updated_at"])), tracking_company=fulfillment["carrier"],
            shipment_status=None, location_id=LOCATION_ID, origin_address=None, line_items=lines,
            tracking_number=numbers[0] if numbers else None, tracking_numbers=list(numbers),
            tracking_url=urls[0] if urls else None, tracking_urls=urls, receipt={},
            name=f"{payload.get('name') or '#' + str(payload['id'])}.{position}",
            admin_graphql_api_id=f"gid://shopify/Fulfillment/{fulfillment_id}",
        )

    def _rendered_fulfillments(self, record: SimOrderRecord) -> list[dict]:
        own = list(record.payload.get("fulfillments") or [])
        return own + [self._render_fulfillment(record, f, len(own) + i + 1)
                      for i, f in enumerate(self.tracking.of(record.external_order_id))]

    def list_fulfillments(self, order_id: str) -> ApiResponse:
        record = self._order(order_id)
        if record is None:
            return self.error(404)
        self._looked_at(record)
        return ApiResponse(200, {"fulfillments": self._rendered_fulfillments(record)})

    @staticmethod
    def _body(request: ApiRequest) -> dict | None:
        """The request's `fulfillment` object, or None when the body is not {"fulfillment": {...}}."""
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None
        return body["fulfillment"] if isinstance(body, dict) and isinstance(body.get("fulfillment"), dict) else None

    def _tracking_info(self, info: Any) -> tuple[list[str], str | None, list[str]] | ApiResponse:
        """numbers, company and urls of a tracking_info object, or the 400/422 for a malformed one."""
        if info is None:
            return [], None, []
        if not isinstance(info, dict):
            return self.error(400, {"tracking_info": MISSING})
        unknown = sorted(set(info) - TRACKING_INFO_KEYS)
        if unknown:
            return self.error(400, {"tracking_info": f"unknown field(s): {', '.join(unknown)}"})
        numbers = info.get("numbers") if "numbers" in info else ([info["number"]] if "number" in info else [])
        urls = info.get("urls") if "urls" in info else ([info["url"]] if info.get("url") else [])
        company = info.get("company")
        if not isinstance(numbers, list) or not all(isinstance(n, str) and n.strip() for n in numbers):
            return self.error(422, {"tracking_info": ["number must be a non-empty string"]})
        if not isinstance(urls, list) or not all(isinstance(u, str) and u.startswith(("http://", "https://"))
                                                 for u in urls):
            return self.error(422, {"tracking_info": ["url must be an http(s) URL"]})
        if company is not None and not isinstance(company, str):
            return self.error(422, {"tracking_info": ["company must be text"]})
        return [n.strip() for n in numbers], company, urls

    def create_fulfillment(self, request: ApiRequest) -> ApiResponse:
        fulfillment = self._body(request)
        if fulfillment is None:
            return self.error(400, {"fulfillment": MISSING})
        unknown = sorted(set(fulfillment) - FULFILLMENT_KEYS)
        if unknown:
            return self.error(400, {"fulfillment": f"unknown field(s): {', '.join(unknown)}"})
        groups = fulfillment.get("line_items_by_fulfillment_order")
        if not isinstance(groups, list) or not groups:
            return self.error(400, {"line_items_by_fulfillment_order": MISSING})
        for group in groups:
            fo_id = group.get("fulfillment_order_id") if isinstance(group, dict) else None
            lines = group.get("fulfillment_order_line_items") if isinstance(group, dict) else None
            lines_ok = lines is None or isinstance(lines, list) and all(
                isinstance(line, dict) and _whole(line.get("id")) and _whole(line.get("quantity")) for line in lines)
            if not _whole(fo_id) or not lines_ok:
                return self.error(400, {"line_items_by_fulfillment_order": MISSING})
        tracking = self._tracking_info(fulfillment.get("tracking_info"))
        if isinstance(tracking, ApiResponse):
            return tracking
        numbers, company, urls = tracking
        order_ids = {str(group["fulfillment_order_id"] - FULFILLMENT_ORDER_OFFSET) for group in groups}
        if len(order_ids) > 1:
            return self.error(422, ["All fulfillment orders must belong to the same order."])
        order_id = order_ids.pop()
        record = self._order(order_id)
        if record is None:
            return self.error(404)
        if len({group["fulfillment_order_id"] for group in groups}) < len(groups):
            return self.error(422, ["A fulfillment order can only be listed once."])
        self._looked_at(record)
        anomaly = self.tracking_anomaly(order_id)
        if anomaly == "tracking_permission_denied":
            return self.error(403)
        if self.locked_now(order_id):
            return self.error(409)
        with self._writes:
            if self._cancelled(record):
                return self.error(422, [CANCELLED_ORDER])
            fulfillment_order = self._fulfillment_order(record)
            fo_id = fulfillment_order["id"]
            if fulfillment_order["status"] == "closed":
                return self.error(422, [f"Fulfillment order {fo_id} has an unfulfillable status= closed."])
            fo_lines = {line["id"]: line for line in fulfillment_order["line_items"]}
            asked = groups[0].get("fulfillment_order_line_items")
            if asked is None:  # the whole fulfillment order: what is left of it
                asked = [{"id": i, "quantity": line["fulfillable_quantity"]} for i, line in fo_lines.items()
                         if line["fulfillable_quantity"]]
            wanted = Counter()
            for line in asked:
                if line["id"] not in fo_lines:
                    return self.error(422, [
                        f"Fulfillment order line item {line['id']} does not belong to fulfillment order {fo_id}."])
                wanted[line["id"]] += line["quantity"]
            for line_id, quantity in wanted.items():
                if quantity < 1 or quantity > fo_lines[line_id]["fulfillable_quantity"]:
                    return self.error(422, ["Invalid fulfillment order line item quantity requested."])
            stored = self.tracking.add(
                order_id, numbers, company,
                [{"line_id": fo_lines[i]["line_item_id"], "quantity": q} for i, q in wanted.items()],
                extra={"notify_customer": bool(fulfillment.get("notify_customer", False))},
            )
            if urls:
                self._urls[stored["fulfillment_id"]] = list(urls)
            position = len(record.payload.get("fulfillments") or []) + len(self.tracking.of(order_id))
            return ApiResponse(201, {"fulfillment": self._render_fulfillment(record, stored, position)})

    def update_tracking(self, request: ApiRequest, fulfillment_id: str) -> ApiResponse:
        order_id = next((o for o, fulfillments in self.tracking.all().items()
                         if any(f["fulfillment_id"] == fulfillment_id for f in fulfillments)), None)
        record = self._order(order_id) if order_id is not None else None
        if record is None:
            return self.error(404)
        fulfillment = self._body(request)
        if fulfillment is None or not isinstance(fulfillment.get("tracking_info"), dict):
            return self.error(400, {"fulfillment": MISSING})
        unknown = sorted(set(fulfillment) - {"tracking_info", "notify_customer"})
        if unknown:
            return self.error(400, {"fulfillment": f"unknown field(s): {', '.join(unknown)}"})
        tracking = self._tracking_info(fulfillment["tracking_info"])
        if isinstance(tracking, ApiResponse):
            return tracking
        numbers, company, urls = tracking
        if self.tracking_anomaly(order_id) == "tracking_permission_denied":
            return self.error(403)
        if self.locked_now(order_id):
            return self.error(409)
        with self._writes:
            current = next(f for f in self.tracking.of(order_id) if f["fulfillment_id"] == fulfillment_id)
            updated = self.tracking.update(order_id, fulfillment_id, numbers or current["tracking_numbers"], company)
            if urls:
                self._urls[fulfillment_id] = list(urls)
            elif numbers:
                self._urls.pop(fulfillment_id, None)
            position = len(record.payload.get("fulfillments") or []) + 1 + next(
                i for i, f in enumerate(self.tracking.of(order_id)) if f["fulfillment_id"] == fulfillment_id)
            rendered = self._render_fulfillment(record, updated, position)
        body = json.loads(UPDATED_FULFILLMENT_TEMPLATE)["response_body"]["fulfillment"]
        return ApiResponse(200, {"fulfillment": {key: rendered[key] for key in body}})

    # --- inventory ------------------------------------------------------------------------------------
    def _listing(self, product: Product) -> dict:
        return self.new_listing(
            product, lambda anomaly, rng: {
                "status": rng.choice(("draft", "archived")) if anomaly == "listing_not_active" else "active"},
            listing_id=str(VARIANT_OFFSET + product.number),
            product_id=PRODUCT_OFFSET + product.number, variant_id=VARIANT_OFFSET + product.number,
            inventory_item_id=INVENTORY_ITEM_OFFSET + product.number,
            title=product.title, variant_title=product.variant, price=f"{product.base_price:.2f}", grams=product.grams,
            created_at=LISTED_SINCE + timedelta(minutes=product.number), updated_at=None,
        )

    def _live(self) -> list[dict]:
        return sorted((l for l in self.listings.all() if not l["deleted"]), key=lambda l: l["product_id"])

    def _updated(self, listing: dict) -> str:
        return self._local(listing["updated_at"] or listing["created_at"])

    def _product(self, listing: dict) -> dict:
        created, updated = self._local(listing["created_at"]), self._updated(listing)
        variant = {
            "id": listing["variant_id"], "product_id": listing["product_id"], "title": listing["variant_title"],
            "price": listing["price"], "position": 1, "inventory_policy": "deny", "compare_at_price": None,
            "option1": listing["variant_title"], "option2": None, "option3": None, "created_at": created,
            "updated_at": updated, "taxable": True, "barcode": None, "fulfillment_service": "manual",
            "grams": listing["grams"], "inventory_management": "shopify" if listing["tracked"] else None,
            "requires_shipping": True, "sku": listing["sku"], "weight": listing["grams"], "weight_unit": "g",
            "inventory_item_id": listing["inventory_item_id"], "inventory_quantity": listing["quantity"],
            "old_inventory_quantity": listing["quantity"], "image_id": None,
            "admin_graphql_api_id": f"gid://shopify/ProductVariant/{listing['variant_id']}",
        }
        return {
            "id": listing["product_id"], "title": listing["title"], "body_html": "", "vendor": self.name,
            "product_type": "", "created_at": created, "handle": f"{listing['title'].lower().replace(' ', '-')}-{listing['product_id']}",
            "updated_at": updated, "published_at": created if listing["status"] == "active" else None,
            "template_suffix": None, "published_scope": "web", "tags": "", "status": listing["status"],
            "admin_graphql_api_id": f"gid://shopify/Product/{listing['product_id']}", "variants": [variant],
            "options": [{"id": listing["product_id"] + 1, "product_id": listing["product_id"], "name": "Title",
                         "position": 1, "values": [listing["variant_title"]]}],
            "images": [], "image": None,
        }

    def _level(self, listing: dict) -> dict:
        level = json.loads(LEVEL_TEMPLATE)["response_body"]["inventory_level"]
        return overwrite(
            level, inventory_item_id=listing["inventory_item_id"], location_id=LOCATION_ID,
            available=listing["quantity"] if listing["tracked"] else None, updated_at=self._updated(listing),
            admin_graphql_api_id=f"gid://shopify/InventoryLevel/{LOCATION_ID}?inventory_item_id={listing['inventory_item_id']}",
        )

    def _cursor_page(self, request: ApiRequest, filter_names: tuple[str, ...], select) -> ApiResponse | tuple[list, dict]:
        """A page of `select(filters)` (listings sorted by `_key`) by limit and page_info, and its Link header."""
        limit_text = request.param("limit", str(DEFAULT_LIMIT))
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            return self.error(400, {"limit": f"must be an integer from 1 to {MAX_LIMIT}"})
        limit = int(limit_text)
        page_info = request.param("page_info")
        if page_info is not None:
            for name in request.query:
                if name not in ("limit", "page_info"):
                    return self.error(400, {"page_info": f"{name} cannot be passed when page_info is present"})
            token = decode_token(page_info) or {}
            filters, direction, position = token.get("filters"), token.get("direction"), token.get("key")
            if not isinstance(filters, dict) or direction not in ("next", "previous") or not _whole(position):
                return self.error(400, {"page_info": "Invalid value."})
        else:
            filters = {n: request.param(n) for n in filter_names if request.param(n) is not None}
            direction = position = None
        selected = select(filters)
        if isinstance(selected, ApiResponse):
            return selected
        rows, key = selected
        keys = [key(r) for r in rows]
        start, end = 0, limit
        if direction == "next":
            start = sum(1 for k in keys if k <= position)
            end = start + limit
        elif direction == "previous":
            end = sum(1 for k in keys if k < position)
            start = max(0, end - limit)
        page = rows[start:end]
        links = []
        base = f"{request.channel_url}/{'/'.join(request.path)}"
        for rel, row, present in (("next", page[-1] if page else None, start + len(page) < len(rows)),
                                  ("previous", page[0] if page else None, start > 0)):
            if present and row is not None:
                token = encode_token({"filters": filters, "direction": rel, "key": key(row)})
                links.append(f'<{base}?{urlencode({"limit": limit, "page_info": token})}>; rel="{rel}"')
        return page, ({"Link": ", ".join(links)} if links else {})

    def list_products(self, request: ApiRequest) -> ApiResponse:
        def select(filters: dict):
            statuses = [s for s in str(filters.get("status", ",".join(PRODUCT_STATUSES))).split(",") if s]
            if not statuses or not set(statuses) <= set(PRODUCT_STATUSES):
                return self.error(400, {"status": f"must be one or more of {', '.join(PRODUCT_STATUSES)}"})
            ids = [i for i in str(filters.get("ids", "")).split(",") if i]
            if not all(i.isdigit() for i in ids):
                return self.error(400, {"ids": "must be comma-separated integers"})
            rows = [l for l in self._live() if l["status"] in statuses and (not ids or str(l["product_id"]) in ids)]
            return rows, lambda l: l["product_id"]

        paged = self._cursor_page(request, ("status", "ids"), select)
        if isinstance(paged, ApiResponse):
            return paged
        page, headers = paged
        return ApiResponse(200, {"products": [self._product(self.listings.read(l["listing_id"])) for l in page]}, headers)

    def list_locations(self, request: ApiRequest) -> ApiResponse:
        def location(location_id: int, name: str, legacy: bool) -> dict:
            return {
                "id": location_id, "name": name, "address1": "100 Logistics Way", "address2": "", "city": "Columbus",
                "zip": "43219", "province": "Ohio", "country": "US", "phone": "", "created_at": self._local(LISTED_SINCE),
                "updated_at": self._local(LISTED_SINCE), "country_code": "US", "country_name": "United States",
                "province_code": "OH", "legacy": legacy, "active": True,
                "admin_graphql_api_id": f"gid://shopify/Location/{location_id}",
                "localized_country_name": "United States", "localized_province_name": "Ohio",
            }
        return ApiResponse(200, {"locations": [location(LOCATION_ID, LOCATION_NAME, False),
                                               location(OTHER_LOCATION_ID, "Partner Fulfillment Service", True)]})

    def list_inventory_levels(self, request: ApiRequest) -> ApiResponse:
        def select(filters: dict):
            lists = {}
            for name in ("inventory_item_ids", "location_ids"):
                values = [v for v in str(filters.get(name, "")).split(",") if v]
                if not all(v.isdigit() for v in values):
                    return self.error(422, {name: "must be comma-separated integers"})
                if len(values) > MAX_LEVEL_IDS:
                    return self.error(422, {name: f"must have at most {MAX_LEVEL_IDS} ids"})
                lists[name] = {int(v) for v in values}
            if not lists["inventory_item_ids"] and not lists["location_ids"]:
                return self.error(422, "inventory_item_ids, location_ids, or both must be present")
            if lists["location_ids"] and LOCATION_ID not in lists["location_ids"]:
                return [], lambda l: l["inventory_item_id"]  # the other location stocks none of them
            rows = sorted((l for l in self._live() if not lists["inventory_item_ids"]
                           or l["inventory_item_id"] in lists["inventory_item_ids"]), key=lambda l: l["inventory_item_id"])
            return rows, lambda l: l["inventory_item_id"]

        paged = self._cursor_page(request, ("inventory_item_ids", "location_ids"), select)
        if isinstance(paged, ApiResponse):
            return paged
        page, headers = paged
        return ApiResponse(200, {"inventory_levels": [self._level(self.listings.read(l["listing_id"])) for l in page]}, headers)

    def set_inventory_level(self, request: ApiRequest) -> ApiResponse:
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return self.error(400, {"inventory_item_id": MISSING})
        for name in ("location_id", "inventory_item_id", "available"):
            if body.get(name) is None:
                return self.error(400, {name: MISSING})
            if not _whole(body[name]):
                return self.error(422, {name: [f"expected {type(body[name]).__name__} to be a Integer"]})
        with self._writes:
            location = self._location_refusal(body["location_id"])
            if location == "fulfillment_service":
                return self.error(422, [FULFILLMENT_SERVICE_LOCATION])
            if location == "unknown":
                return self.error(404)
            refusal, listing = self._item_refusal(body["inventory_item_id"])
            if refusal == "unknown":
                return self.error(404)
            if refusal == "not_tracked":
                return self.error(422, [NOT_TRACKED])
            listing = self._set_available(listing, body["available"])
        return ApiResponse(200, {"inventory_level": self._level(listing)})

    # The per-listing refusals and the write that set.json and inventorySetQuantities share.
    @staticmethod
    def _location_refusal(location_id: int | None) -> str | None:
        """Why stock cannot be set at this location: "fulfillment_service" (OTHER_LOCATION_ID, `legacy`, which stocks
        none of the items), "unknown" (any other id but LOCATION_ID), or None."""
        if location_id == OTHER_LOCATION_ID:
            return "fulfillment_service"
        return None if location_id == LOCATION_ID else "unknown"

    def _item_refusal(self, inventory_item_id: int | None) -> tuple[str | None, dict | None]:
        """Why this inventory item's stock cannot be set ("unknown": no such item or deleted; "not_tracked"), or
        None, with the listing it belongs to (None when unknown)."""
        listing = self.listings.find(inventory_item_id=inventory_item_id) if inventory_item_id is not None else None
        if listing is None or listing["deleted"]:
            return "unknown", None
        return (None if listing["tracked"] else "not_tracked"), listing

    def _set_available(self, listing: dict, quantity: int) -> dict:
        """An API write of the listing's available quantity at LOCATION_ID, in the ListingStore (history source
        "api", the drift bookkeeping armed); returns the listing after it."""
        return self.listings.written(listing["listing_id"], quantity)

    # --- GraphQL Admin: inventorySetQuantities (see the module docstring) ------------------------------
    def graphql(self, request: ApiRequest) -> ApiResponse:
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            return self.error(400, {"query": MISSING})
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return self.error(400, {"variables": MISSING})
        bucket = self._buckets["graphql"]
        try:
            document = graphql_parse(body["query"])
        except GraphQLSyntaxError as exc:
            return _graphql_answer(bucket.peek(), 0, None, errors=[_error(exc.message, exc.locations)])
        plan = _Plan(document, body.get("operationName"), variables or {})
        if plan.errors:
            return _graphql_answer(bucket.peek(), plan.requested, None, errors=plan.errors)
        reading = bucket.spend(plan.requested)
        if not reading.allowed:  # before execution the bucket must hold the requested cost; nothing is done
            return _graphql_answer(reading, plan.requested, None, errors=[dict(THROTTLED)])
        data, actual = {}, 0
        with self._writes:  # each mutation's checks and its writes are one step
            for key, given, selection in plan.fields:
                if given is None:
                    data[key] = "Mutation"  # __typename
                    continue
                payload = self._set_quantities(given)
                data[key] = plan.select(payload, selection, "InventorySetQuantitiesPayload")
                actual += MUTATION_COST + plan.cost(selection, "InventorySetQuantitiesPayload", payload)
        reading = bucket.spend(actual - plan.requested)  # refunded the difference between requested and actual
        return _graphql_answer(reading, plan.requested, actual, data=data)

    def _set_quantities(self, given: dict) -> dict:
        """One inventorySetQuantities, all or nothing: every quantity is checked first; any userError and none is set
        (inventoryAdjustmentGroup null), else all are, and the group lists the changes."""
        name, reason, reference = given["name"], given["reason"], given.get("referenceDocumentUri")
        quantities, ignore_compare = given["quantities"], bool(given.get("ignoreCompareQuantity"))
        if reason not in REASONS:
            return _refused((["input", "reason"], "The specified reason is invalid.", "INVALID_REASON"))
        if not ignore_compare and any(q.get("compareQuantity") is None for q in quantities):
            return _refused((["input", "ignoreCompareQuantity"], COMPARE_REQUIRED, "COMPARE_QUANTITY_REQUIRED"))
        if name not in QUANTITY_NAMES:
            return _refused((["input", "name"], INVALID_NAME, "INVALID_NAME"))
        if reference is not None and not URI.match(reference):
            return _refused((["input", "referenceDocumentUri"], "The specified reference document is invalid.",
                             "INVALID_REFERENCE_DOCUMENT"))
        pairs = Counter((q["inventoryItemId"], q["locationId"]) for q in quantities)
        errors, targets = [], []
        for index, wanted in enumerate(quantities):
            at, quantity = ["input", "quantities", str(index)], wanted["quantity"]
            if quantity > QUANTITY_LIMIT:
                errors.append((at + ["quantity"], "The quantity can't be higher than 1,000,000,000.",
                               "INVALID_QUANTITY_TOO_HIGH"))
            elif quantity < -QUANTITY_LIMIT:
                errors.append((at + ["quantity"], "The quantity can't be lower than -1,000,000,000.",
                               "INVALID_QUANTITY_TOO_LOW"))
            elif quantity < 0 and name == "on_hand":
                errors.append((at + ["quantity"], "The quantity can't be negative.", "INVALID_QUANTITY_NEGATIVE"))
            if pairs[(wanted["inventoryItemId"], wanted["locationId"])] > 1:
                errors.append((at + ["locationId"], DUPLICATE_PAIR, "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"))
                continue
            item, listing = self._item_refusal(_gid_number(wanted["inventoryItemId"], "InventoryItem"))
            location = self._location_refusal(_gid_number(wanted["locationId"], "Location"))
            if item == "unknown":
                errors.append((at + ["inventoryItemId"], ITEM_NOT_FOUND, "INVALID_INVENTORY_ITEM"))
            if location == "unknown":
                errors.append((at + ["locationId"], LOCATION_NOT_FOUND, "INVALID_LOCATION"))
            if "unknown" in (item, location):
                continue
            if location == "fulfillment_service":  # a fulfillment service's location stocks none of the items
                errors.append((at + ["locationId"], NOT_STOCKED, "ITEM_NOT_STOCKED_AT_LOCATION"))
            elif item == "not_tracked":
                errors.append((at + ["inventoryItemId"], NOT_TRACKED, "NON_MUTABLE_INVENTORY_ITEM"))
            elif not ignore_compare and wanted["compareQuantity"] != listing["quantity"]:
                errors.append((at + ["compareQuantity"], "The compareQuantity value does not match persisted value.",
                               "COMPARE_QUANTITY_STALE"))
            else:
                targets.append((listing, quantity))
        if errors:
            return _refused(*errors)
        moved = []
        for listing, quantity in targets:  # no committed units are simulated: on_hand and available move together
            moved.append((self._set_available(listing, quantity), quantity - listing["quantity"]))
        self._groups += 1
        group = json.loads(json.dumps(SET_TEMPLATE["inventoryAdjustmentGroup"]))
        change = group["changes"][0]
        changes = [
            {**overwrite(dict(change), name=kind, delta=delta, quantityAfterChange=None), "ledgerDocumentUri": None,
             "item": {"id": f"gid://shopify/InventoryItem/{listing['inventory_item_id']}", "sku": listing["sku"],
                      "tracked": listing["tracked"]},
             "location": {"id": f"gid://shopify/Location/{LOCATION_ID}", "name": LOCATION_NAME}}
            for kind in (name, *(n for n in QUANTITY_NAMES if n != name)) for listing, delta in moved if delta
        ]
        group = {"id": f"gid://shopify/InventoryAdjustmentGroup/{GROUP_OFFSET + self._groups}",
                 "createdAt": iso_utc(datetime.now(timezone.utc)),
                 **overwrite(group, reason=reason, referenceDocumentUri=reference, changes=changes)}
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    # --- orders ---------------------------------------------------------------------------------------
    def _local(self, value: datetime | None) -> str | None:
        return value.astimezone(self.tz).isoformat(timespec="seconds") if value else None

    webhook_topics = {"created": "orders/create", "updated": "orders/updated", "cancelled": "orders/cancelled"}

    def webhook(self, record: SimOrderRecord, event: str, number: int, now: datetime) -> tuple[str, dict[str, str], bytes]:
        body = json.dumps(record.payload).encode()
        event_id = f"{self.name}-event-{number}"
        return event_id, {
            "Content-Type": "application/json", "X-Shopify-Topic": self.webhook_topics[event],
            "X-Shopify-Hmac-Sha256": signature(self.credentials["webhook_secret"], body),
            "X-Shopify-Shop-Domain": f"{self.name}.myshopify.com", "X-Shopify-API-Version": "2025-01",
            "X-Shopify-Webhook-Id": f"{self.name}-webhook-{number}", "X-Shopify-Event-Id": event_id,
            "X-Shopify-Triggered-At": now.isoformat().replace("+00:00", "Z"),
        }, body

    def render(self, order: SimOrder) -> SimOrderRecord:
        rng = random.Random(order.uid)
        payload = json.loads(TEMPLATE)["orders"][0]
        order_id = 5_000_000_000 + order.seq * 10 + rng.randrange(10)
        number = order.seq + 1
        currency = order.currency
        money = order.money
        cancelled, shipped = order.status == "cancelled", order.status == "shipped"
        zero = money(order.total * 0)
        token = f"{rng.getrandbits(128):032x}"
        ip = f"203.0.113.{rng.randint(1, 254)}"
        customer = order.customer
        country = (order.ship_to or order.billing).country_code
        tax_title = TAX_TITLES.get(country, "VAT")

        def money_set(amount: str) -> dict:
            both = {"amount": amount, "currency_code": currency}
            return {"shop_money": dict(both), "presentment_money": dict(both)}

        def tax_lines(amount, template: dict) -> list[dict]:
            if not order.tax_rate:
                return []
            return [overwrite(dict(template), price=money(amount), rate=float(order.tax_rate), title=tax_title,
                              price_set=money_set(money(amount)), channel_liable=False)]

        line_template = payload["line_items"][0]
        lines = [self._line(order, line, index, line_template, money_set, tax_lines) for index, line in enumerate(order.lines)]
        shipping_line = overwrite(
            payload["shipping_lines"][0], id=order_id + 1, code=SHIPPING[order.shipping],
            title=SHIPPING[order.shipping], price=money(order.shipping_price),
            price_set=money_set(money(order.shipping_price)), discounted_price=money(order.shipping_price),
            discounted_price_set=money_set(money(order.shipping_price)), tax_lines=[], discount_allocations=[],
        )
        fulfillments = []
        if shipped:
            carrier, url, number_format = rng.choice(CARRIERS)
            tracking = number_format.format(rng.randrange(10**10))
            fulfillments.append(overwrite(
                payload["fulfillments"][0], id=order_id + 2,
                admin_graphql_api_id=f"gid://shopify/Fulfillment/{order_id + 2}",
                created_at=self._local(order.changed_at), location_id=655441491, name=f"#{1000 + number}.1",
                order_id=order_id, origin_address={},
                receipt=overwrite(payload["fulfillments"][0]["receipt"], testcase=False, authorization=f"{rng.randrange(10**6):06d}"),
                service="manual", shipment_status=None,
                status="success", tracking_company=carrier, tracking_number=tracking, tracking_numbers=[tracking],
                tracking_url=url.format(tracking), tracking_urls=[url.format(tracking)],
                updated_at=self._local(order.changed_at), line_items=[dict(line) for line in lines],
            ))
        current = {
            "current_subtotal_price": money(order.subtotal), "current_total_price": money(order.total),
            "current_total_tax": money(order.tax),
        }
        if cancelled:
            current = dict.fromkeys(current, zero)
        total_price = money(order.total)
        if order.has("invalid_amount"):  # a negative order total
            total_price = money(-order.total)
            if not cancelled:
                current["current_total_price"] = total_price
        customer_id = 6_500_000_000 + rng.randrange(10**8)
        phone_e164 = customer.phone.replace(" ", "").replace("-", "") if customer.phone and customer.phone.startswith("+") else None
        overwrite(
            payload,
            id=order_id, admin_graphql_api_id=f"gid://shopify/Order/{order_id}", app_id=580111, browser_ip=ip,
            buyer_accepts_marketing=rng.random() < 0.3,
            cancel_reason="customer" if cancelled else None,
            cancelled_at=self._local(order.changed_at) if cancelled else None,
            cart_token=f"{rng.getrandbits(128):032x}", checkout_id=order_id + 3,
            checkout_token=f"{rng.getrandbits(128):032x}",
            client_details=overwrite(payload["client_details"], accept_language="en-US,en;q=0.9", browser_ip=ip,
                                     user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15"),
            closed_at=self._local(order.changed_at) if cancelled or shipped else None,
            confirmation_number="".join(rng.choices(string.ascii_uppercase + string.digits, k=9)),
            contact_email=customer.email or None,
            created_at=ZERO_DATE if order.has("invalid_date") else self._local(order.placed_at), currency=currency,
            current_subtotal_price=current["current_subtotal_price"],
            current_subtotal_price_set=money_set(current["current_subtotal_price"]),
            current_total_discounts=zero, current_total_discounts_set=money_set(zero),
            current_total_price=current["current_total_price"], current_total_price_set=money_set(current["current_total_price"]),
            current_total_tax=current["current_total_tax"], current_total_tax_set=money_set(current["current_total_tax"]),
            customer_locale="en", discount_codes=[], email=customer.email or None,
            financial_status=(
                "expired" if order.has("unmapped_status")
                else ("refunded" if order.paid else "voided") if cancelled else ("paid" if order.paid else "pending")
            ),
            fulfillment_status="fulfilled" if shipped else None,
            landing_site="/", landing_site_ref=None, name=f"#{1000 + number}", note=None, note_attributes=[],
            number=number, order_number=1000 + number,
            order_status_url=f"https://{self.name}.myshopify.com/548380009/orders/{token}/authenticate?key={rng.getrandbits(64):016x}",
            payment_gateway_names=[rng.choice(["shopify_payments", "paypal"])] if order.paid else ["Bank Deposit"],
            phone=phone_e164, po_number=None, presentment_currency=currency, processed_at=self._local(order.placed_at),
            reference=f"{rng.getrandbits(64):016x}", referring_site="", source_identifier=None, source_name="web",
            subtotal_price=money(order.subtotal), subtotal_price_set=money_set(money(order.subtotal)),
            tags="", tax_lines=tax_lines(order.tax, payload["tax_lines"][0]), token=token,
            total_cash_rounding_payment_adjustment_set=money_set(zero), total_cash_rounding_refund_adjustment_set=money_set(zero),
            total_discounts=zero, total_discounts_set=money_set(zero),
            total_line_items_price=money(order.subtotal), total_line_items_price_set=money_set(money(order.subtotal)),
            total_outstanding=zero if order.paid or cancelled else money(order.total),
            total_price=total_price, total_price_set=money_set(total_price),
            total_shipping_price_set=money_set(money(order.shipping_price)),
            total_tax=money(order.tax), total_tax_set=money_set(money(order.tax)), total_tip_received=zero,
            total_weight=sum(line.product.grams * line.quantity for line in order.lines),
            updated_at=self._local(order.updated_at),
            billing_address=self._address(payload["billing_address"], order.billing, customer),
            customer=None if customer.blank else overwrite(  # a broken guest checkout leaves no customer
                payload["customer"], id=customer_id, email=customer.email,
                created_at=self._local(order.placed_at), updated_at=self._local(order.placed_at),
                first_name=customer.first_name, last_name=customer.last_name, state="disabled", verified_email=True,
                phone=phone_e164, tags="", currency=currency, admin_graphql_api_id=f"gid://shopify/Customer/{customer_id}",
                email_marketing_consent=overwrite(payload["customer"]["email_marketing_consent"], consent_updated_at=None),
                sms_marketing_consent=None if phone_e164 is None else overwrite(
                    payload["customer"]["sms_marketing_consent"], consent_updated_at=self._local(order.placed_at)),
                default_address=overwrite(
                    payload["customer"]["default_address"], id=customer_id + 1, customer_id=customer_id,
                    first_name=customer.first_name, last_name=customer.last_name, address1=order.billing.address1,
                    address2=order.billing.address2, city=order.billing.city, province=order.billing.province,
                    country=order.billing.country, zip=order.billing.postcode, phone=customer.phone or "",
                    name=customer.name, province_code=order.billing.province_code or None,
                    country_code=order.billing.country_code, country_name=order.billing.country,
                ),
            ),
            discount_applications=[], fulfillments=fulfillments, line_items=lines, refunds=[],
            shipping_address=self._address(payload["shipping_address"], order.ship_to, customer),
            shipping_lines=[shipping_line],
        )
        return SimOrderRecord(str(order_id), order.placed_at, order.updated_at, payload)

    def _line(self, order: SimOrder, line: Line, index: int, template: dict, money_set, tax_lines) -> dict:
        shipped, cancelled = order.status == "shipped", order.status == "cancelled"
        line_id = 20_000_000_000 + order.seq * 10 + index
        product = line.product
        open_quantity = 0 if shipped or cancelled else line.quantity
        zero = order.money(line.total * 0)
        return overwrite(
            json.loads(json.dumps(template)),
            id=line_id, admin_graphql_api_id=f"gid://shopify/LineItem/{line_id}", attributed_staffs=[],
            current_quantity=0 if cancelled else line.quantity, fulfillable_quantity=open_quantity,
            fulfillment_status="fulfilled" if shipped else None, grams=product.grams,
            name=f"{product.title} - {product.variant}", price=order.money(line.unit_price),
            price_set=money_set(order.money(line.unit_price)), product_id=7_000_000_000 + product.number,
            properties=[], quantity=line.quantity, sku=product.sku, title=product.title,
            total_discount=zero, total_discount_set=money_set(zero), variant_id=40_000_000_000 + product.number,
            variant_title=product.variant, vendor=None, tax_lines=tax_lines(order.line_tax(line), template["tax_lines"][0]),
            duties=[], discount_allocations=[],
        )

    @staticmethod
    def _address(template: dict, address: Address | None, customer: Person) -> dict | None:
        if address is None:
            return None
        return overwrite(
            template, address1=address.address1, address2=address.address2, city=address.city, zip=address.postcode,
            province=address.province or None, province_code=address.province_code or None, country=address.country,
            country_code=address.country_code, phone=customer.phone, company=None, latitude=None, longitude=None,
            first_name=customer.first_name, last_name=customer.last_name, name=customer.name,
        )

    def parse_admin(self, body: Any) -> list[SimOrderRecord]:
        if isinstance(body, dict) and isinstance(body.get("orders"), list):
            orders = body["orders"]
        elif isinstance(body, dict) and isinstance(body.get("order"), dict):
            orders = [body["order"]]
        else:
            orders = [body]
        records = []
        for index, order in enumerate(orders):
            what = f"shopify order #{index}"
            if not isinstance(order, dict):
                raise AdminError(f"{what}: expected an order object, {{\"order\": {{...}}}} or {{\"orders\": [...]}}")
            order_id = require(order, "id", what)
            if isinstance(order_id, bool) or not isinstance(order_id, int):
                raise AdminError(f"{what}: 'id' must be an integer, got {order_id!r}")
            records.append(SimOrderRecord(
                str(order_id), admin_time(order, "created_at", what, self.tz), admin_time(order, "updated_at", what, self.tz),
                order,
            ))
        return records


def _fulfillable(line: dict) -> int:
    return int(line.get("fulfillable_quantity", line["quantity"]))


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _key(record: SimOrderRecord) -> tuple[datetime, int]:
    return record.placed_at, int(record.external_order_id)


def _matches(record: SimOrderRecord, filters: dict) -> bool:
    payload = record.payload
    status = filters.get("status", "open")
    if status == "open" and (payload.get("cancelled_at") or payload.get("closed_at")):
        return False
    if status == "closed" and not payload.get("closed_at"):
        return False
    if status == "cancelled" and not payload.get("cancelled_at"):
        return False
    for name, value in filters.items():
        if name in TIME_FILTERS:
            moment = record.placed_at if name.startswith("created") else record.updated_at
            bound = datetime.fromisoformat(value)
            if (moment < bound) if name.endswith("_min") else (moment > bound):
                return False
    return True


# --- GraphQL ----------------------------------------------------------------------------------------
_STATIC = object()


class _Plan:
    """A GraphQL document checked against the part of the Admin schema simulated (the inventorySetQuantities mutation,
    SCHEMA and INPUTS): its root fields with their coerced input, and its requested cost; or the errors Shopify
    answers instead of running it (`errors`)."""

    def __init__(self, document: DocumentNode, operation_name: Any, variables: dict):
        self.errors: list[dict] = []
        # key, input (None: the root's __typename), selection
        self.fields: list[tuple[str, dict | None, SelectionSetNode | None]] = []
        self.requested = 0
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name:
            operation = next((o for o in operations if o.name and o.name.value == operation_name), None)
            if operation is None:
                self.errors.append(_error(f'No operation named "{operation_name}"'))
                return
        elif len(operations) != 1:
            self.errors.append(_error("An operation name is required" if operations
                                      else "No operations in query string"))
            return
        else:
            operation = operations[0]
        root = ROOT_TYPES.get(operation.operation)
        if root is None:
            self.errors.append(_error("Schema is not configured for subscriptions", _where(operation)))
            return
        for node in self.flatten(operation.selection_set):
            name, key = node.name.value, (node.alias or node.name).value
            if name == "__typename":
                self.fields.append((key, None, None))
                continue
            if root != "Mutation" or name != "inventorySetQuantities":  # nothing else of the schema is simulated
                self._fail(f"Field '{name}' doesn't exist on type '{root}'", node, "undefinedField", typeName=root,
                           fieldName=name)
                continue
            self._check_selection(node, ("InventorySetQuantitiesPayload", "InventorySetQuantitiesPayload", False))
            given = self._input(node, operation)
            if given is not None and len(given["quantities"]) > MAX_INPUT_SIZE:
                self.errors.append(_error(
                    f"The input array size of {len(given['quantities'])} is greater than the maximum allowed of "
                    f"{MAX_INPUT_SIZE}.", _where(node), path=[name, "input", "quantities"],
                    code="MAX_INPUT_SIZE_EXCEEDED"))
            self.fields.append((key, given, node.selection_set))
            self.requested += MUTATION_COST + self.cost(node.selection_set, "InventorySetQuantitiesPayload")
        unique = {json.dumps(e, sort_keys=True): e for e in self.errors}  # a fragment is walked more than once
        self.errors = list(unique.values())

    def _fail(self, message: str, node, code: str, **extensions) -> None:
        self.errors.append(_error(message, _where(node), code=code, **extensions))

    # --- selections -------------------------------------------------------------------------------------
    def flatten(self, selection_set: SelectionSetNode | None, seen: frozenset = frozenset()) -> list[FieldNode]:
        """The fields a selection set selects, through fragments, less those @skip / @include leave out."""
        fields: list[FieldNode] = []
        for node in selection_set.selections if selection_set else ():
            if not self._included(node):
                continue
            if isinstance(node, FieldNode):
                fields.append(node)
            elif isinstance(node, InlineFragmentNode):
                fields.extend(self.flatten(node.selection_set, seen))
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None:
                    self._fail(f"Fragment {name} was used, but not defined", node, "useAndDefineFragment",
                               fragmentName=name)
                elif name in seen:
                    self._fail(f"Fragment {name} contains an infinite loop", node, "infiniteLoop", fragmentName=name)
                else:
                    fields.extend(self.flatten(fragment.selection_set, seen | {name}))
        return fields

    def _included(self, node) -> bool:
        for directive in node.directives or ():
            if directive.name.value in ("skip", "include"):
                argument = next((a for a in directive.arguments if a.name.value == "if"), None)
                condition = bool(value_from_ast_untyped(argument.value, self.variables)) if argument else False
                if condition == (directive.name.value == "skip"):
                    return False
        return True

    def _check_selection(self, node: FieldNode, spec: tuple[str, str | None, bool]) -> None:
        shown, inner, _ = spec
        name = node.name.value
        if inner is None:
            if node.selection_set:
                picked = ", ".join(f'"{f.name.value}"' for f in self.flatten(node.selection_set))
                self._fail(f"Selections can't be made on scalars (field '{name}' returns {shown} but has selections "
                           f"[{picked}])", node, "selectionMismatch", nodeName=f"field '{name}'", typeName=shown)
            return
        if not node.selection_set:
            self._fail(f"Field must have selections (field '{name}' returns {shown} but has no selections. Did you "
                       f"mean '{name} {{ ... }}'?)", node, "selectionMismatch", nodeName=f"field '{name}'",
                       typeName=shown)
            return
        for child in self.flatten(node.selection_set):
            if child.name.value == "__typename":
                continue
            child_spec = SCHEMA[inner].get(child.name.value)
            if child_spec is None:
                self._fail(f"Field '{child.name.value}' doesn't exist on type '{inner}'", child, "undefinedField",
                           typeName=inner, fieldName=child.name.value)
            else:
                self._check_selection(child, child_spec)

    def cost(self, selection_set: SelectionSetNode | None, type_name: str, value: Any = _STATIC) -> int:
        """Points of the object fields selected (1 each; a plain list's items' once): of every one selected (the
        requested cost), or of those `value` returned non-null (the actual cost)."""
        total = 0
        for node in self.flatten(selection_set):
            _, inner, is_list = SCHEMA[type_name].get(node.name.value, _scalar(""))
            if inner is None:
                continue
            if value is _STATIC:
                total += (0 if is_list else 1) + self.cost(node.selection_set, inner)
                continue
            got = value.get(node.name.value) if isinstance(value, dict) else None
            if is_list:
                total += max((self.cost(node.selection_set, inner, item) for item in got or ()), default=0)
            elif got is not None:
                total += 1 + self.cost(node.selection_set, inner, got)
        return total

    def select(self, value: Any, selection_set: SelectionSetNode | None, type_name: str) -> Any:
        """`value` (a full payload) as the selection asks for it: its fields under their aliases, in order."""
        if value is None:
            return None
        if isinstance(value, list):
            return [self.select(item, selection_set, type_name) for item in value]
        out = {}
        for node in self.flatten(selection_set):
            name, key = node.name.value, (node.alias or node.name).value
            if name == "__typename":
                out[key] = type_name
                continue
            inner = SCHEMA[type_name][name][1]
            out[key] = value.get(name) if inner is None else self.select(value.get(name), node.selection_set, inner)
        return out

    # --- the input argument -------------------------------------------------------------------------------
    def _input(self, node: FieldNode, operation: OperationDefinitionNode) -> dict | None:
        """The mutation's `input`, coerced to InventorySetQuantitiesInput!, or None (an error said why)."""
        arguments = {a.name.value: a for a in node.arguments}
        for extra in sorted(set(arguments) - {"input"}):
            self._fail(f"Field 'inventorySetQuantities' doesn't accept argument '{extra}'", arguments[extra],
                       "argumentNotAccepted", name="inventorySetQuantities", typeName="Field", argumentName=extra)
        if "input" not in arguments:
            self._fail("Field 'inventorySetQuantities' is missing required arguments: input", node,
                       "missingRequiredArguments", className="Field", name="inventorySetQuantities", arguments="input")
            return None
        value_node, problems = arguments["input"].value, []
        if not isinstance(value_node, VariableNode):
            raw = value_from_ast_untyped(value_node, self.variables)
            given = _coerce(raw, "InventorySetQuantitiesInput!", [], problems)
            if problems:
                self._fail(f"Argument 'input' on Field 'inventorySetQuantities' has an invalid value "
                           f"({print_ast(value_node)}). Expected type 'InventorySetQuantitiesInput!'.", value_node,
                           "argumentLiteralsIncompatible", typeName="Field", argumentName="input")
                return None
            return given
        variable = value_node.name.value
        definition = next((d for d in operation.variable_definitions if d.variable.name.value == variable), None)
        if definition is None:
            used_by = f"{operation.operation.value} {operation.name.value}" if operation.name else \
                f"anonymous {operation.operation.value}"
            self._fail(f"Variable ${variable} is used by {used_by} but not declared", value_node, "variableNotDefined",
                       variableName=variable)
            return None
        declared = print_ast(definition.type)
        if declared.rstrip("!") != "InventorySetQuantitiesInput":
            self._fail(f"Type mismatch on variable ${variable} and argument input ({declared} / "
                       "InventorySetQuantitiesInput!)", value_node, "variableMismatch", variableName=variable,
                       typeName=declared, argumentName="input", errorMessage="Type mismatch")
            return None
        if variable in self.variables:
            raw = self.variables[variable]
        else:
            raw = value_from_ast_untyped(definition.default_value) if definition.default_value else None
        given = _coerce(raw, "InventorySetQuantitiesInput!", [], problems)
        if problems:
            where = ", ".join(f"{'.'.join(map(str, path))} ({why})" if path else f"({why})" for path, why in problems)
            self.errors.append(_error(
                f"Variable ${variable} of type {declared} was provided invalid value"
                + (f" for {where}" if any(path for path, _ in problems) else ""),
                _where(definition), value=raw, problems=[{"path": path, "explanation": why} for path, why in problems]))
            return None
        return given


def _coerce(value: Any, kind: str, path: list, problems: list) -> Any:
    """GraphQL input coercion of `value` to `kind` (INPUTS' notation), the problems as (path, explanation) in the
    words of Shopify's GraphQL server."""
    if kind.endswith("!"):
        if value is None:
            problems.append((path, "Expected value to not be null"))
            return None
        kind = kind[:-1]
    elif value is None:
        return None
    if kind.startswith("["):
        items = value if isinstance(value, list) else [value]  # a single value is a list of one
        return [_coerce(item, kind[1:-1], path + [index], problems) for index, item in enumerate(items)]
    if kind in INPUTS:
        if not isinstance(value, dict):
            problems.append((path, f"Expected {json.dumps(value)} to be a key-value object."))
            return None
        fields = INPUTS[kind]
        problems.extend((path + [key], f"Field is not defined on {kind}") for key in value if key not in fields)
        return {key: _coerce(value.get(key), field_kind, path + [key], problems)
                for key, field_kind in fields.items() if key in value or field_kind.endswith("!")}
    valid = {
        "Int": lambda v: _whole(v) and -2**31 <= v < 2**31,
        "String": lambda v: isinstance(v, str),
        "Boolean": lambda v: isinstance(v, bool),
        "ID": lambda v: isinstance(v, str) and GID.fullmatch(v) is not None,
    }[kind]
    if not valid(value):
        problems.append((path, f"Invalid global id `{value}`" if kind == "ID" and isinstance(value, str)
                         else f"Could not coerce value {json.dumps(value)} to {kind}"))
        return None
    return value


def _gid_number(gid: str, type_name: str) -> int | None:
    """The numeric id of a `gid://shopify/<type_name>/<id>`, or None (another type, or no such id)."""
    match = re.fullmatch(rf"gid://shopify/{type_name}/(\d+)", gid)
    return int(match[1]) if match else None


def _where(node) -> list[dict]:
    if node is None or node.loc is None:
        return []
    location = get_location(node.loc.source, node.loc.start)
    return [{"line": location.line, "column": location.column}]


def _error(message: str, locations: Any = (), path: list | None = None, **extensions) -> dict:
    """A top-level GraphQL error: message, locations, path, extensions (code and the like)."""
    error: dict[str, Any] = {"message": message}
    if locations:
        error["locations"] = [loc if isinstance(loc, dict) else {"line": loc.line, "column": loc.column}
                              for loc in locations]
    if path:
        error["path"] = path
    if extensions:
        error["extensions"] = extensions
    return error


def _refused(*errors: tuple[list[str], str, str]) -> dict:
    """An inventorySetQuantities payload that set nothing: its userErrors (field, message, code)."""
    return {"inventoryAdjustmentGroup": None, "userErrors": [
        overwrite(dict(USER_ERROR_TEMPLATE), field=field, message=message, code=code)
        for field, message, code in errors]}


def _graphql_answer(reading: BucketReading, requested: int, actual: int | None, *, data: dict | None = None,
                    errors: list[dict] | None = None) -> ApiResponse:
    """HTTP 200 with `errors` and/or `data`, and the cost extension on every answer (actualQueryCost null when the
    document did not run)."""
    body: dict[str, Any] = {}
    if errors is not None:
        body["errors"] = json.loads(json.dumps(errors))
    if data is not None:
        body["data"] = data
    status = overwrite(dict(COST_TEMPLATE["throttleStatus"]), maximumAvailable=float(reading.capacity),
                       currentlyAvailable=reading.remaining, restoreRate=float(reading.per_second))
    body["extensions"] = {"cost": overwrite(dict(COST_TEMPLATE), requestedQueryCost=requested, actualQueryCost=actual,
                                            throttleStatus=status)}
    return ApiResponse(200, body)
