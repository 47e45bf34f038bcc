"""Takealot Seller API v2 (/v2/sales): `Authorization: Key <api key>`, one Sale row per order line, filters by
local (Johannesburg) date, page_number/page_size paging with a page_summary, a 30-day history limit, and a
token bucket reported in x-RateLimit-Limit/-Remaining/-Reset. No real Takealot payload is public: the
template is synthesised from Takealot's swagger and the status strings are unverified."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sync_pipeline.simulator.orders import Market, SimOrder, SimOrderRecord
from sync_pipeline.simulator.platforms.base import (
    AdminError,
    ApiRequest,
    ApiResponse,
    Platform,
    Route,
    Window,
    load_template,
    overwrite,
    require,
)
from sync_pipeline.simulator.ratelimit import BucketReading, decimal

TEMPLATE = load_template("takealot_order.SCHEMA_DERIVED_NOT_REAL.json")
ORDER_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
HISTORY_DAYS = 30
MAX_PAGE_SIZE = 100
FILTER_FIELDS = ("start_date", "end_date", "order_id", "sale_status")
DCS = ("JHB", "CPT", "DBN")
SHIPPED_STATUSES = {"Shipped to Customer": 4, "Delivered": 3, "Customer Received": 2, "Returned": 1}
CANCELLED_STATUSES = ("Cancelled by Customer", "Cancelled by Takealot")
UNMAPPED_STATUS = "Customer Received"  # real, and left out of data/status_map.yaml (unmapped_status)
ZERO_DATE = "0000-00-00 00:00:00"  # invalid_date
# Takealot ships to its own DCs and has no ship method: these anomalies cannot show here.
INAPPLICABLE = frozenset({"malformed_address", "unknown_country", "unmapped_ship_method", "po_box", "bad_postal_code"})


class Takealot(Platform):
    type = "takealot"
    credential_names = ("api_key",)
    market = Market({"ZAR": 1}, inapplicable=INAPPLICABLE)
    rate_limit_keys = {"sales": "takealot"}
    errors = {
        400: ("", "Bad Request"), 401: ("", "Unauthorized"), 404: ("", "Not Found"),
        429: ("", "Too Many Requests"), 500: ("", "Internal Server Error"), 503: ("", "Service Unavailable"),
    }

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        if request.method == "GET" and request.path == ["v2", "sales"]:
            return Route("sales", self.list_sales, window=self.created_window)
        return None

    def authorized(self, request: ApiRequest) -> bool:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Key" and self.check_credentials(key, "api_key")

    def error(self, status: int, message: Any = None, code: str | None = None) -> ApiResponse:
        return ApiResponse(status, {"message": message or self.errors[status][1]})

    def rate_headers(self, reading: BucketReading) -> dict[str, str]:
        return {
            "x-RateLimit-Limit": str(reading.capacity),
            "x-RateLimit-Remaining": str(reading.remaining),
            "x-RateLimit-Reset": decimal(reading.seconds_to_next_token),
        }

    def _filters(self, request: ApiRequest) -> dict[str, Any] | ApiResponse:
        filters: dict[str, Any] = {}
        for part in (request.param("filters") or "").split(";"):
            if not part:
                continue
            name, _, value = part.partition(":")
            if name not in FILTER_FIELDS:
                return self.error(400, f"Unsupported filter {name!r}; supported: {', '.join(FILTER_FIELDS)}")
            if name in ("start_date", "end_date"):
                try:
                    filters[name] = date.fromisoformat(value)
                except ValueError:
                    return self.error(400, f"{name} must be a date like 2024-01-31, got {value!r}")
            elif name == "order_id" and not value.isdigit():
                return self.error(400, f"order_id must be a number, got {value!r}")
            else:
                filters[name] = value
        return filters

    def created_window(self, request: ApiRequest) -> Window:
        filters = self._filters(request)
        if isinstance(filters, ApiResponse) or "start_date" not in filters:
            return None, None
        end = filters.get("end_date")
        return (
            datetime.combine(filters["start_date"], time(), tzinfo=self.tz),
            datetime.combine(end + timedelta(days=1), time(), tzinfo=self.tz) if end else None,
        )

    def list_sales(self, request: ApiRequest) -> ApiResponse:
        filters = self._filters(request)
        if isinstance(filters, ApiResponse):
            return filters
        if "start_date" in filters and filters["start_date"] < datetime.now(self.tz).date() - timedelta(days=HISTORY_DAYS):
            return self.error(400, f"start_date may not be more than {HISTORY_DAYS} days in the past")
        numbers = {}
        for name, default in (("page_number", 1), ("page_size", MAX_PAGE_SIZE)):
            text = request.param(name, str(default))
            if not text.isdigit() or int(text) < 1 or (name == "page_size" and int(text) > MAX_PAGE_SIZE):
                return self.error(400, f"{name} must be a whole number from 1" + (f" to {MAX_PAGE_SIZE}" if name == "page_size" else ""))
            numbers[name] = int(text)
        rows = []
        for record in self.store.all():
            local_day = record.placed_at.astimezone(self.tz).date()
            if ("start_date" in filters and local_day < filters["start_date"]) or (
                "end_date" in filters and local_day > filters["end_date"]
            ):
                continue
            if "order_id" in filters and record.external_order_id != filters["order_id"]:
                continue
            rows.extend(
                (record.placed_at, sale.get("order_item_id"), sale) for sale in record.payload
                if "sale_status" not in filters or sale.get("sale_status") == filters["sale_status"]
            )
        rows.sort(key=lambda row: (row[0], row[1]))
        size, number = numbers["page_size"], numbers["page_number"]
        return ApiResponse(200, {
            "page_summary": {"page_size": size, "page_number": number, "total": len(rows)},
            "sales": [sale for _, _, sale in rows[(number - 1) * size : number * size]],
        })

    # --- orders ---------------------------------------------------------------------------------------
    def render(self, order: SimOrder) -> SimOrderRecord:
        rng = random.Random(order.uid)
        order_id = 100_000_000 + order.seq
        if order.status == "shipped":
            status = rng.choices(list(SHIPPED_STATUSES), weights=list(SHIPPED_STATUSES.values()))[0]
        elif order.status == "cancelled":
            status = rng.choice(CANCELLED_STATUSES)
        elif order.has("unmapped_status"):
            status = UNMAPPED_STATUS
        else:
            status = "Accepted"
        customer_dc = rng.choice(DCS)
        shipped = order.status == "shipped" or order.has("unmapped_status")
        shipment_id = rng.randrange(10**6, 10**7) if shipped else None
        order_date = ZERO_DATE if order.has("invalid_date") else order.placed_at.astimezone(self.tz).strftime(ORDER_DATE_FORMAT)
        sales = []
        for index, line in enumerate(order.lines):
            product = line.product
            tsin = 60_000_000 + product.uid % 10**7
            sale = json.loads(TEMPLATE)["sales"][0]
            sales.append(overwrite(
                sale, shipment_id=shipment_id, shipment_state_id=3 if shipment_id else None, po_number=None,
                shipment_name=f"Shipment {shipment_id}" if shipment_id else None, offer_id=150_000_000 + product.number,
                product_title=f"{product.title} - {product.variant}", takealot_url_mobi=f"https://www.takealot.com/x/PLID{tsin}",
                sku=product.sku, tsin=tsin, order_id=order_id, order_item_id=1_000_000_000 + order.seq * 10 + index,
                quantity=line.quantity, dc=rng.choice(DCS), customer_dc=customer_dc,
                # The price of the sale row's whole quantity, as the Seller Portal's sales export shows it.
                selling_price=-float(line.total) if index == 0 and order.has("invalid_amount") else float(line.total),
                order_date=order_date, sale_status=status,
                promotion=None, customer=order.customer.name, stock_source_region=rng.choice(DCS),
            ))
        # Sales have no modification time, so the API cannot tell when a status changed.
        return SimOrderRecord(str(order_id), order.placed_at, order.placed_at, sales)

    def parse_admin(self, body: Any) -> list[SimOrderRecord]:
        if isinstance(body, dict) and isinstance(body.get("sales"), list):
            sales = body["sales"]
        else:
            sales = body if isinstance(body, list) else [body]
        by_order: dict[str, list[dict]] = {}
        for index, sale in enumerate(sales):
            what = f"takealot sale #{index}"
            if not isinstance(sale, dict):
                raise AdminError(f"{what}: expected a Sale object, a list of them, or {{\"sales\": [...]}}")
            order_id = str(require(sale, "order_id", what))
            require(sale, "order_item_id", what)
            if not order_id.isdigit():
                raise AdminError(f"{what}: 'order_id' must be a number, got {sale['order_id']!r}")
            try:
                datetime.strptime(str(require(sale, "order_date", what)), ORDER_DATE_FORMAT)
            except ValueError:
                raise AdminError(f"{what}: 'order_date' must look like 2024-01-31 14:05:00 (local time), got {sale['order_date']!r}") from None
            by_order.setdefault(order_id, []).append(sale)
        records = []
        for order_id, lines in by_order.items():
            placed = datetime.strptime(lines[0]["order_date"], ORDER_DATE_FORMAT).replace(tzinfo=self.tz)
            records.append(SimOrderRecord(order_id, placed.astimezone(timezone.utc), placed.astimezone(timezone.utc), lines))
        return records
