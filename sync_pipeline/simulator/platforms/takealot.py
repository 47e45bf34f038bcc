"""Takealot Seller API v2 (/v2/sales): `Authorization: Key <api key>`, one Sale row per order line, filters by
local (Johannesburg) date, page_number/page_size paging with a page_summary, a 30-day history limit, and a
token bucket reported in x-RateLimit-Limit/-Remaining/-Reset. No real Takealot payload is public: the
template is synthesised from Takealot's swagger and the status strings are unverified.

Offers (`self.listings`: one lead-time offer per listed product, offer_id 150000000 + n as in the sales; the shape
is synthesised from the swagger's Offer, no real payload), through the same bucket as the sales:
- `GET v2/offers` (`page_number`, `page_size` <= 100, default 100) -> `{total_results, page_size, page_number,
  offers}` by offer_id: `offer_id`, `sku`, `barcode`, `tsin_id`, `status`, `leadtime_days`, `leadtime_stock:
  [{merchant_warehouse: {warehouse_id, name}, quantity_available}]` (one merchant warehouse, MERCHANT_WAREHOUSE),
  `stock_at_takealot`. An active offer is "Buyable" with lead-time stock, "Not Buyable" without [U].
- `PATCH v2/offers/offer/SKU<sku>` or `ID<offer_id>` `{"leadtime_stock": [{"merchant_warehouse_id", "quantity"}]}`
  -> 200 the offer. Unknown (or deleted) offer 404 (the SKU is matched exactly as the offer holds it [U]); a body
  that is not that (other offer fields are not simulated), a negative or non-integer quantity, or an unknown
  merchant warehouse id: 400.
Listing anomalies: case mismatch -> the offer's `sku` lower-cased (so `SKU<warehouse sku>` is 404); deleted ->
absent from the list, PATCH 404; not tracked -> not a lead-time offer (`leadtime_days` null, `leadtime_stock` [],
its stock in `stock_at_takealot`): PATCH 400 [U]; not active -> "Disabled by Seller" or "Disabled by Takealot"
(PATCH still works); drift -> after the first PATCH, the next read (the offer list) first applies a hand change
(the written quantity less 1..5, or plus when that would go below 0)."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sync_pipeline.simulator.orders import Market, Product, SimOrder, SimOrderRecord, listed_products
from sync_pipeline.simulator.platforms.base import (
    AdminError,
    ApiRequest,
    ApiResponse,
    ListingStore,
    Platform,
    Route,
    Window,
    drift_bounce,
    load_template,
    overwrite,
    require,
)
from sync_pipeline.simulator.ratelimit import Bucket, BucketReading, decimal

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
OFFER_ID_OFFSET = 150_000_000  # offer id = product number + this, as in the sales
MERCHANT_WAREHOUSE = {"warehouse_id": 4417, "name": "3PL Warehouse"}
DISABLED_STATUSES = ("Disabled by Seller", "Disabled by Takealot")
LISTED_SINCE = datetime(2024, 3, 1, tzinfo=timezone.utc)
INAPPLICABLE = frozenset({"malformed_address", "unknown_country", "unmapped_ship_method", "po_box", "bad_postal_code"})


class Takealot(Platform):
    type = "takealot"
    listing_draws = "stream"
    credential_names = ("api_key",)
    market = Market({"ZAR": 1}, inapplicable=INAPPLICABLE)
    rate_limit_keys = {"sales": "takealot"}
    errors = {
        400: ("", "Bad Request"), 401: ("", "Unauthorized"), 404: ("", "Not Found"),
        429: ("", "Too Many Requests"), 500: ("", "Internal Server Error"), 503: ("", "Service Unavailable"),
    }

    def __init__(self, spec, credentials, scenario):
        super().__init__(spec, credentials, scenario)
        self.listings = ListingStore(map(self._listing, listed_products(scenario.seed, spec)), drift_bounce)

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        path = request.path
        if request.method == "GET" and path == ["v2", "sales"]:
            return Route("sales", self.list_sales, window=self.created_window)
        if request.method == "GET" and path == ["v2", "offers"]:
            return Route("offers", self.list_offers)
        if request.method == "PATCH" and len(path) == 4 and path[:3] == ["v2", "offers", "offer"]:
            return Route("update_offer", lambda r: self.update_offer(r, path[3]))
        return None

    def bucket(self, route: Route) -> Bucket | None:
        return self._buckets["sales"]  # one bucket per seller key

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

    # --- offers ---------------------------------------------------------------------------------------
    def _listing(self, product: Product) -> dict:
        offer_id = OFFER_ID_OFFSET + product.number
        return self.new_listing(
            product, lambda anomaly, rng: {
                "disabled_status": rng.choice(DISABLED_STATUSES) if anomaly == "listing_not_active" else None},
            listing_id=str(offer_id), offer_id=offer_id, tsin_id=60_000_000 + product.uid % 10**7,
            barcode=f"600{product.uid % 10**10:010d}", title=f"{product.title} - {product.variant}",
            selling_price=int(product.base_price * 18), created_at=LISTED_SINCE + timedelta(minutes=product.number),
        )

    def _offer(self, listing: dict) -> dict:
        quantity, tracked = listing["quantity"], listing["tracked"]
        status = listing["disabled_status"] or ("Buyable" if not tracked or quantity > 0 else "Not Buyable")
        return {
            "offer_id": listing["offer_id"], "sku": listing["sku"], "barcode": listing["barcode"],
            "tsin_id": listing["tsin_id"], "product_label_number": "", "title": listing["title"],
            "offer_url": f"https://www.takealot.com/x/PLID{listing['tsin_id']}",
            "selling_price": listing["selling_price"], "rrp": listing["selling_price"], "status": status,
            "leadtime_days": 3 if tracked else None,
            "leadtime_stock": [{"merchant_warehouse": dict(MERCHANT_WAREHOUSE), "quantity_available": quantity}]
            if tracked else [],
            "stock_at_takealot": [] if tracked else [
                {"warehouse": {"warehouse_id": 1, "name": "JHB"}, "quantity_available": quantity}],
            "stock_on_way": [], "total_stock_on_way": 0, "stock_cover": [], "sales_units": [],
            "discount": "", "discount_shown": False, "storage_fee_eligible": False,
            "date_created": listing["created_at"].strftime("%Y-%m-%d"),
        }

    def list_offers(self, request: ApiRequest) -> ApiResponse:
        numbers = {}
        for name, default in (("page_number", 1), ("page_size", MAX_PAGE_SIZE)):
            text = request.param(name, str(default))
            if not text.isdigit() or int(text) < 1 or (name == "page_size" and int(text) > MAX_PAGE_SIZE):
                return self.error(400, f"{name} must be a whole number from 1" + (f" to {MAX_PAGE_SIZE}" if name == "page_size" else ""))
            numbers[name] = int(text)
        size, number = numbers["page_size"], numbers["page_number"]
        live = sorted((l for l in self.listings.all() if not l["deleted"]), key=lambda l: l["offer_id"])
        page = live[(number - 1) * size : number * size]
        return ApiResponse(200, {"total_results": len(live), "page_size": size, "page_number": number,
                                 "offers": [self._offer(self.listings.read(l["listing_id"])) for l in page]})

    def _find_offer(self, identifier: str) -> dict | None:
        if identifier.startswith("ID") and identifier[2:].isdigit():
            listing = self.listings.get(identifier[2:])
        elif identifier.startswith("SKU") and len(identifier) > 3:
            listing = self.listings.by_sku(identifier[3:])
        else:
            listing = None
        return None if listing is None or listing["deleted"] else listing

    def update_offer(self, request: ApiRequest, identifier: str) -> ApiResponse:
        listing = self._find_offer(identifier)
        if listing is None:
            return self.error(404, f"Offer {identifier} not found")
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or set(body) != {"leadtime_stock"} or not isinstance(body["leadtime_stock"], list) \
                or not body["leadtime_stock"]:
            return self.error(400, 'Send {"leadtime_stock": [{"merchant_warehouse_id", "quantity"}]} (other offer fields are not simulated)')
        quantities = {}
        for entry in body["leadtime_stock"]:
            if not isinstance(entry, dict) or set(entry) != {"merchant_warehouse_id", "quantity"}:
                return self.error(400, "Each leadtime_stock entry needs merchant_warehouse_id and quantity")
            warehouse, quantity = entry["merchant_warehouse_id"], entry["quantity"]
            if not _whole(quantity) or quantity < 0:
                return self.error(400, f"quantity must be a whole number of 0 or more, got {quantity!r}")
            if not _whole(warehouse) or warehouse != MERCHANT_WAREHOUSE["warehouse_id"]:
                return self.error(400, f"Unknown merchant_warehouse_id {warehouse!r}")
            if warehouse in quantities:
                return self.error(400, f"merchant_warehouse_id {warehouse} is given twice")
            quantities[warehouse] = quantity
        if not listing["tracked"]:
            return self.error(400, f"Offer {identifier} is not a leadtime offer; its stock is held at Takealot")
        listing = self.listings.written(listing["listing_id"], quantities[MERCHANT_WAREHOUSE["warehouse_id"]])
        return ApiResponse(200, self._offer(listing))

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


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
