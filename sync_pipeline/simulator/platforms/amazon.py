"""Amazon SP-API Orders v0: Login with Amazon access tokens (x-amz-access-token), getOrders with NextToken
paging and the two-minute rule, getOrderItems as a separate paged call, and a token bucket per operation
reported in x-amzn-RateLimit-Limit. Orders carry ShippingAddress and BuyerInfo (the client is assumed to
have Restricted Data Token access).

Tracking: `POST orders/v0/orders/<id>/shipmentConfirmation` (confirmShipment, its own bucket
amazon_confirmShipment: burst 10, 2/s) takes {marketplaceId, packageDetail: {packageReferenceId (a positive
number), carrierCode (CARRIER_CODES; "Other" needs carrierName), carrierName?, shippingMethod?, trackingNumber,
shipDate (ISO 8601), orderItems: [{orderItemId, quantity}]}} and answers 204 with no body. A second confirmation
with a packageReferenceId the order already has edits that package (its number and carrier; the simulator keeps
its items), as Amazon documents; a new one must fit what is unshipped. Refusals are 400 InvalidInput
{"errors": [{code, message, details}]}. There is no API listing confirmations: getOrderItems reports
QuantityShipped (what the order came with plus every confirmation held); the order's OrderStatus and
NumberOfItemsShipped do not follow (getOrders answers stay as generated). Tracking anomalies: deleted 404
NotFound; already fulfilled: a hand confirmation of every item is added on the first push, which is then 400
"already shipped"; cancelled (or OrderStatus Canceled) 400 "canceled"; locked: 503 ServiceUnavailable while
locked_now (Amazon documents no lock; a 503 is what it answers when it cannot take a request now); permission
403 Unauthorized.

Listings (Listings Items API 2021-08-01, seller `seller_id`, marketplace ATVPDKIKX0DER; each operation its own
bucket of scenario key amazon_listings, 5/s burst 5): `GET listings/2021-08-01/items/<sellerId>/<sku>
?marketplaceIds=&includedData=summaries,fulfillmentAvailability` (getListingsItem; includedData defaults to
summaries; 404 NOT_FOUND for an unknown or deleted SKU; SKUs match exactly, case included);
`GET listings/2021-08-01/items/<sellerId>?marketplaceIds=&pageSize=(1..20, default 10)&pageToken=` (searchListingsItems,
which 2021-08-01 has: {numberOfResults, pagination: {nextToken?, previousToken?}, items}, by SKU, at most 1000
pageable as Amazon documents; `identifiers=<sku,...>&identifiersType=SKU`, at most 20, narrows it); `PATCH` the
item path {productType, patches: [{op: add|replace, path: "/attributes/fulfillment_availability", value:
[{fulfillment_channel_code: "DEFAULT", quantity}]}]} -> 200 {sku, status: ACCEPTED, submissionId, issues: []}
(`mode=VALIDATION_PREVIEW`: status VALID, nothing stored). A body that cannot be read (not JSON, no productType or
patches) is 400 InvalidInput; a readable one with a bad value, or a quantity for an FBA listing, is 200 status INVALID
with issues [{code, message, severity: ERROR, attributeNames}] (the issue codes are the simulator's). Other patch
paths are taken and ignored. Listing anomalies: case mismatch: the listing's SKU is the warehouse SKU lower-cased;
deleted: absent, 404; not tracked: an FBA listing (fulfillmentAvailability AMAZON_NA, quantity Amazon's), a PATCH of
its quantity INVALID; not active: summaries status [] (not BUYABLE nor DISCOVERABLE), writes taken; drift: after the
first accepted write, the next read of the SKU first finds a quantity set by hand (1..5 less, floor 0), once."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

from sync_pipeline.simulator.orders import Line, Market, Product, SimOrder, SimOrderRecord, listed_products
from sync_pipeline.simulator.platforms.base import (
    AdminError,
    ApiRequest,
    ApiResponse,
    ListingStore,
    Platform,
    Route,
    Window,
    admin_time,
    decode_token,
    drift_floor,
    encode_token,
    id_key,
    iso_utc,
    load_template,
    overwrite,
    parse_time,
    require,
)
from sync_pipeline.simulator.ratelimit import BucketReading, decimal
from sync_pipeline.simulator.scenario import ChannelSpec, Scenario

ORDER_TEMPLATE = load_template("amazon_order.json")
# The sandbox order lacks the PII blocks; the documentation example has them.
PII_TEMPLATE = load_template("amazon_getOrders_doc_example.json")
ITEM_TEMPLATE = load_template("amazon_order_items.json")
MARKETPLACE = "ATVPDKIKX0DER"
ITEMS_PER_PAGE = 10
TOKEN_LIFETIME_S = 3600
LATEST_BEFORE = timedelta(minutes=2)
FULFILLMENT_CHANNELS = ("MFN", "AFN")
FILTER_KEYS = {"by", "after", "before", "marketplaces", "channels", "statuses", "size"}
INVALID_GRANT = {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"}
SHIPPING = {
    "free": ("FreeEconomy", "FreeEconomy", 5), "economy": ("Std US D2D Dom", "Standard", 5),
    "standard": ("Std US D2D Dom", "Standard", 4), "express": ("Second US D2D Dom", "SecondDay", 2),
    "overnight": ("Next US D2D Dom", "NextDay", 1), "same_day": ("Scheduled Delivery", "Scheduled", 1),
}
ZERO_DATE = "0000-00-00 00:00:00"  # invalid_date
# confirmShipment carrierCode values (a part of Amazon's list; "Other" takes carrierName beside it).
CARRIER_CODES = frozenset({
    "UPS", "USPS", "FedEx", "DHL", "DHL eCommerce", "Royal Mail", "DPD", "Parcelforce", "Hermes", "Evri", "Yodel",
    "OnTrac", "Canada Post", "Purolator", "Australia Post", "Deutsche Post", "GLS", "TNT", "Amazon Shipping", "Other",
})
PACKAGE_REQUIRED = ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems")
LISTINGS_PREFIX = ["listings", "2021-08-01", "items"]
FULFILLMENT_PATH = "/attributes/fulfillment_availability"
INCLUDED_DATA = frozenset({
    "summaries", "attributes", "issues", "offers", "fulfillmentAvailability", "procurement", "relationships", "productTypes",
})
SEARCH_PAGE_SIZE, SEARCH_MAX_PAGE_SIZE, SEARCH_MAX_RESULTS, SEARCH_MAX_IDENTIFIERS = 10, 20, 1000, 20
FBA_CHANNEL = "AMAZON_NA"


def asin_of(product: Product) -> str:
    return "B0" + "".join("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(product.uid >> (5 * i)) % 36] for i in range(8))



def seller_id_for(channel: str) -> str:
    """The simulated seller's id (Amazon's merchant token) for a channel: what channels.yaml's `seller_id` names."""
    return "A" + hashlib.sha256(f"{channel}:seller".encode()).hexdigest()[:13].upper()

class Amazon(Platform):
    type = "amazon"
    credential_names = ("refresh_token", "client_id", "client_secret")
    market = Market({"USD": 1}, inapplicable=frozenset({"unmapped_status"}))  # every Amazon status is mapped
    rate_limit_keys = {
        "getOrders": "amazon_getOrders", "getOrderItems": "amazon_getOrderItems", "getOrder": "amazon_getOrder",
        "confirmShipment": "amazon_confirmShipment", "getListingsItem": "amazon_listings",
        "patchListingsItem": "amazon_listings", "searchListingsItems": "amazon_listings",
    }
    errors = {
        400: ("InvalidInput", "Invalid input."),
        403: ("Unauthorized", "Access to requested resource is denied."),
        404: ("NotFound", "The requested resource was not found."),
        429: ("QuotaExceeded", "You exceeded your quota for the requested resource."),
        500: ("InternalFailure", "We encountered an internal error. Please try again."),
        503: ("ServiceUnavailable", "Service temporarily unavailable. Please try again."),
    }

    def __init__(self, spec: ChannelSpec, credentials: dict[str, str], scenario: Scenario):
        super().__init__(spec, credentials, scenario)
        self._access_tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._tokens_lock = threading.Lock()
        self._confirm_lock = threading.Lock()  # a confirmation's quantity check and its storing are one step
        self._created = datetime.now(timezone.utc).replace(microsecond=0)
        self.seller_id = seller_id_for(spec.name)
        self.listings = ListingStore(map(self._listing, listed_products(scenario.seed, spec)), drift_floor)

    # --- HTTP -----------------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        path, method = request.path, request.method
        if method == "POST" and path == ["auth", "o2", "token"]:
            return Route("token", self.issue_token, authenticated=False)
        if method == "POST" and len(path) == 5 and path[:3] == ["orders", "v0", "orders"] and path[4] == "shipmentConfirmation":
            return Route("confirmShipment", self.confirm_shipment)
        if path[:3] == LISTINGS_PREFIX and len(path) in (4, 5):
            if len(path) == 4:
                return Route("searchListingsItems", self.search_listings) if method == "GET" else None
            if method == "GET":
                return Route("getListingsItem", self.get_listing)
            if method == "PATCH":
                return Route("patchListingsItem", self.patch_listing)
            return None
        if method != "GET" or path[:3] != ["orders", "v0", "orders"]:
            return None
        if len(path) == 3:
            return Route("getOrders", self.list_orders, window=self.created_window)
        if len(path) == 4:
            return Route("getOrder", self.get_order)
        if len(path) == 5 and path[4] == "orderItems":
            return Route("getOrderItems", self.order_items)
        return None

    def authorized(self, request: ApiRequest) -> bool:
        token = request.headers.get("x-amz-access-token")
        with self._tokens_lock:
            expiry = self._access_tokens.get(token or "")
        return expiry is not None and expiry > time.monotonic()

    def error(self, status: int, message: Any = None, code: str | None = None) -> ApiResponse:
        default_code, default_message = self.errors[status]
        return ApiResponse(status, {"errors": [{"code": code or default_code, "message": message or default_message}]})

    def auth_failure(self, route: Route) -> ApiResponse:
        if route.operation == "token":
            return ApiResponse(400, dict(INVALID_GRANT))
        response = self.error(403)
        response.body["errors"][0]["details"] = "The access token you provided has expired."
        return response

    def rate_headers(self, reading: BucketReading) -> dict[str, str]:
        return {"x-amzn-RateLimit-Limit": decimal(reading.per_second)}

    def issue_token(self, request: ApiRequest) -> ApiResponse:
        """Login with Amazon: a refresh token (plus the app's client id and secret) for a 1-hour access token."""
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return ApiResponse(400, {
                "error": "unsupported_grant_type",
                "error_description": "The authorization grant type is not supported by the authorization server",
            })
        if not all(self.check_credentials(form.get(name), name) for name in self.credential_names):
            return ApiResponse(400, dict(INVALID_GRANT))
        token = "Atza|" + secrets.token_urlsafe(48)
        with self._tokens_lock:
            self._access_tokens[token] = time.monotonic() + TOKEN_LIFETIME_S
        return ApiResponse(200, {
            "access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME_S,
            "refresh_token": form["refresh_token"],
        })

    def get_order(self, request: ApiRequest) -> ApiResponse:
        record = self.store.get(request.path[3])
        if record is None:
            return self.error(404, f"Order {request.path[3]} was not found.")
        return ApiResponse(200, {"payload": record.payload})

    def order_items(self, request: ApiRequest) -> ApiResponse:
        order_id = request.path[3]
        record = self.store.get(order_id)
        if record is None:
            return self.error(404, f"Order {order_id} was not found.")
        offset = 0
        if request.param("NextToken") is not None:
            token = decode_token(request.param("NextToken"))
            if token is None or token.get("order") != order_id or not isinstance(token.get("offset"), int):
                return self.error(400, "Invalid NextToken.")
            offset = token["offset"]
        items = self._shipped_items(record)
        payload: dict = {"AmazonOrderId": order_id, "OrderItems": items[offset : offset + ITEMS_PER_PAGE]}
        if offset + ITEMS_PER_PAGE < len(items):
            payload["NextToken"] = encode_token({"order": order_id, "offset": offset + ITEMS_PER_PAGE})
        return ApiResponse(200, {"payload": payload})

    # --- tracking -------------------------------------------------------------------------------------
    def _shipped(self, record: SimOrderRecord, skip_reference: str | None = None) -> dict[str, int]:
        """Per OrderItemId, what has shipped: the item's own QuantityShipped plus every confirmation held (but the
        package `skip_reference`, which a confirmation with that packageReferenceId replaces)."""
        shipped = {str(item.get("OrderItemId")): int(item.get("QuantityShipped") or 0) for item in record.order_items or []}
        for confirmation in self.tracking.of(record.external_order_id):
            if skip_reference is not None and confirmation.get("package_reference_id") == skip_reference:
                continue
            for line in confirmation["lines"]:
                shipped[str(line["line_id"])] = shipped.get(str(line["line_id"]), 0) + int(line["quantity"])
        return shipped

    def _shipped_items(self, record: SimOrderRecord) -> list[dict]:
        """The order's items with QuantityShipped as the confirmations held make it (never above QuantityOrdered)."""
        shipped = self._shipped(record)
        items = []
        for item in record.order_items or []:
            item = dict(item)
            if "QuantityShipped" in item:
                item["QuantityShipped"] = min(int(item.get("QuantityOrdered") or 0), shipped.get(str(item.get("OrderItemId")), 0))
            items.append(item)
        return items

    @staticmethod
    def invalid(message: str, details: str = "") -> ApiResponse:
        return ApiResponse(400, {"errors": [{"code": "InvalidInput", "message": message, "details": details}]})

    def _package(self, request: ApiRequest, record: SimOrderRecord) -> dict | ApiResponse:
        """The confirmation's packageDetail, checked as confirmShipment checks it; a 400 when it is wrong."""
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return self.invalid("The request body is not valid JSON.")
        if not isinstance(body, dict):
            return self.invalid("The request body must be a ConfirmShipmentRequest object.")
        for key in ("marketplaceId", "packageDetail"):
            if body.get(key) in (None, ""):
                return self.invalid(f"Missing required field: {key}.", key)
        if body["marketplaceId"] != record.payload.get("MarketplaceId", MARKETPLACE):
            return self.invalid(f"Order {record.external_order_id} is not in marketplace {body['marketplaceId']}.",
                                "marketplaceId")
        package = body["packageDetail"]
        if not isinstance(package, dict):
            return self.invalid("packageDetail must be a PackageDetail object.", "packageDetail")
        for key in PACKAGE_REQUIRED:
            if package.get(key) in (None, "", []):
                return self.invalid(f"Missing required field: packageDetail.{key}.", f"packageDetail.{key}")
        reference = str(package["packageReferenceId"])
        if not reference.isdigit() or int(reference) <= 0:
            return self.invalid("packageReferenceId must be a positive number.", "packageDetail.packageReferenceId")
        if package["carrierCode"] not in CARRIER_CODES:
            return self.invalid(f"Invalid carrierCode: {package['carrierCode']!r}. Use a listed carrier code, or \"Other\" "
                                "with carrierName.", "packageDetail.carrierCode")
        if package["carrierCode"] == "Other" and not str(package.get("carrierName") or "").strip():
            return self.invalid("carrierName is required when carrierCode is \"Other\".", "packageDetail.carrierName")
        for key in ("trackingNumber", "carrierName", "shippingMethod"):
            if key in package and not isinstance(package[key], str):
                return self.invalid(f"packageDetail.{key} must be a string.", f"packageDetail.{key}")
        try:
            parse_time(str(package["shipDate"]))
            if "T" not in str(package["shipDate"]):
                raise ValueError(package["shipDate"])
        except ValueError:
            return self.invalid(f"Invalid shipDate: {package['shipDate']!r}. Use ISO 8601 date-time format.",
                                "packageDetail.shipDate")
        items = package["orderItems"]
        known = {str(item.get("OrderItemId")) for item in record.order_items or []}
        if not isinstance(items, list):
            return self.invalid("orderItems must be a list.", "packageDetail.orderItems")
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, dict) or item.get("orderItemId") in (None, ""):
                return self.invalid("Each order item needs an orderItemId and a quantity.", "packageDetail.orderItems")
            item_id, quantity = str(item["orderItemId"]), item.get("quantity")
            if item_id not in known:
                return self.invalid(f"Invalid orderItemId {item_id}: not an item of order {record.external_order_id}.",
                                    "packageDetail.orderItems.orderItemId")
            if item_id in seen:
                return self.invalid(f"orderItemId {item_id} is listed twice.", "packageDetail.orderItems.orderItemId")
            seen.add(item_id)
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                return self.invalid(f"Invalid quantity for orderItemId {item_id}: a whole number of at least 1.",
                                    "packageDetail.orderItems.quantity")
        return {**package, "packageReferenceId": reference}

    def confirm_shipment(self, request: ApiRequest) -> ApiResponse:
        """confirmShipment: a new package is stored if it fits what is unshipped; a known packageReferenceId is edited."""
        order_id = request.path[3]
        record = self.store.get(order_id)
        anomaly = self.tracking_anomaly(order_id) if record is not None else None
        if record is None or anomaly == "tracking_order_deleted":
            return self.error(404, f"Order {order_id} was not found.")
        if anomaly == "tracking_permission_denied":
            return ApiResponse(403, {"errors": [{"code": "Unauthorized", "message": self.errors[403][1], "details": ""}]})
        package = self._package(request, record)
        if isinstance(package, ApiResponse):
            return package
        if anomaly == "tracking_order_cancelled" or record.payload.get("OrderStatus") == "Canceled":
            return self.invalid(f"Order {order_id} is canceled: a canceled order cannot be confirmed as shipped.")
        if self.locked_now(order_id):
            return self.error(503)
        reference = package["packageReferenceId"]
        carrier = package.get("carrierName") if package["carrierCode"] == "Other" else package["carrierCode"]
        lines = [{"line_id": str(item["orderItemId"]), "quantity": item["quantity"]} for item in package["orderItems"]]
        with self._confirm_lock:
            self.hand_fulfilled(order_id, [
                {"line_id": str(item.get("OrderItemId")), "quantity": int(item.get("QuantityOrdered") or 0)}
                for item in record.order_items or []
            ])
            edited = next((c for c in self.tracking.of(order_id) if c.get("package_reference_id") == reference), None)
            shipped = self._shipped(record, skip_reference=reference if edited else None)
            ordered = {str(item.get("OrderItemId")): int(item.get("QuantityOrdered") or 0) for item in record.order_items or []}
            for line in lines:
                left = ordered[line["line_id"]] - shipped.get(line["line_id"], 0)
                if left <= 0:
                    return self.invalid(f"The order items are already shipped: orderItemId {line['line_id']} has no "
                                        "unshipped quantity.", "packageDetail.orderItems.quantity")
                if line["quantity"] > left:
                    return self.invalid(f"Invalid quantity for orderItemId {line['line_id']}: {line['quantity']} is more "
                                        f"than the {left} unshipped.", "packageDetail.orderItems.quantity")
            if edited is not None:
                self.tracking.update(order_id, edited["fulfillment_id"], [package["trackingNumber"]], carrier)
            else:
                self.tracking.add(order_id, [package["trackingNumber"]], carrier, lines, extra={
                    "package_reference_id": reference, "carrier_code": package["carrierCode"],
                    "carrier_name": package.get("carrierName"), "shipping_method": package.get("shippingMethod"),
                    "ship_date": package["shipDate"],
                })
        return ApiResponse(204, None)

    def _filters(self, request: ApiRequest) -> tuple[dict, tuple | None] | ApiResponse:
        """The getOrders filters and the position: from NextToken (other filters ignored), or from the query."""
        marketplaces = request.values("MarketplaceIds")
        if not marketplaces:
            return self.error(400, "MarketplaceIds is required.")
        if request.param("NextToken") is not None:
            token = decode_token(request.param("NextToken")) or {}
            try:
                filters, (moment, order_id) = token["filters"], token["key"]
                position = (datetime.fromisoformat(moment), id_key(order_id))
                if set(filters) != FILTER_KEYS:
                    raise ValueError(filters)
            except (KeyError, TypeError, ValueError, AttributeError):
                return self.error(400, "Invalid NextToken.")
            return filters, position
        created_after, updated_after = request.param("CreatedAfter"), request.param("LastUpdatedAfter")
        if created_after and updated_after:
            return self.error(400, "Only one of CreatedAfter and LastUpdatedAfter may be specified.")
        if not created_after and not updated_after:
            return self.error(400, "Either CreatedAfter or LastUpdatedAfter must be specified.")
        after_name, before_name, other = (
            ("CreatedAfter", "CreatedBefore", "LastUpdatedBefore") if created_after
            else ("LastUpdatedAfter", "LastUpdatedBefore", "CreatedBefore")
        )
        if request.param(other) is not None:
            return self.error(400, f"{other} cannot be used together with {after_name}.")
        latest = datetime.now(timezone.utc) - LATEST_BEFORE
        times = {}
        for name in (after_name, before_name):
            value = request.param(name)
            if value is None:
                continue
            try:
                times[name] = parse_time(value)
            except ValueError:
                return self.error(400, f"{name} {value!r} is not a valid ISO 8601 date.")
        before = times.get(before_name, latest)
        if before > latest:
            return self.error(400, f"{before_name} must be a date at least two minutes before the current time.")
        if times[after_name] > before:
            return self.error(400, f"{after_name} must be earlier than {before_name}.")
        channels = request.values("FulfillmentChannels")
        if any(c not in FULFILLMENT_CHANNELS for c in channels):
            return self.error(400, f"FulfillmentChannels must be among {', '.join(FULFILLMENT_CHANNELS)}.")
        size_text = request.param("MaxResultsPerPage", "100")
        if not size_text.isdigit() or not 1 <= int(size_text) <= 100:
            return self.error(400, "MaxResultsPerPage must be between 1 and 100.")
        return {
            "by": "created" if created_after else "updated", "after": times[after_name].isoformat(),
            "before": before.isoformat(), "marketplaces": marketplaces, "channels": channels,
            "statuses": request.values("OrderStatuses"), "size": int(size_text),
        }, None

    def created_window(self, request: ApiRequest) -> Window:
        parsed = self._filters(request)
        if isinstance(parsed, ApiResponse) or parsed[0]["by"] != "created":
            return None, None
        return datetime.fromisoformat(parsed[0]["after"]), datetime.fromisoformat(parsed[0]["before"])

    def list_orders(self, request: ApiRequest) -> ApiResponse:
        parsed = self._filters(request)
        if isinstance(parsed, ApiResponse):
            return parsed
        filters, position = parsed
        after, before = datetime.fromisoformat(filters["after"]), datetime.fromisoformat(filters["before"])

        def moment(record: SimOrderRecord) -> datetime:
            return record.placed_at if filters["by"] == "created" else record.updated_at

        def key(record: SimOrderRecord) -> tuple:
            return moment(record), id_key(record.external_order_id)

        matching = sorted(
            (
                r for r in self.store.all()
                if after <= moment(r) <= before
                and r.payload.get("MarketplaceId", MARKETPLACE) in filters["marketplaces"]
                and (not filters["channels"] or r.payload.get("FulfillmentChannel") in filters["channels"])
                and (not filters["statuses"] or r.payload.get("OrderStatus") in filters["statuses"])
            ),
            key=key,
        )
        start = 0 if position is None else sum(1 for r in matching if key(r) <= position)
        page = matching[start : start + filters["size"]]
        payload: dict = {"Orders": [r.payload for r in page]}
        if start + len(page) < len(matching):
            payload["NextToken"] = encode_token(
                {"filters": filters, "key": [moment(page[-1]).isoformat(), page[-1].external_order_id]}
            )
        payload["CreatedBefore" if filters["by"] == "created" else "LastUpdatedBefore"] = iso_utc(before)
        return ApiResponse(200, {"payload": payload})

    # --- listings -------------------------------------------------------------------------------------
    def _listing(self, product: Product) -> dict:
        """Listed under its SKU (listing_id is the sku the channel holds)."""
        not_tracked = self.listing_anomaly(product.sku) == "listing_not_tracked"
        return self.new_listing(product, asin=asin_of(product), item_name=f"{product.title} ({product.variant})",
                                fulfillment_channel=FBA_CHANNEL if not_tracked else "DEFAULT")

    def _live(self, sku: str) -> dict | None:
        listing = self.listings.by_sku(sku)
        return None if listing is None or listing["deleted"] else listing

    def _listing_scope(self, request: ApiRequest) -> ApiResponse | None:
        """A 400 or 403 for a listings request naming no marketplace, another one, or another seller."""
        if request.path[3] != self.seller_id:
            return self.error(403, f"The sellerId {request.path[3]} does not match the selling partner of the access token.")
        marketplaces = request.values("marketplaceIds")
        if not marketplaces:
            return self.error(400, "Missing required parameter: marketplaceIds.")
        if MARKETPLACE not in marketplaces or len(marketplaces) > 1:
            return self.error(400, f"Invalid marketplaceIds: the seller sells only in {MARKETPLACE} (and only one "
                                   "marketplace may be given).")
        return None

    def _listing_item(self, listing: dict, included: list[str]) -> dict:
        item: dict = {"sku": listing["sku"]}
        if "summaries" in included:
            now = iso_utc(self._created)
            item["summaries"] = [{
                "marketplaceId": MARKETPLACE, "asin": listing["asin"], "productType": "PRODUCT", "conditionType": "new_new",
                "status": ["BUYABLE", "DISCOVERABLE"] if listing["active"] else [], "itemName": listing["item_name"],
                "createdDate": now, "lastUpdatedDate": now,
            }]
        if "fulfillmentAvailability" in included:
            item["fulfillmentAvailability"] = [{"fulfillmentChannelCode": listing["fulfillment_channel"],
                                                "quantity": listing["quantity"]}]
        for name in ("attributes", "offers", "procurement", "relationships", "productTypes", "issues"):
            if name in included:
                item[name] = {} if name == "attributes" else []
        return item

    def _included(self, request: ApiRequest) -> list[str] | ApiResponse:
        included = request.values("includedData") or ["summaries"]
        unknown = [name for name in included if name not in INCLUDED_DATA]
        if unknown:
            return self.error(400, f"Invalid includedData: {', '.join(unknown)}.")
        return included

    def get_listing(self, request: ApiRequest) -> ApiResponse:
        problem = self._listing_scope(request)
        if problem is not None:
            return problem
        included = self._included(request)
        if isinstance(included, ApiResponse):
            return included
        listing = self._live(request.path[4])
        if listing is None:
            return self.error(404, f"SKU '{request.path[4]}' not found in marketplace {MARKETPLACE}.", "NOT_FOUND")
        return ApiResponse(200, self._listing_item(self.listings.read(listing["listing_id"]), included))

    def search_listings(self, request: ApiRequest) -> ApiResponse:
        problem = self._listing_scope(request)
        if problem is not None:
            return problem
        included = self._included(request)
        if isinstance(included, ApiResponse):
            return included
        size_text = request.param("pageSize", str(SEARCH_PAGE_SIZE))
        if not size_text.isdigit() or not 1 <= int(size_text) <= SEARCH_MAX_PAGE_SIZE:
            return self.error(400, f"pageSize must be between 1 and {SEARCH_MAX_PAGE_SIZE}.")
        size = int(size_text)
        identifiers = request.values("identifiers")
        if identifiers and request.param("identifiersType") != "SKU":
            return self.error(400, "identifiersType is required with identifiers; the simulator supports SKU.")
        if len(identifiers) > SEARCH_MAX_IDENTIFIERS:
            return self.error(400, f"identifiers takes at most {SEARCH_MAX_IDENTIFIERS} values.")
        if identifiers:  # looked up by SKU, not by a pass over the catalogue
            found = (self.listings.by_sku(sku) for sku in dict.fromkeys(identifiers))
            live = sorted((l for l in found if l is not None and not l["deleted"]), key=lambda l: l["sku"])
        else:
            live = sorted((l for l in self.listings.all() if not l["deleted"]), key=lambda l: l["sku"])
        live = live[:SEARCH_MAX_RESULTS]
        offset = 0
        if request.param("pageToken") is not None:
            token = decode_token(request.param("pageToken") or "")
            if token is None or not isinstance(token.get("offset"), int) or token.get("seller") != self.seller_id:
                return self.error(400, "Invalid pageToken.")
            offset = token["offset"]
        page = live[offset : offset + size]
        pagination: dict = {}
        if offset + size < len(live):
            pagination["nextToken"] = encode_token({"seller": self.seller_id, "offset": offset + size})
        if offset > 0:
            pagination["previousToken"] = encode_token({"seller": self.seller_id, "offset": max(0, offset - size)})
        body: dict = {"numberOfResults": len(live)}
        if pagination:
            body["pagination"] = pagination
        body["items"] = [self._listing_item(self.listings.read(listing["listing_id"]), included) for listing in page]
        return ApiResponse(200, body)

    @staticmethod
    def _submission(sku: str, status: str, issues: list[dict] = ()) -> ApiResponse:
        return ApiResponse(200, {"sku": sku, "status": status, "submissionId": secrets.token_hex(16), "issues": list(issues)})

    @staticmethod
    def _issue(code: str, message: str, attribute: str = "fulfillment_availability") -> dict:
        return {"code": code, "message": message, "severity": "ERROR", "attributeNames": [attribute]}

    def patch_listing(self, request: ApiRequest) -> ApiResponse:
        problem = self._listing_scope(request)
        if problem is not None:
            return problem
        sku = request.path[4]
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return self.invalid("The request body is not valid JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("productType"), str) or not body["productType"]:
            return self.invalid("Missing required field: productType.", "productType")
        patches = body.get("patches")
        if not isinstance(patches, list) or not patches or not all(isinstance(p, dict) for p in patches):
            return self.invalid("Missing required field: patches (a list of JSON Patch operations).", "patches")
        listing = self._live(sku)
        if listing is None:
            return self.error(404, f"SKU '{sku}' not found in marketplace {MARKETPLACE}.", "NOT_FOUND")
        quantity = None
        for patch in patches:
            if patch.get("op") not in ("add", "replace", "delete") or not isinstance(patch.get("path"), str):
                return self.invalid("Each patch needs an op (add, replace or delete) and a path.", "patches")
            if patch["path"] != FULFILLMENT_PATH:
                continue  # other attributes: taken, not simulated
            if patch["op"] == "delete":
                return self._submission(sku, "INVALID", [self._issue(
                    "4000002", "'fulfillment_availability' cannot be deleted from an offer-bearing listing.")])
            value = patch.get("value")
            entry = value[0] if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict) else None
            given = entry.get("quantity") if entry is not None else None
            if entry is None or isinstance(given, bool) or not isinstance(given, int) or given < 0:
                return self._submission(sku, "INVALID", [self._issue(
                    "4000001", "The value provided for 'fulfillment_availability' is invalid: one entry with "
                               "fulfillment_channel_code and a whole quantity of 0 or more.")])
            code = entry.get("fulfillment_channel_code")
            if not listing["tracked"]:
                return self._submission(sku, "INVALID", [self._issue(
                    "4000003", f"SKU '{sku}' is fulfilled by Amazon ({FBA_CHANNEL}): its quantity is managed by Amazon "
                               "fulfillment and cannot be set by the seller.")])
            if code != "DEFAULT":
                return self._submission(sku, "INVALID", [self._issue(
                    "4000001", f"The value provided for 'fulfillment_channel_code' is invalid: {code!r}; a seller-"
                               "fulfilled listing takes DEFAULT.")])
            quantity = given
        if request.param("mode") == "VALIDATION_PREVIEW":
            return self._submission(sku, "VALID")
        if quantity is not None:
            self.listings.written(listing["listing_id"], quantity)
        return self._submission(sku, "ACCEPTED")

    # --- orders ---------------------------------------------------------------------------------------
    def render(self, order: SimOrder) -> SimOrderRecord:
        rng = random.Random(order.uid)
        payload = json.loads(ORDER_TEMPLATE)["payload"]["Orders"][0]
        pii = json.loads(PII_TEMPLATE)["payload"]["Orders"][0]
        order_id = f"{rng.randint(111, 114)}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
        status = {"cancelled": "Canceled", "shipped": "Shipped"}.get(order.status, "Unshipped" if order.paid else "Pending")
        level, category, delivery_days = SHIPPING[order.shipping]
        shipped = order.quantity if status == "Shipped" else 0
        unshipped = order.quantity if status == "Unshipped" else 0
        placed = order.placed_at
        business = rng.random() < 0.05
        customer, address = order.customer, order.ship_to
        overwrite(
            payload,
            AmazonOrderId=order_id, PurchaseDate=ZERO_DATE if order.has("invalid_date") else iso_utc(placed),
            LastUpdateDate=iso_utc(order.updated_at),
            OrderStatus=status, FulfillmentChannel="AFN" if order.fba else "MFN", SalesChannel="Amazon.com",
            ShipServiceLevel=level,
            OrderTotal={"CurrencyCode": order.currency,
                        "Amount": order.money(-order.total if order.has("invalid_amount") else order.total)},
            NumberOfItemsShipped=shipped, NumberOfItemsUnshipped=unshipped, PaymentMethod="Other",
            PaymentMethodDetails=["Standard"], IsReplacementOrder=False, MarketplaceId=MARKETPLACE,
            ShipmentServiceLevelCategory=category, OrderType="StandardOrder",
            EarliestShipDate=iso_utc(placed + timedelta(hours=2)), LatestShipDate=iso_utc(placed + timedelta(days=2)),
            EarliestDeliveryDate=iso_utc(placed + timedelta(days=delivery_days)),
            LatestDeliveryDate=iso_utc(placed + timedelta(days=delivery_days + 3)),
            IsBusinessOrder=business, IsPrime=rng.random() < 0.4, IsPremiumOrder=order.shipping == "overnight",
            DefaultShipFromLocationAddress=overwrite(payload["DefaultShipFromLocationAddress"], Name=f"{self.name} warehouse"),
        )
        if address is not None:  # Amazon leaves out what it does not have
            shipping_address = overwrite(
                pii["ShippingAddress"], Name=customer.name, AddressLine1=address.address1, City=address.city,
                StateOrRegion=address.province_code or address.province, PostalCode=address.postcode,
                CountryCode=address.country_code,
            )
            if address.address2:
                shipping_address["AddressLine2"] = address.address2
            if customer.phone:
                shipping_address["Phone"] = customer.phone
            shipping_address["AddressType"] = "Residential"
            payload["ShippingAddress"] = shipping_address
        buyer = overwrite(
            pii["BuyerInfo"], BuyerEmail=f"{rng.getrandbits(60):015x}@marketplace.amazon.com", BuyerName=customer.name,
        )
        if customer.blank:  # a broken guest checkout: Amazon leaves out what it does not have
            del buyer["BuyerEmail"], buyer["BuyerName"]
        if business and not customer.blank:
            buyer["BuyerTaxInfo"] = {"CompanyLegalName": f"{customer.last_name} Trading Ltd"}
            buyer["PurchaseOrderNumber"] = str(rng.randrange(10**12, 10**13))
        else:
            del buyer["BuyerTaxInfo"], buyer["PurchaseOrderNumber"]
        payload["BuyerInfo"] = buyer
        items = [self._item(order, line, index, rng, status) for index, line in enumerate(order.lines)]
        return SimOrderRecord(order_id, order.placed_at, order.updated_at, payload, items)

    @staticmethod
    def _item(order: SimOrder, line: Line, index: int, rng: random.Random, status: str) -> dict:
        item = json.loads(ITEM_TEMPLATE)["payload"]["OrderItems"][0]
        product = line.product
        asin = asin_of(product)

        def amount(value) -> dict:
            return {"CurrencyCode": order.currency, "Amount": order.money(value)}

        overwrite(
            item, ASIN=asin, OrderItemId=f"{rng.randrange(10**13, 10**14)}", SellerSKU=product.sku,
            Title=f"{product.title} ({product.variant})", QuantityOrdered=line.quantity,
            QuantityShipped=line.quantity if status == "Shipped" else 0, ProductInfo={"NumberOfItems": "1"},
            ItemPrice=amount(line.total), ItemTax=amount(order.line_tax(line)), PromotionDiscount=amount(line.total * 0),
            IsGift="false", ConditionId="New", ConditionSubtypeId="New",
            BuyerRequestedCancel={
                "IsBuyerRequestedCancel": "true" if status == "Canceled" else "false",
                "BuyerCancelReason": "Found cheaper somewhere else." if status == "Canceled" else "",
            },
        )
        item["ShippingPrice"] = amount(order.shipping_price if index == 0 else order.shipping_price * 0)
        return item

    def parse_admin(self, body: Any) -> list[SimOrderRecord]:
        if isinstance(body, dict) and isinstance(body.get("payload"), dict):
            orders = body["payload"].get("Orders")
            if not isinstance(orders, list):
                raise AdminError("amazon envelope: payload.Orders must be a list of orders")
        else:
            orders = [body]
        records = []
        for index, order in enumerate(orders):
            what = f"amazon order #{index}"
            if not isinstance(order, dict):
                raise AdminError(f"{what}: expected an Order object or {{\"payload\": {{\"Orders\": [...]}}}}")
            order = dict(order)
            items = order.pop("OrderItems", [])
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise AdminError(f"{what}: 'OrderItems' must be a list of OrderItem objects")
            order_id = require(order, "AmazonOrderId", what)
            records.append(SimOrderRecord(
                str(order_id), admin_time(order, "PurchaseDate", what), admin_time(order, "LastUpdateDate", what),
                order, items,
            ))
        return records
