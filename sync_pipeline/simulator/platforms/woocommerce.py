"""WooCommerce REST API v3 (/wp-json/wc/v3/orders): HTTP Basic (or query-string) consumer key and secret,
page/per_page paging with X-WP-Total and X-WP-TotalPages, site-local and GMT timestamps without offsets,
and no rate limit.

Tracking (answers built on templates/woocommerce_*.json):
- The Shipment Tracking extension: `POST wp-json/wc-shipment-tracking/v3/orders/<id>/shipment-trackings`
  `{"tracking_number", "tracking_provider"}` (a name of PROVIDERS) or `{"tracking_number",
  "custom_tracking_provider", "custom_tracking_link"}`, with an optional `date_shipped` ("YYYY-MM-DD" or a Unix
  time) -> 201 `{tracking_id, tracking_provider, tracking_link, tracking_number, date_shipped}` (a custom
  provider's name is its tracking_provider); `GET` of the same path lists them (with any "hand" one).
- Order notes: `POST wp-json/wc/v3/orders/<id>/notes` `{"note", "customer_note"}` -> 201 the note; `GET` lists
  them newest first (`type` any|customer|internal). A customer note with a line `Tracking number: <number>`
  (and optionally `Carrier: <carrier>`: the pipeline's note format) is one of the channel's fulfillments.
- `PUT` (or POST, PATCH) `wp-json/wc/v3/orders/<id>` `{"status": ...}` -> 200 the order, its status, date_modified
  (and for completed date_completed) changed in the store, so the order list's modified_after sees it.
Each one is a record of `self.tracking` whose fulfillment_id is the channel's own id (the item's tracking_id, the
note's id) and whose `kind` is "tracking" or "note"; none carries lines, as neither API takes any.
Refusals: a body that is not a JSON object: 400 rest_invalid_json; missing or unknown fields, an unknown
provider, both provider forms, a bad date or status: 400 rest_missing_callback_param / rest_invalid_param.
Tracking anomalies of the order: deleted -> 404 woocommerce_rest_shop_order_invalid_id on every endpoint of the
order (orders/<id> too); already fulfilled -> when the order is first read (orders/<id>, its notes or trackings) a
"hand" tracking item appears and the order becomes completed; cancelled -> at that first read the order becomes
cancelled. WooCommerce takes a note or a tracking item on a completed or cancelled order, so the simulator does
too: the order's status is what tells (the pipeline reads it before it writes). Locked -> 409
woocommerce_rest_order_locked on the first note or tracking POSTs, then accepted (Woo has no such code; a locked
row there shows as a stall or a 503); permission denied -> 403 woocommerce_rest_cannot_create on the note and
tracking POSTs and woocommerce_rest_cannot_edit on the order PUT (a key whose user may not edit orders).

Inventory (`self.listings`: one simple product per listed product, id 100 + n as the orders' product_id; the shape
follows the v3 products reference). With the channel option `variations_per_product: k` the extra listings
(SKU-L...) are the variations of variable products instead, k to a parent (ids 900000 + 1, 2, ...; sku SKU-P<n>):
the parent lists with `type` "variable", `manage_stock` false and its `variations` ids, and its variations' stock is
read and written on their own endpoints:
- `GET wp-json/wc/v3/products/<parent>/variations` (`page`, `per_page` <= 100; X-WP-Total, X-WP-TotalPages): each
  variation as a product with `type` "variation" and `parent_id`; an unknown parent 404 woocommerce_rest_product_invalid_id.
- `POST` (or PUT, PATCH) `wp-json/wc/v3/products/<parent>/variations/batch`, as products/batch below for that
  parent's variations; products/batch and products/<id> know no variation id ("Invalid ID.").
- `GET wp-json/wc/v3/products` (`page`, `per_page` <= 100 (default 10), `sku` comma-separated, `status`
  any|publish|draft|pending|private, `order`/`orderby` id|date; X-WP-Total, X-WP-TotalPages, Link) and
  `GET wp-json/wc/v3/products/<id>`: `id`, `sku`, `type` "simple", `status`, `manage_stock`, `stock_quantity` (null
  when stock is not managed), `stock_status`. The `sku` filter matches regardless of case, as MySQL's default
  collation does on a real site.
- `POST` (or PUT, PATCH) `wp-json/wc/v3/products/batch` `{"update": [{"id", "stock_quantity", "manage_stock"?}]}`
  (<= 100 items, else 413 woocommerce_rest_request_entity_too_large) -> 200 `{"update": [...]}`, each item the
  product or `{"id", "error": {"code", "message", "data": {"status"}}}`: an unknown or deleted id (or none)
  woocommerce_rest_product_invalid_id "Invalid ID." (400); a stock_quantity that is not an integer or another
  field rest_invalid_param (real Woo coerces with wc_stock_amount; the simulator refuses). A body that is not
  `{"update": [...]}` (create and delete are not simulated): 400.
  As WooCommerce does, a stock_quantity for a product whose manage_stock is false is ignored without an error:
  the item comes back with manage_stock false and stock_quantity null and nothing is recorded, unless the item
  also sends `"manage_stock": true`, which turns stock management on and sets the quantity.
Listing anomalies: case mismatch -> `sku` lower-cased; deleted -> absent from the list, 404 on products/<id>, an
invalid-id item error in a batch; not tracked -> `manage_stock: false` (writes ignored, above); not active ->
`status` "draft" (writes work, as on Woo); drift -> after the first write, the next read of it (list or
products/<id>) first applies a hand change (the written quantity less 1..5, or plus when that would go below 0)."""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import hashlib
import itertools
import json
import math
import random
import re
import string
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from sync_pipeline.simulator.orders import Address, Line, Market, Product, SimOrder, SimOrderRecord, listed_products
from sync_pipeline.simulator.platforms.base import (
    AdminError,
    ApiRequest,
    ApiResponse,
    ListingStore,
    Platform,
    Route,
    Window,
    admin_time,
    drift_bounce,
    load_template,
    overwrite,
    parse_time,
    require,
    signature,
)

TEMPLATE = load_template("woocommerce_order.json")
TRACKING_TEMPLATE = load_template("woocommerce_shipment_tracking_create.json")
NOTE_TEMPLATE = load_template("woocommerce_order_note_create.json")
PREFIX = ["wp-json", "wc", "v3", "orders"]
TRACKING_PREFIX = ["wp-json", "wc-shipment-tracking", "v3", "orders"]
# Part of the Shipment Tracking extension's provider list (the US and UK ones a 3PL uses), name -> tracking page.
PROVIDERS = {
    "UPS": "https://www.ups.com/track?loc=en_US&tracknum={}",
    "USPS": "https://tools.usps.com/tracking/{}",
    "Fedex": "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers={}",
    "DHL": "https://www.dhl.com/content/g0/en/express/tracking.shtml?brand=DHL&AWB={}",
    "DHL US": "https://www.logistics.dhl/us-en/home/tracking/tracking-ecommerce.html?tracking-id={}",
    "Royal Mail": "https://www.royalmail.com/track-your-item#/tracking-results/{}",
    "ParcelForce": "https://www.parcelforce.com/track-trace?trackNumber={}",
    "DPD.co.uk": "https://www.dpd.co.uk/apps/tracking/?reference={}",
    "TNT Express (consignment)": "https://www.tnt.com/express/en_gb/site/shipping-tools/tracking.html?cons={}",
}
TRACKING_FIELDS = {
    "tracking_number", "tracking_provider", "custom_tracking_provider", "custom_tracking_link", "date_shipped",
}
NOTE_FIELDS = {"note", "customer_note", "added_by_user"}
EDITABLE_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
NOTE_NUMBER = re.compile(r"^\s*Tracking number:\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE)
NOTE_CARRIER = re.compile(r"^\s*Carrier:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)
STATUSES = ("any", "pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash", "checkout-draft")
DATE_FILTERS = {"after": ("placed", ">"), "before": ("placed", "<"), "modified_after": ("updated", ">"), "modified_before": ("updated", "<")}
SECRET_PARAMS = ("consumer_key", "consumer_secret")
SHIPPING = {
    "free": ("free_shipping", "Free shipping"), "economy": ("flat_rate", "Royal Mail 2nd Class"),
    "standard": ("flat_rate", "Royal Mail Tracked 48"), "express": ("flat_rate", "DPD Next Day"),
    "overnight": ("dpd_shipping", "DPD Next Day by 12:00"), "same_day": ("local_pickup_plus", "Same Day Courier"),
}
ZERO_DATE = "0000-00-00 00:00:00"  # MySQL's zero date, which WooCommerce really serves (invalid_date)
PAYMENT = [("stripe", "Credit Card (Stripe)", "ch_"), ("ppcp-gateway", "PayPal", "PAY-")]
UNPAID_PAYMENT = ("bacs", "Direct bank transfer", "")
TAX_RATE_ID = 75
PRODUCTS_PREFIX = ["wp-json", "wc", "v3", "products"]
PRODUCT_ID_OFFSET = 100  # product id = product number + this, as in the orders' line items
PARENT_ID_OFFSET = 900_000  # variable products' ids (option variations_per_product): this + 1, 2, ...
PRODUCT_STATUSES = ("any", "publish", "draft", "pending", "private")
MAX_BATCH = 100
BATCH_ITEM_FIELDS = {"id", "stock_quantity", "manage_stock"}
LISTED_SINCE = datetime(2024, 3, 1, tzinfo=timezone.utc)


def parent_sku(parent_id: int) -> str:
    return f"SKU-P{parent_id - PARENT_ID_OFFSET:06d}"


class WooCommerce(Platform):
    type = "woocommerce"
    listing_draws = "stream"
    credential_names = ("consumer_key", "consumer_secret", "webhook_secret")
    market = Market({"GBP": 70, "EUR": 25, "USD": 5})
    errors = {
        400: ("rest_invalid_param", "Invalid parameter(s)."),
        401: ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        403: ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
        404: ("rest_no_route", "No route was found matching the URL and request method."),
        409: ("woocommerce_rest_order_locked", "The order is being edited by someone else. Please try again shortly."),
        413: ("woocommerce_rest_request_entity_too_large", f"Unable to accept more than {MAX_BATCH} items for this request."),
        429: ("woocommerce_rest_too_many_requests", "Too many requests. Please wait and try again."),
        500: ("internal_server_error", "There has been a critical error on this website."),
        503: ("service_unavailable", "Service temporarily unavailable."),
    }

    def __init__(self, spec, credentials, scenario):
        super().__init__(spec, credentials, scenario)
        self._lock = threading.Lock()
        self._notes: dict[str, list[dict]] = {}
        self._note_ids = itertools.count(300)
        self._anomalies_shown: set[str] = set()
        per_parent = spec.options.get("variations_per_product", 0)
        self.listings = ListingStore([self._listing(p, per_parent) for p in listed_products(scenario.seed, spec)],
                                     drift_bounce, stamp_updated_at=True)

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        path, method = request.path, request.method
        if path[:4] == PREFIX:
            rest = path[4:]
            if method == "GET" and not rest:
                return Route("orders", self.list_orders, window=self.created_window)
            if method == "GET" and len(rest) == 1:
                return Route("order", self.get_order)
            if method in ("PUT", "POST", "PATCH") and len(rest) == 1:
                return Route("update_order", lambda r: self.update_order(r, rest[0]))
            if len(rest) == 2 and rest[1] == "notes" and method in ("GET", "POST"):
                handler = self.list_notes if method == "GET" else self.create_note
                return Route("notes", lambda r: handler(r, rest[0]))
        if path[:4] == PRODUCTS_PREFIX:
            rest = path[4:]
            if method == "GET" and not rest:
                return Route("products", self.list_products)
            if method in ("POST", "PUT", "PATCH") and rest == ["batch"]:
                return Route("products_batch", self.batch_products)
            if method == "GET" and len(rest) == 1:
                return Route("product", lambda r: self.get_product(rest[0]))
            if method == "GET" and len(rest) == 2 and rest[1] == "variations":
                return Route("variations", lambda r: self.list_variations(r, rest[0]))
            if method in ("POST", "PUT", "PATCH") and len(rest) == 3 and rest[1:] == ["variations", "batch"]:
                return Route("variations_batch", lambda r: self.batch_products(r, rest[0]))
        trackings = path[:4] == TRACKING_PREFIX and len(path) == 6 and path[5] == "shipment-trackings"
        if trackings and method in ("GET", "POST"):
            handler = self.list_trackings if method == "GET" else self.create_tracking
            return Route("shipment_trackings", lambda r: handler(r, path[4]))
        return None

    def authorized(self, request: ApiRequest) -> bool:
        key, secret = request.param("consumer_key"), request.param("consumer_secret")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                key, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
        return self.check_credentials(key, "consumer_key") and self.check_credentials(secret, "consumer_secret")

    def error(self, status: int, message: Any = None, code: str | None = None) -> ApiResponse:
        default_code, default_message = self.errors[status]
        return ApiResponse(status, {"code": code or default_code, "message": message or default_message, "data": {"status": status}})

    def _invalid(self, name: str, reason: str) -> ApiResponse:
        response = self.error(400, f"Invalid parameter(s): {name}")
        response.body["data"]["params"] = {name: reason}
        return response

    def get_order(self, request: ApiRequest) -> ApiResponse:
        record = self._order(request.path[4])
        if record is None:
            return self._no_order()
        return ApiResponse(200, record.payload)

    def _bounds(self, request: ApiRequest) -> dict[str, datetime] | ApiResponse:
        """after/before/modified_*: GMT when dates_are_gmt is true, else the site's local time."""
        naive_tz = timezone.utc if request.param("dates_are_gmt", "false").lower() in ("true", "1") else self.tz
        bounds = {}
        for name in DATE_FILTERS:
            value = request.param(name)
            if value is not None:
                try:
                    bounds[name] = parse_time(value, naive_tz)
                except ValueError:
                    return self._invalid(name, "Invalid date.")
        return bounds

    def created_window(self, request: ApiRequest) -> Window:
        bounds = self._bounds(request)
        if isinstance(bounds, ApiResponse):
            return None, None
        return bounds.get("after"), bounds.get("before")

    def _list_params(self, request: ApiRequest) -> tuple[int, int, str, str] | ApiResponse:
        """page, per_page, order and orderby of a WP REST collection (orders, products), or the 400 naming the bad one."""
        numbers = {}
        for name, default, high in (("page", 1, None), ("per_page", 10, 100)):
            text = request.param(name, str(default))
            if not text.isdigit() or int(text) < 1 or (high and int(text) > high):
                limit = f"between 1 (inclusive) and {high} (inclusive)" if high else "at least 1"
                return self._invalid(name, f"{name} must be {limit}.")
            numbers[name] = int(text)
        order, orderby = request.param("order", "desc"), request.param("orderby", "date")
        if order not in ("asc", "desc"):
            return self._invalid("order", "order is not one of asc and desc.")
        if orderby not in ("date", "id"):
            return self._invalid("orderby", "orderby is not one of date and id.")
        return numbers["page"], numbers["per_page"], order, orderby

    def list_orders(self, request: ApiRequest) -> ApiResponse:
        listing = self._list_params(request)
        if isinstance(listing, ApiResponse):
            return listing
        page, per_page, order, orderby = listing
        statuses = request.values("status") or ["any"]
        for status in statuses:
            if status not in STATUSES:
                return self._invalid("status", f"status[0] is not one of {', '.join(STATUSES)}.")
        bounds = self._bounds(request)
        if isinstance(bounds, ApiResponse):
            return bounds
        matching = [
            r for r in self.store.all()
            if ("any" in statuses or r.payload.get("status") in statuses) and _within(r, bounds)
        ]
        if orderby == "id":
            matching.sort(key=lambda r: int(r.external_order_id))
        if order == "desc":
            matching.reverse()
        total_pages = math.ceil(len(matching) / per_page)
        headers = {"X-WP-Total": str(len(matching)), "X-WP-TotalPages": str(total_pages)}
        kept = [(k, v) for k, vs in request.query.items() if k not in SECRET_PARAMS and k != "page" for v in vs]
        links = [
            f'<{request.channel_url}/{"/".join(PREFIX)}?{urlencode([*kept, ("page", target)])}>; rel="{rel}"'
            for rel, target, present in (("prev", page - 1, page > 1), ("next", page + 1, page < total_pages))
            if present
        ]
        if links:
            headers["Link"] = ", ".join(links)
        return ApiResponse(200, [r.payload for r in matching[(page - 1) * per_page : page * per_page]], headers)

    # --- tracking -------------------------------------------------------------------------------------
    def _no_order(self) -> ApiResponse:
        return self.error(404, "Invalid ID.", "woocommerce_rest_shop_order_invalid_id")

    def _order(self, order_id: str) -> SimOrderRecord | None:
        """The order as the channel holds it now, or None (unknown, or deleted: tracking_order_deleted). The first
        read of an order a person fulfilled by hand, or cancelled, shows it: a hand tracking item and status
        completed, or status cancelled."""
        record = self.store.get(order_id)
        anomaly = self.tracking_anomaly(order_id) if record is not None else None
        if record is None or anomaly == "tracking_order_deleted":
            return None
        if anomaly == "tracking_already_fulfilled":
            self.hand_fulfilled(order_id, [{"line_id": line["id"], "quantity": line["quantity"]}
                                           for line in record.payload.get("line_items", [])])
        if anomaly in ("tracking_already_fulfilled", "tracking_order_cancelled"):
            with self._lock:
                first = order_id not in self._anomalies_shown
                self._anomalies_shown.add(order_id)
            status = "cancelled" if anomaly == "tracking_order_cancelled" else "completed"
            settled = ("cancelled", "refunded") if status == "cancelled" else ("completed", "cancelled", "refunded")
            if first and record.payload.get("status") not in settled:
                return self._set_status(order_id, status)
        return record

    def _set_status(self, order_id: str, status: str) -> SimOrderRecord:
        """A new status in the store, with date_modified (and date_completed) now."""
        with self._lock:
            record = self.store.get(order_id)
            payload = copy.deepcopy(record.payload)
            now = datetime.now(timezone.utc)
            payload.update(status=status, date_modified=self._local(now), date_modified_gmt=self._gmt(now))
            if status == "completed" and not payload.get("date_completed"):
                payload.update(date_completed=self._local(now), date_completed_gmt=self._gmt(now))
            record = dataclasses.replace(record, payload=payload, updated_at=max(now, record.updated_at))
            self.store.put([record])
            return record

    def _body(self, request: ApiRequest, known: set[str]) -> dict | ApiResponse:
        """The JSON object sent, or the 400 WordPress answers for a body that is not one or has unknown fields."""
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON body passed.", "rest_invalid_json")
        unknown = sorted(set(body) - known)
        if unknown:
            return self._invalid(unknown[0], f"{unknown[0]} is not a field this endpoint takes.")
        return body

    def _missing(self, name: str) -> ApiResponse:
        response = self.error(400, f"Missing parameter(s): {name}", "rest_missing_callback_param")
        response.body["data"]["params"] = [name]
        return response

    def update_order(self, request: ApiRequest, order_id: str) -> ApiResponse:
        record = self._order(order_id)
        if record is None:
            return self._no_order()
        body = self._body(request, {"status"})
        if isinstance(body, ApiResponse):
            return body
        if "status" not in body:
            return self._missing("status")
        if body["status"] not in EDITABLE_STATUSES:
            return self._invalid("status", f"status is not one of {', '.join(EDITABLE_STATUSES)}.")
        if self.tracking_anomaly(order_id) == "tracking_permission_denied":
            return self.error(403, "Sorry, you are not allowed to edit this resource.", "woocommerce_rest_cannot_edit")
        return ApiResponse(200, self._set_status(order_id, body["status"]).payload)

    def create_tracking(self, request: ApiRequest, order_id: str) -> ApiResponse:
        if self._order(order_id) is None:
            return self._no_order()
        body = self._body(request, TRACKING_FIELDS)
        if isinstance(body, ApiResponse):
            return body
        number = body.get("tracking_number")
        if not isinstance(number, str) or not number.strip():
            return self._missing("tracking_number")
        provider, custom = body.get("tracking_provider"), body.get("custom_tracking_provider")
        link = body.get("custom_tracking_link") or ""
        if provider and custom:
            return self._invalid("tracking_provider", "send tracking_provider or custom_tracking_provider, not both.")
        if provider:
            if provider not in PROVIDERS:
                return self._invalid("tracking_provider", f"tracking_provider is not one of {', '.join(PROVIDERS)}.")
            if link:
                return self._invalid("custom_tracking_link", "custom_tracking_link goes with custom_tracking_provider.")
        elif not isinstance(custom, str) or not custom.strip():
            return self._missing("tracking_provider")
        if not isinstance(link, str) or (link and not link.startswith(("http://", "https://"))):
            return self._invalid("custom_tracking_link", "custom_tracking_link is not a URL.")
        shipped = _shipped_date(body.get("date_shipped"), self.tz)
        if shipped is None:
            return self._invalid("date_shipped", "date_shipped is not a date (YYYY-MM-DD) or a Unix time.")
        if self.tracking_anomaly(order_id) == "tracking_permission_denied":
            return self.error(403)
        if self.locked_now(order_id):
            return self.error(409)
        number = number.strip()
        carrier = provider or custom.strip()
        link = PROVIDERS[provider].format(number) if provider else link
        seed = f"{self.name}:{order_id}:{number}:{len(self.tracking.of(order_id))}"
        tracking_id = hashlib.md5(seed.encode()).hexdigest()
        self.tracking.add(order_id, [number], carrier, [], extra={
            "fulfillment_id": tracking_id, "kind": "tracking", "tracking_link": link, "date_shipped": shipped,
        })
        item = json.loads(TRACKING_TEMPLATE)["response_body"]
        return ApiResponse(201, overwrite(item, tracking_id=tracking_id, tracking_provider=carrier, tracking_link=link,
                                          tracking_number=number, date_shipped=shipped))

    def list_trackings(self, request: ApiRequest, order_id: str) -> ApiResponse:
        if self._order(order_id) is None:
            return self._no_order()
        items = []
        for fulfillment in self.tracking.of(order_id):
            if fulfillment.get("kind") == "note":
                continue
            item = json.loads(TRACKING_TEMPLATE)["response_body"]
            items.append(overwrite(
                item, tracking_id=fulfillment["fulfillment_id"], tracking_provider=fulfillment["carrier"] or "",
                tracking_link=fulfillment.get("tracking_link", ""), tracking_number=fulfillment["tracking_numbers"][0],
                date_shipped=fulfillment.get("date_shipped") or fulfillment["created_at"][:10],
            ))
        return ApiResponse(200, items)

    def create_note(self, request: ApiRequest, order_id: str) -> ApiResponse:
        if self._order(order_id) is None:
            return self._no_order()
        body = self._body(request, NOTE_FIELDS)
        if isinstance(body, ApiResponse):
            return body
        text = body.get("note")
        if not isinstance(text, str) or not text.strip():
            return self._missing("note")
        for flag in ("customer_note", "added_by_user"):
            if not isinstance(body.get(flag, False), bool):
                return self._invalid(flag, f"{flag} is not of type boolean.")
        if self.tracking_anomaly(order_id) == "tracking_permission_denied":
            return self.error(403)
        if self.locked_now(order_id):
            return self.error(409)
        now = datetime.now(timezone.utc)
        base = f"{request.channel_url}/wp-json/wc/v3/orders/{order_id}"
        with self._lock:
            note_id = next(self._note_ids)
            note = overwrite(
                json.loads(NOTE_TEMPLATE)["response_body"], id=note_id, author="system",
                date_created=self._local(now), date_created_gmt=self._gmt(now), note=text,
                customer_note=body.get("customer_note", False),
                _links={"self": [{"href": f"{base}/notes/{note_id}"}], "collection": [{"href": f"{base}/notes"}],
                        "up": [{"href": base}]},
            )
            self._notes.setdefault(order_id, []).append(note)
        number = NOTE_NUMBER.search(text)
        if note["customer_note"] and number:
            carrier = NOTE_CARRIER.search(text)
            self.tracking.add(order_id, [number.group(1)], carrier.group(1) if carrier else None, [],
                              extra={"fulfillment_id": str(note_id), "kind": "note"})
        return ApiResponse(201, copy.deepcopy(note))

    def list_notes(self, request: ApiRequest, order_id: str) -> ApiResponse:
        if self._order(order_id) is None:
            return self._no_order()
        kind = request.param("type", "any")
        if kind not in ("any", "customer", "internal"):
            return self._invalid("type", "type is not one of any, customer, and internal.")
        with self._lock:
            notes = copy.deepcopy(self._notes.get(order_id, []))
        notes = [n for n in notes if kind == "any" or n["customer_note"] == (kind == "customer")]
        return ApiResponse(200, notes[::-1])

    # --- inventory ------------------------------------------------------------------------------------
    def _listing(self, product: Product, per_parent: int = 0) -> dict:
        """A simple product, or with `per_parent` an extra listing as a variation of its variable product."""
        product_id = PRODUCT_ID_OFFSET + product.number
        extra = product.sku.startswith("SKU-L")
        parent_id = PARENT_ID_OFFSET + (int(product.sku[5:]) - 1) // per_parent + 1 if per_parent and extra else 0
        return self.new_listing(
            product, listing_id=str(product_id), product_id=product_id, parent_id=parent_id,
            status="draft" if self.listing_anomaly(product.sku) == "listing_not_active" else "publish",
            name=f"{product.title} - {product.variant}", price=f"{product.base_price:.2f}", grams=product.grams,
            created_at=LISTED_SINCE + timedelta(minutes=product.number), updated_at=None,
        )

    def _live_listing(self, product_id: Any, parent_id: int = 0) -> dict | None:
        """The live simple product (or, with `parent_id`, that variable product's variation) of this id."""
        listing = self.listings.get(str(product_id)) if _whole(product_id) or str(product_id).isdigit() else None
        return None if listing is None or listing["deleted"] or listing["parent_id"] != parent_id else listing

    def _variations_of(self, parent_id: int) -> list[dict]:
        return [l for l in self.listings.all() if l["parent_id"] == parent_id and not l["deleted"]]

    def _parent(self, parent_id: Any) -> int | None:
        """The id of a variable product this store has, or None."""
        number = int(parent_id) if _whole(parent_id) or str(parent_id).isdigit() else 0
        return number if number > PARENT_ID_OFFSET and self.listings.find(parent_id=number) else None

    def _parent_product(self, parent_id: int) -> dict:
        """A variable product: no stock of its own (its variations hold it), their ids in `variations`."""
        variations = self._variations_of(parent_id)
        first = variations[0] if variations else self.listings.find(parent_id=parent_id)
        product = self._product(first)
        title = first["name"].rsplit(" - ", 1)[0]
        return {**product, "id": parent_id, "name": title, "slug": title.lower().replace(" ", "-"),
                "sku": parent_sku(parent_id), "type": "variable", "status": "publish",
                "manage_stock": False, "stock_quantity": None, "stock_status": "instock", "parent_id": 0,
                "variations": [int(v["listing_id"]) for v in variations]}

    def _product(self, listing: dict) -> dict:
        created, modified = listing["created_at"], listing["updated_at"] or listing["created_at"]
        managed, quantity = listing["tracked"], listing["quantity"]
        slug = listing["name"].lower().replace(" ", "-")
        return {
            "id": listing["product_id"], "name": listing["name"], "slug": slug,
            "permalink": f"https://{self.name}.example/product/{slug}/",
            "date_created": self._local(created), "date_created_gmt": self._gmt(created),
            "date_modified": self._local(modified), "date_modified_gmt": self._gmt(modified),
            "type": "variation" if listing["parent_id"] else "simple", "status": listing["status"], "featured": False,
            "catalog_visibility": "visible",
            "description": "", "short_description": "", "sku": listing["sku"], "price": listing["price"],
            "regular_price": listing["price"], "sale_price": "", "on_sale": False, "purchasable": True,
            "virtual": False, "downloadable": False, "tax_status": "taxable", "tax_class": "",
            "manage_stock": managed, "stock_quantity": quantity if managed else None,
            "stock_status": ("instock" if quantity > 0 else "outofstock") if managed else "instock",
            "backorders": "no", "backorders_allowed": False, "backordered": False,
            "weight": f"{listing['grams'] / 1000:g}", "parent_id": listing["parent_id"], "variations": [], "meta_data": [],
        }

    def get_product(self, product_id: str) -> ApiResponse:
        parent = self._parent(product_id)
        if parent is not None:
            return ApiResponse(200, self._parent_product(parent))
        listing = self._live_listing(product_id)
        if listing is None:
            return self.error(404, "Invalid ID.", "woocommerce_rest_product_invalid_id")
        return ApiResponse(200, self._product(self.listings.read(listing["listing_id"])))

    def list_products(self, request: ApiRequest) -> ApiResponse:
        listing = self._list_params(request)
        if isinstance(listing, ApiResponse):
            return listing
        page, per_page, order, orderby = listing
        status = request.param("status", "any")
        if status not in PRODUCT_STATUSES:
            return self._invalid("status", f"status is not one of {', '.join(PRODUCT_STATUSES)}.")
        skus = {v.lower() for v in request.values("sku")}
        # (id, sku, listing id or None for a variable product); only the page shown is read (a read can drift)
        every = self.listings.all()  # one copy of the catalogue per request, as before variable products
        simple = [(l["product_id"], l["sku"], l["listing_id"]) for l in every
                  if not l["deleted"] and not l["parent_id"] and (status == "any" or l["status"] == status)]
        parents = [(p, parent_sku(p), None) for p in sorted({l["parent_id"] for l in every if l["parent_id"]})
                   if status in ("any", "publish")]
        matching = [entry for entry in [*simple, *parents] if not skus or entry[1].lower() in skus]
        matching.sort(key=lambda entry: entry[0], reverse=order == "desc")  # created in id order
        total_pages = math.ceil(len(matching) / per_page)
        headers = {"X-WP-Total": str(len(matching)), "X-WP-TotalPages": str(total_pages)}
        kept = [(k, v) for k, vs in request.query.items() if k not in SECRET_PARAMS and k != "page" for v in vs]
        links = [
            f'<{request.channel_url}/{"/".join(PRODUCTS_PREFIX)}?{urlencode([*kept, ("page", target)])}>; rel="{rel}"'
            for rel, target, present in (("prev", page - 1, page > 1), ("next", page + 1, page < total_pages))
            if present
        ]
        if links:
            headers["Link"] = ", ".join(links)
        shown = matching[(page - 1) * per_page : page * per_page]
        return ApiResponse(200, [self._product(self.listings.read(listing_id)) if listing_id else self._parent_product(pid)
                                 for pid, _, listing_id in shown], headers)

    def list_variations(self, request: ApiRequest, parent_id: str) -> ApiResponse:
        parent = self._parent(parent_id)
        if parent is None:
            return self.error(404, "Invalid ID.", "woocommerce_rest_product_invalid_id")
        listing = self._list_params(request)
        if isinstance(listing, ApiResponse):
            return listing
        page, per_page, order, _ = listing
        variations = sorted(self._variations_of(parent), key=lambda l: l["product_id"], reverse=order == "desc")
        headers = {"X-WP-Total": str(len(variations)), "X-WP-TotalPages": str(math.ceil(len(variations) / per_page))}
        shown = variations[(page - 1) * per_page : page * per_page]
        return ApiResponse(200, [self._product(self.listings.read(l["listing_id"])) for l in shown], headers)

    def batch_products(self, request: ApiRequest, parent_id: str | None = None) -> ApiResponse:
        """products/batch, or with `parent_id` products/<parent>/variations/batch."""
        parent = 0
        if parent_id is not None:
            parent = self._parent(parent_id)
            if parent is None:
                return self.error(404, "Invalid ID.", "woocommerce_rest_product_invalid_id")
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON body passed.", "rest_invalid_json")
        unknown = sorted(set(body) - {"update"})
        if unknown:
            return self._invalid(unknown[0], f"{unknown[0]} is not simulated; send update only.")
        updates = body.get("update")
        if not isinstance(updates, list) or not updates:
            return self._missing("update")
        if len(updates) > MAX_BATCH:
            return self.error(413)
        return ApiResponse(200, {"update": [self._batch_item(item, parent) for item in updates]})

    def _batch_item(self, item: Any, parent_id: int = 0) -> dict:
        def refused(code: str, message: str) -> dict:
            return {"id": item_id, "error": {"code": code, "message": message, "data": {"status": 400}}}

        item_id = item.get("id", 0) if isinstance(item, dict) else 0
        listing = self._live_listing(item_id, parent_id) if isinstance(item, dict) else None
        if listing is None:
            return refused("woocommerce_rest_product_invalid_id", "Invalid ID.")
        unknown = sorted(set(item) - BATCH_ITEM_FIELDS)
        if unknown:
            return refused("rest_invalid_param", f"Invalid parameter(s): {unknown[0]} (not simulated)")
        quantity, manage = item.get("stock_quantity"), item.get("manage_stock")
        if quantity is not None and not _whole(quantity):
            return refused("rest_invalid_param", "Invalid parameter(s): stock_quantity (stock_quantity is not of type integer.)")
        if manage is not None and not isinstance(manage, bool):
            return refused("rest_invalid_param", "Invalid parameter(s): manage_stock (manage_stock is not of type boolean.)")
        tracked = listing["tracked"] if manage is None else manage
        if quantity is not None and tracked:  # Woo ignores stock_quantity when stock is not managed
            listing = self.listings.written(listing["listing_id"], quantity, tracked=tracked)  # one step
        elif manage is not None and manage != listing["tracked"]:
            listing = self.listings.update(listing["listing_id"], tracked=manage, updated_at=datetime.now(timezone.utc))
        return self._product(listing)

    # --- orders ---------------------------------------------------------------------------------------
    def _local(self, value: datetime | None) -> str | None:
        return value.astimezone(self.tz).strftime("%Y-%m-%dT%H:%M:%S") if value else None

    @staticmethod
    def _gmt(value: datetime | None) -> str | None:
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if value else None

    webhook_topics = {"created": "order.created", "updated": "order.updated", "cancelled": "order.updated"}

    def webhook(self, record: SimOrderRecord, event: str, number: int, now: datetime) -> tuple[str, dict[str, str], bytes]:
        body = json.dumps(record.payload).encode()
        topic = self.webhook_topics[event]
        return str(number), {
            "Content-Type": "application/json", "X-WC-Webhook-Source": f"https://{self.name}.example.com/",
            "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": topic.split(".")[1],
            "X-WC-Webhook-Signature": signature(self.credentials["webhook_secret"], body),
            "X-WC-Webhook-ID": "1", "X-WC-Webhook-Delivery-ID": str(number),
        }, body

    def render(self, order: SimOrder) -> SimOrderRecord:
        rng = random.Random(order.uid)
        payload = json.loads(TEMPLATE)
        order_id = 1000 + order.seq
        money = order.money
        customer = order.customer
        status = {"cancelled": "cancelled", "shipped": "completed"}.get(order.status, "processing" if order.paid else "pending")
        if order.has("unmapped_status"):
            status = "checkout-draft"
        created, created_gmt = self._local(order.placed_at), self._gmt(order.placed_at)
        if order.has("invalid_date"):
            created = created_gmt = ZERO_DATE
        method, method_title, transaction_prefix = rng.choice(PAYMENT) if order.paid else UNPAID_PAYMENT
        completed = order.changed_at if order.status == "shipped" else None
        paid_at = order.placed_at if order.paid else None
        shipping_id, shipping_title = SHIPPING[order.shipping]
        tax_lines = []
        if order.tax_rate:
            tax_lines = [overwrite(
                payload["tax_lines"][0], id=order_id * 10 + 8, rate_code=f"{order.billing.country_code}-VAT-1",
                rate_id=TAX_RATE_ID, label="VAT", compound=False, tax_total=money(order.tax), shipping_tax_total=money(order.tax * 0),
            )]
        line_template = json.dumps(payload["line_items"][0])
        overwrite(
            payload,
            id=order_id, number=str(order_id), order_key="wc_order_" + "".join(rng.choices(string.ascii_letters + string.digits, k=13)),
            created_via="checkout", version="9.4.2", status=status, currency=order.currency,
            date_created=created, date_created_gmt=created_gmt,
            date_modified=self._local(order.updated_at), date_modified_gmt=self._gmt(order.updated_at),
            discount_total=money(order.tax * 0), discount_tax=money(order.tax * 0),
            shipping_total=money(order.shipping_price), shipping_tax=money(order.tax * 0), cart_tax=money(order.tax),
            total=money(-order.total if order.has("invalid_amount") else order.total), total_tax=money(order.tax),
            prices_include_tax=False,
            customer_id=rng.choice([0, rng.randint(1, 900)]), customer_ip_address=f"198.51.100.{rng.randint(1, 254)}",
            customer_user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
            customer_note=rng.choice(["", "", "", "Please leave the parcel with a neighbour."]),
            billing=overwrite(
                payload["billing"], **self._address(order.billing, customer.first_name, customer.last_name),
                email=customer.email, phone=customer.phone or "",
            ),
            shipping=overwrite(payload["shipping"], **self._address(order.ship_to, customer.first_name, customer.last_name)),
            payment_method=method, payment_method_title=method_title,
            transaction_id=f"{transaction_prefix}{rng.getrandbits(80):020x}" if transaction_prefix else "",
            date_paid=self._local(paid_at), date_paid_gmt=self._gmt(paid_at),
            date_completed=self._local(completed), date_completed_gmt=self._gmt(completed),
            cart_hash=f"{rng.getrandbits(128):032x}",
            meta_data=[overwrite(payload["meta_data"][0], id=order_id * 10 + 1)],
            line_items=[self._line(order, line, index, json.loads(line_template), order_id) for index, line in enumerate(order.lines)],
            tax_lines=tax_lines,
            shipping_lines=[overwrite(
                payload["shipping_lines"][0], id=order_id * 10 + 9, method_title=shipping_title, method_id=shipping_id,
                total=money(order.shipping_price), total_tax=money(order.tax * 0), taxes=[], meta_data=[],
            )],
            fee_lines=[], coupon_lines=[], refunds=[],
            _links={
                "self": [{"href": f"https://{self.name}.example.com/wp-json/wc/v3/orders/{order_id}"}],
                "collection": [{"href": f"https://{self.name}.example.com/wp-json/wc/v3/orders"}],
            },
        )
        return SimOrderRecord(str(order_id), order.placed_at, order.updated_at, payload)

    @staticmethod
    def _line(order: SimOrder, line: Line, index: int, template: dict, order_id: int) -> dict:
        tax = order.money(order.line_tax(line))
        return overwrite(
            template, id=order_id * 10 + 2 + index, name=f"{line.product.title} - {line.product.variant}",
            product_id=100 + line.product.number, variation_id=0, quantity=line.quantity, tax_class="",
            subtotal=order.money(line.total), subtotal_tax=tax, total=order.money(line.total), total_tax=tax,
            taxes=[{"id": TAX_RATE_ID, "total": tax, "subtotal": tax}] if order.tax_rate else [],
            meta_data=[], sku=line.product.sku, price=float(line.unit_price),
        )

    @staticmethod
    def _address(address: Address | None, first_name: str, last_name: str) -> dict[str, str]:
        if address is None:  # WooCommerce keeps the object, with every field empty
            return dict.fromkeys(
                ("first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode", "country"), ""
            )
        return {
            "first_name": first_name, "last_name": last_name, "company": "", "address_1": address.address1,
            "address_2": address.address2, "city": address.city, "state": address.province_code,
            "postcode": address.postcode, "country": address.country_code,
        }

    def parse_admin(self, body: Any) -> list[SimOrderRecord]:
        records = []
        for index, order in enumerate(body if isinstance(body, list) else [body]):
            what = f"woocommerce order #{index}"
            if not isinstance(order, dict):
                raise AdminError(f"{what}: expected an order object or a list of them")
            order_id = require(order, "id", what)
            if isinstance(order_id, bool) or not isinstance(order_id, int):
                raise AdminError(f"{what}: 'id' must be an integer, got {order_id!r}")
            placed = admin_time(order, "date_created_gmt", what)
            updated = admin_time(order, "date_modified_gmt", what) if order.get("date_modified_gmt") else placed
            records.append(SimOrderRecord(str(order_id), placed, updated, order))
        return records


def _shipped_date(value: Any, tz) -> str | None:
    """date_shipped as the extension stores it (YYYY-MM-DD in the site's time); today when not sent."""
    if value is None or value == "":
        return datetime.now(tz).strftime("%Y-%m-%d")
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), tz).strftime("%Y-%m-%d")
    try:
        return datetime.strptime(text, "%Y-%m-%d").strftime("%Y-%m-%d")
    except ValueError:
        return None


def _within(record: SimOrderRecord, bounds: dict[str, datetime]) -> bool:
    for name, bound in bounds.items():
        which, comparison = DATE_FILTERS[name]
        moment = record.placed_at if which == "placed" else record.updated_at
        if not (moment > bound if comparison == ">" else moment < bound):
            return False
    return True


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
