"""A failing channel, or days a channel's API no longer keeps, do not hold back the rest of a run: what landed is
materialized partition by partition and flows on to the 3PL in that same run; what did not is not materialized, per
Dagster's own records and the simulated warehouse's (issue 9, item 5)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import fulfilment_orders
from sync_pipeline.orders.ingest import history_floor
from sync_pipeline.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_key
from sync_pipeline_tests.conftest import TODAY, scenario

YESTERDAY = TODAY - timedelta(days=1)
ASSETS = [dg.AssetKey(name) for name in ("raw_orders", "normalized_orders", "fulfilment_orders")]


def materialized(harness, asset: dg.AssetKey) -> set[str]:
    return set(harness.instance.get_materialized_partitions(asset))


def status(harness, asset: dg.AssetKey, keys: list[str]) -> dict[str, str]:
    partitions_def = harness.definitions().resolve_assets_def(asset).partitions_def
    found = harness.instance.get_status_by_partition(asset, keys, partitions_def) or {}
    return {key: (value.value if value else None) for key, value in found.items()}


def at_3pl(harness) -> Counter:
    """Live warehouse orders per channel, from the simulated warehouse's own records."""
    return Counter(o["channel"] for o in harness.simulator.warehouse.orders() if o["status"] != "cancelled")


def accepted(harness, channel: str) -> int:
    with get_engine(harness.database_url).connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).where(fulfilment_orders.c.channel == channel, fulfilment_orders.c.status == "ACCEPTED")
        ).scalar()


def step_failure(result) -> str:
    return next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data.error.message


def landed_check(result):
    """raw_orders' every_requested_day_landed as the run recorded it."""
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
                     and e.event_specific_data.check_name == "every_requested_day_landed"]
    return evaluation


def test_a_channel_refusing_its_key_does_not_hold_back_the_others(harness_factory):
    # One day over three channels: the one run a single-run backfill of that day launches (note 6).
    harness = harness_factory(scenario(
        [("amzn", "amazon", 4), ("shop", "shopify", 4), ("woo", "woocommerce", 4)],
        days=1, start=YESTERDAY, faults={"expired_credentials": ["shop"]},
    ))
    job = harness.definitions().resolve_job_def("order_sync")
    result = job.execute_in_process(
        instance=harness.instance, raise_on_error=False,
        tags={RANGE_START_TAG: str(partition_key("amzn", YESTERDAY)), RANGE_END_TAG: str(partition_key("woo", YESTERDAY))},
    )
    assert not result.success, "the refused key is seen: the run fails"
    assert "shop" in step_failure(result)
    check = landed_check(result)
    assert not check.passed, "the check fails, naming the channel and its day"
    assert check.metadata["channels"].value == "amzn, shop, woo"
    assert check.metadata["partitions_failed"].value == 1 and check.metadata["partitions_requested"].value == 3
    assert [(f["channel"], f["days"]) for f in check.metadata["detail"].value] == [("shop", f"{YESTERDAY}..{YESTERDAY}")]
    healthy = {str(partition_key(c, YESTERDAY)) for c in ("amzn", "woo")}
    failed = str(partition_key("shop", YESTERDAY))
    # Dagster's records: the healthy channels' partitions landed, the refused one did not and shows as failed.
    assert materialized(harness, ASSETS[0]) == healthy
    assert status(harness, ASSETS[0], [failed, *healthy]) == {failed: "FAILED", **{k: "MATERIALIZED" for k in healthy}}
    for event in result.get_asset_materialization_events():
        if event.asset_key == ASSETS[0]:
            assert isinstance(event.materialization.metadata["orders_landed"].value, int)
        assert event.materialization.metadata["seconds"].value >= 0

    # In that same run, the healthy channels' orders were normalized and sent; the refused one's were not.
    assert {e.asset_key for e in result.get_asset_materialization_events()} == set(ASSETS)
    for asset in ASSETS:
        assert materialized(harness, asset) == healthy, asset
    assert failed not in materialized(harness, ASSETS[2])
    warehouse = at_3pl(harness)
    assert warehouse["shop"] == 0
    for channel in ("amzn", "woo"):
        assert warehouse[channel] == accepted(harness, channel) > 0, channel


def test_a_90_day_resync_lands_the_days_the_api_keeps_and_fails_only_the_others(harness_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_IMPORTS_DIR", str(tmp_path / "imports"))
    first = TODAY - timedelta(days=89)
    harness = harness_factory(scenario([("shop", "shopify", 1)], days=90, start=first))
    floor = history_floor(harness.config.channel("shop"))  # Shopify keeps 60 days
    result = harness.materialize("shop", first, TODAY, full_resync=True, raise_on_error=False)

    assert not result.success
    message = step_failure(result)
    assert str(tmp_path / "imports" / "shop") in message
    assert "keeps 60 days" in message
    check = landed_check(result)
    assert not check.passed and check.metadata["partitions_failed"].value == (floor - first).days
    assert check.metadata["days"].value == f"{first}..{TODAY}" and "keeps 60 days" in check.description
    days = [first + timedelta(days=d) for d in range(90)]
    api_days = {str(partition_key("shop", d)) for d in days if d >= floor}
    old_days = {str(partition_key("shop", d)) for d in days if d < floor}
    assert materialized(harness, ASSETS[0]) == api_days
    assert set(status(harness, ASSETS[0], sorted(old_days)).values()) == {"FAILED"}
    assert {r.partition_date for r in harness.raw_rows("shop")} <= {d for d in days if d >= floor}

    # The 61 days the API keeps went on to the warehouse in that same run.
    for asset in ASSETS:
        assert materialized(harness, asset) == api_days, asset
    assert at_3pl(harness)["shop"] == accepted(harness, "shop") > 0


def test_old_days_with_a_csv_export_land_and_flow_on(harness_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_IMPORTS_DIR", str(tmp_path / "imports"))
    first = TODAY - timedelta(days=89)
    harness = harness_factory(scenario([("tkl", "takealot", 1)], days=90, start=first))
    floor = history_floor(harness.config.channel("tkl"))  # Takealot keeps 30 days
    exported = [floor - timedelta(days=d) for d in (10, 5, 1)]
    folder = tmp_path / "imports" / "tkl"
    folder.mkdir(parents=True)
    (folder / "sales-export.csv").write_text(
        "Order ID,Order Date,Sale Status,Product Title,SKU,Qty,Selling Price\n"
        + "".join(f"{9000 + i},{day} 10:15:00,Accepted,Rooibos Tea,SKU-3,1,59\n" for i, day in enumerate(exported)),
        encoding="utf-8",
    )
    result = harness.materialize("tkl", first, TODAY, full_resync=True, raise_on_error=False)
    assert not result.success
    assert str(folder) in step_failure(result)
    days = [first + timedelta(days=d) for d in range(90)]
    covered = {d for d in days if exported[0] <= d < floor}  # within the export's span
    expected = {str(partition_key("tkl", d)) for d in days if d >= floor or d in covered}
    assert materialized(harness, ASSETS[0]) == expected
    assert {r.external_order_id for r in harness.raw_rows("tkl") if r.source.startswith("csv:")} == {"9000", "9001", "9002"}
    assert materialized(harness, ASSETS[1]) == expected
    assert materialized(harness, ASSETS[2]) == expected
