"""What every channel connector offers, and the window logic they share."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import requests

from sync_pipeline.channels.http import (
    ApiCallLog,
    ChannelHttp,
    ChannelRequestError,
    ChannelTimeout,
    RateLimitReading,
    RetrySettings,
)
from sync_pipeline.config import ChannelConfig, RateLimitConfig
from sync_pipeline.orders.mapping import ChannelMapping

CHECK_PAGE_SIZE = 5


@dataclass(frozen=True)
class RawOrder:
    """One order exactly as the channel sent it, with the two timestamps the pipeline files it by (None when
    the channel sent one that cannot be read: the order still lands, and normalize reports INVALID_DATE)."""

    external_order_id: str
    payload: Any
    placed_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class CsvExport:
    """Columns of the channel's own order export, for the manual-import backup path."""

    order_id: str
    placed_at: str
    updated_at: str | None = None


def utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def iso_z(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


class ChannelConnector(ABC):
    """A sales channel's API: its auth, its paging and its rate-limit headers. Everything else is shared."""

    type: ClassVar[str]
    credential_names: ClassVar[tuple[str, ...]]
    reauthorize_hint: ClassVar[str]
    rate_limits: ClassVar[dict[str, RateLimitConfig]] = {}
    csv_export: ClassVar[CsvExport]
    # The field table of the API's payloads; it also knows where the order's times sit and how they are written.
    mapping: ClassVar[ChannelMapping]
    max_page_size: ClassVar[int]
    # Windows are halved on timeouts down to this size.
    min_window: ClassVar[timedelta] = timedelta(hours=1)
    # Why count_orders has no answer on this platform (the completeness check shows it with NO_COUNT).
    no_count_reason: ClassVar[str] = "its API offers no count of orders"
    # The payload versions already landed for some of the channel's orders (external id -> payloads), set by the
    # run that lands what this connector reads. A platform whose order is several calls (BigCommerce) reads the
    # cheap one first and skips the rest for a version already landed. None: every order is read in full.
    landed: Callable[[list[str]], dict[str, list[Any]]] | None = None

    def __init__(
        self,
        config: ChannelConfig,
        log: ApiCallLog | None = None,
        retry: RetrySettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.config = config
        self.log = log or ApiCallLog(config.name)
        secrets = {name: config.secret(name) for name in self.credential_names}
        env_vars = ", ".join(config.credentials[name] for name in self.credential_names)
        self.http = ChannelHttp(
            config,
            self.log,
            secrets=secrets.values(),
            auth_fix=self.reauthorize_hint.format(env=env_vars),
            rate_limits=self.rate_limits,
            read_rate_limit=self.read_rate_limit,
            retry=retry,
            sleep=sleep,
        )
        self.authenticate(self.http.session, secrets)
        self.page_size = min(config.page_size or self.max_page_size, self.max_page_size)

    @abstractmethod
    def authenticate(self, session: requests.Session, secrets: dict[str, str]) -> None:
        """Attach the credentials to the channel's session."""

    @abstractmethod
    def read_rate_limit(self, headers) -> RateLimitReading | None:
        """Parse the platform's rate-limit headers, if it sends any."""

    @abstractmethod
    def pages(
        self, placed_from: datetime, placed_to: datetime, updated_since: datetime | None
    ) -> Iterator[list[RawOrder]]:
        """Orders placed in [placed_from, placed_to) (and updated since, where the API can filter), a page at a time."""

    def raw_order(self, external_order_id: str, payload: Any) -> RawOrder:
        placed_at, updated_at, _ = self.mapping.times(payload, self.config.tz)
        return RawOrder(external_order_id, payload, placed_at, updated_at)

    @abstractmethod
    def fetch_order(self, external_order_id: str) -> RawOrder | None:
        """One order by the channel's id, or None when the channel does not know it."""

    def fetch_orders_by_id(self, external_order_ids: list[str]) -> list[RawOrder]:
        """The orders of these ids the channel still has (a webhook named them), one read each; a platform whose
        list filters by id overrides it with fewer calls."""
        return [order for order in map(self.fetch_order, external_order_ids) if order is not None]

    def fetch_orders(
        self, placed_from: datetime, placed_to: datetime, updated_since: datetime | None = None
    ) -> list[RawOrder]:
        """Every order placed in the window, halving the window whenever the channel times out on it."""
        try:
            orders = [o for page in self.pages(placed_from, placed_to, updated_since) for o in page]
        except (KeyError, ValueError, TypeError) as exc:
            # An order without an id cannot be told apart from the others: stop this channel only.
            raise ChannelRequestError(
                self.config.name,
                f"an order placed between {placed_from:%Y-%m-%d %H:%M} and {placed_to:%Y-%m-%d %H:%M} UTC has no "
                f"readable id ({type(exc).__name__}: {exc}); nothing was written for this window. "
                "Correct the order in the channel, or import it from a CSV export",
            ) from None
        except ChannelTimeout:
            if placed_to - placed_from <= self.min_window:
                raise
            self.log.window_splits += 1
            middle = placed_from + (placed_to - placed_from) / 2
            return self.fetch_orders(placed_from, middle, updated_since) + self.fetch_orders(
                middle, placed_to, updated_since
            )
        # The channel filtered by creation time, so an order whose time it wrote unreadably belongs to this window.
        latest = {
            o.external_order_id: o for o in orders if o.placed_at is None or placed_from <= o.placed_at < placed_to
        }
        return list(latest.values())

    def count_orders(self, start: datetime, end: datetime) -> int | None:
        """The channel's own count of the orders placed in [start, end), from its count endpoint or its list's total,
        filtered as `pages` filters (every status), so it counts what a fetch of the window lands. None: the platform
        gives no count (`no_count_reason` says why)."""
        return None

    def check_connection(self) -> dict:
        """Reachability, auth, one page of the last day's orders and the rate-limit headroom left."""
        now = datetime.now(timezone.utc)
        self.page_size = min(self.page_size, CHECK_PAGE_SIZE)  # a probe, not a sync: keep it cheap
        first_page = next(iter(self.pages(now - timedelta(days=1), now, None)), [])
        reading = self.http.last_reading
        return {
            "channel": self.config.name,
            "type": self.type,
            "orders_on_first_page": len(first_page),
            "api_calls": len(self.log.calls),
            "latency_ms": self.log.calls[-1]["latency_ms"] if self.log.calls else None,
            "rate_limit_header": reading.header if reading else None,
            "rate_limit_remaining": reading.remaining if reading else None,
            "rate_limit_capacity": reading.capacity if reading else None,
        }
