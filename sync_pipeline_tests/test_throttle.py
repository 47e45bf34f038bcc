"""The client-side token bucket that keeps requests under the channel's limit."""

from __future__ import annotations

import pytest

from sync_pipeline.channels.http import RateLimitReading, TokenBucket
from sync_pipeline.config import RateLimitConfig


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_burst_then_steady_rate():
    clock = FakeClock()
    bucket = TokenBucket(RateLimitConfig(per_second=2.0, burst=10), clock=clock)
    for _ in range(9):  # one token is kept in hand
        assert bucket.acquire(clock.sleep) == 0
    waited = [bucket.acquire(clock.sleep) for _ in range(4)]
    assert all(w == pytest.approx(0.5, abs=1e-6) for w in waited[1:])
    # 13 requests in 9 + 4 slots: the long-run rate is the refill rate.
    assert clock.now == pytest.approx(2.0, abs=0.01)


def test_server_reading_overrides_the_local_estimate():
    clock = FakeClock()
    bucket = TokenBucket(RateLimitConfig(per_second=2.0, burst=40), clock=clock)
    bucket.observe(RateLimitReading(remaining=1, capacity=40))  # someone else used the bucket
    assert bucket.wait_time() == pytest.approx(0.5)


def test_empty_window_waits_for_the_reset():
    clock = FakeClock()
    bucket = TokenBucket(RateLimitConfig(per_second=100.0, burst=10), clock=clock)
    bucket.observe(RateLimitReading(remaining=0, capacity=10, reset_after=3.0))
    assert bucket.wait_time() == pytest.approx(3.0)


def test_learns_the_rate_from_headers():
    clock = FakeClock()
    bucket = TokenBucket(RateLimitConfig(per_second=0.0167, burst=1), clock=clock)
    bucket.observe(RateLimitReading(per_second=5.0))
    bucket.acquire(clock.sleep)
    assert bucket.acquire(clock.sleep) == pytest.approx(0.2)
