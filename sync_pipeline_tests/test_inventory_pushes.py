"""inventory_pushes end to end: every listing shows the warehouse's free Good stock less what is promised, only
changes are written, and every listing ends with its reason (S36-S41), counted from the simulated channels' own
listing records, never from our tables."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest
import requests
import sqlalchemy as sa

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import inventory_drift, inventory_pushes, inventory_snapshots
from sync_pipeline.inventory.inventory_assets import SNAPSHOTS, STATUSES
from sync_pipeline_tests.conftest import TODAY, scenario

PLATFORMS = ["shopify", "woocommerce", "amazon", "ebay", "bigcommerce", "takealot"]
YESTERDAY = TODAY.fromordinal(TODAY.toordinal() - 1)


def rows(harness, channel: str) -> dict[str, dict]:
    with get_engine(harness.database_url).connect() as connection:
        query = sa.select(inventory_pushes).where(inventory_pushes.c.channel == channel)
        return {r["listing_id"]: dict(r) for r in connection.execute(query).mappings()}


def free_stock(harness) -> dict[str, int]:
    return {i["sku"]: max(0, i["good"] - i["allocated"]) for i in harness.simulator.warehouse.items()}


def listings(harness, channel: str) -> list[dict]:
    return harness.simulator._platform(channel).listings.all()


def api_writes(harness, channel: str) -> int:
    return sum(1 for entry in harness.simulator._platform(channel).listings.history() if entry["source"] == "api")


def push_metadata(result) -> dict:
    """The inventory_pushes materialization's metadata (the run materializes inventory_snapshots too)."""
    (metadata,) = [e.materialization.metadata for e in result.get_asset_materialization_events()
                   if e.asset_key.to_user_string() == "inventory_pushes"]
    return metadata


def on(channel: str, **settings) -> dict:
    return {channel: {"inventory_sync": True, **settings}}


# Takealot's headers give its bucket, not the refill rate, which the client takes from the plan (1 request/s): at the
# simulator's speed (the scenario's default, 200) the plan is 200/s, or each time the bucket runs low the client
# waits a real-time second for a simulator that refilled in five milliseconds.
PLAN_AT_SPEED = {"takealot": {"rate_limit": {"per_second": 1.0 * 200, "burst": 10}}}


@pytest.mark.parametrize("channel_type", PLATFORMS)
def test_every_listing_shows_the_free_good_stock_and_a_rerun_writes_nothing(harness_factory, database_url,
                                                                             channel_type):
    harness = harness_factory(scenario([("shop", channel_type, 0)], days=1, start=YESTERDAY, extra_listings=40),
                              overrides_in=on("shop", **PLAN_AT_SPEED.get(channel_type, {})), database_url=database_url)
    result = harness.push_stock("shop")
    free = free_stock(harness)
    live = [listing for listing in listings(harness, "shop") if not listing.get("deleted")]
    assert len(live) == 52
    for listing in live:  # from the simulator's own record of what each listing holds
        assert listing["quantity"] == free[listing["warehouse_sku"]], listing
    statuses = {r["status"] for r in rows(harness, "shop").values()}
    assert statuses <= {"PUSHED", "UNCHANGED"} and "PUSHED" in statuses
    metadata = push_metadata(result)
    assert metadata["listings"].value == 52 and metadata["api_calls_per_written_listing"].value > 0
    history = harness.simulator._platform("shop").listings.history()
    sku_of = {listing["listing_id"]: listing["warehouse_sku"] for listing in listings(harness, "shop")}
    assert all(e["quantity"] <= free[sku_of[e["listing_id"]]] for e in history if e["source"] == "api")  # never oversold
    writes = api_writes(harness, "shop")
    harness.push_stock("shop")  # nothing moved: nothing is written again
    assert api_writes(harness, "shop") == writes
    assert {r["status"] for r in rows(harness, "shop").values()} == {"UNCHANGED"}


def test_units_already_sold_and_not_yet_at_the_warehouse_are_not_sold_again(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 8)], days=1, start=YESTERDAY, anomalies={"unpaid": 1.0}),
                              overrides_in=on("shop", inventory_buffer=1), database_url=database_url)
    harness.materialize("shop", YESTERDAY)  # unpaid: HELD, so the warehouse has not allocated them
    harness.push_stock("shop")
    promised: dict[str, int] = {}
    for order in harness.expected("shop", YESTERDAY).values():
        for line in order.payload["line_items"]:
            promised[line["sku"]] = promised.get(line["sku"], 0) + line["quantity"]
    assert promised
    free = free_stock(harness)
    for listing in listings(harness, "shop"):
        sku = listing["warehouse_sku"]
        assert listing["quantity"] == max(0, free[sku] - promised.get(sku, 0) - 1), sku


def test_each_listing_trouble_is_a_status_with_its_reason_and_drift_is_put_right(harness_factory, database_url):
    troubles = {"listing_sku_case_mismatch": 0.15, "listing_deleted": 0.1, "listing_not_tracked": 0.15,
                "listing_not_active": 0.15, "listing_drift": 0.2}
    harness = harness_factory(scenario([("shop", "shopify", 0), ("bay", "ebay", 0)], days=1, start=YESTERDAY,
                                       extra_listings=60, anomalies=troubles),
                              overrides_in={**on("shop"), **on("bay")}, database_url=database_url)
    for channel in ("shop", "bay"):
        harness.push_stock(channel)
        result = harness.push_stock(channel)  # the second run meets the hand changes (S40) and writes them back
        platform = harness.simulator._platform(channel)
        decided = rows(harness, channel)
        # Every status, zero included, as the table holds them after a run that read every listing.
        metadata = push_metadata(result)
        held = Counter(r["status"] for r in decided.values())
        assert {k: v.value for k, v in metadata.items() if k.startswith("status_")} == {
            f"status_{status}": held[status] for status in STATUSES}
        assert metadata["dagster/row_count"].value == len(decided)
        free = free_stock(harness)
        expected = {"listing_sku_case_mismatch": "PRODUCT_NOT_FOUND", "listing_not_tracked": "INVENTORY_NOT_TRACKED",
                    "listing_not_active": "NOT_ACTIVE"}
        seen = set()
        for listing in listings(harness, channel):
            anomaly = platform.listing_anomaly(listing["warehouse_sku"])
            row = next((r for r in decided.values() if r["sku"] == listing["sku"]), None)
            # Gone from the channel's lists: deleted, or on eBay a listing the Inventory API does not manage.
            if anomaly == "listing_deleted" or (channel == "bay" and anomaly == "listing_not_tracked"):
                assert row is None  # nothing to write
                continue
            seen.add(anomaly)
            if anomaly in expected:
                assert row["status"] == expected[anomaly] and row["message"], (channel, anomaly, row)
                if anomaly == "listing_sku_case_mismatch":
                    assert listing["warehouse_sku"] in row["message"] and "only by case" in row["message"]
            else:  # in sync, drift included: the warehouse is the source of truth
                assert listing["quantity"] == free[listing["warehouse_sku"]], (channel, anomaly, listing)
        assert {"listing_sku_case_mismatch", "listing_not_active", "listing_drift"} <= seen
        with get_engine(harness.database_url).connect() as connection:
            drift = connection.execute(sa.select(inventory_drift).where(inventory_drift.c.channel == channel)).all()
        drifted = [l for l in listings(harness, channel) if platform.listing_anomaly(l["warehouse_sku"]) == "listing_drift"
                   and l.get("tracked", True) and l.get("active", True)]
        assert drift and len(drift) <= len(drifted)
        assert all(d.corrected_at is not None and d.found != d.pushed for d in drift)
        # Shopify's inventory levels say when they changed; eBay's offers do not.
        assert all(d.difference == d.found - d.pushed and (d.changed_at is not None) == (channel == "shop")
                   and "not this pipeline" in d.changed_by for d in drift)


def test_impossible_warehouse_figures_are_never_pushed(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "woocommerce", 0)], days=1, start=YESTERDAY,
                                       warehouse={"stock_anomalies": 1.0}), overrides_in=on("shop"),
                              database_url=database_url)
    before = {l["listing_id"]: l["quantity"] for l in listings(harness, "shop")}
    harness.push_stock("shop")
    assert api_writes(harness, "shop") == 0
    assert {l["listing_id"]: l["quantity"] for l in listings(harness, "shop")} == before
    assert {r["status"] for r in rows(harness, "shop").values()} == {"INVALID_QUANTITY"}
    assert all("S39" in r["message"] for r in rows(harness, "shop").values())


def test_a_channel_with_inventory_sync_off_is_left_alone(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 0)], days=1, start=YESTERDAY), database_url=database_url)
    result = harness.push_stock("shop")
    assert api_writes(harness, "shop") == 0 and not rows(harness, "shop")
    metadata = push_metadata(result)
    assert metadata["skipped_inventory_sync_off"].value == 1


def test_a_listing_at_its_daily_write_cap_is_held_back(harness_factory, database_url):
    harness = harness_factory(scenario([("bay", "ebay", 0)], days=1, start=YESTERDAY), overrides_in=on("bay"),
                              database_url=database_url)
    harness.push_stock("bay")
    listing_id = next(iter(rows(harness, "bay")))
    with get_engine(harness.database_url).begin() as connection:
        connection.execute(inventory_pushes.update().where(inventory_pushes.c.listing_id == listing_id)
                           .values(writes_day=datetime.now(timezone.utc).date(), writes_that_day=250))
    sku = rows(harness, "bay")[listing_id]["warehouse_sku"]  # its stock moves: a new quantity to write
    item = next(i for i in harness.simulator.warehouse.items() if i["sku"] == sku)
    requests.post(f"{harness.simulator.url}/_admin/warehouse/items", json={"sku": sku, "good": item["good"] + 7},
                  timeout=10).raise_for_status()
    writes = api_writes(harness, "bay")
    harness.push_stock("bay")
    row = rows(harness, "bay")[listing_id]
    assert row["status"] == "HELD_BACK" and "250" in row["message"]
    assert api_writes(harness, "bay") == writes


def test_a_listing_deleted_on_the_channel_after_it_was_written_is_said_so(harness_factory):
    harness = harness_factory(scenario([("shop", "woocommerce", 0)], days=1, start=YESTERDAY), overrides_in=on("shop"))
    harness.push_stock("shop")
    store = harness.simulator._platform("shop").listings
    gone = store.all()[0]
    store.update(gone["listing_id"], deleted=True)
    harness.push_stock("shop")
    row = next(r for r in rows(harness, "shop").values() if r["sku"] == gone["sku"])
    assert row["status"] == "PRODUCT_NOT_FOUND" and "no longer listed" in row["message"]


def test_a_platform_without_a_stock_api_is_skipped_with_its_reason(harness_factory, monkeypatch, database_url):
    from sync_pipeline.channels import INVENTORY_PUSHES

    monkeypatch.delitem(INVENTORY_PUSHES, "takealot")
    harness = harness_factory(scenario([("tkl", "takealot", 0)], days=1, start=YESTERDAY), overrides_in=on("tkl"),
                              database_url=database_url)
    result = harness.push_stock("tkl")
    assert api_writes(harness, "tkl") == 0
    metadata = push_metadata(result)
    assert metadata["skipped_not_supported"].value == 1  # S37, with the reason and what to do
    assert metadata["skipped_reason"].value.startswith("takealot has no stock API this pipeline can write to (S37)")


def channel_calls(harness, channel: str) -> list[dict]:
    return [r for r in harness.simulator.requests if r["channel"] == channel]


@pytest.mark.parametrize("channel_type", ["woocommerce", "ebay", "takealot"])
def test_a_run_after_the_stock_moved_writes_only_what_moved_without_reading_the_channel(harness_factory, database_url,
                                                                                     channel_type):
    harness = harness_factory(scenario([("shop", channel_type, 0)], days=1, start=YESTERDAY, extra_listings=60),
                              overrides_in=on("shop", **PLAN_AT_SPEED.get(channel_type, {})), database_url=database_url)
    harness.push_stock("shop")  # the first run reads every listing
    moved = sorted(free_stock(harness))[:3]
    for sku in moved:
        item = next(i for i in harness.simulator.warehouse.items() if i["sku"] == sku)
        harness.simulator.warehouse.put_item({"sku": sku, "good": item["good"] + 9})
    harness.simulator.clear_requests()
    before = len(harness.simulator._platform("shop").listings.history())
    result = harness.push_stock("shop", read_listings=False)
    calls = channel_calls(harness, "shop")
    assert calls and all(r["method"] != "GET" for r in calls), [r["path"] for r in calls]  # nothing read
    history = harness.simulator._platform("shop").listings.history()[before:]
    assert sorted({e["listing_id"] for e in history if e["source"] == "api"}) == sorted(
        l["listing_id"] for l in listings(harness, "shop") if l["warehouse_sku"] in moved)
    free = free_stock(harness)
    assert all(l["quantity"] == free[l["warehouse_sku"]] for l in listings(harness, "shop"))
    metadata = push_metadata(result)
    assert metadata["listings_read"].value == 0 and metadata["status_PUSHED"].value == len(moved)
    harness.simulator.clear_requests()
    harness.push_stock("shop", read_listings=False)  # nothing moved since: no call at all
    assert channel_calls(harness, "shop") == []


def test_hand_changes_wait_for_the_scheduled_read_and_are_put_right_there(harness_factory):
    harness = harness_factory(scenario([("shop", "woocommerce", 0)], days=1, start=YESTERDAY, extra_listings=20),
                              overrides_in=on("shop"))
    harness.push_stock("shop")
    store = harness.simulator._platform("shop").listings
    touched = store.all()[0]
    store.hand_change(touched["listing_id"], touched["quantity"] + 50)  # a person, on the channel (S40)
    harness.push_stock("shop", read_listings=False)  # knows nothing of it: the channel is not read
    assert store.read(touched["listing_id"])["quantity"] == touched["quantity"] + 50
    harness.push_stock("shop")  # the scheduled run reads, finds it and writes the warehouse's figure back
    assert store.read(touched["listing_id"])["quantity"] == free_stock(harness)[touched["warehouse_sku"]]
    with get_engine(harness.database_url).connect() as connection:
        drift = connection.execute(sa.select(inventory_drift)).all()
    assert [(d.listing_id, d.found, d.difference) for d in drift] == [(touched["listing_id"], touched["quantity"] + 50, 50)]
    (found,) = drift
    changed = next(h for h in store.history() if h["source"] == "hand")  # the simulator's record of the person's edit
    # WooCommerce's date_modified_gmt, to the second, is when it happened; who did it, the channel does not say.
    assert found.changed_at.replace(tzinfo=None) == datetime.fromisoformat(changed["at"]).replace(microsecond=0, tzinfo=None)
    assert found.changed_by.startswith(f"not this pipeline, which wrote {found.pushed} at ")
    assert "WooCommerce keeps no stock history" in found.changed_by


def test_a_channel_never_read_is_read_even_when_only_changes_are_asked(harness_factory):
    harness = harness_factory(scenario([("shop", "woocommerce", 0)], days=1, start=YESTERDAY), overrides_in=on("shop"))
    result = harness.push_stock("shop", read_listings=False)
    metadata = push_metadata(result)
    assert metadata["listings_read"].value == metadata["listings"].value > 0
    free = free_stock(harness)
    assert all(l["quantity"] == free[l["warehouse_sku"]] for l in listings(harness, "shop"))


def test_the_stock_sensor_asks_for_a_changes_only_run_of_each_inventory_channel_when_stock_moves(harness_factory,
                                                                                              database_url):
    import dagster as dg

    from sync_pipeline.db.resource import DatabaseResource
    from sync_pipeline.inventory.schedules import CHANGES_ONLY

    harness = harness_factory(scenario([("shop", "woocommerce", 0), ("bay", "ebay", 0), ("off", "bigcommerce", 0)],
                                       days=1, start=YESTERDAY), overrides_in={**on("shop"), **on("bay")},
                              database_url=database_url)
    definitions = harness.definitions()
    sensor = definitions.resolve_sensor_def("inventory_stock_moved")
    resources = {"database": DatabaseResource(url=harness.database_url), "channels": harness.channels,
                 "warehouse": definitions.resources["warehouse"]}
    first = sensor(dg.build_sensor_context(resources=resources))
    assert sorted(r.partition_key for r in first.run_requests) == ["bay", "shop"]  # "off" has inventory_sync off
    assert all(r.run_config == CHANGES_ONLY for r in first.run_requests)
    assert isinstance(sensor(dg.build_sensor_context(cursor=first.cursor, resources=resources)), dg.SkipReason)
    sku = sorted(free_stock(harness))[0]
    harness.simulator.warehouse.put_item({"sku": sku, "good": 77})
    moved = sensor(dg.build_sensor_context(cursor=first.cursor, resources=resources))
    assert sorted(r.partition_key for r in moved.run_requests) == ["bay", "shop"]
    assert moved.cursor > first.cursor
    job = definitions.resolve_job_def("inventory_sync")
    for request in moved.run_requests:  # what the daemon launches
        assert job.execute_in_process(instance=harness.instance, partition_key=request.partition_key,
                                      run_config=request.run_config).success
    for channel in ("shop", "bay"):
        assert all(l["quantity"] == free_stock(harness)[l["warehouse_sku"]] for l in listings(harness, channel)
                   if l["warehouse_sku"] == sku and not l.get("deleted"))


def test_each_push_run_materializes_the_stock_read_it_made_as_inventory_snapshots(harness_factory, sqlite_url):
    """The stock sensor and the schedules run inventory_pushes alone; its read of the warehouse's stock is the
    inventory_snapshots materialization the UI shows, with the items that moved (every item, the first time)."""
    harness = harness_factory(scenario([("shop", "shopify", 0)], days=1, start=YESTERDAY),
                              overrides_in=on("shop"), database_url=sqlite_url)
    assert harness.push_stock("shop").success
    assert harness.push_stock("shop").success
    records = harness.instance.fetch_materializations(SNAPSHOTS, limit=10).records
    first, second = sorted(records, key=lambda r: r.storage_id)
    items = len(harness.simulator.warehouse.items())
    assert first.asset_materialization.metadata["items_changed"].value == items > 0
    assert second.asset_materialization.metadata["items_changed"].value == 0, "nothing moved since the first read"
    with get_engine(harness.database_url).connect() as connection:
        held = connection.execute(sa.select(sa.func.count()).select_from(inventory_snapshots)).scalar_one()
    assert second.asset_materialization.metadata["dagster/row_count"].value == held == items


@pytest.mark.parametrize("channel_type", ["shopify", "woocommerce"])
def test_the_sku_map_read_in_reverse_gives_every_listing_of_a_warehouse_sku_the_same_quantity(
        harness_factory, database_url, tmp_path, monkeypatch, channel_type):
    """Listings whose channel SKUs the SKU map sends to another warehouse SKU show that SKU's stock, beside the
    listing under the warehouse SKU itself: several listings per warehouse SKU, on one channel and on two, one
    quantity (the simulated channels' own records)."""
    harness = harness_factory(scenario([("shop", channel_type, 0), ("other", "shopify", 0)], days=1, start=YESTERDAY),
                              overrides_in={**on("shop"), **on("other")}, database_url=database_url)
    first, second = listings(harness, "shop")[:2]
    (elsewhere,) = listings(harness, "other")[:1]
    sku = second["warehouse_sku"]
    assert len({first["warehouse_sku"], sku, elsewhere["warehouse_sku"]}) == 3
    sku_map = tmp_path / "sku_map.csv"
    sku_map.write_text(f"channel,channel_sku,variant_id,warehouse_sku\nshop,{first['sku']},,{sku}\n"
                       f"other,{elsewhere['sku']},,{sku}\n", encoding="utf-8")
    monkeypatch.setenv("SYNC_SKU_MAP_FILE", str(sku_map))
    assert harness.push_stock("shop").success and harness.push_stock("other").success
    free = free_stock(harness)
    assert free[sku] not in (free[first["warehouse_sku"]], free[elsewhere["warehouse_sku"]]), \
        "the test could not tell the SKUs apart"
    shown = {listing["listing_id"]: listing["quantity"] for name in ("shop", "other") for listing in listings(harness, name)}
    assert shown[first["listing_id"]] == shown[second["listing_id"]] == shown[elsewhere["listing_id"]] == free[sku]
    by_sku = {(name, r["sku"]): r for name in ("shop", "other") for r in rows(harness, name).values()}
    assert by_sku[("shop", first["sku"])]["warehouse_sku"] == by_sku[("other", elsewhere["sku"])]["warehouse_sku"] == sku


def test_woocommerce_variations_take_their_stock_on_their_own_endpoints(harness_factory, database_url):
    """A variable product holds no stock; each of its variations does, read from products/<id>/variations (two pages
    of 100 and 15 here) and written with that product's variations/batch: never products/batch. Counted from the
    simulated shop's own records."""
    harness = harness_factory(scenario([("shop", "woocommerce", 0)], days=1, start=YESTERDAY, extra_listings=230,
                                       channel_options={"shop": {"variations_per_product": 115}}),
                              overrides_in=on("shop"), database_url=database_url)
    sim = harness.simulator
    variations = [l for l in listings(harness, "shop") if l["parent_id"]]
    parents = sorted({l["parent_id"] for l in variations})
    assert len(variations) == 230 and len(parents) == 2
    sim.clear_requests()
    assert harness.push_stock("shop").success
    free = free_stock(harness)
    for listing in listings(harness, "shop"):  # simple products and variations alike
        assert listing["quantity"] == free[listing["warehouse_sku"]], listing
    paths = Counter((r["method"], r["path"].split("/wc/v3/", 1)[1].split("/", 1)[-1]) for r in sim.requests
                    if r["channel"] == "shop")
    for parent in parents:
        assert paths[("GET", f"{parent}/variations")] == 2, paths
        assert paths[("POST", f"{parent}/variations/batch")] >= 2, paths  # 115 variations: at most 100 a call
    assert {r["status"] for r in rows(harness, "shop").values()} == {"PUSHED"}
    kept = {r["sku"]: r for r in rows(harness, "shop").values()}
    assert kept[variations[0]["sku"]]["listing"]["ids"] == {"parent_id": variations[0]["parent_id"]}

    moved = variations[-1]  # the stock of one variation's SKU moves: a changes-only run writes it on its parent
    sim.warehouse.put_item({"sku": moved["warehouse_sku"], "good": free[moved["warehouse_sku"]] + 7})
    sim.clear_requests()
    assert harness.push_stock("shop", read_listings=False).success
    posts = [r["path"] for r in sim.requests if r["channel"] == "shop" and r["method"] == "POST"]
    assert len(posts) == 1 and posts[0].endswith(f"/wp-json/wc/v3/products/{moved['parent_id']}/variations/batch"), posts
    (now,) = [l for l in listings(harness, "shop") if l["listing_id"] == moved["listing_id"]]
    assert now["quantity"] == free_stock(harness)[moved["warehouse_sku"]]
