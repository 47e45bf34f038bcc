"""A range run's partitions each carry their own figures (Dagster would give each one the run's totals), so the UI's
plots over partitions read true; the run-wide figures say how many partitions they cover."""

from collections import Counter
from datetime import timedelta

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import fulfilment_orders
from sync_pipeline.db.tables import metadata as tables
from sync_pipeline.definitions import defs
from sync_pipeline.fulfilment.submit import ERROR_CODES, STOPPED
from sync_pipeline_tests.conftest import TODAY, scenario


def latest_metadata(harness, asset: str) -> dict[str, dict]:
    """The last materialization's metadata of each date partition of the asset, as plain values."""
    records = harness.instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
    by_day: dict[str, dict] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        materialization = record.asset_materialization
        day = materialization.partition.keys_by_dimension["date"]
        by_day[day] = {k: v.value for k, v in materialization.metadata.items()}
    return by_day


def test_each_partition_of_a_range_run_reports_its_own_orders_states_and_packages(harness_factory, database_url):
    # Orders the fulfilment stage stops (SKU_NOT_FOUND, SHIP_METHOD_NOT_MAPPED) or holds (NOT_READY), on every day.
    stopping = {"unknown_sku": 0.2, "unmapped_ship_method": 0.15, "unpaid": 0.15}
    harness = harness_factory(scenario([("shop", "shopify", 12)], days=3, anomalies=stopping),
                              database_url=database_url)
    first = TODAY - timedelta(days=2)
    assert harness.materialize("shop", first, TODAY).success
    assert harness.track("shop", first, TODAY).success
    days = [str(first + timedelta(days=n)) for n in range(3)]
    placed = {day: len(harness.expected("shop", first + timedelta(days=n))) for n, day in enumerate(days)}
    # A partition given the run's totals would show every order of the range: no one day may hold them all.
    assert sum(placed.values()) not in placed.values(), "the test could not tell a day's figures from the run's"

    raw = latest_metadata(harness, "raw_orders")
    assert {day: raw[day]["orders"] for day in days} == placed, "each day's own orders, from the simulator's records"
    assert all(raw[day]["run_partitions"] == 3 and raw[day]["api_calls"] == raw[days[0]]["api_calls"] for day in days)

    normalized = latest_metadata(harness, "normalized_orders")
    for day in days:
        figures = normalized[day]
        assert figures["raw_orders"] == placed[day]
        assert figures["normalized"] + figures["filtered"] + figures["quarantined"] == placed[day]
        assert figures["dagster/row_count"] == figures["normalized"]
        assert "errors_INVALID_DATE" in figures, "every known code, zero included"

    with get_engine(harness.database_url).connect() as connection:
        rows = connection.execute(sa.select(fulfilment_orders).where(fulfilment_orders.c.channel == "shop")).all()
    fulfilment = latest_metadata(harness, "fulfilment_orders")
    for day in days:
        by_status = Counter(r.status for r in rows if str(r.partition_date) == day)
        assert {k: v for k, v in fulfilment[day].items() if k.startswith("status_") and v} == {
            f"status_{status}": n for status, n in by_status.items()}
        assert fulfilment[day]["status_MANUAL"] == 0 or by_status["MANUAL"], "every status, zero included"
        codes = {k: v for k, v in fulfilment[day].items() if k.startswith("errors_")}
        assert set(codes) == {f"errors_{code}" for code in ERROR_CODES}, "every known code, zero included"
        stopped = Counter(r.error_code for r in rows if str(r.partition_date) == day and r.status in STOPPED
                          and r.in_doubt_since is None)
        assert stopped, "each day has stopped orders, so the run's totals would differ from every day's"
        assert {k: v for k, v in codes.items() if v} == {f"errors_{code}": n for code, n in stopped.items()}

    shipped = Counter(str(s["shipped_at"])[:10] for s in harness.simulator.warehouse.shipments() if s["channel"] == "shop")
    tracking = latest_metadata(harness, "tracking_updates")
    assert {day: tracking[day]["dagster/row_count"] for day in tracking} == {
        day: shipped.get(day, 0) for day in tracking}, "each day's packages, from the 3PL's own records"


def test_every_asset_names_its_table_and_its_columns_for_the_ui():
    specs = {spec.key.to_user_string(): spec for assets in defs().assets for spec in assets.specs}
    assert all("dagster/column_schema" in spec.metadata for spec in specs.values()), "every asset shows its columns"
    written = {"raw_orders": "raw_orders", "normalized_orders": "orders", "fulfilment_orders": "fulfilment_orders",
               "tracking_updates": "tracking_updates", "inventory_pushes": "inventory_pushes",
               "order_completeness": "order_completeness", "channel_health": "channel_health"}
    for asset, table in written.items():
        schema = specs[asset].metadata["dagster/column_schema"]
        assert specs[asset].metadata["dagster/table_name"] == table
        assert [c.name for c in schema.columns] == [c.name for c in tables.tables[table].columns]
        assert all(c.type for c in schema.columns)
