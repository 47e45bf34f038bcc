"""The server side of the channels' rate limits. Shopify's leaky bucket (level rising by one per call and
leaking at a steady rate) is the same arithmetic as Amazon's and Takealot's token buckets (tokens = size -
level), so one bucket serves all three; each platform only formats its own headers."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BucketReading:
    """The bucket after a request: whether it was let through, and what the headers report."""

    allowed: bool
    capacity: int
    tokens: float
    per_second: float

    @property
    def used(self) -> int:
        """Slots in use, rounded up (Shopify's `used` in used/bucket), so clients never see more room than there is."""
        return min(self.capacity, math.ceil(self.capacity - self.tokens - 1e-9))

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.tokens + 1e-9))

    @property
    def seconds_to_next_token(self) -> float:
        """Until one more whole token is available (0 when the bucket is full)."""
        if self.tokens >= self.capacity:
            return 0.0
        whole = math.floor(self.tokens + 1e-9)
        return max(0.0, (whole + 1 - self.tokens) / self.per_second)

    @property
    def seconds_to_one_token(self) -> float:
        """Until a request would be let through again (Shopify's Retry-After)."""
        return max(0.0, (1.0 - self.tokens) / self.per_second)


class Bucket:
    """A thread-safe token bucket of `capacity` tokens refilled at `per_second`."""

    def __init__(self, capacity: int, per_second: float, clock: Callable[[], float] = time.monotonic):
        self.capacity = capacity
        self.per_second = per_second
        self._tokens = float(capacity)
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.capacity), self._tokens + (now - self._updated) * self.per_second)
        self._updated = now

    def take(self) -> BucketReading:
        """Count one request if a token is there; otherwise refuse it without counting it."""
        with self._lock:
            self._refill()
            allowed = self._tokens >= 1.0
            if allowed:
                self._tokens -= 1.0
            return BucketReading(allowed, self.capacity, self._tokens, self.per_second)

    def spend(self, points: float) -> BucketReading:
        """A cost-based limit (Shopify GraphQL's query points): take `points` tokens at once if that many are there,
        else refuse without taking any. A negative amount gives points back (a refund), up to the capacity."""
        with self._lock:
            self._refill()
            allowed = points <= 0 or self._tokens >= points
            if allowed:
                self._tokens = min(float(self.capacity), self._tokens - points)
            return BucketReading(allowed, self.capacity, self._tokens, self.per_second)

    def peek(self) -> BucketReading:
        """The current state, for responses that do not count against the limit (injected faults, auth errors)."""
        with self._lock:
            self._refill()
            return BucketReading(True, self.capacity, self._tokens, self.per_second)


def decimal(value: float) -> str:
    """A header number like "0.5", "2.0" or "0.0167": plain decimal, never exponent notation."""
    text = f"{value:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text
