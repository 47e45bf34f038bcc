"""Shopify REST Admin API: orders.json with cursor paging in the Link header and a leaky bucket. The stock push's
writes go to the GraphQL Admin API (shopify/inventory.py), on the same session with a throttle bucket of their own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sync_pipeline.channels.base import ChannelConnector, CsvExport, RawOrder, iso_z
from sync_pipeline.channels.http import RateLimitReading
from sync_pipeline.channels.shopify.mapping import SHOPIFY_ORDERS
from sync_pipeline.config import RateLimitConfig

API_VERSION = "2025-01"
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
# GraphQL Admin API: a bucket of points per app and shop, separate from REST's, reported in every answer's
# extensions.cost.throttleStatus rather than a header (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits).
# Standard plan: 100 points/s; a live 2025-01 answer shows maximumAvailable 2000. The client's bucket counts calls of
# the stock push's mutation, each INVENTORY_SET_COST points (its requestedQueryCost: 10 for a mutation + 1 for the
# inventoryAdjustmentGroup object it selects); shopify/inventory.py corrects the model from every throttleStatus.
GRAPHQL_BUCKET = "graphql"
GRAPHQL_POINTS, GRAPHQL_RESTORE_PER_SECOND = 2000, 100.0
INVENTORY_SET_COST = 11


class ShopifyConnector(ChannelConnector):
    type = "shopify"
    credential_names = ("access_token",)
    reauthorize_hint = (
        "re-authorize the app in Shopify admin (Settings > Apps and sales channels > Develop apps), "
        "then put the new Admin API access token in {env}"
    )
    # Standard plan: a bucket of 40 leaking 2 requests/s; Plus stores set rate_limit in channels.yaml.
    rate_limits = {
        "default": RateLimitConfig(per_second=2.0, burst=40),
        GRAPHQL_BUCKET: RateLimitConfig(per_second=GRAPHQL_RESTORE_PER_SECOND / INVENTORY_SET_COST,
                                        burst=GRAPHQL_POINTS // INVENTORY_SET_COST),
    }
    csv_export = CsvExport(order_id="Id", placed_at="Created at")
    mapping = SHOPIFY_ORDERS
    max_page_size = 250

    def authenticate(self, session, secrets) -> None:
        session.headers["X-Shopify-Access-Token"] = secrets["access_token"]

    def read_rate_limit(self, headers) -> RateLimitReading | None:
        value = headers.get(CALL_LIMIT_HEADER)
        if not value or "/" not in value:
            return None
        used, bucket = (float(part) for part in value.split("/", 1))
        return RateLimitReading(remaining=bucket - used, capacity=bucket, header=value)

    @property
    def _api(self) -> str:
        return f"{self.config.base_url}/admin/api/{self.config.options.get('api_version', API_VERSION)}"

    @property
    def api_url(self) -> str:
        """<shop>/admin/api/<version>: where the tracking push (shopify/tracking.py) sends too."""
        return self._api

    @staticmethod
    def _created(placed_from: datetime, placed_to: datetime) -> dict:
        """Orders created in [placed_from, placed_to), every status: the filters of the list and of its count."""
        return {
            "status": "any",  # else Shopify silently leaves out closed and cancelled orders
            "created_at_min": iso_z(placed_from),
            "created_at_max": iso_z(placed_to - timedelta(seconds=1)),  # Shopify's bounds are inclusive
        }

    def pages(self, placed_from, placed_to, updated_since) -> Iterator[list[RawOrder]]:
        params: dict | None = {**self._created(placed_from, placed_to), "limit": self.page_size}
        if updated_since is not None:
            params["updated_at_min"] = iso_z(updated_since)
        url: str | None = f"{self._api}/orders.json"
        while url:
            response = self.http.request("GET", url, endpoint="orders.json", params=params)
            self.log.pages += 1
            yield [self.raw_order(str(order["id"]), order) for order in response.json()["orders"]]
            # The next link carries page_info and limit only; Shopify refuses filters beside page_info.
            url, params = response.links.get("next", {}).get("url"), None

    def count_orders(self, start: datetime, end: datetime) -> int:
        """`GET orders/count.json` with the list's filters answers {"count": N} (REST Admin Order resource; the
        count the generated shopify-api-ruby tests call as `orders/count.json?status=any`), on the same bucket."""
        response = self.http.request("GET", f"{self._api}/orders/count.json", endpoint="orders/count.json",
                                     params=self._created(start, end))
        return int(response.json()["count"])

    def fetch_order(self, external_order_id: str) -> RawOrder | None:
        response = self.http.request(
            "GET", f"{self._api}/orders/{external_order_id}.json", endpoint="orders/{id}.json", allowed=(200, 404)
        )
        if response.status_code == 404:
            return None
        order = response.json()["order"]
        return self.raw_order(str(order["id"]), order)
