"""The raw_orders asset end to end: Dagster runs against the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import requests
import sqlalchemy as sa

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import import_files
from sync_pipeline.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_key
from sync_pipeline_tests.conftest import TODAY, scenario

YESTERDAY = TODAY - timedelta(days=1)
ALL_TYPES = [("shop", "shopify", 12), ("woo", "woocommerce", 12), ("amzn", "amazon", 12), ("tkl", "takealot", 12)]


def materialization_metadata(result, asset: str = "raw_orders") -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset))
    return {k: v.value for k, v in event.materialization.metadata.items()}


def landed_payload(row):
    payload = json.loads(row.payload)
    return payload["Order"] if isinstance(payload, dict) and "Order" in payload else payload


def test_every_order_of_the_day_lands_verbatim_for_every_platform(harness_factory, database_url):
    harness = harness_factory(
        scenario(ALL_TYPES, anomalies={"non_latin_names": 0.5, "near_midnight": 0.3}), database_url=database_url
    )
    for name, _, _ in ALL_TYPES:
        result = harness.materialize(name, YESTERDAY)
        expected = harness.expected(name, YESTERDAY)
        rows = harness.raw_rows(name)
        assert {r.external_order_id for r in rows} == set(expected)
        assert len(rows) == len(expected)
        for row in rows:
            assert row.partition_date == YESTERDAY
            assert row.placed_at.tzinfo is not None and row.placed_at.date() == YESTERDAY
            assert row.run_id == result.run_id
            assert row.source == "api"
            # Byte-for-byte unicode: non-Latin names come back exactly as the channel sent them.
            assert landed_payload(row) == expected[row.external_order_id].payload
        metadata = materialization_metadata(result)
        assert metadata["orders_landed"] == len(expected)
        assert metadata["api_calls"] >= 1
        assert metadata["seconds"] > 0
        assert harness.api_call_rows(name)


def test_rematerializing_lands_nothing_twice_and_asks_only_for_updates(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 10)]), database_url=database_url)
    harness.materialize("shop", YESTERDAY)
    first = harness.raw_rows("shop")
    for _ in range(2):
        result = harness.materialize("shop", YESTERDAY)
        assert materialization_metadata(result)["orders_landed"] == 0
    assert harness.raw_rows("shop") == first
    queries = [r["query"] for r in harness.simulator.requests if r["path"].endswith("orders.json")]
    assert "updated_at_min" not in queries[0]
    assert "updated_at_min" in queries[-1], "a re-materialization asks only for orders updated since the cursor"


def test_a_status_change_lands_one_new_version(harness_factory):
    harness = harness_factory(scenario([("shop", "shopify", 6)]))
    harness.materialize("shop", YESTERDAY)
    before = harness.raw_rows("shop")
    changed = dict(next(iter(harness.expected("shop", YESTERDAY).values())).payload)
    changed["financial_status"] = "refunded"
    changed["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    response = requests.post(f"{harness.simulator.url}/_admin/channels/shop/orders", json=changed, timeout=5)
    assert response.status_code == 201
    harness.materialize("shop", YESTERDAY)
    after = harness.raw_rows("shop")
    assert len(after) == len(before) + 1
    newest = after[-1]
    assert newest.external_order_id == str(changed["id"])
    assert json.loads(newest.payload)["financial_status"] == "refunded"


def test_full_resync_fetches_the_whole_day_without_duplicates(harness_factory):
    harness = harness_factory(scenario([("woo", "woocommerce", 8)]))
    harness.materialize("woo", YESTERDAY)
    requests.delete(f"{harness.simulator.url}/_admin/requests", timeout=5)
    result = harness.materialize("woo", YESTERDAY, full_resync=True)
    queries = [r["query"] for r in harness.simulator.requests if "wc/v3/orders" in r["path"]]
    assert queries and all("modified_after" not in q for q in queries)
    assert materialization_metadata(result)["orders_fetched"] == len(harness.expected("woo", YESTERDAY))
    assert materialization_metadata(result)["orders_landed"] == 0


def test_a_date_range_is_one_run(harness_factory, database_url):
    harness = harness_factory(scenario([("amzn", "amazon", 5)], days=4), database_url=database_url)
    first = TODAY - timedelta(days=3)
    result = harness.materialize("amzn", first, YESTERDAY)
    assert result.success
    rows = harness.raw_rows("amzn")
    assert {r.run_id for r in rows} == {result.run_id}
    assert {r.external_order_id for r in rows} == set(harness.expected("amzn", first, YESTERDAY))
    assert {r.partition_date for r in rows} == {first + timedelta(days=d) for d in range(3)}
    order_list_calls = [r for r in harness.simulator.requests if r["path"].endswith("/orders/v0/orders")]
    assert len(order_list_calls) == 1, "three days are fetched as one window"


def test_days_beyond_the_history_limit_point_to_csv_import(harness_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_IMPORTS_DIR", str(tmp_path / "imports"))
    harness = harness_factory(scenario([("tkl", "takealot", 3)]))
    old_day = TODAY - timedelta(days=40)
    result = harness.materialize("tkl", old_day, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert "keeps 30 days of order history" in message
    assert str(tmp_path / "imports" / "tkl") in message
    assert harness.raw_rows("tkl") == []
    assert not [r for r in harness.simulator.requests if r["channel"] == "tkl"], "the API is not asked at all"


def test_a_channel_csv_export_lands_through_the_same_table(harness_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_IMPORTS_DIR", str(tmp_path / "imports"))
    old_day = TODAY - timedelta(days=40)
    folder = tmp_path / "imports" / "tkl"
    folder.mkdir(parents=True)
    (folder / "sales-export.csv").write_text(
        "Order ID,Order Date,Sale Status,Product Title,SKU,Qty,Selling Price\n"
        f"9001,{old_day} 10:15:00,Shipped to Customer,Braai Tongs,SKU-1,1,199\n"
        f"9001,{old_day} 10:15:00,Shipped to Customer,Braai Apron — Ndebele,SKU-2,2,249\n"
        f"9002,{old_day} 23:30:00,Accepted,Rooibos Tea,SKU-3,1,59\n",
        encoding="utf-8",
    )
    harness = harness_factory(scenario([("tkl", "takealot", 3)]))
    result = harness.materialize("tkl", old_day)
    rows = {r.external_order_id: r for r in harness.raw_rows("tkl")}
    # 23:30 in Johannesburg is 21:30 UTC the same day; 10:15 is 08:15 UTC.
    assert set(rows) == {"9001", "9002"}
    checksum = hashlib.sha256((folder / "sales-export.csv").read_bytes()).hexdigest()
    assert rows["9001"].source == f"csv:{checksum[:12]}", "the file's checksum, which import_files names"
    with get_engine(harness.database_url).connect() as connection:
        ledger = connection.execute(sa.select(import_files.c.file_name, import_files.c.orders_landed)
                                    .where(import_files.c.checksum == checksum)).all()
    assert [tuple(r) for r in ledger] == [("sales-export.csv", 2)]
    assert [line["Product Title"] for line in json.loads(rows["9001"].payload)] == ["Braai Tongs", "Braai Apron — Ndebele"]
    assert rows["9002"].placed_at == datetime.combine(old_day, datetime.min.time(), timezone.utc) + timedelta(hours=21, minutes=30)
    assert materialization_metadata(result)["csv_orders"] == 2
    harness.materialize("tkl", old_day)
    assert len(harness.raw_rows("tkl")) == 2


def test_a_malformed_export_is_refused_with_the_file_and_column(harness_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_IMPORTS_DIR", str(tmp_path / "imports"))
    folder = tmp_path / "imports" / "shop"
    folder.mkdir(parents=True)
    (folder / "orders_export.csv").write_text("Name,Email\n#1001,a@example.com\n", encoding="utf-8")
    harness = harness_factory(scenario([("shop", "shopify", 3)]))
    result = harness.materialize("shop", YESTERDAY, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "orders_export.csv: column(s) Id, Created at not found" in failure.step_failure_data.error.message


def test_one_channel_failing_does_not_stop_the_others(harness_factory):
    harness = harness_factory(
        scenario([("shop", "shopify", 5), ("woo", "woocommerce", 5)], faults={"expired_credentials": ["woo"]})
    )
    job = harness.definitions().resolve_job_def("order_sync")
    result = job.execute_in_process(
        instance=harness.instance,
        raise_on_error=False,
        tags={RANGE_START_TAG: str(partition_key("shop", YESTERDAY)), RANGE_END_TAG: str(partition_key("woo", YESTERDAY))},
    )
    assert not result.success
    assert len(harness.raw_rows("shop")) == len(harness.expected("shop", YESTERDAY))
    assert harness.raw_rows("woo") == []
    assert [c.status_code for c in harness.api_call_rows("woo")] == [401]


def test_concurrent_materializations_of_one_partition_land_each_version_once(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 15)]), database_url=database_url)
    results = harness.materialize_concurrently("shop", YESTERDAY)
    assert all(r.success for r in results)
    rows = harness.raw_rows("shop")
    assert len(rows) == len({r.external_order_id for r in rows}) == len(harness.expected("shop", YESTERDAY))


def test_near_midnight_orders_land_in_exactly_one_utc_day(harness_factory):
    harness = harness_factory(scenario([("tkl", "takealot", 20), ("shop", "shopify", 20)], days=3, anomalies={"near_midnight": 0.5}))
    first = TODAY - timedelta(days=2)
    for name in ("tkl", "shop"):
        for offset in range(3):
            harness.materialize(name, first + timedelta(days=offset))
        rows = harness.raw_rows(name)
        assert len(rows) == len({r.external_order_id for r in rows})
        for row in rows:
            assert row.partition_date == row.placed_at.astimezone(timezone.utc).date()
