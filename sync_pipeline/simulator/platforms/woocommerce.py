"""WooCommerce REST API v3 (/wp-json/wc/v3/orders): HTTP Basic (or query-string) consumer key and secret,
page/per_page paging with X-WP-Total and X-WP-TotalPages, site-local and GMT timestamps without offsets,
and no rate limit."""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import string
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from sync_pipeline.simulator.orders import Address, Line, Market, SimOrder, SimOrderRecord
from sync_pipeline.simulator.platforms.base import (
    AdminError,
    ApiRequest,
    ApiResponse,
    Platform,
    Route,
    Window,
    admin_time,
    load_template,
    overwrite,
    parse_time,
    require,
)

TEMPLATE = load_template("woocommerce_order.json")
PREFIX = ["wp-json", "wc", "v3", "orders"]
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


class WooCommerce(Platform):
    type = "woocommerce"
    credential_names = ("consumer_key", "consumer_secret")
    market = Market({"GBP": 70, "EUR": 25, "USD": 5})
    errors = {
        400: ("rest_invalid_param", "Invalid parameter(s)."),
        401: ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        404: ("rest_no_route", "No route was found matching the URL and request method."),
        429: ("woocommerce_rest_too_many_requests", "Too many requests. Please wait and try again."),
        500: ("internal_server_error", "There has been a critical error on this website."),
        503: ("service_unavailable", "Service temporarily unavailable."),
    }

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        if request.method != "GET" or request.path[:4] != PREFIX:
            return None
        if len(request.path) == 4:
            return Route("orders", self.list_orders, window=self.created_window)
        if len(request.path) == 5:
            return Route("order", self.get_order)
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
        record = self.store.get(request.path[4])
        if record is None:
            return self.error(404, "Invalid ID.", "woocommerce_rest_shop_order_invalid_id")
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

    def list_orders(self, request: ApiRequest) -> ApiResponse:
        numbers = {}
        for name, default, high in (("page", 1, None), ("per_page", 10, 100)):
            text = request.param(name, str(default))
            if not text.isdigit() or int(text) < 1 or (high and int(text) > high):
                limit = f"between 1 (inclusive) and {high} (inclusive)" if high else "at least 1"
                return self._invalid(name, f"{name} must be {limit}.")
            numbers[name] = int(text)
        page, per_page = numbers["page"], numbers["per_page"]
        order, orderby = request.param("order", "desc"), request.param("orderby", "date")
        if order not in ("asc", "desc"):
            return self._invalid("order", "order is not one of asc and desc.")
        if orderby not in ("date", "id"):
            return self._invalid("orderby", "orderby is not one of date and id.")
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

    # --- orders ---------------------------------------------------------------------------------------
    def _local(self, value: datetime | None) -> str | None:
        return value.astimezone(self.tz).strftime("%Y-%m-%dT%H:%M:%S") if value else None

    @staticmethod
    def _gmt(value: datetime | None) -> str | None:
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if value else None

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


def _within(record: SimOrderRecord, bounds: dict[str, datetime]) -> bool:
    for name, bound in bounds.items():
        which, comparison = DATE_FILTERS[name]
        moment = record.placed_at if which == "placed" else record.updated_at
        if not (moment > bound if comparison == ">" else moment < bound):
            return False
    return True
