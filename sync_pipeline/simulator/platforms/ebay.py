"""eBay Sell Fulfillment API (/sell/fulfillment/v1/order): OAuth user tokens from a refresh-token grant
(POST /identity/v1/oauth2/token, the app's keys as HTTP Basic), `filter=creationdate:[a..b]` or
`lastmodifieddate:[a..b]` (creationdate wins when both are sent), limit/offset paging with `next`, and daily
quotas with no rate-limit header.

Tracking: `POST sell/fulfillment/v1/order/<orderId>/shipping_fulfillment` {lineItems: [{lineItemId, quantity}],
shippedDate?, shippingCarrierCode, trackingNumber} answers 201, body {}, with `Location: <channel
url>/sell/fulfillment/v1/order/<orderId>/shipping_fulfillment/<fulfillmentId>`; the fulfillmentId is the tracking
number, as the spec says (the store's own id when the order already has one of that number). Line items must be
the order's, quantities at most the line's; eBay does not count what was shipped before, so a second fulfillment
of the same items (a corrected number) is taken. shippingCarrierCode must be one of CARRIER_CODES (no "other
carrier" form); carrier code and tracking number come together. `GET .../shipping_fulfillment` answers
{fulfillments: [{fulfillmentId, shipmentTrackingNumber, shippingCarrierCode, shippedDate, lineItems}], total}
and `GET .../shipping_fulfillment/<fulfillmentId>` one of them (404 errorId 32200 unknown). Errors are
{"errors": [{errorId, domain, category, message}]}; the ids past 32100 are the simulator's (unverified).
Tracking anomalies: deleted 404 (every fulfillment endpoint); already fulfilled: a hand fulfillment of every
line appears when the fulfillments are first read or pushed to, and the push is 409; cancelled (or cancelState
CANCELED) 400 errorId 32800; locked 503 errorId 2003 while locked_now; permission 403 errorId 1100 "Access
denied" (the token lacks https://api.ebay.com/oauth/api_scope/sell.fulfillment for this order); reads stay
allowed (the .readonly scope covers them).

Listings (Sell Inventory API; one inventory item and one EBAY_GB offer per listing, one quantity for both):
`GET sell/inventory/v1/inventory_item?limit=(1..200, default 25)&offset=` (offset counts items; {href, total, limit,
size, next?, prev?, inventoryItems: [{sku, locale, product: {title}, condition, availability:
{shipToLocationAvailability: {quantity}}}]}), `GET sell/inventory/v1/inventory_item/<sku>` (one; 404 errorId 25702),
`GET sell/inventory/v1/offer?sku=` ({href, total, limit, size, offers: [{offerId, sku, marketplaceId, format,
availableQuantity, pricingSummary, status PUBLISHED|UNPUBLISHED, listing?}]}; 404 errorId 25702 for a SKU the API does
not know), `POST sell/inventory/v1/bulk_update_price_quantity` {requests: [{sku, shipToLocationAvailability?:
{quantity}, offers?: [{offerId, availableQuantity?, price?}]}]}: at most 25 requests (more, or a body that is not
{requests: [...]}: 400 errorId 2004, nothing stored); answers {responses: [{statusCode, sku, offerId?, errors?}]}, one
per offer named (or one per SKU when none is), HTTP 200 when every one succeeded and 207 Multi-Status when any failed,
as eBay lists both. The listing's quantity becomes the smallest quantity given (eBay sells the lesser of the two);
prices are taken and ignored. Per-item errors: unknown SKU 25702 (statusCode 404); a bad item or quantity 25900, an
offerId not of that SKU 25901 (400); the 251st revision of a listing in a UTC day 25902 (400): each item that changes a
listing is one revision. Error ids other than 2004 and 25702 are the simulator's (unverified). Listing anomalies: case
mismatch: the SKU is the warehouse's lower-cased (eBay SKUs are case-sensitive here); deleted and not tracked (a
listing made in Seller Hub or the Trading API, which the Inventory API does not manage): absent from every read,
written as unknown SKUs (25702); not active: offer status UNPUBLISHED with no listing, writes taken; drift: after the
first write, the next read of the SKU first finds a quantity set by hand (1..5 less, floor 0), once."""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from sync_pipeline.simulator.orders import Address, Line, Market, Product, SimOrder, SimOrderRecord, listed_products
from sync_pipeline.simulator.platforms.base import (
    ApiRequest,
    ApiResponse,
    ListingStore,
    Platform,
    Route,
    Window,
    admin_orders,
    admin_time,
    drift_floor,
    load_template,
    overwrite,
    parse_time,
    require,
    seeded,
)
from sync_pipeline.simulator.scenario import ChannelSpec, Scenario

TEMPLATE = load_template("ebay_order.json")
PREFIX = ["sell", "fulfillment", "v1", "order"]
TOKEN_PATH = ["identity", "v1", "oauth2", "token"]
TOKEN_LIFETIME_S = 7200
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_ORDER_IDS = 50
DEFAULT_HISTORY = timedelta(days=90)  # without a date filter, getOrders returns the last 90 days
RANGE = re.compile(r"^\[([^\]]*?)\.\.([^\]]*)\]$")
FULFILLMENT_SETS = ({"NOT_STARTED", "IN_PROGRESS"}, {"FULFILLED", "IN_PROGRESS"})
# (shippingCarrierCode, shippingServiceCode) by shipping speed; UK_OtherCourier is the unmapped_ship_method anomaly.
SHIPPING = {
    "free": ("RoyalMail", "UK_RoyalMailSecondClassStandard"), "economy": ("RoyalMail", "UK_RoyalMailSecondClassStandard"),
    "standard": ("RoyalMail", "UK_RoyalMailTracked48"), "express": ("DPD", "UK_DPDNextDay"),
    "overnight": ("DPD", "UK_DPDNextDayBy12"), "same_day": ("Other", "UK_OtherCourier"),
}
MARKETPLACES = {"GBP": "EBAY_GB", "EUR": "EBAY_DE", "USD": "EBAY_US"}
ZERO_DATE = "0000-00-00 00:00:00"  # invalid_date
INVALID_GRANT = {"error": "invalid_grant", "error_description": "the provided authorization refresh token is invalid or was issued to another client"}
INVALID_CLIENT = {"error": "invalid_client", "error_description": "client authentication failed"}
FULFILLMENT_TEMPLATE = load_template("ebay_shipping_fulfillment.SCHEMA_DERIVED_NOT_REAL.json")
# shippingCarrierCode values (a part of ShippingCarrierCodeType); eBay has no "other carrier" form here.
CARRIER_CODES = frozenset({
    "USPS", "UPS", "FedEx", "DHL", "DHLGlobalMail", "RoyalMail", "DPD", "Parcelforce", "Hermes", "Evri", "Yodel",
    "TNT", "GLS", "DeutschePost", "CanadaPost", "AustraliaPost", "OnTrac", "Purolator", "ChinaPost",
})
SCOPE = "https://api.ebay.com/oauth/api_scope/sell.fulfillment"
INVENTORY = ["sell", "inventory", "v1"]
INVENTORY_LIMIT, INVENTORY_MAX_LIMIT = 25, 200
MAX_BULK_REQUESTS = 25
MAX_DAILY_REVISIONS = 250
LISTING_MARKETPLACE = "EBAY_GB"
# Inventory API errors: 25702 is eBay's "SKU not available"; 259xx are the simulator's (unverified).
SKU_UNKNOWN, BAD_ITEM, OFFER_MISMATCH, REVISION_LIMIT = 25702, 25900, 25901, 25902


def iso_ms(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class Ebay(Platform):
    type = "ebay"
    credential_names = ("refresh_token", "client_id", "client_secret")
    # orderPaymentStatus, orderFulfillmentStatus and cancelState are closed enums, all in the status map.
    market = Market({"GBP": 75, "EUR": 20, "USD": 5}, inapplicable=frozenset({"unmapped_status"}))
    errors = {
        400: (2004, "The request has errors. For help, see the documentation for this API."),
        401: (1001, "Invalid access token. Check the value of the Authorization HTTP request header."),
        404: (32100, "Order not found."),
        429: (2001, "Too many requests. The request limit has been reached for the resource."),
        500: (2003, "There was a problem with an eBay internal system or process. Contact eBay developer support for assistance."),
        503: (2003, "The service is temporarily unavailable. Please try again later."),
    }

    def __init__(self, spec: ChannelSpec, credentials: dict[str, str], scenario: Scenario):
        super().__init__(spec, credentials, scenario)
        self._access_tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._tokens_lock = threading.Lock()
        self._fulfill_lock = threading.Lock()
        self.listings = ListingStore(map(self._listing, listed_products(scenario.seed, spec)), drift_floor)
        self._revisions: dict[str, tuple[Any, int]] = {}  # listing id -> (UTC day, revisions that day)
        self._revisions_lock = threading.Lock()  # a revision's count, its check and its write are one step

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        if request.method == "POST" and request.path == TOKEN_PATH:
            return Route("token", self.issue_token, authenticated=False)
        if request.path[:3] == INVENTORY:
            return self._inventory_route(request)
        if request.path[:4] == PREFIX and len(request.path) in (6, 7) and request.path[5] == "shipping_fulfillment":
            if request.method == "POST" and len(request.path) == 6:
                return Route("createShippingFulfillment", self.create_fulfillment)
            if request.method == "GET":
                return Route("getShippingFulfillments", self.get_fulfillments)
            return None
        if request.method != "GET" or request.path[:4] != PREFIX:
            return None
        if len(request.path) == 4:
            return Route("getOrders", self.list_orders, window=self.created_window)
        if len(request.path) == 5:
            return Route("getOrder", self.get_order)
        return None

    def authorized(self, request: ApiRequest) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        with self._tokens_lock:
            expiry = self._access_tokens.get(token) if scheme == "Bearer" else None
        return expiry is not None and expiry > time.monotonic()

    def error(self, status: int, message: Any = None, code: str | None = None) -> ApiResponse:
        error_id, default = self.errors[status]
        category = "APPLICATION" if status >= 500 else "REQUEST"
        domain = "OAuth" if status == 401 else "ACCESS" if status == 429 else "API_FULFILLMENT"
        return ApiResponse(status, {"errors": [{"errorId": error_id, "domain": domain, "category": category, "message": message or default}]})

    def auth_failure(self, route: Route) -> ApiResponse:
        return ApiResponse(400, dict(INVALID_GRANT)) if route.operation == "token" else self.error(401)

    def issue_token(self, request: ApiRequest) -> ApiResponse:
        """A refresh-token grant: the app's keys as HTTP Basic, the refresh token in the form; a 2-hour token."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            client_id, _, client_secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id = client_secret = None
        if scheme != "Basic" or not (self.check_credentials(client_id, "client_id") and self.check_credentials(client_secret, "client_secret")):
            return ApiResponse(401, dict(INVALID_CLIENT))
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return ApiResponse(400, {"error": "unsupported_grant_type", "error_description": "grant type in request is not supported by the authorization server"})
        if not self.check_credentials(form.get("refresh_token"), "refresh_token"):
            return ApiResponse(400, dict(INVALID_GRANT))
        token = "v^1.1#i^1#p^3#I^3#r^0#t^" + secrets.token_urlsafe(48)
        with self._tokens_lock:
            self._access_tokens[token] = time.monotonic() + TOKEN_LIFETIME_S
        return ApiResponse(200, {"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "User Access Token"})

    def get_order(self, request: ApiRequest) -> ApiResponse:
        record = self.store.get(request.path[4])
        if record is None:
            return self.error(404, f"Order {request.path[4]} not found.")
        return ApiResponse(200, record.payload)

    # --- tracking -------------------------------------------------------------------------------------
    def _fault(self, status: int, error_id: int, message: str, domain: str = "API_FULFILLMENT", **more) -> ApiResponse:
        category = "APPLICATION" if status >= 500 else "REQUEST"
        error = {"errorId": error_id, "domain": domain, "category": category, "message": message, **more}
        return ApiResponse(status, {"errors": [error]})

    def _hand(self, record: SimOrderRecord) -> None:
        self.hand_fulfilled(record.external_order_id, [
            {"line_id": str(line.get("lineItemId")), "quantity": int(line.get("quantity") or 0)}
            for line in record.payload.get("lineItems", [])
        ])

    def _fulfillment(self, held: dict) -> dict:
        """A fulfillment the channel holds, in getShippingFulfillments' shape (the template's keys)."""
        fulfillment = json.loads(FULFILLMENT_TEMPLATE)["GET /order/{orderId}/shipping_fulfillment"]["fulfillments"][0]
        return overwrite(
            fulfillment, fulfillmentId=held["fulfillment_id"],
            lineItems=[{"lineItemId": line["line_id"], "quantity": line["quantity"]} for line in held["lines"]],
            shipmentTrackingNumber=held["tracking_numbers"][0] if held["tracking_numbers"] else None,
            shippedDate=held.get("shipped_date") or iso_ms(parse_time(held["created_at"])),
            shippingCarrierCode=held["carrier"],
        )

    def get_fulfillments(self, request: ApiRequest) -> ApiResponse:
        order_id = request.path[4]
        record = self.store.get(order_id)
        if record is None or self.tracking_anomaly(order_id) == "tracking_order_deleted":
            return self.error(404, f"Order {order_id} not found.")
        self._hand(record)
        held = [self._fulfillment(f) for f in self.tracking.of(order_id)]
        if len(request.path) == 7:
            match = next((f for f in held if f["fulfillmentId"] == request.path[6]), None)
            if match is None:
                return self._fault(404, 32200, f"Fulfillment {request.path[6]} not found.")
            return ApiResponse(200, match)
        return ApiResponse(200, {"fulfillments": held, "total": len(held)})

    def _details(self, request: ApiRequest, record: SimOrderRecord) -> dict | ApiResponse:
        """The ShippingFulfillmentDetails, checked; a 400 when they are wrong."""
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return self._fault(400, 2004, "The request has errors. For help, see the documentation for this API.",
                               longMessage="The request body is not valid JSON.")
        if not isinstance(body, dict):
            return self._fault(400, 2004, "The request has errors. For help, see the documentation for this API.",
                               longMessage="The request body must be a ShippingFulfillmentDetails object.")
        lines = {str(line.get("lineItemId")): int(line.get("quantity") or 0) for line in record.payload.get("lineItems", [])}
        items = body.get("lineItems")
        if not isinstance(items, list) or not items:
            return self._fault(400, 32500, "Missing or invalid lineItems: at least one line item is required.")
        for item in items:
            if not isinstance(item, dict) or str(item.get("lineItemId")) not in lines:
                named = item.get("lineItemId") if isinstance(item, dict) else item
                return self._fault(400, 32500, f"Invalid lineItemId {named!r}: not a line item of order "
                                               f"{record.external_order_id}.")
            quantity = item.get("quantity", lines[str(item["lineItemId"])])
            if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= lines[str(item["lineItemId"])]:
                return self._fault(400, 32500, f"Invalid quantity for line item {item['lineItemId']}: between 1 and "
                                               f"{lines[str(item['lineItemId'])]}.")
        carrier, number = body.get("shippingCarrierCode"), body.get("trackingNumber")
        if bool(carrier) != bool(number):
            return self._fault(400, 32400, "shippingCarrierCode and trackingNumber must be given together.")
        if carrier and carrier not in CARRIER_CODES:
            return self._fault(400, 32400, f"Invalid shippingCarrierCode: {carrier!r} is not an eBay shipping carrier code.")
        if number is not None and (not isinstance(number, str) or not number.strip()):
            return self._fault(400, 32400, "Invalid trackingNumber.")
        shipped = body.get("shippedDate")
        if shipped is not None:
            try:
                if not isinstance(shipped, str) or "T" not in shipped:
                    raise ValueError(shipped)
                shipped = iso_ms(parse_time(shipped))
            except ValueError:
                return self._fault(400, 32600, f"Invalid shippedDate {shipped!r}: use ISO 8601 in UTC, like "
                                               "2015-08-04T19:09:02.768Z.")
        return {
            "lines": [{"line_id": str(i["lineItemId"]), "quantity": i.get("quantity", lines[str(i["lineItemId"])])} for i in items],
            "carrier": carrier, "number": number, "shipped_date": shipped or iso_ms(datetime.now(timezone.utc)),
        }

    def create_fulfillment(self, request: ApiRequest) -> ApiResponse:
        order_id = request.path[4]
        record = self.store.get(order_id)
        anomaly = self.tracking_anomaly(order_id) if record is not None else None
        if record is None or anomaly == "tracking_order_deleted":
            return self.error(404, f"Order {order_id} not found.")
        if anomaly == "tracking_permission_denied":
            return self._fault(403, 1100, "Access denied", domain="ACCESS",
                               longMessage="Insufficient permissions to fulfill the request.")
        details = self._details(request, record)
        if isinstance(details, ApiResponse):
            return details
        if anomaly == "tracking_order_cancelled" or (record.payload.get("cancelStatus") or {}).get("cancelState") == "CANCELED":
            return self._fault(400, 32800, f"Order {order_id} is cancelled: a cancelled order cannot be fulfilled.")
        if self.locked_now(order_id):
            return self._fault(503, 2003, "The service is temporarily unavailable. Please try again later.",
                               longMessage=f"Order {order_id} is being updated; try again later.")
        with self._fulfill_lock:
            self._hand(record)
            if anomaly == "tracking_already_fulfilled":
                return self._fault(409, 32700, f"Order {order_id} is already fulfilled: its line items were marked shipped.")
            taken = {f["fulfillment_id"] for f in self.tracking.of(order_id)}
            extra = {"shipped_date": details["shipped_date"]}
            if details["number"] and details["number"] not in taken:
                extra["fulfillment_id"] = details["number"]  # "the resulting fulfillment's ID ... is the tracking number"
            held = self.tracking.add(order_id, [details["number"]] if details["number"] else [], details["carrier"],
                                     details["lines"], extra=extra)
        location = (f"{request.channel_url}/{'/'.join(PREFIX)}/{quote(order_id, safe='')}/shipping_fulfillment/"
                    f"{quote(held['fulfillment_id'], safe='')}")
        return ApiResponse(201, {}, {"Location": location})

    def _filters(self, request: ApiRequest) -> dict[str, Any] | ApiResponse:
        """The `filter` parameter: name:value pairs separated by commas; date ranges [a..b] with either end open."""
        filters: dict[str, Any] = {}
        for part in request.values("filter"):
            name, _, value = part.partition(":")
            if name in ("creationdate", "lastmodifieddate"):
                match = RANGE.match(value)
                if not match:
                    return self.error(400, f"The filter {name} must be a range like [2016-03-21T08:25:43.511Z..].")
                try:
                    filters[name] = tuple(parse_time(end) if end else None for end in match.groups())
                except ValueError:
                    return self.error(400, f"The filter {name} has a date that is not ISO 8601 in UTC: {value!r}.")
            elif name == "orderfulfillmentstatus":
                statuses = set(value.strip("{}").split("|"))
                if statuses not in FULFILLMENT_SETS:
                    return self.error(400, "orderfulfillmentstatus supports only {NOT_STARTED|IN_PROGRESS} and {FULFILLED|IN_PROGRESS}.")
                filters[name] = statuses
            else:
                return self.error(400, f"The filter {name!r} is not supported.")
        if "creationdate" in filters:
            filters.pop("lastmodifieddate", None)  # "only creationdate is used"
        return filters

    def created_window(self, request: ApiRequest) -> Window:
        filters = self._filters(request)
        if isinstance(filters, ApiResponse) or "creationdate" not in filters:
            return None, None
        return filters["creationdate"]

    def list_orders(self, request: ApiRequest) -> ApiResponse:
        numbers = {}
        for name, default, high in (("limit", DEFAULT_LIMIT, MAX_LIMIT), ("offset", 0, None)):
            text = request.param(name, str(default))
            low = 0 if name == "offset" else 1
            if not text.isdigit() or int(text) < low or (high and int(text) > high):
                return self.error(400, f"The '{name}' value is invalid: a whole number from {low}" + (f" to {high}." if high else "."))
            numbers[name] = int(text)
        limit, offset = numbers["limit"], numbers["offset"]
        order_ids = request.values("orderIds")
        if order_ids:  # every other parameter is then ignored
            if len(order_ids) > MAX_ORDER_IDS:
                return self.error(400, f"At most {MAX_ORDER_IDS} orderIds may be sent.")
            matching = [r for r in (self.store.get(i) for i in order_ids) if r is not None]
            return ApiResponse(200, self._page(request, [r.payload for r in matching], len(matching), 0, len(matching) or 1))
        filters = self._filters(request)
        if isinstance(filters, ApiResponse):
            return filters
        if not {"creationdate", "lastmodifieddate"} & set(filters):
            filters["creationdate"] = (datetime.now(timezone.utc) - DEFAULT_HISTORY, None)
        matching = [r for r in self.store.all() if _matches(r, filters)]
        page = [r.payload for r in matching[offset : offset + limit]]
        return ApiResponse(200, self._page(request, page, len(matching), offset, limit))

    @staticmethod
    def _page(request: ApiRequest, orders: list, total: int, offset: int, limit: int) -> dict:
        def href(at: int) -> str:
            kept = [(k, v) for k, vs in request.query.items() if k not in ("offset", "limit") for v in vs]
            return f"{request.channel_url}/{'/'.join(PREFIX)}?{urlencode([*kept, ('limit', limit), ('offset', at)])}"

        body: dict[str, Any] = {"href": href(offset), "total": total, "limit": limit, "offset": offset}
        if offset + limit < total:
            body["next"] = href(offset + limit)
        if offset > 0:
            body["prev"] = href(max(0, offset - limit))
        body["orders"] = orders
        return body

    # --- listings -------------------------------------------------------------------------------------
    def _inventory_route(self, request: ApiRequest) -> Route | None:
        rest, method = request.path[3:], request.method
        if method == "GET" and rest == ["inventory_item"]:
            return Route("getInventoryItems", self.list_inventory_items)
        if method == "GET" and len(rest) == 2 and rest[0] == "inventory_item":
            return Route("getInventoryItem", self.get_inventory_item)
        if method == "GET" and rest == ["offer"]:
            return Route("getOffers", self.get_offers)
        if method == "POST" and rest == ["bulk_update_price_quantity"]:
            return Route("bulkUpdatePriceQuantity", self.bulk_update)
        return None

    def _listing(self, product: Product) -> dict:
        """Listed under its SKU (listing_id is the sku the channel holds)."""
        return self.new_listing(
            product, offer_id=str(seeded(self._seed, self.name, product.sku, "offer").randrange(10**10, 10**11)),
            item_id=str(110_000_000_000 + product.number), title=f"{product.title} - {product.variant}",
            price=str(product.base_price.quantize(Decimal("0.01"))),
        )

    def _managed(self, sku: str) -> dict | None:
        """The listing the Inventory API manages under this exact SKU (not deleted, not made outside the API)."""
        listing = self.listings.by_sku(sku)
        return listing if listing is not None and not listing["deleted"] and listing["tracked"] else None

    def _inventory_fault(self, status: int, error_id: int, message: str, **more) -> ApiResponse:
        return self._fault(status, error_id, message, domain="API_INVENTORY", **more)

    @staticmethod
    def _item_error(error_id: int, message: str) -> dict:
        return {"errorId": error_id, "domain": "API_INVENTORY", "subdomain": "Selling", "category": "REQUEST",
                "message": message}

    @staticmethod
    def _inventory_item(listing: dict) -> dict:
        return {
            "sku": listing["sku"], "locale": "en_GB", "product": {"title": listing["title"]}, "condition": "NEW",
            "availability": {"shipToLocationAvailability": {"quantity": listing["quantity"]}},
        }

    def list_inventory_items(self, request: ApiRequest) -> ApiResponse:
        numbers = {}
        for name, default, low, high in (("limit", INVENTORY_LIMIT, 1, INVENTORY_MAX_LIMIT), ("offset", 0, 0, None)):
            text = request.param(name, str(default))
            if not text.isdigit() or int(text) < low or (high and int(text) > high):
                return self._inventory_fault(400, 2004, "The request has errors. For help, see the documentation for "
                                             "this API.", longMessage=f"The '{name}' value is invalid.")
            numbers[name] = int(text)
        limit, offset = numbers["limit"], numbers["offset"]
        managed = [l for l in self.listings.all() if not l["deleted"] and l["tracked"]]
        managed.sort(key=lambda l: l["sku"])
        page = [self._inventory_item(self.listings.read(l["listing_id"])) for l in managed[offset : offset + limit]]

        def href(at: int) -> str:
            return f"{request.channel_url}/{'/'.join(INVENTORY)}/inventory_item?{urlencode([('limit', limit), ('offset', at)])}"

        body: dict[str, Any] = {"href": href(offset), "total": len(managed), "limit": limit, "size": len(page)}
        if offset + limit < len(managed):
            body["next"] = href(offset + limit)
        if offset > 0:
            body["prev"] = href(max(0, offset - limit))
        body["inventoryItems"] = page
        return ApiResponse(200, body)

    def _unknown_sku(self, sku: str) -> ApiResponse:
        return self._inventory_fault(404, SKU_UNKNOWN, f"The SKU {sku} could not be found or is not available in the "
                                                      "system.")

    def get_inventory_item(self, request: ApiRequest) -> ApiResponse:
        listing = self._managed(request.path[4])
        if listing is None:
            return self._unknown_sku(request.path[4])
        return ApiResponse(200, self._inventory_item(self.listings.read(listing["listing_id"])))

    def get_offers(self, request: ApiRequest) -> ApiResponse:
        sku = request.param("sku")
        if not sku:
            return self._inventory_fault(400, 2004, "The request has errors. For help, see the documentation for this "
                                         "API.", longMessage="The 'sku' query parameter is required.")
        listing = self._managed(sku)
        if listing is None:
            return self._unknown_sku(sku)
        listing = self.listings.read(listing["listing_id"])
        offer: dict[str, Any] = {
            "offerId": listing["offer_id"], "sku": listing["sku"], "marketplaceId": LISTING_MARKETPLACE,
            "format": "FIXED_PRICE", "availableQuantity": listing["quantity"], "categoryId": "15032",
            "pricingSummary": {"price": {"value": listing["price"], "currency": "GBP"}}, "listingDuration": "GTC",
            "status": "PUBLISHED" if listing["active"] else "UNPUBLISHED",
        }
        if listing["active"]:
            offer["listing"] = {"listingId": listing["item_id"], "listingStatus": "ACTIVE", "soldQuantity": 0}
        href = f"{request.channel_url}/{'/'.join(INVENTORY)}/offer?{urlencode([('sku', sku)])}"
        return ApiResponse(200, {"href": href, "limit": 100, "size": 1, "total": 1, "offers": [offer]})

    def _revise(self, item: Any) -> list[dict]:
        """One request of a bulk update, applied (or refused): its responses."""
        sku = item.get("sku") if isinstance(item, dict) else None
        if not isinstance(sku, str) or not sku:
            return [{"statusCode": 400, "errors": [self._item_error(BAD_ITEM, "Each request needs a sku.")]}]
        ship_to, offers = item.get("shipToLocationAvailability"), item.get("offers", [])
        offer_ids = [o.get("offerId") for o in offers] if isinstance(offers, list) and all(isinstance(o, dict) for o in offers) else None

        def refused(status: int, error_id: int, message: str) -> list[dict]:
            ids = [i for i in offer_ids or [] if isinstance(i, str)] or [None]
            return [{"statusCode": status, "sku": sku, **({"offerId": i} if i else {}),
                     "errors": [self._item_error(error_id, message)]} for i in ids]

        if offer_ids is None or (ship_to is None and not offers) or (ship_to is not None and not isinstance(ship_to, dict)):
            return refused(400, BAD_ITEM, "A request takes shipToLocationAvailability {quantity} and/or offers "
                                          "[{offerId, availableQuantity}].")
        quantities = [ship_to.get("quantity")] if ship_to is not None and "quantity" in ship_to else []
        quantities += [o["availableQuantity"] for o in offers if "availableQuantity" in o]
        if any(isinstance(q, bool) or not isinstance(q, int) or q < 0 for q in quantities):
            return refused(400, BAD_ITEM, "Invalid quantity: a whole number of 0 or more.")
        listing = self._managed(sku)
        if listing is None:
            return refused(404, SKU_UNKNOWN, f"The SKU {sku} could not be found or is not available in the system.")
        wrong = [i for i in offer_ids if i != listing["offer_id"]]
        if wrong:
            return refused(400, OFFER_MISMATCH, f"The offer {wrong[0]!r} is not an offer of SKU {sku}.")
        with self._revisions_lock:
            if quantities:
                today = datetime.now(timezone.utc).date()
                day, count = self._revisions.get(listing["listing_id"], (today, 0))
                count = count if day == today else 0
                if count >= MAX_DAILY_REVISIONS:
                    return refused(400, REVISION_LIMIT, f"The listing of SKU {sku} has been revised "
                                   f"{MAX_DAILY_REVISIONS} times today, the most eBay allows in a calendar day.")
                self._revisions[listing["listing_id"]] = (today, count + 1)
                self.listings.written(listing["listing_id"], min(quantities))
        return [{"statusCode": 200, "sku": sku, **({"offerId": i} if i else {})} for i in offer_ids or [None]]

    def bulk_update(self, request: ApiRequest) -> ApiResponse:
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        requests = body.get("requests") if isinstance(body, dict) else None
        generic = "The request has errors. For help, see the documentation for this API."
        if not isinstance(requests, list) or not requests:
            return self._inventory_fault(400, 2004, generic, longMessage="The body must be {\"requests\": [...]}, with "
                                         "at least one request.")
        if len(requests) > MAX_BULK_REQUESTS:
            return self._inventory_fault(400, 2004, generic, longMessage=f"At most {MAX_BULK_REQUESTS} requests may be "
                                         f"sent in one call; {len(requests)} were.")
        responses = [response for item in requests for response in self._revise(item)]
        status = 200 if all(r["statusCode"] == 200 for r in responses) else 207
        return ApiResponse(status, {"responses": responses})

    # --- orders ---------------------------------------------------------------------------------------
    def render(self, order: SimOrder) -> SimOrderRecord:
        rng = random.Random(order.uid)
        payload = json.loads(TEMPLATE)["orders"][0]
        order_id = f"{rng.randint(1, 27):02d}-{rng.randrange(10**5):05d}-{rng.randrange(10**5):05d}"
        currency, customer = order.currency, order.customer

        def money(value: Decimal, **more) -> dict:
            return {"value": order.money(value), "currency": currency, **more}

        cancelled, shipped = order.status == "cancelled", order.status == "shipped"
        payment_status = ("FULLY_REFUNDED" if cancelled else "PAID") if order.paid else "PENDING"
        fulfillment_status = "FULFILLED" if shipped else "NOT_STARTED"
        total = -order.total if order.has("invalid_amount") else order.total
        carrier, service = SHIPPING[order.shipping]
        placed = order.placed_at
        marketplace = MARKETPLACES[currency]
        buyer = payload["buyer"]
        registration = buyer["buyerRegistrationAddress"]
        overwrite(
            registration, fullName=customer.name,
            contactAddress=self._address(registration["contactAddress"], order.billing),
            primaryPhone={"phoneNumber": customer.phone} if customer.phone else {}, email=customer.email,
        )
        ship_step = payload["fulfillmentStartInstructions"][0]["shippingStep"]
        ship_to = ship_step["shipTo"]
        overwrite(
            ship_to, fullName=customer.name, contactAddress=self._address(ship_to["contactAddress"], order.ship_to),
            primaryPhone={"phoneNumber": customer.phone} if customer.phone else {}, email=customer.email,
        )
        if customer.blank:  # a broken checkout: eBay leaves out what it does not have
            del registration["email"], ship_to["email"]
        overwrite(ship_step, shippingCarrierCode=carrier, shippingServiceCode=service)
        delivery_from, delivery_to = placed + timedelta(days=2), placed + timedelta(days=5)
        overwrite(
            payload["fulfillmentStartInstructions"][0], minEstimatedDeliveryDate=iso_ms(delivery_from),
            maxEstimatedDeliveryDate=iso_ms(delivery_to),
        )
        tax_address = order.ship_to or order.billing
        line_template = json.dumps(payload["lineItems"][0])
        overwrite(
            payload,
            orderId=order_id, legacyOrderId=f"{rng.randrange(10**11, 10**12)}-{rng.randrange(10**12, 10**13)}",
            creationDate=ZERO_DATE if order.has("invalid_date") else iso_ms(placed), lastModifiedDate=iso_ms(order.updated_at),
            orderFulfillmentStatus=fulfillment_status, orderPaymentStatus=payment_status, sellerId=self.name,
            buyer=overwrite(
                buyer, username=f"buyer_{rng.getrandbits(32):08x}",
                taxAddress=overwrite(buyer["taxAddress"], stateOrProvince=tax_address.province, postalCode=tax_address.postcode,
                                     countryCode=tax_address.country_code),
            ),
            pricingSummary={"priceSubtotal": money(order.subtotal), "deliveryCost": money(order.shipping_price), "total": money(total)},
            cancelStatus={"cancelState": "CANCELED" if cancelled else "NONE_REQUESTED", "cancelRequests": []},
            paymentSummary={
                "totalDueSeller": money(order.total * Decimal("0.87"), convertedFromValue=order.money(order.total * Decimal("0.87")),
                                        convertedFromCurrency=currency),
                "refunds": [],
                "payments": [{
                    "paymentMethod": "EBAY", "paymentReferenceId": f"{rng.getrandbits(60):015X}",
                    "paymentDate": iso_ms(placed), "amount": money(order.total, convertedFromValue=order.money(order.total),
                                                                   convertedFromCurrency=currency),
                    "paymentStatus": "PAID" if order.paid else "PENDING",
                }],
            },
            fulfillmentHrefs=[f"https://api.ebay.com/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment/{rng.getrandbits(60)}"]
            if shipped else [],
            lineItems=[
                self._line(order, line, index, json.loads(line_template), rng, marketplace, fulfillment_status)
                for index, line in enumerate(order.lines)
            ],
            ebayCollectAndRemitTax=bool(order.tax_rate), salesRecordReference=str(order.seq % 100_000),
            totalFeeBasisAmount=money(order.total), totalMarketplaceFee=money(order.total * Decimal("0.128")),
        )
        return SimOrderRecord(order_id, order.placed_at, order.updated_at, payload)

    @staticmethod
    def _address(template: dict, address: Address | None) -> dict:
        """The contact address, empty strings where there is none; addressLine2 only when there is one."""
        if address is None:
            return dict.fromkeys(template, "")
        contact = overwrite(
            dict(template), addressLine1=address.address1, city=address.city,
            stateOrProvince=address.province_code or address.province, postalCode=address.postcode,
            countryCode=address.country_code,
        )
        if address.address2:
            contact["addressLine2"] = address.address2
        return contact

    @staticmethod
    def _line(order: SimOrder, line: Line, index: int, template: dict, rng: random.Random, marketplace: str, status: str) -> dict:
        def money(value: Decimal) -> dict:
            return {"value": order.money(value), "currency": order.currency}

        shipping = order.shipping_price if index == 0 else order.shipping_price * 0
        tax = order.line_tax(line)
        remit = template["ebayCollectAndRemitTaxes"][0]
        item = overwrite(
            template, lineItemId=str(rng.randrange(10**11, 10**12)), legacyItemId=str(110_000_000_000 + line.product.number),
            title=f"{line.product.title} - {line.product.variant}", lineItemCost=money(line.total), quantity=line.quantity,
            listingMarketplaceId=marketplace, purchaseMarketplaceId=marketplace, lineItemFulfillmentStatus=status,
            total=money(line.total + shipping + tax), deliveryCost={"shippingCost": money(shipping)},
            ebayCollectAndRemitTaxes=[overwrite(dict(remit), amount=money(tax), ebayReference=dict(remit["ebayReference"]))] if tax else [],
            lineItemFulfillmentInstructions=overwrite(
                template["lineItemFulfillmentInstructions"], minEstimatedDeliveryDate=iso_ms(order.placed_at + timedelta(days=2)),
                maxEstimatedDeliveryDate=iso_ms(order.placed_at + timedelta(days=5)),
            ),
            itemLocation={"location": "Milton Keynes", "countryCode": "GB", "postalCode": "MK1 1AA"},
        )
        item["sku"] = line.product.sku  # the listing's custom label; the example's listings had none
        return item

    def parse_admin(self, body: Any) -> list[SimOrderRecord]:
        records = []
        for what, order in admin_orders(body, "orders", "ebay"):
            order_id = require(order, "orderId", what)
            records.append(SimOrderRecord(
                str(order_id), admin_time(order, "creationDate", what), admin_time(order, "lastModifiedDate", what), order,
            ))
        return records


def _matches(record: SimOrderRecord, filters: dict[str, Any]) -> bool:
    for name, moment in (("creationdate", record.placed_at), ("lastmodifieddate", record.updated_at)):
        if name in filters:
            start, end = filters[name]
            if (start is not None and moment < start) or (end is not None and moment > end):
                return False
    statuses = filters.get("orderfulfillmentstatus")
    return statuses is None or record.payload.get("orderFulfillmentStatus") in statuses
