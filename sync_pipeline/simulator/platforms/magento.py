"""Magento 2 / Adobe Commerce REST (`/rest/<store code>/V1/...`, any store code): searchCriteria lists, a bearer
token that is an admin user's (4 hours on the simulator's clock) or, where the store allows it, an integration's,
orders with configurable and bundle products as parent and child items, shipments, and MSI stock. No rate limit and
no rate-limit headers (a self-hosted store limits nothing by default). Sources: AdobeDocs/commerce-webapi (the
tutorial's order, `templates/magento_order_tutorial_full.json`; the ship and source-items bodies) and
magento/magento2 and magento/inventory for what the docs leave out (cited where used); [U] marks what is assumed.

**searchCriteria** (`searchCriteria[filter_groups][g][filters][f][field|value|condition_type]`, camelCase
`filterGroups`/`conditionType` too; filters in a group OR, groups AND; conditions eq, neq, gt, gteq, lt, lteq, from
(gteq), to (lteq), in, nin, like, null, notnull; default eq). Times are compared as the database stores them, UTC
`YYYY-MM-DD HH:MM:SS`: a value's first 19 characters are read as that (a `T` as the space), so an offset is ignored,
as MySQL ignores it [U]. `sortOrders[s][field|direction]` (direction DESC unless ASC, as the docs say); no sort:
entity id ascending. `pageSize` (none: every match; above 300, 2.4.7's webapi/validation/maximum_page_size: 400
"Maximum SearchCriteria pageSize is %max") and `currentPage`: a page past the end answers the LAST page again, never
an empty one (magento2's Data\\Collection::getCurPage clamps it). Answer `{items, search_criteria, total_count}`.

**Auth.** `POST integration/admin/token` {username, password} -> the token as a bare JSON string; refused: 401 "The
account sign-in was incorrect or your account is disabled temporarily. Please wait and try again later." A token is
refused once 4 hours (oauth/access_token_lifetime/admin's default) have passed on the simulator's clock, which runs
`speed` times faster than the wall clock, like the rate-limit clocks. The integration's `access_token` is taken as a
bearer only with the channel's scenario option `integration_as_bearer: true` (2.4.4+ refuses it by default). Any
refused token: 401 {"message": "The consumer isn't authorized to access %resources.", "parameters": {"resources":
<the route's ACL resource>}}, as Magento answers a token it does not know (the request runs as a guest).

**Orders** (`GET orders`, `GET orders/<entity_id>`, 404 "The entity that was requested doesn't exist. Verify the
entity and try again."): `state` fixed; `status` the default status of the state (pending, processing, complete,
canceled) or the store's label for it (scenario option `status_labels`); the unmapped_status anomaly is the store's
own `pending_approval` under state new. A configurable line is a parent item (product_type configurable, the chosen
simple's sku, the price) with a child item (parent_item_id, same sku, price 0, the parent's qty, `parent_item`); a
listed product is a configurable's simple by a seeded draw of its SKU. An order of two or more lines is, by a draw,
a bundle of its first two lines: a parent item (product_type bundle, qty 1, the components' total) with a child item
per component (its own qty and price). The ship method (carrier_method code) is
`extension_attributes.shipping_assignments[0].shipping.method`; an order without a ship-to has no `address` there.

**Shipments.** `POST order/<id>/ship` {items?: [{order_item_id, qty}], notify?, tracks?: [{track_number, title,
carrier_code}]} -> 200 the shipment id (a bare JSON string). As magento2's ShipmentFactory::prepareItems does: no
items ships everything left; a simple, configurable or bundle PARENT id ships it (qty capped at what is left); a
configurable's child id is passed over (canShipItem), so a body naming only children ships nothing; a bundle
component named is refused (Bundle's BundleShipmentTypeValidator, the bundles here ship together). Refusals are 400
"Shipment Document Validation Error(s):\\n" + the messages (Validation\\CanShip: "A shipment cannot be created when an
order has a status of <status>" for canceled, holded, payment_review; "The order does not allow a shipment to be
created." when nothing is left to ship; QuantityValidator: "You can't create a shipment without products."; "Please
enter a tracking number."). A shipment moves the order's items' qty_shipped, its state to processing or, all shipped
and invoiced, complete (status as above), and its updated_at to now. `POST shipment/track` {entity: {order_id,
parent_id, track_number, title, carrier_code}} adds a track to a shipment (200 the track; an unknown shipment 400
"Could not save the shipment tracking." [U]). `GET shipments` (searchCriteria on order_id, entity_id, created_at)
lists them with their items (parents only, as 2.3+ saves them) and tracks. Tracking anomalies: deleted 404 on the
order and its ship and track; already fulfilled: a hand shipment of everything appears at the order's first ship or
shipments read, the order complete, so the ship is "does not allow"; locked: 500 "Internal Error. Details are
available in Magento log file. Report ID: webapi-..." while locked_now (a deadlock, nothing saved) [U]; cancelled:
the order is canceled at its first read, ship or shipments read (the ship is then refused by CanShip); permission:
401 for Magento_Sales::ship on ship and track.

**MSI.** One source, `default`. `GET inventory/sources`; `GET products` (every listing that is not deleted, and the
configurable parents of the listed simples: type_id configurable, no stock) with `extension_attributes.stock_item`
(manage_stock, the legacy qty); `GET inventory/source-items` (fields sku, source_code, quantity, status) {sku,
source_code, quantity, status}; `POST inventory/source-items` {sourceItems: [{sku, source_code, quantity, status}]}
-> 200 []. As magento/inventory's SourceItemsSaveHandler: every item is validated first (sku not empty and a product
of the store, matched ignoring case as MySQL does; source_code not empty; quantity numeric; status 0 or 1), and any
error refuses the whole call, 400 {"message": "Validation Failed: <the first error>", "errors": [{message,
parameters}]}; a source_code the store lacks then fails the save itself (the source item's foreign key): 400 "Could
not save Source Item", nothing saved. Listing anomalies: case mismatch: the product's sku lower-cased; deleted: gone
from products and source items, a write "Product with requested "sku": "<sku>" was was not found." (sic); not
tracked: manage_stock false (writes taken); not active: status 2 (writes taken); drift: after the first write, the
next source-items read finds a quantity set by hand (1..5 less, floor 0), once."""

from __future__ import annotations

import copy
import json
import math
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sync_pipeline.simulator.orders import Address, Line, Market, Product, SimOrder, SimOrderRecord, listed_products
from sync_pipeline.simulator.platforms.base import (
    AdminError,
    ApiRequest,
    ApiResponse,
    ListingStore,
    Platform,
    Route,
    Window,
    admin_orders,
    drift_floor,
    load_template,
    require,
    seeded,
)

ORDER_TEMPLATE = load_template("magento_order_tutorial_full.json")
SOURCE_ITEM_TEMPLATE = load_template("magento_inventory_source_items.json")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
ZERO_DATE = "0000-00-00 00:00:00"  # invalid_date
TOKEN_LIFETIME_S = 4 * 3600
MAX_PAGE_SIZE = 300
SOURCE_CODE = "default"
CONFIGURABLE_SHARE = 0.35  # of listed products: the simple of a configurable
BUNDLE_SHARE = 0.2  # of orders with two or more lines: the first two are a bundle
CONFIGURABLE_ID_OFFSET = 20_000  # a configurable parent's product id: its simple's + this
BUNDLE_ID_OFFSET = 40_000
LISTED_SINCE = datetime(2024, 3, 1, tzinfo=timezone.utc)
# Template items by role: the tutorial's simple (3), bundle (5) and one component (6), configurable (10) and child (11).
SIMPLE, BUNDLE, COMPONENT, CONFIGURABLE, CHILD = 3, 5, 6, 10, 11
PARENT_TYPES = ("configurable", "bundle")
# (carrier_method code, shipping_description) by shipping speed; sameday is the unmapped_ship_method anomaly.
SHIPPING = {
    "free": ("freeshipping_freeshipping", "Free Shipping - Free"),
    "economy": ("tablerate_bestway", "Best Way - Table Rate"),
    "standard": ("ups_GND", "United Parcel Service - Ground"),
    "express": ("fedex_FEDEX_2_DAY", "Federal Express - 2 Day"),
    "overnight": ("fedex_STANDARD_OVERNIGHT", "Federal Express - Standard Overnight"),
    "same_day": ("sameday_sameday", "Same Day Courier - Same Day"),
}
# (state, default status) by the generated order's state; pending_approval is a store's own status (unmapped_status).
STATES = {"open_paid": ("processing", "processing"), "open_unpaid": ("new", "pending"), "shipped": ("complete", "complete"),
          "cancelled": ("canceled", "canceled"), "unmapped": ("new", "pending_approval")}
NOT_SHIPPABLE_STATES = ("canceled", "holded", "payment_review")
CONDITIONS = ("eq", "neq", "gt", "gteq", "lt", "lteq", "from", "to", "in", "nin", "like", "null", "notnull")
FILTER_KEY = re.compile(r"^searchCriteria\[(?:filter_groups|filterGroups)\]\[(\d+)\]\[filters\]\[(\d+)\]"
                        r"\[(field|value|condition_type|conditionType)\]$")
SORT_KEY = re.compile(r"^searchCriteria\[(?:sort_orders|sortOrders)\]\[(\d+)\]\[(field|direction)\]$")
NO_SUCH_ENTITY = "The entity that was requested doesn't exist. Verify the entity and try again."
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
SIGN_IN_REFUSED = ("The account sign-in was incorrect or your account is disabled temporarily. Please wait and try "
                   "again later.")
DOCUMENT_ERRORS = "Shipment Document Validation Error(s):\n"
# The ACL resource a refused token is told it lacks, by route operation.
RESOURCES = {
    "orders": "Magento_Sales::actions_view", "order": "Magento_Sales::actions_view", "ship": "Magento_Sales::ship",
    "add_track": "Magento_Sales::ship", "shipments": "Magento_Sales::shipment", "products": "Magento_Catalog::products",
    "source_items": "Magento_InventoryApi::source_item", "save_source_items": "Magento_InventoryApi::source_item",
    "sources": "Magento_InventoryApi::source",
}


def magento_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime(TIME_FORMAT)


def as_stored(value: str) -> str:
    """A filter value as MySQL compares it to a DATETIME column: its date and time, any offset ignored [U]."""
    text = str(value).strip().replace("T", " ")
    return text[:19] if len(text) >= 19 else f"{text[:10]} 00:00:00"


def number(value: float) -> int | float:
    """Magento's JSON numbers: whole amounts without a fraction."""
    return int(value) if float(value).is_integer() else float(value)


class Magento(Platform):
    type = "magento"
    credential_names = ("username", "password", "access_token")
    market = Market({"USD": 70, "EUR": 15, "GBP": 15})
    errors = {
        400: ("", "Bad Request"), 401: ("", NOT_AUTHORIZED), 404: ("", "Request does not match any route."),
        429: ("", "Too Many Requests"), 500: ("", "Internal Error. Details are available in Magento log file."),
        503: ("", "Service Unavailable"),
    }

    def __init__(self, spec, credentials, scenario):
        super().__init__(spec, credentials, scenario)
        self._options = spec.options
        self._speed = scenario.speed
        self._tokens: dict[str, float] = {}  # admin token -> monotonic time issued
        self._lock = threading.Lock()  # tokens, shipments and order changes
        self._shipments: dict[str, dict] = {}  # shipment id -> {order_id, items, tracks, created_at}
        self._touched: set[str] = set()  # orders whose tracking anomaly has played
        listed = listed_products(scenario.seed, spec)
        self.listings = ListingStore(map(self._listing, listed), drift_floor)
        self._parents = [self._configurable_parent(p) for p in listed if self._configurable(p.sku)]

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        if request.path[:1] != ["rest"] or len(request.path) < 4 or request.path[2] != "V1":
            return None
        path, method = request.path[3:], request.method
        routes: dict[tuple[str, ...], tuple[str, Callable[[ApiRequest], ApiResponse]]] = {
            ("POST", "integration", "admin", "token"): ("token", self.issue_token),
            ("GET", "orders"): ("orders", self.list_orders),
            ("GET", "shipments"): ("shipments", self.list_shipments),
            ("POST", "shipment", "track"): ("add_track", self.add_track),
            ("GET", "products"): ("products", self.list_products),
            ("GET", "inventory", "sources"): ("sources", self.list_sources),
            ("GET", "inventory", "source-items"): ("source_items", self.list_source_items),
            ("POST", "inventory", "source-items"): ("save_source_items", self.save_source_items),
        }
        found = routes.get((method, *path))
        if found:
            operation, handler = found
            window = self.created_window if operation == "orders" else None
            return Route(operation, handler, window=window, authenticated=operation != "token")
        if method == "GET" and len(path) == 2 and path[0] == "orders":
            return Route("order", lambda r: self.get_order(path[1]))
        if method == "POST" and len(path) == 3 and path[0] == "order" and path[2] == "ship":
            return Route("ship", lambda r: self.ship(r, path[1]))
        return None

    def authorized(self, request: ApiRequest) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return False
        with self._lock:
            issued = self._tokens.get(token)
        if issued is not None:
            return (time.monotonic() - issued) * self._speed < TOKEN_LIFETIME_S
        return bool(self._options.get("integration_as_bearer")) and self.check_credentials(token, "access_token")

    def error(self, status: int, message: Any = None, code: str | None = None, **parameters: Any) -> ApiResponse:
        body: dict[str, Any] = {"message": message or self.errors[status][1]}
        if parameters:
            body["parameters"] = parameters
        return ApiResponse(status, body)

    def auth_failure(self, route: Route) -> ApiResponse:
        if route.operation == "token":
            return self.error(401, SIGN_IN_REFUSED)
        return self.error(401, NOT_AUTHORIZED, resources=RESOURCES[route.operation])

    def _internal_error(self) -> ApiResponse:
        return self.error(500, f"Internal Error. Details are available in Magento log file. Report ID: "
                               f"webapi-{secrets.token_hex(6)}")

    @staticmethod
    def _body(request: ApiRequest) -> Any:
        try:
            return json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None

    def issue_token(self, request: ApiRequest) -> ApiResponse:
        body = self._body(request)
        body = body if isinstance(body, dict) else {}
        if not (self.check_credentials(body.get("username"), "username")
                and self.check_credentials(body.get("password"), "password")):
            return self.error(401, SIGN_IN_REFUSED)
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens[token] = time.monotonic()
        return ApiResponse(200, token)

    # --- searchCriteria -------------------------------------------------------------------------------
    def _criteria(self, request: ApiRequest) -> dict | ApiResponse:
        groups: dict[int, dict[int, dict[str, str]]] = {}
        sorts: dict[int, dict[str, str]] = {}
        for key, values in request.query.items():
            if (match := FILTER_KEY.match(key)) is not None:
                part = {"conditionType": "condition_type"}.get(match[3], match[3])
                groups.setdefault(int(match[1]), {}).setdefault(int(match[2]), {})[part] = values[-1]
            elif (match := SORT_KEY.match(key)) is not None:
                sorts.setdefault(int(match[1]), {})[match[2]] = values[-1]
        filters = []
        for group in (groups[g] for g in sorted(groups)):
            ors = []
            for entry in (group[f] for f in sorted(group)):
                condition = entry.get("condition_type") or "eq"
                if "field" not in entry or condition not in CONDITIONS:
                    return self.error(400, f"Invalid filter {entry}: a filter needs a field and a condition_type of "
                                           f"{', '.join(CONDITIONS)}")
                ors.append((entry["field"], condition, entry.get("value", "")))
            filters.append(ors)
        numbers = {}
        for name, default in (("pageSize", None), ("currentPage", "1")):
            text = request.param(f"searchCriteria[{name}]", default)
            if text is not None and not text.isdigit():
                return self.error(400, f'The "{text}" value\'s type is invalid. The "int" type was expected. Verify '
                                       "and try again.")
            numbers[name] = int(text) if text is not None else None
        if numbers["pageSize"] is not None and numbers["pageSize"] > MAX_PAGE_SIZE:
            return self.error(400, "Maximum SearchCriteria pageSize is %max", max=MAX_PAGE_SIZE)
        return {"filters": filters, "sorts": [sorts[s] for s in sorted(sorts) if "field" in sorts[s]],
                "page_size": numbers["pageSize"], "current_page": numbers["currentPage"]}

    def _search(self, request: ApiRequest, rows: Iterable[dict], fields: dict[str, Callable[[dict], Any]],
                render: Callable[[dict], dict] = lambda row: row) -> ApiResponse:
        """One searchCriteria list over `rows` (in their default order), each read through `fields`."""
        criteria = self._criteria(request)
        if isinstance(criteria, ApiResponse):
            return criteria
        for group in criteria["filters"]:
            for field, _, _ in group:
                if field not in fields:
                    return self.error(400, f'"{field}" is not a field you can filter or sort by here: use one of '
                                           f"{', '.join(fields)}")
        matching = [row for row in rows if all(any(_meets(fields[f](row), c, v) for f, c, v in g)
                                               for g in criteria["filters"])]
        for sort in reversed(criteria["sorts"]):
            if sort["field"] not in fields:
                return self.error(400, f'"{sort["field"]}" is not a field you can sort by here')
            matching.sort(key=lambda row: _sort_key(fields[sort["field"]](row)),
                          reverse=sort.get("direction", "DESC").upper() != "ASC")
        size, asked = criteria["page_size"], criteria["current_page"]
        if size:
            page = min(max(asked, 1), max(1, math.ceil(len(matching) / size)))  # past the end: the last page again
            shown = matching[(page - 1) * size : page * size]
        else:
            shown = matching
        echo: dict[str, Any] = {"filter_groups": [
            {"filters": [{"field": f, "value": v, "condition_type": c} for f, c, v in group]}
            for group in criteria["filters"]]}
        if criteria["sorts"]:
            echo["sort_orders"] = [{"field": s["field"], "direction": s.get("direction", "DESC").upper()}
                                   for s in criteria["sorts"]]
        if size:
            echo.update(page_size=size, current_page=asked)
        return ApiResponse(200, {"items": [render(row) for row in shown], "search_criteria": echo,
                                 "total_count": len(matching)})

    # --- orders ---------------------------------------------------------------------------------------
    ORDER_FIELDS: dict[str, Callable[[dict], Any]] = {
        name: (lambda key: lambda order: order.get(key))(name)
        for name in ("entity_id", "increment_id", "created_at", "updated_at", "state", "status", "customer_email",
                     "store_id", "grand_total")
    }

    def created_window(self, request: ApiRequest) -> Window:
        criteria = self._criteria(request)
        if isinstance(criteria, ApiResponse):
            return None, None
        start = end = None
        for group in criteria["filters"]:
            for field, condition, value in group:
                if field == "created_at" and len(group) == 1:
                    moment = datetime.strptime(as_stored(value), TIME_FORMAT).replace(tzinfo=timezone.utc)
                    if condition in ("gt", "gteq", "from"):
                        start = moment
                    elif condition in ("lt", "lteq", "to"):
                        end = moment
        return start, end

    def list_orders(self, request: ApiRequest) -> ApiResponse:
        return self._search(request, [r.payload for r in self._by_entity_id()], self.ORDER_FIELDS)

    def _by_entity_id(self) -> list[SimOrderRecord]:
        return sorted(self.store.all(), key=lambda r: int(r.external_order_id))

    def _live_order(self, order_id: str) -> SimOrderRecord | None:
        """The order, or None when the store has none or the tracking_order_deleted anomaly removed it."""
        record = self.store.get(order_id)
        return None if record is None or self.tracking_anomaly(order_id) == "tracking_order_deleted" else record

    def get_order(self, order_id: str) -> ApiResponse:
        if self._live_order(order_id) is None:
            return self.error(404, NO_SUCH_ENTITY)
        self._touch(order_id)
        return ApiResponse(200, self.store.get(order_id).payload)

    def _label(self, status: str) -> str:
        return self._options.get("status_labels", {}).get(status, status)

    def render(self, order: SimOrder) -> SimOrderRecord:
        rng = random.Random(order.uid)
        payload = json.loads(ORDER_TEMPLATE)
        rows = {item["item_id"]: item for item in payload["items"]}
        entity_id = order.seq
        created, updated = magento_time(order.placed_at), magento_time(order.updated_at)
        if order.has("unmapped_status"):
            key = "unmapped"
        elif order.status in ("shipped", "cancelled"):
            key = order.status
        else:
            key = "open_paid" if order.paid else "open_unpaid"
        state, status = STATES[key]
        invoiced = order.paid and key != "unmapped"
        items: list[dict] = []

        def item(template: int, line: Line | None, **values: Any) -> dict:
            row = copy.deepcopy(rows[template])
            row.pop("parent_item", None)
            quantity = values.pop("qty", line.quantity if line else 1)
            price = values.pop("price", line.unit_price if line else Decimal(0))
            tax = order.line_tax(line) if line and price else Decimal(0)
            total = price * quantity
            fields = {
                "item_id": entity_id * 100 + len(items) + 1, "order_id": entity_id, "quote_item_id": len(items) + 1,
                "created_at": created, "updated_at": updated, "price": float(price), "base_price": float(price),
                "original_price": float(price), "base_original_price": float(price),
                "price_incl_tax": float(price + tax / quantity), "base_price_incl_tax": float(price + tax / quantity),
                "row_total": float(total), "base_row_total": float(total), "row_total_incl_tax": float(total + tax),
                "base_row_total_incl_tax": float(total + tax), "tax_amount": float(tax), "base_tax_amount": float(tax),
                "tax_percent": float(order.tax_rate * 100), "qty_ordered": quantity,
                "qty_invoiced": quantity if invoiced else 0, "qty_shipped": quantity if order.status == "shipped" else 0,
                "qty_canceled": quantity if order.status == "cancelled" else 0,
                "row_invoiced": float(total) if invoiced else 0, "base_row_invoiced": float(total) if invoiced else 0,
                "store_id": 1, **values,
            }
            if line:
                grams = line.product.grams / 1000
                fields.update(weight=grams, row_weight=grams * quantity if price else 0)
            row.update({k: v for k, v in fields.items() if k in row or k in ("tax_percent", "parent_item_id")})
            items.append(row)
            return row

        lines = list(order.lines)
        if len(lines) >= 2 and rng.random() < BUNDLE_SHARE:
            first, second = lines[:2]
            lines = lines[2:]
            kit = item(BUNDLE, None, qty=1, price=first.total + second.total,
                       sku=f"KIT{first.product.number:05d}-{first.product.sku}-{second.product.sku}",
                       name=f"{first.product.title} & {second.product.title} Kit",
                       product_id=BUNDLE_ID_OFFSET + first.product.number, product_type="bundle")
            for component in (first, second):
                item(COMPONENT, component, sku=component.product.sku, product_id=component.product.number,
                     name=f"{component.product.title} - {component.product.variant}", product_type="simple",
                     parent_item_id=kit["item_id"])["parent_item"] = copy.deepcopy(kit)
        for line in lines:
            product = line.product
            if self._configurable(product.sku):
                parent = item(CONFIGURABLE, line, sku=product.sku, name=product.title, product_type="configurable",
                              product_id=CONFIGURABLE_ID_OFFSET + product.number)
                item(CHILD, line, price=Decimal(0), sku=product.sku, name=f"{product.title}-{product.variant}",
                     product_id=product.number, product_type="simple",
                     parent_item_id=parent["item_id"])["parent_item"] = copy.deepcopy(parent)
            else:
                item(SIMPLE, line, sku=product.sku, name=f"{product.title} - {product.variant}",
                     product_id=product.number, product_type="simple")
        customer = order.customer
        billing = self._address(payload["billing_address"], order.billing, customer, entity_id * 2, entity_id)
        method, description = SHIPPING[order.shipping]
        shipping = payload["extension_attributes"]["shipping_assignments"][0]["shipping"]
        if order.ship_to is None:
            shipping.pop("address")
        else:
            self._address(shipping["address"], order.ship_to, customer, entity_id * 2 + 1, entity_id)
        ship_price = float(order.shipping_price)
        shipping.update(method=method)
        shipping["total"].update({k: ship_price for k in ("base_shipping_amount", "base_shipping_incl_tax",
                                                          "shipping_amount", "shipping_incl_tax")})
        payload["extension_attributes"]["shipping_assignments"][0]["items"] = copy.deepcopy(items)
        total = -order.total if order.has("invalid_amount") else order.total
        due = 0.0 if invoiced else float(total)
        paid_method = rng.choice(["braintree", "paypal_express"]) if order.paid else rng.choice(["checkmo", "banktransfer"])
        payload["payment"].update(method=paid_method, amount_ordered=float(total), base_amount_ordered=float(total),
                                  shipping_amount=ship_price, base_shipping_amount=ship_price, parent_id=entity_id,
                                  entity_id=entity_id, additional_information=[paid_method, ""])
        payload.update(
            entity_id=entity_id, increment_id=f"{entity_id:09d}", quote_id=entity_id, protect_code=f"{order.uid:x}"[:6],
            created_at=ZERO_DATE if order.has("invalid_date") else created, updated_at=updated, state=state,
            status=self._label(status), items=items, billing_address=billing, billing_address_id=entity_id * 2,
            customer_email=customer.email, customer_firstname=customer.first_name or None,
            customer_lastname=customer.last_name or None, customer_is_guest=int(rng.random() < 0.3),
            customer_id=rng.randint(1, 9000), base_currency_code=order.currency, global_currency_code=order.currency,
            order_currency_code=order.currency, store_currency_code=order.currency, subtotal=float(order.subtotal),
            base_subtotal=float(order.subtotal), subtotal_incl_tax=float(order.subtotal + order.tax),
            base_subtotal_incl_tax=float(order.subtotal + order.tax), tax_amount=float(order.tax),
            base_tax_amount=float(order.tax), shipping_amount=ship_price, base_shipping_amount=ship_price,
            shipping_incl_tax=ship_price, base_shipping_incl_tax=ship_price, shipping_description=description,
            grand_total=float(total), base_grand_total=float(total), total_due=due, base_total_due=due,
            total_item_count=len(items), total_qty_ordered=sum(i["qty_ordered"] for i in items if "parent_item_id" not in i),
            weight=sum(line.product.grams * line.quantity for line in order.lines) / 1000,
            is_virtual=0, applied_rule_ids="", store_name="Main Website\nMain Website Store\nDefault Store View",
        )
        return SimOrderRecord(str(entity_id), order.placed_at, order.updated_at, payload)

    @staticmethod
    def _address(target: dict, address: Address, customer, entity_id: int, order_id: int) -> dict:
        target.update(
            city=address.city, country_id=address.country_code, email=customer.email, entity_id=entity_id,
            firstname=customer.first_name, lastname=customer.last_name, parent_id=order_id, postcode=address.postcode,
            region=address.province, region_code=address.province_code or None, region_id=0,
            street=[part for part in (address.address1, address.address2) if part], telephone=customer.phone or "",
        )
        return target

    def parse_admin(self, body: Any) -> list[SimOrderRecord]:
        """An order as `GET orders/<id>` answers it, a list of them, or a list answer ({"items": [...]})."""
        records = []
        for what, order in admin_orders(body, "items", "magento"):
            entity_id = require(order, "entity_id", what)
            if not str(entity_id).isdigit():
                raise AdminError(f"{what}: 'entity_id' must be a number, got {entity_id!r}")
            times = {}
            for key in ("created_at", "updated_at"):
                try:
                    times[key] = datetime.strptime(str(require(order, key, what)), TIME_FORMAT).replace(tzinfo=timezone.utc)
                except ValueError:
                    raise AdminError(f"{what}: {key!r} must look like 2017-08-21 22:22:19 (UTC), got {order[key]!r}") from None
            records.append(SimOrderRecord(str(entity_id), times["created_at"], times["updated_at"], order))
        return records

    # --- shipments ------------------------------------------------------------------------------------
    @staticmethod
    def _to_ship(row: dict) -> float:
        return float(row.get("qty_ordered") or 0) - float(row.get("qty_shipped") or 0) - float(row.get("qty_canceled") or 0)

    @staticmethod
    def _shippable(payload: dict) -> list[dict]:
        """The items a shipment names: every item without a parent that is not virtual."""
        return [row for row in payload["items"] if row.get("parent_item_id") is None and not row.get("is_virtual")]

    def _change(self, order_id: str, change: Callable[[dict], None]) -> dict:
        """Apply `change` to a copy of the order's payload, stamp updated_at now and store it (lock held)."""
        record = self.store.get(order_id)
        payload = copy.deepcopy(record.payload)
        change(payload)
        now = datetime.now(timezone.utc)
        payload["updated_at"] = magento_time(now)
        payload["extension_attributes"]["shipping_assignments"][0]["items"] = copy.deepcopy(payload["items"])
        self.store.put([SimOrderRecord(order_id, record.placed_at, now, payload)])
        return payload

    def _shipped(self, payload: dict, quantities: dict[int, float]) -> None:
        """Record shipped quantities on the items and move the state as Magento's OrderStateResolver does."""
        for row in payload["items"]:
            if row["item_id"] in quantities:
                row["qty_shipped"] = number(float(row.get("qty_shipped") or 0) + quantities[row["item_id"]])
        done = all(self._to_ship(row) <= 0 for row in self._shippable(payload))
        invoiced = all(float(r.get("qty_invoiced") or 0) >= float(r.get("qty_ordered") or 0) for r in self._shippable(payload))
        state = "complete" if done and invoiced else "processing"
        payload.update(state=state, status=self._label(state))

    def _touch(self, order_id: str) -> None:
        """The order's tracking anomaly plays the first time its tracking is looked at: cancelled on the channel, or
        shipped whole by a person."""
        anomaly = self.tracking_anomaly(order_id)
        if anomaly not in ("tracking_order_cancelled", "tracking_already_fulfilled"):
            return
        with self._lock:
            if order_id in self._touched:
                return
            self._touched.add(order_id)
            payload = self.store.get(order_id).payload
            if payload.get("state") in ("canceled", "closed", "complete"):
                return
            if anomaly == "tracking_order_cancelled":
                def cancel(p: dict) -> None:
                    for row in p["items"]:
                        row["qty_canceled"] = number(max(0.0, self._to_ship(row)) + float(row.get("qty_canceled") or 0))
                    p.update(state="canceled", status=self._label("canceled"))
                self._change(order_id, cancel)
                return
            left = {row["item_id"]: self._to_ship(row) for row in self._shippable(payload) if self._to_ship(row) > 0}
            self._store_shipment(order_id, payload, left, [{"track_number": f"HAND{order_id[-8:]}", "title": "Hand",
                                                            "carrier_code": "custom"}], source="hand")

    def _store_shipment(self, order_id: str, payload: dict, quantities: dict[int, float], tracks: list[dict],
                        source: str = "api") -> str:
        """Save a shipment of these parent items (lock held); the order follows. Returns its id."""
        rows = {row["item_id"]: row for row in payload["items"]}
        carrier = next((t.get("carrier_code") if t.get("carrier_code") != "custom" else t.get("title")
                        for t in tracks), None)
        held = self.tracking.add(order_id, [t["track_number"] for t in tracks], carrier,
                                 [{"line_id": item_id, "quantity": number(q)} for item_id, q in quantities.items()],
                                 source=source)
        shipment_id, now = held["fulfillment_id"], magento_time(datetime.now(timezone.utc))
        self._shipments[shipment_id] = {
            "order_id": int(order_id), "created_at": now,
            "items": [{"entity_id": int(shipment_id) * 10 + n, "order_item_id": item_id, "parent_id": int(shipment_id),
                       "qty": number(q), "sku": rows[item_id]["sku"], "name": rows[item_id]["name"],
                       "price": rows[item_id].get("price"), "product_id": rows[item_id].get("product_id"),
                       "weight": rows[item_id].get("weight")} for n, (item_id, q) in enumerate(quantities.items())],
            "tracks": [self._track_entity(order_id, shipment_id, t, now) for t in tracks],
        }
        self._change(order_id, lambda p: self._shipped(p, quantities))
        return shipment_id

    def _track_entity(self, order_id: str, shipment_id: str, track: dict, now: str) -> dict:
        return {"entity_id": int(shipment_id) * 10 + len(self._shipments.get(shipment_id, {}).get("tracks", [])),
                "order_id": int(order_id), "parent_id": int(shipment_id), "track_number": track["track_number"],
                "title": track.get("title"), "carrier_code": track.get("carrier_code"), "created_at": now,
                "updated_at": now, "weight": None, "qty": None, "description": None}

    def _shipment_items(self, payload: dict, requested: list[dict]) -> tuple[dict[int, float], list[str]]:
        """What a ship request ships, as ShipmentFactory::prepareItems reads it, and the validators' messages."""
        rows = {row["item_id"]: row for row in payload["items"]}
        asked: dict[Any, float] = {}
        for entry in requested:
            asked[entry["order_item_id"]] = asked.get(entry["order_item_id"], 0.0) + float(entry["qty"])
        messages = []
        for item_id in asked:
            parent = rows.get(rows.get(item_id, {}).get("parent_item_id"))
            if parent is not None and parent.get("product_type") == "bundle":
                messages.append(f'Cannot create shipment as bundle product "{parent["sku"]}" has shipment type '
                                '"Together". Bundle product itself should be shipped instead.')
        quantities = {}
        for row in self._shippable(payload):
            left = self._to_ship(row)
            if left <= 0:
                continue
            if not asked:
                quantities[row["item_id"]] = left
            elif asked.get(row["item_id"], 0) > 0:
                quantities[row["item_id"]] = min(asked[row["item_id"]], left)
        if not quantities:
            messages.insert(0, "You can't create a shipment without products.")
        return quantities, messages

    def ship(self, request: ApiRequest, order_id: str) -> ApiResponse:
        if self._live_order(order_id) is None:
            return self.error(404, NO_SUCH_ENTITY)
        if self.tracking_anomaly(order_id) == "tracking_permission_denied":
            return self.error(401, NOT_AUTHORIZED, resources=RESOURCES["ship"])
        body = self._body(request)
        if not isinstance(body, dict):
            return self.error(400, "Decoding error: the request body must be a JSON object")
        requested, tracks = body.get("items") or [], body.get("tracks") or []
        if not isinstance(requested, list) or not all(
                isinstance(e, dict) and isinstance(e.get("order_item_id"), int) and isinstance(e.get("qty"), (int, float))
                and not isinstance(e.get("qty"), bool) for e in requested):
            return self.error(400, '"items" must be a list of {"order_item_id": <int>, "qty": <number>}')
        if not isinstance(tracks, list) or not all(isinstance(t, dict) for t in tracks):
            return self.error(400, '"tracks" must be a list of {"track_number", "title", "carrier_code"}')
        self._touch(order_id)
        with self._lock:
            payload = self.store.get(order_id).payload
            if payload.get("state") in NOT_SHIPPABLE_STATES:
                messages = [f"A shipment cannot be created when an order has a status of {payload.get('status')}"]
                quantities = {}
            elif all(self._to_ship(row) <= 0 for row in self._shippable(payload)):
                messages, quantities = ["The order does not allow a shipment to be created."], {}
            else:
                quantities, messages = self._shipment_items(payload, requested)
            messages += ["Please enter a tracking number." for t in tracks if not t.get("track_number")]
            if messages:
                return self.error(400, DOCUMENT_ERRORS + "\n".join(messages))
            if self.locked_now(order_id):
                return self._internal_error()
            return ApiResponse(200, self._store_shipment(order_id, payload, quantities, tracks))

    def add_track(self, request: ApiRequest) -> ApiResponse:
        body = self._body(request)
        entity = body.get("entity") if isinstance(body, dict) else None
        if not isinstance(entity, dict) or not entity.get("track_number"):
            return self.error(400, '"entity" must be a track: {"order_id", "parent_id", "track_number", "title", '
                                   '"carrier_code"}')
        order_id, shipment_id = str(entity.get("order_id")), str(entity.get("parent_id"))
        if self._live_order(order_id) is None:
            return self.error(400, "Could not save the shipment tracking.")
        if self.tracking_anomaly(order_id) == "tracking_permission_denied":
            return self.error(401, NOT_AUTHORIZED, resources=RESOURCES["add_track"])
        with self._lock:
            shipment = self._shipments.get(shipment_id)
            if shipment is None or str(shipment["order_id"]) != order_id:
                return self.error(400, "Could not save the shipment tracking.")
            if self.locked_now(order_id):
                return self._internal_error()
            track = self._track_entity(order_id, shipment_id, entity, magento_time(datetime.now(timezone.utc)))
            shipment["tracks"].append(track)
            numbers = [t["track_number"] for t in shipment["tracks"]]
            self.tracking.update(order_id, shipment_id, numbers, None)
            return ApiResponse(200, track)

    SHIPMENT_FIELDS: dict[str, Callable[[dict], Any]] = {
        "order_id": lambda s: s["order_id"], "entity_id": lambda s: s["entity_id"], "created_at": lambda s: s["created_at"],
        "increment_id": lambda s: s["increment_id"],
    }

    def list_shipments(self, request: ApiRequest) -> ApiResponse:
        named = {value for key, values in request.query.items() for value in values
                 if key.endswith("[value]") and request.query.get(key.replace("[value]", "[field]")) == ["order_id"]}
        for order_id in named:
            if self._live_order(order_id) is not None:
                self._touch(order_id)
        with self._lock:
            shipments = [
                {"entity_id": int(shipment_id), "increment_id": f"{int(shipment_id):09d}", "order_id": s["order_id"],
                 "store_id": 1, "total_qty": number(sum(i["qty"] for i in s["items"])), "created_at": s["created_at"],
                 "updated_at": s["created_at"], "email_sent": None, "items": copy.deepcopy(s["items"]),
                 "tracks": copy.deepcopy(s["tracks"]), "comments": [], "packages": []}
                for shipment_id, s in sorted(self._shipments.items(), key=lambda kv: int(kv[0]))
                if self._live_order(str(s["order_id"])) is not None
            ]
        return self._search(request, shipments, self.SHIPMENT_FIELDS)

    # --- catalogue and MSI ------------------------------------------------------------------------------
    def _configurable(self, sku: str) -> bool:
        return seeded(self._seed, self.name, sku, "configurable").random() < CONFIGURABLE_SHARE

    def _listing(self, product: Product) -> dict:
        return self.new_listing(product, listing_id=str(product.number), product_id=product.number,
                                name=f"{product.title} - {product.variant}", price=float(product.base_price),
                                weight=product.grams / 1000, source_status=1)

    def _configurable_parent(self, product: Product) -> dict:
        return {"product_id": CONFIGURABLE_ID_OFFSET + product.number, "sku": f"{product.sku}-CFG", "name": product.title,
                "type_id": "configurable", "status": 1, "price": 0, "weight": None, "child_id": product.number}

    def _product_body(self, listing: dict) -> dict:
        stamp = magento_time(LISTED_SINCE + timedelta(minutes=listing["product_id"]))
        is_parent = listing.get("type_id") == "configurable"
        tracked = True if is_parent else listing["tracked"]
        quantity = 0 if is_parent else listing["quantity"]
        child = not is_parent and self._configurable(listing["warehouse_sku"])
        return {
            "id": listing["product_id"], "sku": listing["sku"], "name": listing["name"],
            "attribute_set_id": 4, "price": listing["price"], "status": 1 if is_parent or listing["active"] else 2,
            "visibility": 1 if child else 4, "type_id": listing.get("type_id", "simple"), "created_at": stamp,
            "updated_at": stamp, "weight": listing["weight"],
            "extension_attributes": {
                "website_ids": [1], "category_links": [],
                **({"configurable_product_links": [listing["child_id"]]} if is_parent else {}),
                "stock_item": {"item_id": listing["product_id"],
                               "product_id": listing["product_id"], "stock_id": 1,
                               "qty": quantity, "is_in_stock": quantity > 0 or is_parent, "manage_stock": tracked,
                               "use_config_manage_stock": tracked},
            },
            "product_links": [], "options": [], "media_gallery_entries": [], "tier_prices": [], "custom_attributes": [],
        }

    def list_products(self, request: ApiRequest) -> ApiResponse:
        rows = [l for l in self.listings.all() if not l["deleted"]] + list(self._parents)
        rows.sort(key=lambda row: row["product_id"])
        fields = {"entity_id": lambda row: row["product_id"], "sku": lambda row: row["sku"],
                  "type_id": lambda row: row.get("type_id", "simple")}
        return self._search(request, rows, fields, self._product_body)

    def list_sources(self, request: ApiRequest) -> ApiResponse:
        source = {"source_code": SOURCE_CODE, "name": "Default Source", "enabled": True, "description": "Default Source",
                  "latitude": 0, "longitude": 0, "country_id": "US", "postcode": "00000", "use_default_carrier_config": True}
        return self._search(request, [source], {"source_code": lambda s: s["source_code"], "enabled": lambda s: 1})

    def _source_item(self, listing: dict) -> dict:
        item = json.loads(SOURCE_ITEM_TEMPLATE)["request_body"]["sourceItems"][0]
        item.update(sku=listing["sku"], source_code=SOURCE_CODE, quantity=listing["quantity"],
                    status=listing["source_status"])
        return item

    def list_source_items(self, request: ApiRequest) -> ApiResponse:
        live = [l for l in self.listings.all() if not l["deleted"]]
        fields = {"sku": lambda l: l["sku"], "source_code": lambda l: SOURCE_CODE, "quantity": lambda l: l["quantity"],
                  "status": lambda l: l["source_status"]}
        return self._search(request, live, fields, lambda l: self._source_item(self.listings.read(l["listing_id"])))

    def save_source_items(self, request: ApiRequest) -> ApiResponse:
        body = self._body(request)
        items = body.get("sourceItems") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return self.error(400, "Input data is empty")
        live = {l["sku"].casefold(): l for l in self.listings.all() if not l["deleted"]}
        errors: list[tuple[str, dict]] = []
        for item in items:
            item = item if isinstance(item, dict) else {}
            sku, source = str(item.get("sku") or ""), str(item.get("source_code") or "")
            if not sku.strip():
                errors.append(('"%field" can not be empty.', {"field": "sku"}))
            elif sku.casefold() not in live:
                errors.append(('Product with requested "%field": "%value" was was not found.', {"field": "sku", "value": sku}))
            if not source.strip():
                errors.append(('"%field" can not be empty.', {"field": "source_code"}))
            elif re.search(r"\s", source):
                errors.append(('"%field" can not contain whitespaces.', {"field": "source_code"}))
            quantity = item.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
                errors.append(('"%field" should be numeric.', {"field": "quantity"}))
            if item.get("status") not in (0, 1) or isinstance(item.get("status"), bool):
                errors.append(('"%field" should a known status.', {"field": "status"}))
        if errors:
            first, parameters = errors[0]
            return ApiResponse(400, {"message": "Validation Failed: " + _fill(first, parameters),
                                     "errors": [{"message": m, "parameters": p} for m, p in errors]})
        if any(item["source_code"] != SOURCE_CODE for item in items):
            return self.error(400, "Could not save Source Item")  # the source item's foreign key: nothing is saved
        for item in items:
            listing = live[str(item["sku"]).casefold()]
            self.listings.written(listing["listing_id"], number(item["quantity"]), source_status=item["status"])
        return ApiResponse(200, [])


def _fill(message: str, parameters: dict) -> str:
    for key, value in parameters.items():
        message = message.replace(f"%{key}", str(value))
    return message


def _sort_key(value: Any) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value if value is not None else ""))


def _meets(value: Any, condition: str, wanted: str) -> bool:
    """One filter on one field's value, as the collection's SQL compares it."""
    if condition == "null":
        return value is None
    if condition == "notnull":
        return value is not None
    if value is None:
        return False
    if condition in ("in", "nin"):
        found = any(_compare(value, option.strip()) == 0 for option in str(wanted).split(","))
        return found if condition == "in" else not found
    if condition == "like":
        pattern = "^" + ".*".join(re.escape(part) for part in str(wanted).split("%")) + "$"
        return re.match(pattern, str(value), re.IGNORECASE) is not None
    order = _compare(value, wanted)
    return {"eq": order == 0, "neq": order != 0, "gt": order > 0, "gteq": order >= 0, "from": order >= 0,
            "lt": order < 0, "lteq": order <= 0, "to": order <= 0}[condition]


def _compare(value: Any, wanted: str) -> int:
    """-1, 0 or 1: numbers as numbers, times as stored, text ignoring case (MySQL's default collation)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            other = float(wanted)
        except ValueError:
            return 1
        return (value > other) - (value < other)
    text = str(value)
    if re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", text):
        other = as_stored(wanted)
    else:
        text, other = text.casefold(), str(wanted).casefold()
    return (text > other) - (text < other)
