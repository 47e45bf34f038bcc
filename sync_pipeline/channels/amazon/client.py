"""Amazon SP-API Orders v0: LWA access tokens, NextToken paging, per-operation token buckets, and a
separate getOrderItems call per order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from sync_pipeline.channels.amazon.mapping import AMAZON_ORDERS
from sync_pipeline.channels.base import ChannelConnector, CsvExport, RawOrder, iso_z
from sync_pipeline.channels.http import RateLimitReading
from sync_pipeline.channels.oauth import RefreshTokenGrant
from sync_pipeline.config import RateLimitConfig

LWA_URL = "https://api.amazon.com/auth/o2/token"
DEFAULT_MARKETPLACE = "ATVPDKIKX0DER"  # amazon.com
# CreatedBefore must lie at least two minutes in the past; keep a few seconds of margin.
LATEST_ALLOWED_LAG = timedelta(minutes=2, seconds=5)


class AmazonConnector(ChannelConnector):
    type = "amazon"
    credential_names = ("refresh_token", "client_id", "client_secret")
    reauthorize_hint = (
        "re-authorize the app in Seller Central (Apps and Services > Manage Your Apps) to get a new "
        "refresh token, and check the LWA client id and secret, then update {env}"
    )
    rate_limits = {
        "getOrders": RateLimitConfig(per_second=0.0167, burst=20),
        "getOrderItems": RateLimitConfig(per_second=0.5, burst=30),
        "getOrder": RateLimitConfig(per_second=0.5, burst=30),
        "confirmShipment": RateLimitConfig(per_second=2.0, burst=10),  # the tracking push (channels/amazon/tracking.py)
        "listingsItems": RateLimitConfig(per_second=5.0, burst=5),  # the stock push (channels/amazon/inventory.py)
    }
    csv_export = CsvExport(order_id="amazon-order-id", placed_at="purchase-date", updated_at="last-updated-date")
    mapping = AMAZON_ORDERS
    max_page_size = 100
    # ordersV0.json: getOrders answers {Orders, NextToken, CreatedBefore | LastUpdatedBefore}; no total, no count call
    # (nor in Orders API 2026-01-01: searchOrders' pagination holds only a nextToken). So count_orders stays None.
    no_count_reason = (
        "SP-API getOrders (Orders v0) answers a page of Orders and a NextToken, with no total, and there is no count "
        "operation (searchOrders of Orders API 2026-01-01 neither: its pagination holds only a nextToken)"
    )

    def authenticate(self, session, secrets) -> None:
        # Login with Amazon takes the app's id and secret in the form; SP-API wants the token in its own header.
        self._token = RefreshTokenGrant(
            self.http, url=self.config.options.get("lwa_url", LWA_URL), endpoint="auth/o2/token",
            form={"grant_type": "refresh_token", **secrets}, header="x-amz-access-token", expired_status=403,
            refused="Login with Amazon refused the refresh token",
        )

    def _get(self, path: str, *, endpoint: str, bucket: str, params: dict | None = None, allowed=(200,)):
        return self._token.request(
            "GET", f"{self.config.base_url}{path}", endpoint=endpoint, bucket=bucket, params=params, allowed=allowed
        )

    @property
    def api_url(self) -> str:
        """The SP-API host (the channel's base_url), which paths like /orders/v0/orders/{id} hang from."""
        return self.config.base_url

    @property
    def marketplace_id(self) -> str:
        return self.config.options.get("marketplace_id", DEFAULT_MARKETPLACE)

    def request(self, method: str, path: str, *, endpoint: str, bucket: str, allowed=(200,), **kwargs):
        """Any SP-API call on this connector's session, bucket and live LWA token (the tracking push uses it)."""
        return self._token.request(method, f"{self.api_url}{path}", endpoint=endpoint, bucket=bucket, allowed=allowed, **kwargs)

    def read_rate_limit(self, headers) -> RateLimitReading | None:
        value = headers.get("x-amzn-RateLimit-Limit")
        return RateLimitReading(per_second=float(value), header=value) if value else None

    def _items(self, order_id: str) -> list[dict]:
        items: list[dict] = []
        params: dict | None = None
        while True:
            response = self._get(
                f"/orders/v0/orders/{order_id}/orderItems",
                endpoint="orders/v0/orders/{id}/orderItems",
                bucket="getOrderItems",
                params=params,
            )
            payload = response.json()["payload"]
            items.extend(payload["OrderItems"])
            if not payload.get("NextToken"):
                return items
            params = {"NextToken": payload["NextToken"]}

    def _raw(self, order: dict) -> RawOrder:
        # getOrders and getOrderItems are separate calls; the landed payload keeps both verbatim.
        return self.raw_order(order["AmazonOrderId"], {"Order": order, "OrderItems": self._items(order["AmazonOrderId"])})

    def _updated_since(self, order: dict, since: datetime | None) -> bool:
        """Unreadable update times count as changed: better one getOrderItems call too many than a lost order."""
        updated = self.mapping.times({"Order": order}, self.config.tz).updated_at
        return since is None or updated is None or updated >= since

    def pages(self, placed_from, placed_to, updated_since) -> Iterator[list[RawOrder]]:
        created_before = min(placed_to, datetime.now(timezone.utc) - LATEST_ALLOWED_LAG)
        if created_before <= placed_from:
            return
        marketplace = self.marketplace_id
        # SP-API takes CreatedAfter or LastUpdatedAfter, never both: filter by placement on the server and
        # by update here, before paying for the rate-limited getOrderItems calls.
        params = {
            "MarketplaceIds": marketplace,
            "CreatedAfter": iso_z(placed_from),
            "CreatedBefore": iso_z(created_before),
            "MaxResultsPerPage": self.page_size,
        }
        while True:
            response = self._get("/orders/v0/orders", endpoint="orders/v0/orders", bucket="getOrders", params=params)
            self.log.pages += 1
            payload = response.json()["payload"]
            yield [
                self._raw(order)
                for order in payload["Orders"]
                if self._updated_since(order, updated_since)
            ]
            if not payload.get("NextToken"):
                return
            params = {"MarketplaceIds": marketplace, "NextToken": payload["NextToken"]}

    def fetch_order(self, external_order_id: str) -> RawOrder | None:
        response = self._get(
            f"/orders/v0/orders/{external_order_id}", endpoint="orders/v0/orders/{id}", bucket="getOrder", allowed=(200, 404)
        )
        return self._raw(response.json()["payload"]) if response.status_code == 200 else None
