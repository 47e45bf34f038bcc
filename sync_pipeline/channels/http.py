"""HTTP machinery every connector shares: one session per channel, retries with backoff and jitter that
honour Retry-After, proactive throttling from rate-limit headers, and a log of every API call."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

import requests
import sqlalchemy as sa
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from sync_pipeline.config import ChannelConfig, RateLimitConfig
from sync_pipeline.db.engine import database_url, get_engine
from sync_pipeline.db.tables import rate_budgets
from sync_pipeline.db.writes import insert_new

CONNECT_TIMEOUT_S = 5.0
log = logging.getLogger(__name__)
T = TypeVar("T")
USER_AGENT = "sync-pipeline/0.1 (+order-sync)"


class ChannelError(Exception):
    """A channel call failed; the message names the channel and what to do. `code` says which kind of trouble it
    is, for channel health: AUTH_FAILED, PERMISSION_DENIED, RATE_LIMITED, UNAVAILABLE or REFUSED."""

    code = "REFUSED"

    def __init__(self, channel: str, message: str, kind: str = "channel", code: str | None = None):
        super().__init__(f"{kind} {channel!r}: {message}")
        self.channel = channel
        self.code = code or self.code


class ChannelAuthError(ChannelError):
    """401/403: retrying cannot help, a person has to renew the credentials (or grant the missing scope)."""

    code = "AUTH_FAILED"


class ChannelRequestError(ChannelError):
    """A request the channel refused, or one that still failed after every retry."""


class ChannelUnavailable(ChannelRequestError):
    """No definite answer after every attempt (timeouts, dropped connections, 5xx, 429): whether a write
    took effect is unknown, so a caller that wrote must look before writing again."""

    code = "UNAVAILABLE"


class ChannelTimeout(ChannelUnavailable):
    """Every attempt timed out; the caller may retry with a smaller time window."""


@dataclass
class ApiCallLog:
    """Every attempt made for one channel, plus the counters a materialization reports."""

    channel: str
    calls: list[dict] = field(default_factory=list)
    pages: int = 0
    retries: int = 0
    http_429: int = 0
    window_splits: int = 0
    throttled_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def bump(self, counter: str, by: float = 1) -> None:
        """Counters may be bumped from several threads (the warehouse client submits in parallel)."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + by)

    def record(self, **call) -> None:
        self.calls.append({"channel": self.channel, "called_at": datetime.now(timezone.utc), **call})

    def rows(self, run_id: str | None) -> list[dict]:
        return [{**call, "run_id": run_id} for call in self.calls]


@dataclass(frozen=True)
class RateLimitReading:
    """What a response's headers say about the server-side bucket."""

    remaining: float | None = None
    capacity: float | None = None
    per_second: float | None = None
    reset_after: float | None = None
    header: str | None = None


class TokenBucket:
    """Client-side model of the channel's bucket, corrected by every response's headers, so requests
    wait before the channel would refuse them instead of after."""

    def __init__(self, limit: RateLimitConfig, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(limit.burst)
        self.per_second = limit.per_second
        self.tokens = self.capacity
        self._clock = clock
        self._updated = clock()
        self._blocked_until = 0.0
        self._streak = 0  # requests let through since the model last had to wait: what the burst allowed at least
        self._lock = threading.RLock()  # threads sharing one channel take turns for tokens

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.per_second)
        self._updated = now

    def wait_time(self) -> float:
        self._refill()
        # Keep one token in hand: the server's view is a little ahead of ours by the round trip.
        needed = max(0.0, 1.0 + min(1.0, self.capacity - 1.0) - self.tokens) / self.per_second
        return max(needed, self._blocked_until - self._clock())

    def acquire(self, sleep: Callable[[float], None]) -> float:
        """One token, after sleeping as long as the model says the channel would refuse; returns the seconds waited.
        Nothing is held while sleeping, so threads (and, shared, processes) waiting on one bucket take turns."""
        waited = 0.0
        while (delay := self._take()) > 0:
            sleep(delay)
            waited += delay
        return waited

    def _take(self) -> float:
        """Take a token if the model has one to spare (0.0), else say how long to wait for it."""
        with self._lock:
            delay = self.wait_time()
            if delay > 0:
                self._streak = 0
                return delay
            self.tokens -= 1.0
            self._streak += 1
            return 0.0

    def drain(self) -> None:
        """The channel said its bucket is empty. Refused within a run of requests our model let through unhindered,
        its burst is no bigger than that run (Amazon reports its rate, not its burst): learn that, so a pause of
        ours does not refill the model past what the channel holds and cost a second 429."""
        with self._lock:
            self._refill()
            self.tokens = 0.0
            if self._streak >= 2:
                self.capacity = max(1.0, min(self.capacity, float(self._streak - 1)))
            self._streak = 0

    def observe(self, reading: RateLimitReading) -> None:
        with self._lock:
            self._observe(reading)

    def _observe(self, reading: RateLimitReading) -> None:
        self._refill()
        if reading.per_second:
            self.per_second = reading.per_second
        if reading.capacity:
            self.capacity = reading.capacity
        if reading.remaining is not None:
            self.tokens = min(self.capacity, reading.remaining)
            if reading.remaining < 1 and reading.reset_after:
                self._blocked_until = self._clock() + reading.reset_after


class SharedTokenBucket(TokenBucket):
    """The same model with its state in the sync database (`rate_budgets`, one row per budget), read and written under
    the row's lock at every take, 429 and reading, so every process and host syncing a channel draws on one budget.
    Timed by the database's clock, so hosts whose clocks differ still agree."""

    def __init__(self, limit: RateLimitConfig, budget: str, database_url: str):
        super().__init__(limit)
        # The configured limit is part of the name: a changed setting starts afresh instead of keeping what was learned.
        self.budget = f"{budget}|{limit.per_second:g}/{limit.burst}"
        self._url = database_url
        self._alone = False

    def _take(self) -> float:
        return self._shared(super()._take)

    def drain(self) -> None:
        self._shared(super().drain)

    def observe(self, reading: RateLimitReading) -> None:
        self._shared(lambda: super(SharedTokenBucket, self).observe(reading))

    def _shared(self, change: Callable[[], T]) -> T:
        """`change` applied to the row's state under its lock, and written back. When the sync database cannot be
        used (`check-connection` still reports a channel then), this process throttles alone, on its own model."""
        with self._lock:
            if self._alone:
                return change()
            changed = False
            try:
                with get_engine(self._url).begin() as connection:
                    if connection.dialect.name == "postgresql":
                        # Not worth a disk flush per request: a crash loses at most the last moments' tokens, which
                        # the channel's next answer corrects.
                        connection.execute(sa.text("set local synchronous_commit = off"))
                    row = self._lock_row(connection)
                    if row is None:
                        insert_new(connection, rate_budgets, [{
                            "budget": self.budget, "tokens": self.capacity, "capacity": self.capacity,
                            "per_second": self.per_second, "updated_at": 0.0, "blocked_until": 0.0, "streak": 0}],
                            ["budget"])
                        row = self._lock_row(connection)
                    self.tokens, self.capacity, self.per_second = row.tokens, row.capacity, row.per_second
                    self._updated, self._blocked_until, self._streak = row.updated_at, row.blocked_until, row.streak
                    self._clock = lambda: row.now
                    result, changed = change(), True
                    connection.execute(_WRITE_BUDGET, {
                        "key": self.budget, "new_tokens": self.tokens, "new_capacity": self.capacity,
                        "new_per_second": self.per_second, "new_updated_at": self._updated,
                        "new_blocked_until": self._blocked_until, "new_streak": self._streak})
                return result
            except (sa.exc.SQLAlchemyError, OSError) as exc:
                self._alone = True
                self._clock = time.time  # the row's times are epoch seconds too
                log.warning("rate budget %s is not shared: the sync database cannot be used (%s); this process "
                            "throttles alone", self.budget, type(exc).__name__)
                return result if changed else change()

    def _lock_row(self, connection: sa.Connection):
        """The row, locked until the transaction ends (a write first: SQLite's write lock, Postgres's row lock), with
        the database's clock in epoch seconds; None when the budget has no row yet."""
        return connection.execute(_LOCK_BUDGET[connection.dialect.name], {"key": self.budget}).one_or_none()


# Built once: a request's token costs two statements and a commit, not the building of them too.
_DATABASE_EPOCH = {"postgresql": "cast(extract(epoch from clock_timestamp()) as double precision)",
                   "sqlite": "(julianday('now') - 2440587.5) * 86400.0"}
_LOCK_BUDGET = {
    dialect: rate_budgets.update().where(rate_budgets.c.budget == sa.bindparam("key"))
    .values(streak=rate_budgets.c.streak).returning(*rate_budgets.c, sa.literal_column(epoch).label("now"))
    for dialect, epoch in _DATABASE_EPOCH.items()
}
_WRITE_BUDGET = rate_budgets.update().where(rate_budgets.c.budget == sa.bindparam("key")).values(
    {column: sa.bindparam(f"new_{column.name}") for column in rate_budgets.c if column.name != "budget"})


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, timed_out: bool = False,
                 rate_limited: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.timed_out = timed_out
        self.rate_limited = rate_limited  # a 429: what channel health calls RATE_LIMITED once the retries end


def _retry_after_seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP-date; the backoff schedule covers it


class ChannelHttp:
    """The single `requests.Session` of one channel, wrapped in retry, throttle and call logging."""

    def __init__(
        self,
        config: ChannelConfig,
        log: ApiCallLog,
        *,
        secrets: Iterable[str],
        auth_fix: str,
        rate_limits: dict[str, RateLimitConfig],
        read_rate_limit: Callable[[requests.structures.CaseInsensitiveDict], RateLimitReading | None],
        retry: RetrySettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        threads: int = 1,
    ):
        self.config = config
        self.log = log
        self.retry = retry or RetrySettings()
        self._secrets = [s for s in secrets if s]
        self.auth_fix = auth_fix
        self._read_rate_limit = read_rate_limit
        self._sleep = sleep
        override = config.rate_limit
        # One budget per channel account and bucket, in the sync database every process of the deployment writes to.
        budgets = database_url()
        self.buckets = {key: SharedTokenBucket(override or limit, f"{config.name}|{config.base_url}|{key}", budgets)
                        for key, limit in rate_limits.items()}
        self.last_reading: RateLimitReading | None = None
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # Enough pooled connections for every thread that shares the session (the warehouse submits in parallel).
        self.session.mount("http://", HTTPAdapter(max_retries=0, pool_maxsize=max(10, threads)))
        self.session.mount("https://", HTTPAdapter(max_retries=0, pool_maxsize=max(10, threads)))

    @property
    def _kind(self) -> str:
        return "warehouse" if self.config.type == "warehouse" else "channel"

    def add_secret(self, secret: str | None) -> None:
        """Redact a credential obtained at run time (an OAuth access token) like the configured ones."""
        if secret and secret not in self._secrets:
            self._secrets.append(secret)

    def redact(self, text: str) -> str:
        # Each secret as it is and as Python quotes it (requests' errors show a bad header value escaped),
        # longest first, so a secret that contains another is hidden whole.
        variants = {form for secret in self._secrets for form in (secret, repr(secret)[1:-1]) if form}
        for secret in sorted(variants, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def _wait(self, retry_state) -> float:
        error = retry_state.outcome.exception()
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return error.retry_after
        exponential = wait_random_exponential(multiplier=self.retry.backoff_base_s, max=self.retry.backoff_max_s)
        return exponential(retry_state)

    def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        bucket: str | None = None,
        allowed: tuple[int, ...] = (200,),
        attempts: int | None = None,
        **kwargs,
    ) -> requests.Response:
        """Send with retries; returns a response whose status is in `allowed`, or raises a ChannelError.
        `attempts=1` for a write that must not be repeated blindly (the caller looks it up first)."""
        attempts = attempts or self.retry.max_attempts
        endpoint = self.redact(endpoint)  # it goes into api_calls and error texts
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    if number > 1:
                        self.log.bump("retries")
                    response = self._attempt(method, url, endpoint, bucket, allowed, number, kwargs)
        except _Retryable as exc:
            message = (
                f"{method} {endpoint} failed {attempts} time{'s' if attempts > 1 else ''}, last with {exc.reason}; "
                f"the {self.config.type} API is unavailable or overloaded: the next scheduled run retries"
            )
            code = "RATE_LIMITED" if exc.rate_limited else None
            raise (ChannelTimeout if exc.timed_out else ChannelUnavailable)(
                self.config.name, message, self._kind, code) from None
        return response

    def _attempt(self, method, url, endpoint, bucket, allowed, number, kwargs) -> requests.Response:
        limiter = self.buckets.get(bucket or "default")
        if limiter is not None:
            self.log.bump("throttled_seconds", limiter.acquire(self._sleep))
        started = time.perf_counter()
        try:
            response = self.session.request(
                method, url, timeout=(CONNECT_TIMEOUT_S, self.config.timeout_seconds), **kwargs
            )
        except requests.Timeout:
            self._record(method, endpoint, bucket, None, "timeout", started, None, number)
            raise _Retryable("a timeout", timed_out=True) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            self._record(method, endpoint, bucket, None, "connection_reset", started, None, number)
            raise _Retryable("a dropped connection") from None
        except requests.RequestException as exc:
            # Not sent, or its answer unreadable (e.g. a header value requests refuses): the exception's text
            # may quote the request's headers or URL, so it is redacted and the original is dropped.
            self._record(method, endpoint, bucket, None, "request_error", started, None, number)
            raise ChannelRequestError(
                self.config.name, f"{method} {endpoint} could not be sent or read: {self.redact(f'{type(exc).__name__}: {exc}')}",
                self._kind,
            ) from None

        reading = self._read_rate_limit(response.headers)
        if reading is not None:
            self.last_reading = reading
            if limiter is not None:
                limiter.observe(reading)
        self._record(method, endpoint, bucket, response.status_code, None, started, reading, number)

        status = response.status_code
        if status in allowed:
            return response
        if status == 429:
            self.log.bump("http_429")
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            if limiter is not None:
                limiter.drain()  # the channel says the bucket is empty, whatever our model thought
                if retry_after is None:
                    retry_after = 0.0  # the drained bucket already waits one refill before the next attempt
            raise _Retryable("HTTP 429 (rate limited)", retry_after, rate_limited=True)
        if status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status in (401, 403):
            raise ChannelAuthError(
                self.config.name,
                f"the {self.config.type} API refused the credentials (HTTP {status}) on {endpoint}; "
                f"{self.auth_fix}. Nothing was written for this {self._kind}.",
                self._kind, "AUTH_FAILED" if status == 401 else "PERMISSION_DENIED",
            )
        raise ChannelRequestError(
            self.config.name, f"{method} {endpoint} was refused with HTTP {status}: {self.redact(response.text[:300])}",
            self._kind,
        )

    def _record(self, method, endpoint, bucket, status, error, started, reading, attempt) -> None:
        self.log.record(
            method=method,
            endpoint=endpoint,
            bucket=bucket or "default",
            status_code=status,
            error=error,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            rate_limit=self.redact(reading.header) if reading and reading.header else None,
            attempt=attempt,
        )
