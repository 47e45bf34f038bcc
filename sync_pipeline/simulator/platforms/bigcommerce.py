"""BigCommerce Orders V2 (/v2/orders, optionally under /stores/<hash>): `X-Auth-Token`, page/limit paging with
HTTP 204 for an empty page, RFC-2822 (or ISO-8601) date filters, products and shipping addresses as
sub-resources of each order, and one quota per store shared by every endpoint, reported in X-Rate-Limit-*."""

from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from sync_pipeline.simulator.orders import Address, Line, Market, SimOrder, SimOrderRecord
from sync_pipeline.simulator.platforms.base import (
    AdminError,
    ApiRequest,
    ApiResponse,
    Platform,
    Route,
    Window,
    id_key,
    load_template,
    overwrite,
    parse_time,
    require,
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
    credential_names = ("access_token",)
    market = Market({"USD": 85, "CAD": 10, "GBP": 5})
    rate_limit_keys = {"store": "bigcommerce"}
    errors = {
        400: ("", "The request is invalid."),
        401: ("", "The request lacks valid authentication credentials (X-Auth-Token)."),
        404: ("", "The requested resource was not found."),
        429: ("", "Too many requests: the store's API quota for this window is used up."),
        500: ("", "Internal server error."),
        503: ("", "Service unavailable."),
    }

    def __init__(self, spec, credentials, scenario):
        super().__init__(spec, credentials, scenario)
        self.store_hash = hashlib.sha256(spec.name.encode()).hexdigest()[:10]

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        path = request.path[2:] if request.path[:1] == ["stores"] else request.path
        if request.method != "GET" or path[:2] != ["v2", "orders"]:
            return None
        if len(path) == 2:
            return Route("orders", self.list_orders, window=self.created_window)
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

    # --- orders ---------------------------------------------------------------------------------------
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
