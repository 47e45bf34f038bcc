"""BigCommerce Orders V2: `X-Auth-Token`, page/limit paging that ends with a short page or HTTP 204, a per-store
quota reported in X-Rate-Limit-* headers, and products and shipping addresses as sub-resources of each order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime

from sync_pipeline.channels.base import ChannelConnector, CsvExport, RawOrder, utc
from sync_pipeline.channels.bigcommerce.mapping import BIGCOMMERCE_ORDERS
from sync_pipeline.channels.http import RateLimitReading
from sync_pipeline.config import RateLimitConfig

SUB_RESOURCE_PAGE_SIZE = 250


def _rfc2822(value: datetime) -> str:
    return format_datetime(utc(value).replace(microsecond=0))


def _number(headers, name: str) -> float | None:
    try:
        return float(headers[name]) if name in headers else None
    except ValueError:
        return None


class BigCommerceConnector(ChannelConnector):
    type = "bigcommerce"
    credential_names = ("access_token",)
    reauthorize_hint = (
        "create a new store-level API account with Orders modify scope (tracking is pushed as shipments) in the BigCommerce control panel "
        "(Settings > Store-level API accounts), then put its access token in {env}"
    )
    # Standard and Plus plans: 150 requests per 30 s window per store, shared by every app; Pro stores set rate_limit.
    rate_limits = {"default": RateLimitConfig(per_second=5.0, burst=150)}
    csv_export = CsvExport(order_id="Order ID", placed_at="Order Date")
    mapping = BIGCOMMERCE_ORDERS
    max_page_size = 250

    @property
    def api_url(self) -> str:
        """The store's API root (base_url: https://api.bigcommerce.com/stores/<hash>), which /v2/... hangs from."""
        return self.config.base_url

    def authenticate(self, session, secrets) -> None:
        session.headers["X-Auth-Token"] = secrets["access_token"]
        session.headers["Accept"] = "application/json"  # V2 answers XML to clients that do not ask for JSON

    def read_rate_limit(self, headers) -> RateLimitReading | None:
        left, quota = _number(headers, "X-Rate-Limit-Requests-Left"), _number(headers, "X-Rate-Limit-Requests-Quota")
        if left is None:
            return None  # a 429 without these headers is platform load: the shared backoff handles it
        window_ms, reset_ms = _number(headers, "X-Rate-Limit-Time-Window-Ms"), _number(headers, "X-Rate-Limit-Time-Reset-Ms")
        return RateLimitReading(
            remaining=left,
            capacity=quota,
            per_second=quota / (window_ms / 1000) if quota and window_ms else None,
            reset_after=reset_ms / 1000 if reset_ms is not None else None,
            header=f"{headers['X-Rate-Limit-Requests-Left']}/{headers.get('X-Rate-Limit-Requests-Quota')}",
        )

    def _list(self, path: str, endpoint: str, params: dict, page_size: int) -> Iterator[list[dict]]:
        """A V2 collection a page at a time; the last page is short, or an HTTP 204 when the previous one was full."""
        params = {**params, "limit": page_size, "page": 1}
        while True:
            response = self.http.request(
                "GET", f"{self.config.base_url}{path}", endpoint=endpoint, params=params, allowed=(200, 204)
            )
            rows = response.json() if response.status_code == 200 else []
            yield rows
            if len(rows) < page_size:
                return
            params["page"] += 1

    def _sub_resource(self, order_id, name: str) -> list[dict]:
        path = f"/v2/orders/{order_id}/{name}"
        return [row for page in self._list(path, f"v2/orders/{{id}}/{name}", {}, SUB_RESOURCE_PAGE_SIZE) for row in page]

    def _raw(self, order: dict) -> RawOrder:
        # The order and its two sub-resources are separate calls; the landed payload keeps all three verbatim.
        order_id = order["id"]
        payload = {
            "order": order,
            "products": self._sub_resource(order_id, "products"),
            "shipping_addresses": self._sub_resource(order_id, "shipping_addresses"),
        }
        return self.raw_order(str(order_id), payload)

    def _new_versions(self, orders: list[dict]) -> list[RawOrder]:
        """The orders with their sub-resources, except those whose row is exactly a landed version's: their two
        sub-resource calls would land nothing. The row is compared whole, not only date_modified: an order edit
        (products, addresses) saves the order, moving date_modified and its totals, items_total or items_shipped;
        a status written without moving date_modified (S42) still changes status_id."""
        landed = self.landed([str(order["id"]) for order in orders]) if self.landed and orders else {}
        return [self._raw(order) for order in orders
                if not any(isinstance(version, dict) and version.get("order") == order
                           for version in landed.get(str(order["id"]), ()))]

    @staticmethod
    def _created(placed_from: datetime, placed_to: datetime) -> dict:
        """Orders created in [placed_from, placed_to), every status: the filters of the list and of its count."""
        return {
            "min_date_created": _rfc2822(placed_from),
            "max_date_created": _rfc2822(placed_to - timedelta(seconds=1)),  # both bounds are inclusive
        }

    def pages(self, placed_from, placed_to, updated_since) -> Iterator[list[RawOrder]]:
        params = {
            **self._created(placed_from, placed_to),
            "sort": "id:asc",  # stable order, so pages do not shift while new orders arrive
        }
        if updated_since is not None:
            params["min_date_modified"] = _rfc2822(updated_since)
        for orders in self._list("/v2/orders", "v2/orders", params, self.page_size):
            self.log.pages += 1
            yield self._new_versions(orders)

    def count_orders(self, start: datetime, end: datetime) -> int:
        """`GET v2/orders/count` takes the list's filters (min/max_date_created, ...) and answers {"statuses":
        [{"id", "name", "count", ...}], "count": N}, N the orders of every status (Orders V2 getOrdersCount)."""
        response = self.http.request("GET", f"{self.config.base_url}/v2/orders/count", endpoint="v2/orders/count",
                                     params=self._created(start, end))
        body = response.json()
        if "count" in body:
            return int(body["count"])
        return sum(int(status.get("count", 0)) for status in body.get("statuses", []))

    def fetch_orders_by_id(self, external_order_ids: list[str]) -> list[RawOrder]:
        """The list filtered by id, `GET v2/orders?min_id=&max_id=` (both inclusive), over the fewest ranges that each
        span fewer ids than a page holds: one call per range (a short page ends the list, no 204 after it) however
        sparse the ids; the orders between the named ones are dropped. Ids that are not whole numbers name no
        BigCommerce order."""
        ids = sorted({int(i) for i in external_order_ids if i.isdigit()})
        span = max(1, self.page_size - 1)
        ranges: list[tuple[int, int]] = []
        for order_id in ids:
            if ranges and order_id < ranges[-1][0] + span:
                ranges[-1] = (ranges[-1][0], order_id)
            else:
                ranges.append((order_id, order_id))
        wanted, rows = set(ids), []
        for low, high in ranges:
            for page in self._list("/v2/orders", "v2/orders", {"min_id": low, "max_id": high, "sort": "id:asc"},
                                   self.page_size):
                self.log.pages += 1
                rows += [row for row in page if isinstance(row, dict) and row.get("id") in wanted]
        return self._new_versions(rows)

    def fetch_order(self, external_order_id: str) -> RawOrder | None:
        response = self.http.request(
            "GET", f"{self.config.base_url}/v2/orders/{external_order_id}", endpoint="v2/orders/{id}", allowed=(200, 404)
        )
        return self._raw(response.json()) if response.status_code == 200 else None
