"""One home per order: every version of an order lands in the partition it was first filed in, whatever its
creation time says later; and every_raw_order_accounted_for compares order ids, not counts."""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import order_lines, order_sync_errors, orders, raw_orders
from sync_pipeline.orders.normalized_orders import CONSERVATION_CHECK, conservation
from sync_pipeline.orders.why import OrderNotFound, reimport
from sync_pipeline_tests.conftest import TODAY, scenario
from sync_pipeline_tests.test_normalized_orders import YESTERDAY, check_results, post_order, rows

DAY_BEFORE = YESTERDAY - timedelta(days=1)


def woo_times(harness, moment: datetime) -> dict[str, str]:
    """A WooCommerce creation time as the site writes it: local and GMT, without offsets."""
    local, gmt = moment.astimezone(harness.config.channel("woo").tz), moment.astimezone(timezone.utc)
    return {"date_created": f"{local:%Y-%m-%dT%H:%M:%S}", "date_created_gmt": f"{gmt:%Y-%m-%dT%H:%M:%S}"}


def edited(harness, payload: dict, **changes) -> dict:
    """The payload as the channel serves it after a person edited it: date_modified moves on."""
    now = datetime.now(timezone.utc)
    return dict(copy.deepcopy(payload), **changes, date_modified_gmt=f"{now:%Y-%m-%dT%H:%M:%S}",
                date_modified=f"{now.astimezone(harness.config.channel('woo').tz):%Y-%m-%dT%H:%M:%S}")


def an_importable_order(harness, day):
    return next(o for o in harness.expected("woo", day).values() if o.payload["status"] == "processing")


def test_a_creation_date_edited_across_midnight_keeps_the_order_in_its_first_partition(harness_factory, database_url):
    harness = harness_factory(scenario([("woo", "woocommerce", 3)]), database_url=database_url)
    harness.materialize("woo", YESTERDAY)
    order = an_importable_order(harness, YESTERDAY)
    moved_to = datetime.combine(TODAY, time(0, 0, 1), tzinfo=timezone.utc)
    post_order(harness, "woo", edited(harness, order.payload, **woo_times(harness, moved_to)))

    # Today's run finds the order (it is placed today now) and lands its new version back home, under yesterday.
    today = harness.materialize("woo", TODAY, raise_on_error=False)
    assert today.success, "today's normalize must not meet the order yesterday already holds"
    versions = rows(harness, raw_orders, channel="woo", external_order_id=order.external_order_id)
    assert len(versions) == 2 and {v.partition_date for v in versions} == {YESTERDAY}
    assert check_results(today)[CONSERVATION_CHECK]

    yesterday = harness.materialize("woo", YESTERDAY)
    assert check_results(yesterday)[CONSERVATION_CHECK]
    [row] = rows(harness, orders, order_id=f"woo:{order.external_order_id}")
    assert row.partition_date == YESTERDAY and row.placed_at == moved_to, "updated in place, at home"

    both = harness.materialize("woo", YESTERDAY, TODAY)  # a backfill over both days agrees
    assert check_results(both)[CONSERVATION_CHECK]
    assert len(rows(harness, orders, order_id=f"woo:{order.external_order_id}")) == 1


def test_an_undated_order_fixed_by_reimport_resolves_its_invalid_date(harness_factory, database_url):
    harness = harness_factory(scenario([("woo", "woocommerce", 2)], days=3, anomalies={"invalid_date": 1.0}),
                              database_url=database_url)
    harness.materialize("woo", DAY_BEFORE, YESTERDAY)  # a backfill files every undated order under its first day
    order = an_importable_order(harness, YESTERDAY)
    [error] = rows(harness, order_sync_errors, channel="woo", external_order_id=order.external_order_id)
    assert (error.error_code, error.partition_date, error.resolved_at) == ("INVALID_DATE", DAY_BEFORE, None)

    # The seller corrects the creation time to the real one, a day after where the order was filed.
    post_order(harness, "woo", edited(harness, order.payload, **woo_times(harness, order.placed_at)))
    report = reimport(get_engine(harness.database_url), harness.config, "woo", order.external_order_id, "reimport-fix")
    assert "where: normalized" in report and "INVALID_DATE [placed_at] (resolved" in report
    [error] = rows(harness, order_sync_errors, channel="woo", external_order_id=order.external_order_id)
    assert error.resolved_at is not None, "the fixed version is judged where the error was filed"
    [row] = rows(harness, orders, order_id=f"woo:{order.external_order_id}")
    assert row.partition_date == DAY_BEFORE and row.placed_at == order.placed_at
    versions = rows(harness, raw_orders, channel="woo", external_order_id=order.external_order_id)
    assert {v.partition_date for v in versions} == {DAY_BEFORE}

    again = harness.materialize("woo", DAY_BEFORE, YESTERDAY)
    assert check_results(again)[CONSERVATION_CHECK]
    [error] = rows(harness, order_sync_errors, channel="woo", external_order_id=order.external_order_id)
    assert error.resolved_at is not None


def test_reimport_logs_its_api_calls(harness_factory):
    harness = harness_factory(scenario([("woo", "woocommerce", 2)]))
    order = an_importable_order(harness, YESTERDAY)
    engine = get_engine(harness.database_url)
    reimport(engine, harness.config, "woo", order.external_order_id, "reimport-1")
    with pytest.raises(OrderNotFound):
        reimport(engine, harness.config, "woo", "999999", "reimport-2")
    calls = {(c.run_id, c.method, c.endpoint, c.status_code) for c in harness.api_call_rows("woo")}
    endpoint = "wc/v3/orders/{id}"  # logged as a template, without the order id
    assert calls == {("reimport-1", "GET", endpoint, 200), ("reimport-2", "GET", endpoint, 404)}


def test_conservation_compares_order_ids_not_counts(harness_factory, database_url):
    harness = harness_factory(scenario([("woo", "woocommerce", 4)]), database_url=database_url)
    assert check_results(harness.materialize("woo", YESTERDAY))[CONSERVATION_CHECK]
    engine = get_engine(harness.database_url)
    first, second = sorted(r.external_order_id for r in rows(harness, orders, channel="woo"))[:2]

    def tampered(change) -> list[dict]:
        """The check's verdict on the day after `change`, which is rolled back."""
        with engine.connect() as connection, connection.begin() as transaction:
            change(connection)
            verdict = conservation(connection, "woo", [YESTERDAY])
            transaction.rollback()
        return verdict

    def drop(connection, external_id):
        for table in (order_lines, orders):
            connection.execute(table.delete().where(table.c.order_id == f"woo:{external_id}"))

    def swap_for_bogus(connection):  # one order gone, a bogus one in its place: the counts still balance
        row = connection.execute(sa.select(orders).where(orders.c.order_id == f"woo:{first}")).mappings().one()
        drop(connection, first)
        connection.execute(orders.insert(), [dict(row, order_id="woo:bogus", external_order_id="bogus")])

    def count_one_twice(connection):  # one order gone, another both normalized and quarantined
        drop(connection, first)
        connection.execute(order_sync_errors.insert(), [{
            "channel": "woo", "partition_date": YESTERDAY, "external_order_id": second, "stage": "normalize",
            "error_code": "INVALID_AMOUNT", "field": "total", "message": "planted",
            "first_seen_at": datetime.now(timezone.utc), "last_seen_at": datetime.now(timezone.utc),
        }])

    def move_to_today(connection):  # normalized under another partition than its raw rows
        connection.execute(orders.update().where(orders.c.order_id == f"woo:{first}").values(partition_date=TODAY))

    [day] = tampered(swap_for_bogus)
    assert (day["date"], day["missing"], day["extra"], day["twice"]) == (str(YESTERDAY), [first], ["bogus"], [])
    [day] = tampered(count_one_twice)
    assert (day["missing"], day["extra"], day["twice"]) == ([first], [], [second])
    [day] = tampered(move_to_today)
    assert (day["missing"], day["elsewhere"]) == ([first], [f"{first} ({TODAY})"])
    with engine.connect() as connection:
        assert conservation(connection, "woo", [YESTERDAY]) == [], "each change was rolled back"


def test_a_version_landed_under_another_day_fails_the_blocking_check(harness_factory, database_url):
    """As the code before one-home-per-order left an order whose creation date moved: the counts of each day
    balance, the ids do not."""
    harness = harness_factory(scenario([("woo", "woocommerce", 3)]), database_url=database_url)
    harness.materialize("woo", YESTERDAY)
    [version, *_] = rows(harness, raw_orders, channel="woo")
    stray = dict(version._mapping, payload=version.payload + " ", partition_date=TODAY,
                 payload_sha256=hashlib.sha256((version.payload + " ").encode()).hexdigest())
    del stray["id"]
    with get_engine(harness.database_url).begin() as connection:
        connection.execute(raw_orders.insert(), [stray])
    result = harness.materialize("woo", YESTERDAY, raise_on_error=False)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == CONSERVATION_CHECK]
    assert not evaluation.passed
    [day] = evaluation.metadata["detail"].value
    assert day["elsewhere"] == [f"{version.external_order_id} ({TODAY})"]
