"""Completeness at the source: each platform's own order count for a UTC day against the simulator's records, and
`order_completeness` with its check and refetch sensor, from a short day to a complete one."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.channels import CONNECTORS
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import ingest_cursors, order_completeness, raw_orders
from sync_pipeline.operations.completeness import COMPLETE, NO_COUNT, SHORT, check_completeness
from sync_pipeline.operations.completeness_assets import CHECK, COMPLETENESS, FULL_RESYNC, RAW_ORDERS, SENSOR
from sync_pipeline.orders.why import explain
from sync_pipeline.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_key
from sync_pipeline.simulator import Scenario
from sync_pipeline_tests.conftest import TODAY, scenario

TYPES = ["shopify", "woocommerce", "amazon", "takealot", "bigcommerce", "ebay"]
COUNTING = {"shopify", "woocommerce", "bigcommerce", "ebay"}
YESTERDAY = TODAY - timedelta(days=1)
NEAR_MIDNIGHT = timedelta(minutes=15)
# Every status a platform's generated orders can take, so the count is seen to count them all (as the fetch lands).
MIXED = {"near_midnight": 0.5, "cancellations": 0.15, "status_changes": 0.3, "unpaid": 0.1, "unmapped_status": 0.1}


def window(day) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=timezone.utc)
    return start, min(start + timedelta(days=1), datetime.now(timezone.utc))


def rows(harness) -> dict:
    with get_engine(harness.database_url).connect() as connection:
        found = connection.execute(sa.select(order_completeness)).mappings().all()
    return {(r["channel"], r["partition_date"]): dict(r) for r in found}


def test_each_platform_counts_the_orders_placed_that_utc_day_as_the_simulator_holds_them(harness_factory):
    days = 3
    document = {
        "seed": 11, "start_date": (TODAY - timedelta(days=days - 1)).isoformat(), "days": days, "speed": 200.0,
        # Each type in its default (non-UTC but Amazon's) time zone, and one shop on UTC, whose near-midnight orders
        # sit at the UTC day's very edges.
        "channels": [{"name": f"{t[:4]}-count", "type": t, "orders_per_day": 12} for t in TYPES]
                    + [{"name": "shop-utc", "type": "shopify", "orders_per_day": 12, "timezone": "UTC"}],
        "anomalies": MIXED,
    }
    harness = harness_factory(Scenario.from_dict(document))
    seen_local_elsewhere = seen_utc_edge = False
    for channel in harness.config.channels:
        connector = harness.connector(channel.name)
        for offset in range(days):
            day = TODAY - timedelta(days=offset)
            start, end = window(day)
            expected = harness.expected(channel.name, day)
            count = connector.count_orders(start, end)
            if channel.type not in COUNTING:
                assert count is None
                continue
            assert count == len(expected), f"{channel.name} {day}"
            # The count counts what a fetch of the window lands (every status, the same UTC bounds).
            assert count == len(connector.fetch_orders(start, end)), f"{channel.name} {day}"
            placed = [o.placed_at for o in expected.values()]
            if channel.tz.key != "UTC":
                seen_local_elsewhere |= any(p.astimezone(channel.tz).date() != day for p in placed)
            else:
                seen_utc_edge |= any(p - start < NEAR_MIDNIGHT or start + timedelta(days=1) - p < NEAR_MIDNIGHT
                                     for p in placed)
        calls = [c for c in connector.log.calls if c["endpoint"] in ("orders/count.json", "v2/orders/count")]
        if channel.type in ("shopify", "bigcommerce"):
            # The dedicated count endpoints draw on the platform's bucket and report it like the list does.
            assert len(calls) == days and all(c["rate_limit"] and re.fullmatch(r"\d+/\d+", c["rate_limit"]) for c in calls)
    assert seen_local_elsewhere, "some orders of a UTC day lie on another local day: a local-day count would differ"
    assert seen_utc_edge, "orders within 15 minutes of UTC midnight were counted on the right day"

    asked = {}
    for request in harness.simulator.requests:
        asked.setdefault(request["channel"], []).append((request["path"], request["query"]))
    assert "amaz-count" not in asked and "take-count" not in asked, "no count is asked of a platform that has none"
    assert any(path.endswith("/orders/count.json") and query.get("status") == "any" for path, query in asked["shop-count"])
    assert any(path.endswith("/v2/orders/count") for path, _ in asked["bigc-count"])
    assert any(query.get("per_page") == "1" and "after" in query for _, query in asked["wooc-count"])
    assert any(query.get("limit") == "1" and query["filter"].startswith("creationdate:[") for _, query in asked["ebay-count"])


def test_amazon_takealot_bob_shop_and_days_past_the_apis_history_have_no_count_and_say_why(harness_factory,
                                                                                           sqlite_url):
    harness = harness_factory(scenario([("amzn", "amazon", 3), ("tkl", "takealot", 3), ("bob", "bobshop", 3),
                                        ("shop", "shopify", 3), ("mage", "magento", 3)], days=1, start=YESTERDAY))
    engine = get_engine(sqlite_url)
    too_old = TODAY - timedelta(days=harness.config.channel("shop").history_days + 1)
    for name, day, says in (
        ("amzn", YESTERDAY, ["amazon gives no order count", "getOrders", "no total"]),
        ("tkl", YESTERDAY, ["takealot gives no order count", "sale lines", "page_summary.total"]),
        ("bob", YESTERDAY, ["bobshop gives no order count", "no seller order API", "export files"]),
        ("shop", too_old, ["older than the shopify API keeps", "CSV exports"]),
    ):
        result = check_completeness(engine, harness.config.channel(name), [day], "test")
        (row,) = result.rows
        assert row["status"] == NO_COUNT and row["channel_count"] is None and row["missing"] is None
        assert all(text in row["reason"] for text in says), row["reason"]
        assert not result.log.calls
    assert all(CONNECTORS[t].no_count_reason for t in ("amazon", "takealot", "bobshop"))
    (spec,) = harness.definitions().resolve_assets_def(COMPLETENESS).check_specs
    assert all(platform in spec.description for platform in ("Magento", "Amazon", "Takealot", "Bob Shop"))

    # Magento counts: V1/orders' total_count, the simulator's orders of the day; nothing landed yet, so all missing.
    placed = len(harness.expected("mage", YESTERDAY))
    result = check_completeness(engine, harness.config.channel("mage"), [YESTERDAY], "test")
    (row,) = result.rows
    assert (row["status"], row["channel_count"], row["landed"], row["missing"]) == (SHORT, placed, 0, placed) and placed
    assert f"mage (magento) counts {placed} orders placed {YESTERDAY} (UTC)" in row["reason"], row["reason"]
    assert [c["endpoint"] for c in result.log.calls if c["endpoint"] != "V1/integration/admin/token"] == ["V1/orders"]


def test_a_day_is_counted_until_its_last_fetch_began(harness_factory, sqlite_url):
    """An order placed after the day's last fetch began cannot have landed yet: it is not counted (so today is not
    short for orders still arriving); the window ends at that fetch's start, in whole seconds."""
    harness = harness_factory(scenario([("shop", "shopify", 40)], days=1, start=YESTERDAY))
    engine = get_engine(sqlite_url)
    placed = sorted(o.placed_at for o in harness.expected("shop", YESTERDAY).values())
    fetched_at = placed[len(placed) // 2] + timedelta(microseconds=250_000)  # a fetch that began midway
    with engine.begin() as connection:
        connection.execute(ingest_cursors.insert(), [{
            "channel": "shop", "partition_date": YESTERDAY, "cursor_updated_at": fetched_at,
            "last_synced_at": fetched_at, "last_run_id": "earlier"}])
    (row,) = check_completeness(engine, harness.config.channel("shop"), [YESTERDAY], "test").rows
    before = sum(1 for p in placed if p < fetched_at.replace(microsecond=0))
    assert 0 < before < len(placed)
    assert row["channel_count"] == before and row["counted_until"] == fetched_at.replace(microsecond=0)
    assert row["status"] == SHORT and row["missing"] == before  # nothing landed here


def test_a_short_day_is_named_refetched_once_and_then_complete(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 10), ("amzn", "amazon", 3)], days=2,
                                       anomalies={"near_midnight": 0.5, "cancellations": 0.2}), database_url=database_url)
    expected = harness.expected("shop", YESTERDAY)
    definitions = harness.definitions()
    check_job = definitions.resolve_job_def("completeness_check")
    order_sync = definitions.resolve_job_def("order_sync")
    assert order_sync.execute_in_process(instance=harness.instance, partition_key=partition_key("shop", YESTERDAY),
                                         asset_selection=[RAW_ORDERS]).success
    sensor = definitions.resolve_sensor_def(SENSOR)
    resources = {"database": DatabaseResource(url=harness.database_url), "channels": harness.channels}

    def check(channel):
        result = check_job.execute_in_process(instance=harness.instance, partition_key=partition_key(channel, YESTERDAY))
        (evaluation,) = result.get_asset_check_evaluations()
        (materialization,) = result.asset_materializations_for_node(COMPLETENESS.path[-1])
        return evaluation, materialization.metadata

    def tick():
        with dg.build_sensor_context(instance=harness.instance, resources=resources) as context:
            return sensor(context)

    def why_completeness():
        """`sync-pipeline why`'s completeness line for an order of the day that landed."""
        report = explain(get_engine(harness.database_url), harness.config, f"shop:{sorted(expected)[-1]}")
        return next(line.strip() for line in report.splitlines() if line.strip().startswith("completeness of"))

    assert why_completeness() == f"completeness of shop|{YESTERDAY}: not checked yet " \
                                 "(the completeness_check job counts the day on the channel)"
    evaluation, metadata = check("shop")
    assert evaluation.check_name == CHECK and evaluation.passed
    assert (evaluation.metadata["channels"].value, evaluation.metadata["days"].value) == ("shop", str(YESTERDAY))
    assert metadata["channel_count"].value == metadata["landed"].value == len(expected) and metadata["missing"].value == 0
    assert rows(harness)[("shop", YESTERDAY)]["status"] == COMPLETE
    assert isinstance(tick(), dg.SkipReason), "a complete day is not fetched again"

    evaluation, _ = check("amzn")
    assert evaluation.passed and "not counted" in evaluation.description and "getOrders" in evaluation.description
    assert rows(harness)[("amzn", YESTERDAY)]["status"] == NO_COUNT
    assert isinstance(tick(), dg.SkipReason), "a day without a count is not fetched again"

    # Three orders go missing from the partition (every version of each).
    lost = sorted(expected)[:3]
    with get_engine(harness.database_url).begin() as connection:
        connection.execute(sa.delete(raw_orders).where(
            raw_orders.c.channel == "shop", raw_orders.c.external_order_id.in_(lost)))
    evaluation, metadata = check("shop")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert f"shop {YESTERDAY}: 3 of the {len(expected)} orders the channel counts have not landed" in evaluation.description
    assert metadata["missing"].value == 3 and metadata["landed"].value == len(expected) - 3
    row = rows(harness)[("shop", YESTERDAY)]
    assert (row["status"], row["channel_count"], row["landed"], row["missing"]) == (SHORT, len(expected), len(expected) - 3, 3)
    assert why_completeness().startswith(f"completeness of shop|{YESTERDAY}: SHORT (checked ")
    assert why_completeness().endswith(row["reason"]) and "3 missing" in row["reason"]

    (request,) = tick().run_requests
    assert request.partition_key == str(partition_key("shop", YESTERDAY)) and request.run_config == FULL_RESYNC
    assert tick().run_requests[0].run_key == request.run_key, "the same state asks once: Dagster runs a run key once"
    assert order_sync.execute_in_process(instance=harness.instance, partition_key=request.partition_key,
                                         run_config=request.run_config, tags=request.tags).success
    assert {r.external_order_id for r in harness.raw_rows("shop")} >= set(lost)

    evaluation, metadata = check("shop")
    assert evaluation.passed and metadata["missing"].value == 0
    assert rows(harness)[("shop", YESTERDAY)]["status"] == COMPLETE
    assert isinstance(tick(), dg.SkipReason)


def test_a_refused_key_fails_its_channel_naming_the_fix_and_a_range_is_judged_day_by_day(harness_factory):
    harness = harness_factory(scenario([("shop", "shopify", 5), ("woo", "woocommerce", 6)], days=2,
                                       faults={"expired_credentials": ["shop"]}))
    job = harness.definitions().resolve_job_def("completeness_check")
    failed = job.execute_in_process(instance=harness.instance, partition_key=partition_key("shop", YESTERDAY),
                                    raise_on_error=False)
    assert not failed.success and not rows(harness)
    (failure,) = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "SHOP_ACCESS_TOKEN" in failure.event_specific_data.error.message
    assert [(c.endpoint, c.status_code) for c in harness.api_call_rows("shop")] == [("orders/count.json", 401)]

    tags = {RANGE_START_TAG: str(partition_key("woo", YESTERDAY)), RANGE_END_TAG: str(partition_key("woo", TODAY))}
    result = job.execute_in_process(instance=harness.instance, tags=tags)
    (evaluation,) = result.get_asset_check_evaluations()
    judged = (evaluation.metadata["channels"].value, evaluation.metadata["days"].value)
    assert judged == ("woo", f"{YESTERDAY}..{TODAY}"), "a range run names the range it judged"
    figures = {m.partition: m.metadata for m in result.asset_materializations_for_node(COMPLETENESS.path[-1])}
    for day in (YESTERDAY, TODAY):
        mine = figures[str(partition_key("woo", day))]
        assert mine["channel_count"].value == mine["missing"].value == len(harness.expected("woo", day))
        assert mine["status"].value == (SHORT if harness.expected("woo", day) else COMPLETE)
