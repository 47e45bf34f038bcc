"""BigCommerce Orders V2 (/v2/orders, optionally under /stores/<hash>): `X-Auth-Token`, page/limit paging with
HTTP 204 for an empty page, RFC-2822 (or ISO-8601) date filters and min_id/max_id (inclusive), products and
shipping addresses as sub-resources of each order, and one quota per store shared by every endpoint, reported in
X-Rate-Limit-*.
`GET v2/orders/count` takes the list's filters and answers the spec's getOrdersCount shape, {"statuses": [{id, name,
system_label, custom_label, system_description, count, sort_order}, ...] (every status of ORDER_STATUSES, zeros
too, in the example's order), "count": N}, N the orders the list would page through.

Tracking (same quota): `POST v2/orders/<id>/shipments` {order_address_id, items: [{order_product_id, quantity}],
tracking_number?, shipping_provider?, tracking_carrier?, shipping_method?, comments?, tracking_link?} answers 201
the shipment (id, generated_tracking_link, ...: the keys of the spec's 201 example). order_address_id must be one
of the order's shipping addresses and every product the order's, shipped to that address, within what is left
to ship (quantity minus quantity_shipped minus the shipments held). shipping_provider is one of
SHIPPING_PROVIDERS or carrier_<id>; with "" tracking_carrier may name another carrier by its AfterShip slug.
`GET v2/orders/<id>/shipments` lists them (page/limit; 204 and no body when there are none, as the spec
documents), `GET .../shipments/<shipment_id>` one, and `PUT .../shipments/<shipment_id>` changes tracking_number,
the carrier fields, method or comments in place (200 the shipment). Errors are [{"status", "message"}] lists.
Products' quantity_shipped and the order's status do not follow the shipments (the order payload stays as
generated). Tracking anomalies: deleted 404 (every shipment endpoint); already fulfilled: a hand shipment of every
product appears when the shipments are first read or pushed to, and the push is 400 "already been shipped";
cancelled (or status Cancelled) 400; locked 409 while locked_now (POST and PUT); permission 403 on POST and PUT
(the API account lacks the Orders modify scope; reads stay allowed).

Listings (same quota; one catalogue product per listing, product id 100 + the catalogue number as in orders, at
location 1): `GET v3/catalog/products?include=variants&page=&limit=(1..250, default 50)` {data: [{id, name, type, sku,
inventory_tracking none|product|variant, inventory_level, is_visible, availability, variants?: [{id, product_id,
sku, inventory_level}]}], meta: {pagination: {total, count, per_page, current_page, total_pages, links}}} (a page
past the end: data []). A product tracked by variant has sku "" and one variant holding the SKU; one tracked by
product has its base variant share the SKU. `PUT v3/inventory/adjustments/absolute` {reason?, items: [{location_id,
sku | variant_id | product_id, quantity}]} -> 200 {transaction_id}. An item naming a product tracked by variant (or a
variant of one tracked by product), an untracked product, an unknown or deleted item, a location other than 1, or a
bad quantity is refused as 422 application/problem+json {status, title: "[message, ...]", type, errors}; the whole
call is refused then and nothing stored (the spec's example title is a bracketed list of item messages, which reads
as a check of every item before any is applied; the spec does not say so outright). A sku names the item at the
level it is tracked; SKUs match exactly. Listing anomalies: case mismatch: the SKU is the warehouse's lower-cased;
deleted: absent from reads, 422 unknown; not tracked: inventory_tracking "none", 422; not active: is_visible false
and availability "disabled", writes taken; drift: after the first write, the next read of the product first finds a
quantity set by hand (1..5 less, floor 0), once."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
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
    drift_floor,
    id_key,
    load_template,
    overwrite,
    parse_time,
    require,
    seeded,
)
from sync_pipeline.simulator.ratelimit import Bucket, BucketReading

ORDER_TEMPLATE = load_template("bigcommerce_order.json")
SUB_RESOURCES_TEMPLATE = load_template("bigcommerce_order_subresources.json")
MAX_LIMIT = 250
DEFAULT_LIMIT = 50
DATE_FILTERS = {
    "min_date_created": ("placed", ">="), "max_date_created": ("placed", "<="),
    "min_date_modified": ("updated", ">="), "max_date_modified": ("updated", "<="),
}
SORT_FIELDS = ("id", "date_created", "date_modified", "status_id")
# (status_id, status) by the generated order's state; "Incomplete" is the unmapped_status anomaly.
AWAITING_FULFILLMENT, AWAITING_PAYMENT = (11, "Awaiting Fulfillment"), (7, "Awaiting Payment")
SHIPPED, CANCELLED, INCOMPLETE = (2, "Shipped"), (5, "Cancelled"), (0, "Incomplete")
SHIPPING = {
    "free": "Free Shipping", "economy": "USPS Ground Advantage", "standard": "UPS Ground", "express": "FedEx 2Day",
    "overnight": "FedEx Standard Overnight", "same_day": "Same Day Courier",
}
PAYMENT = [("Credit Card", "captured"), ("PayPal", "captured")]
ZERO_DATE = "0000-00-00 00:00:00"  # invalid_date: MySQL's zero date
SUB_RESOURCES = {"products": "products", "shipping_addresses": "shipping_addresses", "shippingaddresses": "shipping_addresses"}
SHIPMENT_TEMPLATE = "POST /orders/{order_id}/shipments (201 response)"
SHIPPING_PROVIDERS = {
    "": "", "auspost": "Australia Post", "canadapost": "Canada Post", "endicia": "Endicia", "usps": "USPS",
    "fedex": "FedEx", "ups": "UPS", "upsready": "UPS", "upsonline": "UPS", "shipperhq": "ShipperHQ",
    "royalmail": "Royal Mail",
}
CUSTOM_PROVIDER = re.compile(r"^carrier_\d+$")
AFTERSHIP_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
CANCELLED_STATUS_ID = 5
# GET /v2/order_statuses: (id, name, system_description), in the sort order of the getOrdersCount example.
ORDER_STATUSES = (
    (0, "Incomplete", "An incomplete order happens when a shopper reached the payment page, but did not complete the "
                      "transaction."),
    (1, "Pending", "Customer started the checkout process, but did not complete it."),
    (7, "Awaiting Payment", "Customer has completed checkout process, but payment has yet to be confirmed."),
    (11, "Awaiting Fulfillment", "Customer has completed the checkout process and payment has been confirmed."),
    (9, "Awaiting Shipment", "Order has been pulled and packaged, and is awaiting collection from a shipping provider."),
    (8, "Awaiting Pickup", "Order has been pulled, and is awaiting customer pickup from a seller-specified location."),
    (3, "Partially Shipped", "Only some items in the order have been shipped, due to some products being pre-order "
                             "only or other reasons."),
    (10, "Completed", "Client has paid for their digital product and their file(s) are available for download."),
    (2, "Shipped", "Order has been shipped, but receipt has not been confirmed; seller has used the Ship Items action."),
    (5, "Cancelled", "Seller has cancelled an order, due to a stock inconsistency or other reasons."),
    (6, "Declined", "Seller has marked the order as declined for lack of manual payment, or other reasons."),
    (4, "Refunded", "Seller has used the Refund action."),
    (13, "Disputed", "Customer has initiated a dispute resolution process for the PayPal transaction that paid for "
                     "the order."),
    (12, "Manual Verification Required", "Order is on hold while some aspect needs to be manually confirmed."),
    (14, "Partially Refunded", "Seller has partially refunded the order."),
)
LOCATION_ID = 1  # the default location
PRODUCTS_LIMIT, PRODUCTS_MAX_LIMIT = 50, 250
ADJUSTMENT_TEMPLATE = load_template("bigcommerce_inventory_absolute_adjustment.json")


def rfc2822(value: datetime | None) -> str:
    return format_datetime(value.astimezone(timezone.utc).replace(microsecond=0)) if value else ""


def parse_filter_time(value: str) -> datetime:
    """RFC 2822 or ISO 8601, as the V2 date filters take; raises ValueError."""
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (ValueError, TypeError):
        return parse_time(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def amount(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.0001")))


class BigCommerce(Platform):
    type = "bigcommerce"
    credential_names = ("access_token", "webhook_secret")
    market = Market({"USD": 85, "CAD": 10, "GBP": 5})
    rate_limit_keys = {"store": "bigcommerce"}
    errors = {
        400: ("", "The request is invalid."),
        401: ("", "The request lacks valid authentication credentials (X-Auth-Token)."),
        403: ("", "You don't have a required scope to access the endpoint"),
        404: ("", "The requested resource was not found."),
        409: ("", "The resource is being changed by another request; try again."),
        429: ("", "Too many requests: the store's API quota for this window is used up."),
        500: ("", "Internal server error."),
        503: ("", "Service unavailable."),
    }

    def __init__(self, spec, credentials, scenario):
        super().__init__(spec, credentials, scenario)
        self.store_hash = hashlib.sha256(spec.name.encode()).hexdigest()[:10]
        self._shipments: dict[str, dict] = {}  # shipment id -> what a shipment holds beyond the tracking store's record
        self._ship_lock = threading.Lock()
        self.listings = ListingStore(map(self._listing, listed_products(scenario.seed, spec)), drift_floor)

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        path = request.path[2:] if request.path[:1] == ["stores"] else request.path
        if request.method == "GET" and path == ["v3", "catalog", "products"]:
            return Route("products", self.list_products)
        if request.method == "PUT" and path == ["v3", "inventory", "adjustments", "absolute"]:
            return Route("inventory_absolute", self.adjust_absolute)
        if path[:2] == ["v2", "orders"] and len(path) in (4, 5) and path[3] == "shipments":
            order_id, shipment_id = path[2], path[4] if len(path) == 5 else None
            handlers = {
                ("GET", False): ("shipments", lambda r: self.list_shipments(r, order_id)),
                ("POST", False): ("create_shipment", lambda r: self.create_shipment(r, order_id)),
                ("GET", True): ("shipment", lambda r: self.get_shipment(order_id, shipment_id)),
                ("PUT", True): ("update_shipment", lambda r: self.update_shipment(r, order_id, shipment_id)),
            }
            found = handlers.get((request.method, shipment_id is not None))
            return Route(*found) if found else None
        if request.method != "GET" or path[:2] != ["v2", "orders"]:
            return None
        if len(path) == 2:
            return Route("orders", self.list_orders, window=self.created_window)
        if path == ["v2", "orders", "count"]:
            return Route("orders_count", self.count_orders)
        if len(path) == 3:
            return Route("order", lambda r: self.get_order(path[2]))
        if len(path) == 4 and path[3] in SUB_RESOURCES:
            return Route(SUB_RESOURCES[path[3]], lambda r: self.sub_resource(r, path[2], SUB_RESOURCES[path[3]]))
        return None

    def authorized(self, request: ApiRequest) -> bool:
        return self.check_credentials(request.headers.get("X-Auth-Token"), "access_token")

    def error(self, status: int, message: Any = None, code: str | None = None) -> ApiResponse:
        return ApiResponse(status, [{"status": status, "message": message or self.errors[status][1]}])

    def bucket(self, route: Route) -> Bucket | None:
        return self._buckets["store"]  # one quota per store, whatever the endpoint

    def rate_headers(self, reading: BucketReading) -> dict[str, str]:
        return {
            "X-Rate-Limit-Time-Window-Ms": str(round(reading.capacity / reading.per_second * 1000)),
            "X-Rate-Limit-Time-Reset-Ms": str(math.ceil(reading.seconds_to_next_token * 1000)),
            "X-Rate-Limit-Requests-Quota": str(reading.capacity),
            "X-Rate-Limit-Requests-Left": str(reading.remaining),
        }

    def _paging(self, request: ApiRequest) -> tuple[int, int] | ApiResponse:
        numbers = {}
        for name, default, high in (("page", 1, None), ("limit", DEFAULT_LIMIT, MAX_LIMIT)):
            text = request.param(name, str(default))
            if not text.isdigit() or int(text) < 1 or (high and int(text) > high):
                return self.error(400, f"The field '{name}' is invalid: it must be a whole number from 1"
                                       + (f" to {high}" if high else ""))
            numbers[name] = int(text)
        return numbers["page"], numbers["limit"]

    @staticmethod
    def _page(rows: list, page: int, limit: int) -> ApiResponse:
        """V2 answers an empty page with 204 and no body rather than []."""
        shown = rows[(page - 1) * limit : page * limit]
        return ApiResponse(200, shown) if shown else ApiResponse(204, None)

    def get_order(self, order_id: str) -> ApiResponse:
        record = self.store.get(order_id)
        return ApiResponse(200, record.payload["order"]) if record else self.error(404)

    def sub_resource(self, request: ApiRequest, order_id: str, name: str) -> ApiResponse:
        record = self.store.get(order_id)
        if record is None:
            return self.error(404)
        paging = self._paging(request)
        return paging if isinstance(paging, ApiResponse) else self._page(record.payload[name], *paging)

    # --- tracking -------------------------------------------------------------------------------------
    def _hand(self, record: SimOrderRecord) -> None:
        self.hand_fulfilled(record.external_order_id, [
            {"line_id": product["id"], "quantity": int(product.get("quantity") or 0)} for product in record.payload["products"]
        ])

    @staticmethod
    def _hand_details(record: SimOrderRecord, held: dict) -> dict:
        """What a shipment made by hand (in the control panel) holds beyond its number and items."""
        return {
            "order_address_id": next((a["id"] for a in record.payload["shipping_addresses"]), 0),
            "shipping_provider": "", "tracking_carrier": "", "shipping_method": "None", "comments": "Shipped by hand",
            "tracking_link": "", "merchant_shipping_cost": amount(Decimal(0)),
            "date_created": rfc2822(parse_time(held["created_at"])),
        }

    def _shipment(self, record: SimOrderRecord, held: dict) -> dict:
        """A shipment the store holds, in the spec's shape (the keys of its 201 example)."""
        order = record.payload["order"]
        details = self._shipments.get(held["fulfillment_id"]) or self._hand_details(record, held)
        shipment = json.loads(SUB_RESOURCES_TEMPLATE)[SHIPMENT_TEMPLATE]
        address = next((a for a in record.payload["shipping_addresses"] if a.get("id") == details["order_address_id"]), {})
        products = {p["id"]: p for p in record.payload["products"]}
        number = held["tracking_numbers"][0] if held["tracking_numbers"] else ""
        provider, slug = details["shipping_provider"], details["tracking_carrier"]
        if provider == "usps":  # the link the spec's example shows
            link = f"http://trkcnfrm1.smi.usps.com/PTSInternetWeb/InterLabelInquiry.do?strOrigTrackNum={number}"
        else:
            link = f"https://track.aftership.com/{slug or provider or 'unknown'}/{number}" if number else ""
        return overwrite(
            shipment, id=int(held["fulfillment_id"]), order_id=order["id"], customer_id=order.get("customer_id", 0),
            order_address_id=details["order_address_id"], date_created=details["date_created"], tracking_number=number,
            merchant_shipping_cost=details["merchant_shipping_cost"], shipping_method=details["shipping_method"],
            comments=details["comments"], shipping_provider=provider, tracking_carrier=slug,
            tracking_link=details["tracking_link"],
            billing_address={k: order.get("billing_address", {}).get(k, "") for k in shipment["billing_address"]},
            shipping_address={k: address.get(k, "") for k in shipment["shipping_address"]},
            items=[{"order_product_id": line["line_id"], "product_id": products.get(line["line_id"], {}).get("product_id", 0),
                    "quantity": line["quantity"]} for line in held["lines"]],
            shipping_provider_display_name=SHIPPING_PROVIDERS.get(provider, provider), generated_tracking_link=link,
        )

    def _live_order(self, order_id: str) -> SimOrderRecord | None:
        """The order, or None when it does not exist or the tracking_order_deleted anomaly removed it."""
        record = self.store.get(order_id)
        return None if record is None or self.tracking_anomaly(order_id) == "tracking_order_deleted" else record

    def list_shipments(self, request: ApiRequest, order_id: str) -> ApiResponse:
        record = self._live_order(order_id)
        if record is None:
            return self.error(404)
        paging = self._paging(request)
        if isinstance(paging, ApiResponse):
            return paging
        self._hand(record)
        with self._ship_lock:
            shipments = [self._shipment(record, held) for held in self.tracking.of(order_id)]
        return self._page(shipments, *paging)

    def get_shipment(self, order_id: str, shipment_id: str) -> ApiResponse:
        record = self._live_order(order_id)
        held = next((h for h in self.tracking.of(order_id) if h["fulfillment_id"] == shipment_id), None) if record else None
        if held is None:
            return self.error(404)
        with self._ship_lock:
            return ApiResponse(200, self._shipment(record, held))

    def _carrier_fields(self, body: dict) -> ApiResponse | None:
        """What is wrong with the carrier and text fields of a POST or PUT body, as a 400; None when they are fine."""
        provider = body.get("shipping_provider", "")
        if not isinstance(provider, str) or not (provider in SHIPPING_PROVIDERS or CUSTOM_PROVIDER.match(provider)):
            return self.error(400, f"The field 'shipping_provider' is invalid: {provider!r} is not a shipping provider; "
                                   f"use one of {', '.join(p for p in SHIPPING_PROVIDERS if p)}, carrier_<id>, "
                                   "or \"\" with tracking_carrier")
        slug = body.get("tracking_carrier", "")
        if not isinstance(slug, str) or (slug and not AFTERSHIP_SLUG.match(slug)):
            return self.error(400, f"The field 'tracking_carrier' is invalid: {slug!r} is not a tracking carrier "
                                   "(an AfterShip slug such as dhl)")
        number = body.get("tracking_number", "")
        if not isinstance(number, str) or len(number) > 50:
            return self.error(400, "The field 'tracking_number' is invalid: a string of at most 50 characters")
        for key in ("shipping_method", "comments", "tracking_link", "merchant_shipping_cost"):
            if key in body and not isinstance(body[key], str):
                return self.error(400, f"The field '{key}' is invalid: it must be a string")
        return None

    @staticmethod
    def _body(request: ApiRequest) -> Any:
        try:
            return json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None

    def create_shipment(self, request: ApiRequest, order_id: str) -> ApiResponse:
        record = self._live_order(order_id)
        if record is None:
            return self.error(404)
        anomaly = self.tracking_anomaly(order_id)
        if anomaly == "tracking_permission_denied":
            return self.error(403)
        body = self._body(request)
        if not isinstance(body, dict):
            return self.error(400, "The request body must be a JSON object")
        for key in ("order_address_id", "items"):
            if body.get(key) in (None, "", []):
                return self.error(400, f"The required field '{key}' was not supplied.")
        addresses = {a["id"] for a in record.payload["shipping_addresses"]}
        address_id = body["order_address_id"]
        if isinstance(address_id, bool) or not isinstance(address_id, int) or address_id not in addresses:
            return self.error(400, f"The field 'order_address_id' is invalid: {address_id!r} is not a shipping address "
                                   f"of order {order_id}")
        problem = self._carrier_fields(body)
        if problem is not None:
            return problem
        products = {p["id"]: p for p in record.payload["products"]}
        items = body["items"]
        if not isinstance(items, list):
            return self.error(400, "The field 'items' is invalid: it must be a list of {order_product_id, quantity}")
        lines: dict[int, int] = {}
        for item in items:
            product_id = item.get("order_product_id") if isinstance(item, dict) else None
            quantity = item.get("quantity") if isinstance(item, dict) else None
            if isinstance(product_id, bool) or product_id not in products:
                return self.error(400, f"The field 'items' is invalid: order_product_id {product_id!r} is not a product "
                                       f"of order {order_id}")
            if products[product_id].get("order_address_id", address_id) != address_id:
                return self.error(400, f"The field 'items' is invalid: order_product_id {product_id} ships to address "
                                       f"{products[product_id]['order_address_id']}, not {address_id}")
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                return self.error(400, f"The field 'items' is invalid: the quantity of order_product_id {product_id} must "
                                       "be a whole number of at least 1")
            lines[product_id] = lines.get(product_id, 0) + quantity
        if anomaly == "tracking_order_cancelled" or record.payload["order"].get("status_id") == CANCELLED_STATUS_ID:
            return self.error(400, f"Order {order_id} is cancelled: shipments cannot be created for a cancelled order")
        if self.locked_now(order_id):
            return self.error(409, f"Order {order_id} is being updated by another request; try again later")
        with self._ship_lock:
            self._hand(record)
            shipped: dict[int, int] = {}
            for held in self.tracking.of(order_id):
                for line in held["lines"]:
                    shipped[line["line_id"]] = shipped.get(line["line_id"], 0) + line["quantity"]
            for product_id, quantity in lines.items():
                product = products[product_id]
                left = int(product.get("quantity") or 0) - int(product.get("quantity_shipped") or 0) - shipped.get(product_id, 0)
                if left <= 0:
                    return self.error(400, f"The field 'items' is invalid: order_product_id {product_id} has already "
                                           "been shipped")
                if quantity > left:
                    return self.error(400, f"The field 'items' is invalid: the quantity {quantity} of order_product_id "
                                           f"{product_id} is more than the {left} left to ship")
            provider, slug = body.get("shipping_provider", ""), body.get("tracking_carrier", "")
            number = body.get("tracking_number", "")
            held = self.tracking.add(order_id, [number] if number else [], provider or slug or None,
                                     [{"line_id": k, "quantity": v} for k, v in lines.items()])
            self._shipments[held["fulfillment_id"]] = {
                "order_address_id": address_id, "shipping_provider": provider, "tracking_carrier": slug,
                "shipping_method": body.get("shipping_method") or "None", "comments": body.get("comments", ""),
                "tracking_link": body.get("tracking_link", ""),
                "merchant_shipping_cost": body.get("merchant_shipping_cost", amount(Decimal(0))),
                "date_created": rfc2822(datetime.now(timezone.utc)),
            }
            return ApiResponse(201, self._shipment(record, held))

    def update_shipment(self, request: ApiRequest, order_id: str, shipment_id: str) -> ApiResponse:
        record = self._live_order(order_id)
        held = next((h for h in self.tracking.of(order_id) if h["fulfillment_id"] == shipment_id), None) if record else None
        if held is None:
            return self.error(404)
        if self.tracking_anomaly(order_id) == "tracking_permission_denied":
            return self.error(403)
        body = self._body(request)
        if not isinstance(body, dict):
            return self.error(400, "The request body must be a JSON object")
        problem = self._carrier_fields(body)
        if problem is not None:
            return problem
        if "order_address_id" in body and body["order_address_id"] not in {a["id"] for a in record.payload["shipping_addresses"]}:
            return self.error(400, f"The field 'order_address_id' is invalid: {body['order_address_id']!r} is not a "
                                   f"shipping address of order {order_id}")
        if self.locked_now(order_id):
            return self.error(409, f"Order {order_id} is being updated by another request; try again later")
        with self._ship_lock:
            details = self._shipments.setdefault(shipment_id, self._hand_details(record, held))
            details.update({k: body[k] for k in details if k in body and k != "date_created"})
            carrier = details["shipping_provider"] or details["tracking_carrier"] or None
            numbers = [body["tracking_number"]] if body.get("tracking_number") else held["tracking_numbers"]
            held = self.tracking.update(order_id, shipment_id, numbers, carrier) or held
            return ApiResponse(200, self._shipment(record, held))

    def _filters(self, request: ApiRequest) -> dict[str, Any] | ApiResponse:
        filters: dict[str, Any] = {}
        for name in DATE_FILTERS:
            value = request.param(name)
            if value is not None:
                try:
                    filters[name] = parse_filter_time(value)
                except ValueError:
                    return self.error(400, f"The field '{name}' is invalid: use RFC 2822 or ISO 8601, got {value!r}")
        for name in ("min_id", "max_id", "status_id"):
            value = request.param(name)
            if value is not None:
                if not value.isdigit():
                    return self.error(400, f"The field '{name}' is invalid: it must be a whole number")
                filters[name] = int(value)
        return filters

    def created_window(self, request: ApiRequest) -> Window:
        filters = self._filters(request)
        if isinstance(filters, ApiResponse):
            return None, None
        return filters.get("min_date_created"), filters.get("max_date_created")

    def list_orders(self, request: ApiRequest) -> ApiResponse:
        filters = self._filters(request)
        if isinstance(filters, ApiResponse):
            return filters
        paging = self._paging(request)
        if isinstance(paging, ApiResponse):
            return paging
        field, _, direction = request.param("sort", "id:asc").partition(":")
        if field not in SORT_FIELDS or direction not in ("asc", "desc", ""):
            return self.error(400, f"The field 'sort' is invalid: use one of {', '.join(SORT_FIELDS)} with :asc or :desc")
        matching = [r for r in self.store.all() if _matches(r, filters)]
        sort_key = {
            "id": lambda r: id_key(r.external_order_id), "date_created": lambda r: (r.placed_at, id_key(r.external_order_id)),
            "date_modified": lambda r: (r.updated_at, id_key(r.external_order_id)),
            "status_id": lambda r: (r.payload["order"]["status_id"], id_key(r.external_order_id)),
        }[field]
        matching.sort(key=sort_key, reverse=direction == "desc")
        return self._page([r.payload["order"] for r in matching], *paging)

    def count_orders(self, request: ApiRequest) -> ApiResponse:
        """v2/orders/count: the list's filters over the same store, by status and in all."""
        filters = self._filters(request)
        if isinstance(filters, ApiResponse):
            return filters
        by_status = Counter(r.payload["order"].get("status_id") for r in self.store.all() if _matches(r, filters))
        known = [status_id for status_id, _, _ in ORDER_STATUSES]
        statuses = [
            {"id": status_id, "name": name, "system_label": name, "custom_label": name, "system_description": about,
             "count": by_status.get(status_id, 0), "sort_order": position}
            for position, (status_id, name, about) in enumerate(ORDER_STATUSES)
        ]
        for status_id in sorted((s for s in by_status if s not in known), key=str):  # an order posted with its own
            statuses.append({"id": status_id, "name": str(status_id), "system_label": str(status_id),
                             "custom_label": str(status_id), "system_description": "", "count": by_status[status_id],
                             "sort_order": len(statuses)})
        return ApiResponse(200, {"statuses": statuses, "count": sum(by_status.values())})

    # --- listings -------------------------------------------------------------------------------------
    def _listing(self, product: Product) -> dict:
        product_id = 100 + product.number
        level = "variant" if seeded(self._seed, self.name, product.sku, "tracking").random() < 1 / 3 else "product"
        return self.new_listing(
            product, listing_id=str(product_id), product_id=product_id, variant_id=product_id * 10 + 1,
            inventory_tracking="none" if self.listing_anomaly(product.sku) == "listing_not_tracked" else level,
            name=f"{product.title} ({product.variant})", price=amount(product.base_price),
            weight=amount(Decimal(product.grams) / Decimal("453.59237")),
        )

    @staticmethod
    def _product_body(listing: dict, variants: bool) -> dict:
        by_variant = listing["inventory_tracking"] == "variant"
        product: dict[str, Any] = {
            "id": listing["product_id"], "name": listing["name"], "type": "physical",
            "sku": "" if by_variant else listing["sku"], "weight": listing["weight"], "price": listing["price"],
            "inventory_level": listing["quantity"], "inventory_warning_level": 0,
            "inventory_tracking": listing["inventory_tracking"], "is_visible": listing["active"],
            "availability": "available" if listing["active"] else "disabled", "base_variant_id": listing["variant_id"],
        }
        if variants:
            product["variants"] = [{
                "id": listing["variant_id"], "product_id": listing["product_id"], "sku": listing["sku"],
                "price": None if not by_variant else listing["price"], "inventory_level": listing["quantity"],
                "inventory_warning_level": 0, "purchasing_disabled": not listing["active"],
                "option_values": [{"id": listing["variant_id"], "label": "Default", "option_id": 1,
                                   "option_display_name": "Variant"}] if by_variant else [],
            }]
        return product

    def list_products(self, request: ApiRequest) -> ApiResponse:
        numbers = {}
        for name, default, high in (("page", 1, None), ("limit", PRODUCTS_LIMIT, PRODUCTS_MAX_LIMIT)):
            text = request.param(name, str(default))
            if not text.isdigit() or int(text) < 1 or (high and int(text) > high):
                return self._problem(422, [f"The field '{name}' is invalid: a whole number from 1"
                                           + (f" to {high}" if high else "")], "Invalid query parameter")
            numbers[name] = int(text)
        page, limit = numbers["page"], numbers["limit"]
        includes = request.values("include")
        live = sorted((l for l in self.listings.all() if not l["deleted"]), key=lambda l: l["product_id"])
        shown = [self._product_body(self.listings.read(l["listing_id"]), "variants" in includes)
                 for l in live[(page - 1) * limit : page * limit]]
        pages = max(1, math.ceil(len(live) / limit))
        links: dict[str, str] = {"current": f"?page={page}&limit={limit}"}
        if page > 1:
            links["previous"] = f"?page={page - 1}&limit={limit}"
        if page < pages:
            links["next"] = f"?page={page + 1}&limit={limit}"
        return ApiResponse(200, {"data": shown, "meta": {"pagination": {
            "total": len(live), "count": len(shown), "per_page": limit, "current_page": page, "total_pages": pages,
            "links": links,
        }}})

    @staticmethod
    def _problem(status: int, messages: Iterable[str], title: str | None = None) -> ApiResponse:
        problem = json.loads(ADJUSTMENT_TEMPLATE)["response_422_example"]
        overwrite(problem, status=status, title=title or f"[{', '.join(messages)}]")
        return ApiResponse(status, problem, {"Content-Type": "application/problem+json"})

    def _adjustment(self, item: Any, by_product: dict, by_variant: dict, by_sku: dict) -> tuple[dict, int] | str:
        """The listing an adjustment item sets and to what, or why it is refused."""
        if not isinstance(item, dict):
            return "Each item must be an object with location_id, one of sku, variant_id or product_id, and quantity"
        keys = [k for k in ("sku", "variant_id", "product_id") if k in item]
        if len(keys) != 1:
            return "Each item must name exactly one of sku, variant_id or product_id"
        key, value = keys[0], item[keys[0]]
        quantity, location = item.get("quantity"), item.get("location_id")
        if isinstance(location, bool) or not isinstance(location, int):
            return f"Item with {key} {value} needs a location_id"
        if location != LOCATION_ID:
            return f"Location with id {location} does not exist"
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            return f"Item with {key} {value} needs a quantity: a whole number of 0 or more"
        table = {"sku": by_sku, "variant_id": by_variant, "product_id": by_product}[key]
        listing = table.get(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        if listing is None:
            return f"Item with {key} {value} does not exist"
        tracking = listing["inventory_tracking"]
        if tracking == "none":
            return f"Item with {key} {value} is not tracked, please enable inventory tracking first"
        if key == "variant_id" and tracking == "product":
            return f"Item with variant_id {value} is tracked by product, please update stock by product id"
        if key == "product_id" and tracking == "variant":
            return f"Item with product_id {value} is tracked by variant, please update stock by variant id"
        return listing, quantity

    def adjust_absolute(self, request: ApiRequest) -> ApiResponse:
        body = self._body(request)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return self._problem(422, ["The body must be {\"reason\", \"items\": [...]} with at least one item"])
        if "reason" in body and not isinstance(body["reason"], str):
            return self._problem(422, ["The field 'reason' must be a string"])
        live = [l for l in self.listings.all() if not l["deleted"]]
        by_product = {l["product_id"]: l for l in live}
        by_variant = {l["variant_id"]: l for l in live}
        by_sku = {l["sku"]: l for l in live}
        results = [self._adjustment(item, by_product, by_variant, by_sku) for item in items]
        problems = [r for r in results if isinstance(r, str)]
        if problems:
            return self._problem(422, problems)
        for listing, quantity in results:
            self.listings.written(listing["listing_id"], quantity)
        return ApiResponse(200, {"transaction_id": str(uuid.uuid4())})

    # --- orders ---------------------------------------------------------------------------------------
    webhook_topics = {"created": "store/order/created", "updated": "store/order/updated",
                      "cancelled": "store/order/statusUpdated"}

    def webhook(self, record: SimOrderRecord, event: str, number: int, now: datetime) -> tuple[str, dict[str, str], bytes]:
        scope, data = self.webhook_topics[event], {"type": "order", "id": int(record.external_order_id)}
        created_at = int(now.timestamp())
        digest = hashlib.sha1(json.dumps({"scope": scope, "data": data, "n": number}).encode()).hexdigest()
        body = json.dumps({"scope": scope, "store_id": "1001", "data": data, "hash": digest, "created_at": created_at,
                           "producer": f"stores/{self.name}"}).encode()
        # The secret rides in the header the hook was created with (BigCommerce signs nothing).
        return f"{created_at}:{digest}", {"Content-Type": "application/json",
                                          "X-Sync-Webhook-Secret": self.credentials["webhook_secret"]}, body

    def render(self, order: SimOrder) -> SimOrderRecord:
        rng = random.Random(order.uid)
        payload = json.loads(ORDER_TEMPLATE)[0]
        sub_resources = json.loads(SUB_RESOURCES_TEMPLATE)
        order_id = 100 + order.seq
        if order.has("unmapped_status"):
            status_id, status = INCOMPLETE
        elif order.status == "cancelled":
            status_id, status = CANCELLED
        elif order.status == "shipped":
            status_id, status = SHIPPED
        else:
            status_id, status = AWAITING_FULFILLMENT if order.paid else AWAITING_PAYMENT
        customer, billing = order.customer, order.billing
        payment_method, payment_status = rng.choice(PAYMENT) if order.paid else ("Bank Deposit", "pending")
        shipped_quantity = order.quantity if order.status == "shipped" else 0
        api = f"https://api.bigcommerce.com/stores/{self.store_hash}/v2/orders/{order_id}"
        created = ZERO_DATE if order.has("invalid_date") else rfc2822(order.placed_at)
        total = -order.total if order.has("invalid_amount") else order.total
        zero = amount(Decimal(0))
        overwrite(
            payload,
            id=order_id, customer_id=rng.choice([0, rng.randint(1, 900)]), date_created=created,
            date_modified=rfc2822(order.updated_at), date_shipped=rfc2822(order.changed_at if order.status == "shipped" else None),
            status_id=status_id, status=status, custom_status=status,
            subtotal_ex_tax=amount(order.subtotal), subtotal_inc_tax=amount(order.subtotal + order.tax), subtotal_tax=amount(order.tax),
            base_shipping_cost=amount(order.shipping_price), shipping_cost_ex_tax=amount(order.shipping_price),
            shipping_cost_inc_tax=amount(order.shipping_price), shipping_cost_tax=zero,
            total_ex_tax=amount(order.subtotal + order.shipping_price), total_inc_tax=amount(total), total_tax=amount(order.tax),
            items_total=order.quantity, items_shipped=shipped_quantity, payment_method=payment_method,
            payment_status=payment_status, ip_address=f"198.51.100.{rng.randint(1, 254)}",
            geoip_country=billing.country, geoip_country_iso2=billing.country_code,
            currency_code=order.currency, default_currency_code=order.currency,
            customer_message=rng.choice(["", "", "", "Please leave the parcel at the back door."]),
            shipping_address_count=1 if order.ship_to else 0, cart_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            billing_address=overwrite(
                payload["billing_address"], **self._address(billing, customer.first_name, customer.last_name),
                phone=customer.phone or "", email=customer.email,
            ),
            order_source="www", external_source="", external_id=None, external_order_id="",
            products={"url": f"{api}/products", "resource": f"/orders/{order_id}/products"},
            shipping_addresses={"url": f"{api}/shipping_addresses", "resource": f"/orders/{order_id}/shipping_addresses"},
            coupons={"url": f"{api}/coupons", "resource": f"/orders/{order_id}/coupons"},
        )
        address_id = order_id * 10
        shipping_addresses = []
        if order.ship_to is not None:
            shipping_addresses = [overwrite(
                sub_resources["GET /orders/{order_id}/shipping_addresses"][0], id=address_id, order_id=order_id,
                **self._address(order.ship_to, customer.first_name, customer.last_name),
                email=customer.email, phone=customer.phone or "", items_total=order.quantity, items_shipped=shipped_quantity,
                shipping_method=SHIPPING[order.shipping], base_cost=amount(order.shipping_price),
                cost_ex_tax=amount(order.shipping_price), cost_inc_tax=amount(order.shipping_price), cost_tax=zero,
                shipping_zone_id=1, shipping_zone_name=order.ship_to.country,
                shipping_quotes={"url": f"{api}/shipping_addresses/{address_id}/shipping_quotes",
                                 "resource": f"/orders/{order_id}/shipping_addresses/{address_id}/shipping_quotes"},
            )]
        line_template = json.dumps(sub_resources["GET /orders/{order_id}/products"][0])
        products = [
            self._product(order, line, json.loads(line_template), order_id, address_id + 1 + index, address_id)
            for index, line in enumerate(order.lines)
        ]
        combined = {"order": payload, "products": products, "shipping_addresses": shipping_addresses}
        return SimOrderRecord(str(order_id), order.placed_at, order.updated_at, combined)

    @staticmethod
    def _product(order: SimOrder, line: Line, template: dict, order_id: int, line_id: int, address_id: int) -> dict:
        unit_tax = (order.line_tax(line) / line.quantity).quantize(Decimal("0.0001"))
        total_inc_tax = amount(line.total + order.line_tax(line))
        return overwrite(
            template, id=line_id, order_id=order_id, product_id=100 + line.product.number, order_address_id=address_id,
            name=line.product.title, name_customer=line.product.title, name_merchant=line.product.title,
            sku=line.product.sku, upc="", base_price=amount(line.unit_price), price_ex_tax=amount(line.unit_price),
            price_inc_tax=amount(line.unit_price + unit_tax), price_tax=amount(unit_tax), base_total=amount(line.total),
            total_ex_tax=amount(line.total), total_inc_tax=total_inc_tax, total_tax=amount(order.line_tax(line)),
            weight=amount(Decimal(line.product.grams) / Decimal("453.59237")), quantity=line.quantity,
            base_cost_price=amount(line.unit_price * Decimal("0.5")), cost_price_inc_tax=amount(line.unit_price * Decimal("0.5")),
            cost_price_ex_tax=amount(line.unit_price * Decimal("0.5")),
            quantity_shipped=line.quantity if order.status == "shipped" else 0, fixed_shipping_cost=amount(Decimal(0)),
            option_set_id=None, brand="", applied_discounts=[], discounted_total_inc_tax=total_inc_tax,
            product_options=[{
                "id": line_id, "option_id": 1, "order_product_id": line_id, "product_option_id": 1, "display_name": "Variant",
                "display_name_customer": "Variant", "display_name_merchant": "Variant", "display_value": line.product.variant,
                "display_value_customer": line.product.variant, "display_value_merchant": line.product.variant,
                "value": line.product.variant, "type": "Multiple choice", "name": "Variant", "display_style": "Rectangle",
            }],
        )

    @staticmethod
    def _address(address: Address, first_name: str, last_name: str) -> dict[str, str]:
        return {
            "first_name": first_name, "last_name": last_name, "company": "", "street_1": address.address1,
            "street_2": address.address2, "city": address.city, "state": address.province, "zip": address.postcode,
            "country": address.country, "country_iso2": address.country_code,
        }

    def parse_admin(self, body: Any) -> list[SimOrderRecord]:
        """{"order": <V2 order>, "products": [...], "shipping_addresses": [...]} (what the connector lands), or a list."""
        records = []
        for index, entry in enumerate(body if isinstance(body, list) else [body]):
            what = f"bigcommerce order #{index}"
            if not isinstance(entry, dict) or not isinstance(entry.get("order"), dict):
                raise AdminError(f"{what}: expected {{\"order\": {{...}}, \"products\": [...], \"shipping_addresses\": [...]}}")
            for name in ("products", "shipping_addresses"):
                if not isinstance(entry.get(name, []), list):
                    raise AdminError(f"{what}: {name!r} must be a list")
            order = entry["order"]
            order_id = require(order, "id", what)
            times = {}
            for key in ("date_created", "date_modified"):
                try:
                    times[key] = parse_filter_time(str(require(order, key, what)))
                except ValueError:
                    raise AdminError(f"{what}: {key!r} is not an RFC 2822 time: {order[key]!r}") from None
            payload = {"order": order, "products": entry.get("products", []), "shipping_addresses": entry.get("shipping_addresses", [])}
            records.append(SimOrderRecord(str(order_id), times["date_created"], times["date_modified"], payload))
        return records


def _matches(record: SimOrderRecord, filters: dict[str, Any]) -> bool:
    order = record.payload["order"]
    for name, bound in filters.items():
        if name in DATE_FILTERS:
            which, comparison = DATE_FILTERS[name]
            moment = record.placed_at if which == "placed" else record.updated_at
            if not (moment >= bound if comparison == ">=" else moment <= bound):
                return False
        elif name == "status_id" and order.get("status_id") != bound:
            return False
        elif (name == "min_id" and int(record.external_order_id) < bound) or (name == "max_id" and int(record.external_order_id) > bound):
            return False
    return True
