"""Shopify REST Admin API (orders.json): X-Shopify-Access-Token, cursor paging by page_info in the Link
header (filters refused beside page_info), shop-local offsets in timestamps, and the 40-call leaky bucket
reported in X-Shopify-Shop-Api-Call-Limit."""

from __future__ import annotations

import json
import random
import string
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sync_pipeline.simulator.orders import Address, Line, Market, Person, SimOrder, SimOrderRecord
from sync_pipeline.simulator.platforms.base import (
    AdminError,
    ApiRequest,
    ApiResponse,
    Platform,
    Route,
    Window,
    admin_time,
    decode_token,
    encode_token,
    load_template,
    overwrite,
    parse_time,
    require,
)
from sync_pipeline.simulator.ratelimit import BucketReading, decimal

TEMPLATE = load_template("shopify_order.json")
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


class Shopify(Platform):
    type = "shopify"
    credential_names = ("access_token",)
    market = Market({"USD": 70, "CAD": 8, "EUR": 8, "GBP": 7, "JPY": 7})
    rate_limit_keys = {"orders": "shopify", "order": "shopify"}
    errors = {
        400: ("", "Bad Request"),
        401: ("", "[API] Invalid API key or access token (unrecognized login or wrong password)"),
        404: ("", "Not Found"),
        429: ("", "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."),
        500: ("", "Internal Server Error"),
        503: ("", "Service Unavailable"),
    }

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        path = request.path
        if request.method != "GET" or path[:2] != ["admin", "api"]:
            return None
        if len(path) == 4 and path[3] == "orders.json":
            return Route("orders", self.list_orders, window=self.created_window)
        if len(path) == 5 and path[3] == "orders" and path[4].endswith(".json"):
            return Route("order", self.get_order)
        return None

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
        record = self.store.get(request.path[4][: -len(".json")])
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

    # --- orders ---------------------------------------------------------------------------------------
    def _local(self, value: datetime | None) -> str | None:
        return value.astimezone(self.tz).isoformat(timespec="seconds") if value else None

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
