"""Exactly once without the warehouse's help: each test runs against a warehouse that refuses a repeated client
reference and one that stores it again, and counts from the simulator's own records (orders and POSTs per
reference), so a second send shows up as a second warehouse order. Each closes one hole of issue 9."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
import sqlalchemy as sa

from sync_pipeline.channels.http import ChannelUnavailable
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import fulfilment_orders
from sync_pipeline.fulfilment import submit
from sync_pipeline.warehouse.client import Submission, WarehouseClient
from sync_pipeline_tests.conftest import TODAY, scenario
from sync_pipeline_tests.test_fulfilment_orders import fulfilment_rows

YESTERDAY = TODAY - timedelta(days=1)


class Killed(BaseException):
    """The process dying mid-run: nothing after it runs, no handler records anything."""


def at_3pl(harness, channel: str) -> dict[str, dict]:
    """The simulated warehouse's own record per client reference of the channel: orders stored, POSTs answered."""
    return {ref: r for ref, r in harness.simulator.warehouse.references().items() if ref.startswith(f"{channel}:")}


def assert_once_each(harness, channel: str) -> dict[str, dict]:
    """Every ACCEPTED order is at the warehouse exactly once and no POST ever stored a second order."""
    records = at_3pl(harness, channel)
    assert {ref: len(r["orders"]) for ref, r in records.items() if len(r["orders"]) != 1} == {}, "held twice"
    assert sum(r["duplicate_posts"] for r in records.values()) == 0
    accepted = {k for k, v in fulfilment_rows(harness, channel).items() if v["status"] == "ACCEPTED"}
    assert accepted and accepted <= {ref for ref, r in records.items() if r["orders"]}, "an accepted order is missing"
    return records


def one_shop(harness_factory, orders: int, duplicate_references: str, database_url: str | None = None, **warehouse):
    """One Shopify channel's day, sent one order at a time to a warehouse with the given duplicate_references."""
    return harness_factory(
        scenario([("shop", "shopify", orders)], days=1, start=YESTERDAY, warehouse={"duplicate_references": duplicate_references}),
        overrides_in={"warehouse": {"concurrency": 1, **warehouse}}, database_url=database_url,
    )


def expire_claims(harness) -> None:
    """An hour passes: the claims a dead run left behind expire (by the database's clock)."""
    with get_engine(harness.database_url).begin() as connection:
        rows = connection.execute(sa.select(fulfilment_orders.c.order_id, fulfilment_orders.c.claimed_at)
                                  .where(fulfilment_orders.c.claimed_at.is_not(None))).all()
        for order_id, claimed_at in rows:
            connection.execute(fulfilment_orders.update().where(fulfilment_orders.c.order_id == order_id)
                               .values(claimed_at=claimed_at - timedelta(hours=1)))


def materialize_killed(harness, channel: str) -> None:
    try:
        harness.materialize(channel, YESTERDAY, raise_on_error=False)
    except Killed:
        pass


def reject_every_order(monkeypatch) -> None:
    """The warehouse refuses each order once (as it does when an item runs short): they are IMPORT_ERROR."""
    monkeypatch.setattr(WarehouseClient, "create", lambda self, request: Submission(
        "rejected", 1, error_code="INSUFFICIENT_INVENTORY",
        message="the warehouse rejected the order: Insufficient inventory; restock it"))


def die_after_the_first_stored_resend(monkeypatch) -> None:
    """The first send reaches the warehouse, then the process is gone: no later send happens at all."""
    original, dead = WarehouseClient.create, threading.Event()

    def create(self, request):
        if dead.is_set():
            raise Killed("the process is dead")
        submission = original(self, request)
        dead.set()
        raise Killed(f"killed after {request['client_reference']} was stored ({submission.outcome})")

    monkeypatch.setattr(WarehouseClient, "create", create)


def overlap_with_a_hung_send(harness, monkeypatch, wait_s: float) -> list:
    """Run A's first send hangs for 3 s; `wait_s` after it began, run B (this thread) runs the same partition."""
    original, sending = WarehouseClient._post, threading.Event()

    def slow_post(self, order, attempts):
        first = not sending.is_set()
        sending.set()
        time.sleep(3.0 if first else 0.05)
        return original(self, order, attempts)

    monkeypatch.setattr(WarehouseClient, "_post", slow_post)
    results = []
    first = threading.Thread(target=lambda: results.append(harness.materialize("shop", YESTERDAY, raise_on_error=False)))
    first.start()
    assert sending.wait(60)
    time.sleep(wait_s)
    results.append(harness.materialize("shop", YESTERDAY, raise_on_error=False))
    first.join()
    return results


def test_a_slow_batch_never_outlives_its_claims(harness_factory, monkeypatch, duplicate_references, database_url):
    """A's first send hangs for three claim expiries and B starts meanwhile: A's claims on the rest of its batch
    must still be A's (renewed while A lives), or B sends them and then A does too."""
    harness = one_shop(harness_factory, 16, duplicate_references, database_url, claim_expiry_seconds=1)
    monkeypatch.setattr(submit, "CLAIM_EXPIRY", timedelta(seconds=1), raising=False)  # the same expiry before leases
    results = overlap_with_a_hung_send(harness, monkeypatch, wait_s=1.5)
    assert len(assert_once_each(harness, "shop")) >= 10
    assert len(results) == 2 and all(r.success for r in results)


def test_a_host_whose_clock_runs_ahead_does_not_take_over_live_claims(
    harness_factory, monkeypatch, duplicate_references, database_url,
):
    """Run B's host clock is an hour ahead: claims are timed by the database's clock, so B still sees A's as live."""
    harness = one_shop(harness_factory, 16, duplicate_references, database_url)

    class AheadInThisThread(datetime):
        """datetime whose now() is an hour ahead in run B's thread (this one) only."""

        @classmethod
        def now(cls, tz=None):
            ahead = threading.current_thread() is threading.main_thread()
            return datetime.now(tz) + (timedelta(hours=1) if ahead else timedelta(0))

    monkeypatch.setattr(submit, "datetime", AheadInThisThread)
    results = overlap_with_a_hung_send(harness, monkeypatch, wait_s=0.5)
    assert len(assert_once_each(harness, "shop")) >= 10
    assert len(results) == 2 and all(r.success for r in results)


def test_a_resent_order_whose_run_died_after_the_warehouse_stored_it_is_not_sent_again(
    harness_factory, monkeypatch, duplicate_references, database_url,
):
    harness = one_shop(harness_factory, 5, duplicate_references, database_url)
    with monkeypatch.context() as patch:
        reject_every_order(patch)
        harness.materialize("shop", YESTERDAY)
    stopped = {k for k, v in fulfilment_rows(harness, "shop").items() if v["status"] == "IMPORT_ERROR"}
    assert len(stopped) >= 3 and not at_3pl(harness, "shop")
    with monkeypatch.context() as patch:
        die_after_the_first_stored_resend(patch)
        materialize_killed(harness, "shop")
    stored = {ref for ref, r in at_3pl(harness, "shop").items() if r["orders"]}
    assert len(stored) == 1, "the run died right after the warehouse stored one resent order"
    expire_claims(harness)

    harness.materialize("shop", YESTERDAY)
    records = assert_once_each(harness, "shop")
    assert stopped <= {ref for ref, r in records.items() if r["orders"]}
    rows = fulfilment_rows(harness, "shop")
    (resent,) = stored
    assert rows[resent]["status"] == "ACCEPTED" and rows[resent]["linked"], "found at the warehouse, not posted again"
    assert records[resent]["posts"] == 1


def test_an_order_in_doubt_is_not_cancelled_here_while_the_warehouse_may_ship_it(
    harness_factory, monkeypatch, duplicate_references,
):
    harness = one_shop(harness_factory, 4, duplicate_references)
    with monkeypatch.context() as patch:
        reject_every_order(patch)
        harness.materialize("shop", YESTERDAY)
    with monkeypatch.context() as patch:
        die_after_the_first_stored_resend(patch)
        materialize_killed(harness, "shop")
    (reference,) = [ref for ref, r in at_3pl(harness, "shop").items() if r["orders"]]
    expire_claims(harness)
    # The customer cancels on the channel while the pipeline does not know the warehouse has the order.
    external_id = reference.split(":", 1)[1]
    payload = dict(next(o for o in harness.simulator.orders("shop") if o.external_order_id == external_id).payload)
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    payload.update(cancelled_at=now, updated_at=now, financial_status="voided")
    response = requests.post(f"{harness.simulator.url}/_admin/channels/shop/orders", json={"orders": [payload]}, timeout=5)
    assert response.status_code == 201

    def live_at_3pl() -> list[dict]:
        return [o for o in harness.simulator.warehouse.orders() if o["client_reference"] == reference and o["status"] != "cancelled"]

    with monkeypatch.context() as patch:  # the warehouse cannot say whether it has it: nothing is settled
        def unavailable(self, client_reference):
            raise ChannelUnavailable("warehouse", "GET orders failed 1 time, last with HTTP 503", "warehouse")

        patch.setattr(WarehouseClient, "find", unavailable)
        harness.materialize("shop", YESTERDAY)
    assert fulfilment_rows(harness, "shop")[reference]["status"] != "CANCELLED" and len(live_at_3pl()) == 1

    harness.materialize("shop", YESTERDAY)
    row = fulfilment_rows(harness, "shop")[reference]
    assert row["status"] == "CANCELLED" and row["warehouse_status"] == "cancelled"
    assert live_at_3pl() == [], "the order cancelled on the channel does not ship"
    assert sum(r["duplicate_posts"] for r in at_3pl(harness, "shop").values()) == 0


@pytest.mark.slow
def test_the_submitting_process_killed_at_random_points_sends_nothing_twice_and_loses_nothing(monkeypatch):
    """`bench submit` in small: SIGKILLs while sending, under lost replies, 5xx and resets, each followed by a rerun."""
    from sync_pipeline import bench

    # After each kill the benchmark waits out the dead run's claims (the warehouse's claim_expiry_seconds) before the
    # rerun, which then looks its orders in doubt up. Only one submitter lives at a time, so a shorter expiry changes
    # no outcome: it only shortens those waits (2 s each, six of them).
    monkeypatch.setattr(bench, "KILLED_CLAIM_EXPIRY_S", 0.5)
    figures = bench.run_submit_benchmark(orders=40, kills=3, seed=5)
    for setting in ("reject", "accept"):
        result = figures[setting]
        assert result["kills"] == 3 and result["killed"]["final_run_exit"] == 0
        assert (result["duplicates"], result["duplicate_posts"], result["lost"]) == (0, 0, 0), result
        assert result["clean"]["accepted"] >= 30 and result["killed"]["warehouse_orders"] == result["clean"]["warehouse_orders"]
