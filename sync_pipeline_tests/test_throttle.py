"""The client-side token bucket that keeps requests under the channel's limit."""

from __future__ import annotations

import time

import pytest

from sync_pipeline.bench import TWO_PROCESS, two_processes_syncing
from sync_pipeline.channels.http import RateLimitReading, SharedTokenBucket, TokenBucket
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


def test_buckets_of_one_budget_share_its_tokens(database_url):
    """Two buckets of one budget (as two processes hold them) draw on one row: what one took, the other lacks; a
    reading one of them gets corrects both."""
    limit = RateLimitConfig(per_second=0.5, burst=5)
    first, second = (SharedTokenBucket(limit, "shop|https://shop.example|default", database_url) for _ in range(2))
    for _ in range(4):  # one token is kept in hand
        assert first.acquire(time.sleep) == 0
    assert second._take() > 1.0  # the budget is spent: about two seconds to the next token
    second.observe(RateLimitReading(remaining=5, capacity=5))  # the channel says its bucket refilled
    assert first.acquire(time.sleep) == 0


def test_without_a_usable_database_a_process_throttles_alone(caplog):
    bucket = SharedTokenBucket(RateLimitConfig(per_second=2.0, burst=3), "shop|https://shop.example|default",
                               "sqlite:////proc/no-such-dir/sync.db")
    waited = [bucket.acquire(time.sleep) for _ in range(3)]
    assert waited[:2] == [0, 0] and 0.3 < waited[2] < 0.7  # its own model: a burst of 3 (one kept), then 2/s
    assert "is not shared: the sync database cannot be used" in caplog.text


TWO_PROCESS_ORDERS = 60


@pytest.mark.slow
def test_two_processes_share_one_channel_budget(database_url, tmp_path):
    """Two worker processes run order_sync for one Amazon channel's day at once, on one sync database (SQLite and
    Postgres): the order-items limit's headers give the rate and never what is left, so only the shared budget keeps
    them under it together. The simulator refused none of their calls, and its warehouse got each order once."""
    _, _, counted_path, _, _, _ = TWO_PROCESS
    with two_processes_syncing(tmp_path, database_url, orders=TWO_PROCESS_ORDERS) as (simulator, name):
        served = [r for r in simulator.requests if r["channel"] == name and counted_path in r["path"]]
        references = simulator.warehouse.references()
    assert len(served) >= 2 * TWO_PROCESS_ORDERS - 5  # each process read the items of (nearly) every order itself
    assert [r for r in served if r["status"] == 429] == []
    at_3pl = {ref: r for ref, r in references.items() if r["orders"]}
    assert at_3pl and all(len(r["orders"]) == 1 and r["posts"] == 1 for r in at_3pl.values())
