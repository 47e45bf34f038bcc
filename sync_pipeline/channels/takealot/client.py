"""Takealot Seller API v2: sales (one row per order line) filtered by local date, page_number paging."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from sync_pipeline.channels.base import ChannelConnector, CsvExport, RawOrder
from sync_pipeline.channels.http import RateLimitReading
from sync_pipeline.channels.takealot.mapping import TAKEALOT_ORDERS
from sync_pipeline.config import RateLimitConfig


def _float(headers, name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class TakealotConnector(ChannelConnector):
    type = "takealot"
    credential_names = ("api_key",)
    reauthorize_hint = (
        "generate a new API key in the Takealot Seller Portal (Account > API Integrations), "
        "then put it in {env}"
    )
    rate_limits = {"default": RateLimitConfig(per_second=1.0, burst=10)}
    csv_export = CsvExport(order_id="Order ID", placed_at="Order Date")
    mapping = TAKEALOT_ORDERS
    max_page_size = 100
    # The API filters by whole local days, so smaller windows would not make a request any lighter.
    min_window = timedelta(days=1)
    # takealot-seller-openapi.yml: GET /v2/sales' page_summary.total counts sale rows (one per order line), and
    # /v2/sales/summary gives amounts and units per fixed range; neither counts orders. So count_orders stays None.
    no_count_reason = (
        "the Seller API v2 counts no orders: GET /v2/sales' page_summary.total counts sale lines (one per order "
        "line) over whole local dates, and /v2/sales/summary gives amounts and units, not orders"
    )

    def authenticate(self, session, secrets) -> None:
        session.headers["Authorization"] = f"Key {secrets['api_key']}"

    def read_rate_limit(self, headers) -> RateLimitReading | None:
        if "x-RateLimit-Remaining" not in headers:
            return None
        return RateLimitReading(
            remaining=_float(headers, "x-RateLimit-Remaining"),
            capacity=_float(headers, "x-RateLimit-Limit"),
            reset_after=_float(headers, "x-RateLimit-Reset"),
            header=f"{headers.get('x-RateLimit-Remaining')}/{headers.get('x-RateLimit-Limit')}",
        )

    def _order(self, sales: list[dict]) -> RawOrder:
        # Sales carry no modification time: every fetch re-reads the day, and identical payloads dedupe.
        return self.raw_order(str(sales[0]["order_id"]), sales)

    def _sales_pages(self, filters: str) -> Iterator[list[dict]]:
        params = {"filters": filters, "page_size": self.page_size, "page_number": 1}
        while True:
            response = self.http.request("GET", f"{self.config.base_url}/v2/sales", endpoint="v2/sales", params=params)
            self.log.pages += 1
            body = response.json()
            yield body["sales"]
            if params["page_number"] * params["page_size"] >= body["page_summary"]["total"] or not body["sales"]:
                return
            params["page_number"] += 1

    def pages(self, placed_from, placed_to, updated_since) -> Iterator[list[RawOrder]]:
        tz = self.config.tz
        first_day = placed_from.astimezone(tz).date()
        last_day = (placed_to - timedelta(microseconds=1)).astimezone(tz).date()
        # An order's lines can sit on different pages, so orders are assembled from the whole window.
        lines_by_order: dict[str, list[dict]] = {}
        for sales in self._sales_pages(f"start_date:{first_day};end_date:{last_day}"):
            for sale in sales:
                lines_by_order.setdefault(str(sale["order_id"]), []).append(sale)
        yield [self._order(lines) for lines in lines_by_order.values()]

    def fetch_order(self, external_order_id: str) -> RawOrder | None:
        sales = [s for page in self._sales_pages(f"order_id:{external_order_id}") for s in page]
        return self._order(sales) if sales else None
