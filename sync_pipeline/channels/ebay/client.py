"""eBay Sell Fulfillment API (getOrders): OAuth user tokens renewed from a refresh token, a creationdate range
filter, limit/offset paging that follows `next`, and daily quotas with no per-request header."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sync_pipeline.channels.base import ChannelConnector, CsvExport, RawOrder, utc
from sync_pipeline.channels.ebay.mapping import EBAY_ORDERS
from sync_pipeline.channels.http import RateLimitReading
from sync_pipeline.channels.oauth import RefreshTokenGrant

ORDERS_PATH = "/sell/fulfillment/v1/order"
TOKEN_PATH = "/identity/v1/oauth2/token"


def _iso_ms(value: datetime) -> str:
    value = utc(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class EbayConnector(ChannelConnector):
    type = "ebay"
    credential_names = ("refresh_token", "client_id", "client_secret")
    reauthorize_hint = (
        "grant the app access again through its eBay consent flow (scope sell.fulfillment) to get a new refresh "
        "token, and check the App ID and Cert ID under Application Keys in the eBay developer portal, then update {env}"
    )
    csv_export = CsvExport(order_id="Order Number", placed_at="Sale Date")
    mapping = EBAY_ORDERS
    max_page_size = 200

    def authenticate(self, session, secrets) -> None:
        # The app's client id and secret go as HTTP Basic; tokens live two hours.
        self._token = RefreshTokenGrant(
            self.http, url=f"{self.config.base_url}{TOKEN_PATH}", endpoint="identity/v1/oauth2/token",
            form={"grant_type": "refresh_token", "refresh_token": secrets["refresh_token"]},
            basic_auth=(secrets["client_id"], secrets["client_secret"]), header="Authorization", scheme="Bearer ",
            lifetime_s=7200, refused="eBay's OAuth token endpoint refused the refresh token or the app's keys",
        )

    def _get(self, url: str, *, endpoint: str, params: dict | None = None, allowed=(200,)):
        return self._token.request("GET", url, endpoint=endpoint, params=params, allowed=allowed)

    @property
    def api_url(self) -> str:
        """The API host (the channel's base_url), which /sell/fulfillment/v1/... hangs from."""
        return self.config.base_url

    def request(self, method: str, path: str, *, endpoint: str, allowed=(200,), **kwargs):
        """Any call on this connector's session and live OAuth token (the tracking push uses it)."""
        return self._token.request(method, f"{self.api_url}{path}", endpoint=endpoint, allowed=allowed, **kwargs)

    def read_rate_limit(self, headers) -> RateLimitReading | None:
        return None  # daily quotas, reported only by the Developer Analytics API

    def _updated_since(self, order: dict, since: datetime | None) -> bool:
        """Unreadable update times count as changed: better one order too many than a lost one."""
        updated = self.mapping.times(order, self.config.tz).updated_at
        return since is None or updated is None or updated >= since

    @staticmethod
    def _created(placed_from: datetime, placed_to: datetime) -> str:
        """The `filter` for orders created in [placed_from, placed_to), every status: the list's, and its total's."""
        return f"creationdate:[{_iso_ms(placed_from)}..{_iso_ms(placed_to - timedelta(milliseconds=1))}]"  # inclusive

    def pages(self, placed_from, placed_to, updated_since) -> Iterator[list[RawOrder]]:
        # eBay ignores lastmodifieddate beside creationdate: filter by placement there and by update here.
        url: str | None = f"{self.config.base_url}{ORDERS_PATH}"
        params: dict | None = {"filter": self._created(placed_from, placed_to), "limit": self.page_size, "offset": 0}
        while url:
            response = self._get(url, endpoint="sell/fulfillment/v1/order", params=params)
            self.log.pages += 1
            body = response.json()
            yield [
                self.raw_order(order["orderId"], order)
                for order in body.get("orders", [])
                if self._updated_since(order, updated_since)
            ]
            url, params = body.get("next"), None  # `next` carries the filter, limit and offset

    def count_orders(self, start: datetime, end: datetime) -> int:
        """getOrders has no count call; its paged answer's `total` is the number of orders matching the filter
        (OrderSearchPagedCollection), so one page of one order counts them."""
        response = self._get(f"{self.config.base_url}{ORDERS_PATH}", endpoint="sell/fulfillment/v1/order",
                             params={"filter": self._created(start, end), "limit": 1, "offset": 0})
        return int(response.json()["total"])

    def fetch_order(self, external_order_id: str) -> RawOrder | None:
        response = self._get(
            f"{self.config.base_url}{ORDERS_PATH}/{external_order_id}", endpoint="sell/fulfillment/v1/order/{id}",
            allowed=(200, 404),
        )
        if response.status_code == 404:
            return None
        order = response.json()
        return self.raw_order(order["orderId"], order)
