"""WooCommerce REST API v3: page-numbered orders with X-WP-TotalPages, HTTP Basic auth, no rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sync_pipeline.channels.base import ChannelConnector, CsvExport, RawOrder, utc
from sync_pipeline.channels.http import ChannelRequestError, RateLimitReading
from sync_pipeline.channels.woocommerce.mapping import WOOCOMMERCE_ORDERS


def _gmt_param(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%S")


class WooCommerceConnector(ChannelConnector):
    type = "woocommerce"
    credential_names = ("consumer_key", "consumer_secret")
    reauthorize_hint = (
        "create a new REST API key with Read/Write access in WooCommerce > Settings > Advanced > REST API, "
        "then put the consumer key and secret in {env}"
    )
    csv_export = CsvExport(order_id="Order ID", placed_at="Order Date")
    mapping = WOOCOMMERCE_ORDERS
    max_page_size = 100

    def authenticate(self, session, secrets) -> None:
        session.auth = (secrets["consumer_key"], secrets["consumer_secret"])

    def read_rate_limit(self, headers) -> RateLimitReading | None:
        return None  # core wc/v3 has no rate limit

    @staticmethod
    def _created(placed_from: datetime, placed_to: datetime) -> dict:
        """Orders created in [placed_from, placed_to), every status (the default `any`): the list's filters."""
        return {
            "after": _gmt_param(placed_from - timedelta(seconds=1)),  # `after` is exclusive
            "before": _gmt_param(placed_to),
            "dates_are_gmt": "true",
        }

    def pages(self, placed_from, placed_to, updated_since) -> Iterator[list[RawOrder]]:
        params = {
            **self._created(placed_from, placed_to),
            "per_page": self.page_size,
            "orderby": "id",  # stable order, so pages do not shift while new orders arrive
            "order": "asc",
            "page": 1,
        }
        if updated_since is not None:
            params["modified_after"] = _gmt_param(updated_since)
        url = f"{self.config.base_url}/wp-json/wc/v3/orders"
        while True:
            response = self.http.request("GET", url, endpoint="wc/v3/orders", params=params)
            self.log.pages += 1
            yield [self.raw_order(str(order["id"]), order) for order in response.json()]
            if params["page"] >= int(response.headers.get("X-WP-TotalPages", 1)):
                return
            params["page"] += 1

    def count_orders(self, start: datetime, end: datetime) -> int:
        """WooCommerce has no count endpoint; every list answer carries the number of matching orders in
        `X-WP-Total` (REST API v3 introduction, Pagination), so one list request of one order counts them."""
        response = self.http.request(
            "GET", f"{self.config.base_url}/wp-json/wc/v3/orders", endpoint="wc/v3/orders",
            params={**self._created(start, end), "per_page": 1, "page": 1},
        )
        total = response.headers.get("X-WP-Total")
        if total is None or not total.strip().isdigit():
            raise ChannelRequestError(
                self.config.name, f"GET wc/v3/orders answered without a readable X-WP-Total header ({total!r}), so the "
                "orders cannot be counted; check that no proxy or security plugin strips the WP REST headers",
            )
        return int(total)

    def fetch_order(self, external_order_id: str) -> RawOrder | None:
        response = self.http.request(
            "GET",
            f"{self.config.base_url}/wp-json/wc/v3/orders/{external_order_id}",
            endpoint="wc/v3/orders/{id}",
            allowed=(200, 404),
        )
        if response.status_code == 404:
            return None
        order = response.json()
        return self.raw_order(str(order["id"]), order)
