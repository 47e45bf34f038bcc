"""Shopify REST Admin API: orders.json with cursor paging in the Link header and a leaky bucket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from sync_pipeline.channels.base import ChannelConnector, CsvExport, RawOrder, iso_z
from sync_pipeline.channels.http import RateLimitReading
from sync_pipeline.channels.shopify.mapping import SHOPIFY_ORDERS
from sync_pipeline.config import RateLimitConfig

API_VERSION = "2025-01"
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"


class ShopifyConnector(ChannelConnector):
    type = "shopify"
    credential_names = ("access_token",)
    reauthorize_hint = (
        "re-authorize the app in Shopify admin (Settings > Apps and sales channels > Develop apps), "
        "then put the new Admin API access token in {env}"
    )
    # Standard plan: a bucket of 40 leaking 2 requests/s; Plus stores set rate_limit in channels.yaml.
    rate_limits = {"default": RateLimitConfig(per_second=2.0, burst=40)}
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

    def pages(self, placed_from, placed_to, updated_since) -> Iterator[list[RawOrder]]:
        # status=any, or Shopify silently leaves out closed and cancelled orders.
        params: dict | None = {
            "status": "any",
            "limit": self.page_size,
            "created_at_min": iso_z(placed_from),
            "created_at_max": iso_z(placed_to - timedelta(seconds=1)),  # Shopify's bounds are inclusive
        }
        if updated_since is not None:
            params["updated_at_min"] = iso_z(updated_since)
        url: str | None = f"{self._api}/orders.json"
        while url:
            response = self.http.request("GET", url, endpoint="orders.json", params=params)
            self.log.pages += 1
            yield [self.raw_order(str(order["id"]), order) for order in response.json()["orders"]]
            # The next link carries page_info and limit only; Shopify refuses filters beside page_info.
            url, params = response.links.get("next", {}).get("url"), None

    def fetch_order(self, external_order_id: str) -> RawOrder | None:
        response = self.http.request(
            "GET", f"{self._api}/orders/{external_order_id}.json", endpoint="orders/{id}.json", allowed=(200, 404)
        )
        if response.status_code == 404:
            return None
        order = response.json()["order"]
        return self.raw_order(str(order["id"]), order)
