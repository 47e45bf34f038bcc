"""Bad input stays local and speaks in one line (issue 16): a broken map-file line stops only the channels it could
affect, naming the file and line; `map_file_problems` lists every problem at once; configuration errors head what
`dagster asset materialize` prints."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from sync_pipeline.config import PROJECT_ROOT, ConfigError, load_config
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import fulfilment_orders, inventory_pushes, order_sync_errors, orders
from sync_pipeline.fulfilment.map_files import MapFileError, map_file_problems
from sync_pipeline.fulfilment.sensors import blocked_partitions
from sync_pipeline.fulfilment.ship_methods import ship_maps_file, warehouse_codes
from sync_pipeline.fulfilment.skus import resolve_skus, sku_map_file
from sync_pipeline.orders.status_map import load_status_map
from sync_pipeline.orders.why import explain
from sync_pipeline_tests.conftest import TODAY, scenario

YESTERDAY = TODAY - timedelta(days=1)
CONFIG = load_config()
SHOPIFY, WOO = CONFIG.channel("shopify-demo"), CONFIG.channel("woo-demo")

DAGSTER = Path(sys.executable).with_name("dagster")


def _materialize(tmp_path: Path, channels_file: Path, drop_env: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "SYNC_CHANNELS_FILE": str(channels_file),
           "SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'sync.sqlite'}"}
    env.pop("SYNC_SIMULATOR_URL", None)
    if drop_env:
        env.pop(drop_env, None)
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return subprocess.run(
        [str(DAGSTER), "asset", "materialize", "-m", "sync_pipeline.definitions", "--select", "raw_orders",
         "--partition", "shopify-demo|2026-12-01"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)


def _first_lines(text: str, count: int = 5) -> list[str]:
    """What a person reads first: the lines before any traceback, Dagster's warnings aside."""
    return [line for line in text.splitlines() if line.strip() and "Warning" not in line
            and not line.startswith("  return callback")][:count]


def test_a_bad_channels_entry_is_named_on_the_first_line_and_only_its_partitions_are_gone(tmp_path):
    channels = tmp_path / "channels.yaml"
    text = (PROJECT_ROOT / "data" / "channels.yaml").read_text()
    channels.write_text(text.replace("type: shopify\n", "type: shopfy\n", 1))
    entry_line = text.splitlines().index("    type: shopify") + 1
    result = _materialize(tmp_path, channels)
    assert result.returncode != 0
    first = _first_lines(result.stderr)
    expected = (f"configuration error: {channels}:{entry_line}: channel 'shopify-demo' (channels[0]): type: 'shopfy' "
                "is not one of shopify, woocommerce")
    assert any(line.startswith(expected) for line in first), result.stderr[-3000:]
    # The code location loaded without the channel: its partition is not there (the others' are).
    assert ("Could not find a partition with key `shopify-demo|2026-12-01`" in result.stderr
            or "must have a PartitionsDefinition containing the passed partition key" in result.stderr)


def test_a_missing_credential_heads_the_step_failure(tmp_path):
    channels = tmp_path / "channels.yaml"
    channels.write_text((PROJECT_ROOT / "data" / "channels.yaml").read_text())
    result = _materialize(tmp_path, channels, drop_env="SHOPIFY_DEMO_ACCESS_TOKEN")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "STEP_FAILURE" in output, output[-3000:]
    failure = output[output.index("STEP_FAILURE"):].splitlines()
    message = ("channel 'shopify-demo': environment variable SHOPIFY_DEMO_ACCESS_TOKEN (credential access_token) "
               "is not set")
    assert any(message in line for line in [x for x in failure if x.strip()][:3]), "\n".join(failure[:10])


def test_a_broken_line_stops_only_the_channels_it_names(tmp_path):
    path = tmp_path / "ship_maps.csv"
    path.write_text("channel,channel_ship_method,warehouse_code\n# a comment keeps its line\n"
                    "*,Standard,UPS-GND\nshopify,Express\nwoocommerce,Standard,USPS-PRI\n")
    with pytest.raises(MapFileError, match=r"ship_maps.csv:4: 2 values where the header has 3"):
        warehouse_codes(pd.Series(["Standard"]), SHOPIFY, path)
    assert warehouse_codes(pd.Series(["Standard"]), WOO, path).tolist() == ["USPS-PRI"]
    path.write_text("channel,channel_ship_method,warehouse_code\n*,Standard,UPS-GND\n*,Standard,FDX-ON\n")
    for channel in (SHOPIFY, WOO):  # a `*` line affects every channel
        with pytest.raises(MapFileError, match=r"ship_maps.csv:2: .*mapped more than once .*lines 2, 3"):
            warehouse_codes(pd.Series(["Standard"]), channel, path)


def test_a_status_map_problem_names_its_yaml_line(tmp_path):
    path = tmp_path / "status_map.yaml"
    path.write_text("types:\n  shopify:\n    paid: paid\n    voided: canceled\n  woocommerce:\n    processing: paid\n")
    with pytest.raises(ConfigError, match=r"status_map.yaml:4: types.shopify: 'voided' maps to 'canceled'"):
        load_status_map(SHOPIFY, path)
    assert load_status_map(WOO, path) == {"processing": "paid"}
    path.write_text("types:\n  shopify:\n    paid: paid\n   bad: [\n")
    with pytest.raises(ConfigError, match=r"status_map.yaml:4: not valid YAML"):
        load_status_map(WOO, path)


def test_every_problem_of_every_map_file_at_once(tmp_path, monkeypatch):
    skus = tmp_path / "sku_map.csv"
    skus.write_text("channel,channel_sku,variant_id,warehouse_sku\nshopfy-demo,A-1,,WH-1\nshopify,B-1,,\n")
    ships = tmp_path / "ship_maps.csv"
    ships.write_text(ship_maps_file().read_text() + "ebay-dmo,Standard,UPS-GND\n")
    monkeypatch.setenv("SYNC_SKU_MAP_FILE", str(skus))
    monkeypatch.setenv("SYNC_SHIP_MAPS_FILE", str(ships))
    problems = map_file_problems(CONFIG.channels)
    found = {(p.file.name, p.line) for p in problems}
    ship_line = len(ships.read_text().splitlines())
    assert found == {("sku_map.csv", 2), ("sku_map.csv", 3), ("ship_maps.csv", ship_line)}, [str(p) for p in problems]
    unknown = next(str(p) for p in problems if p.line == 2)
    assert "channel 'shopfy-demo' is not a channel, a channel type or '*'" in unknown
    assert "shopify-demo" in unknown and "woocommerce" in unknown, "the message lists what exists"


def test_the_repositorys_own_map_files_are_clean():
    assert [str(p) for p in map_file_problems(CONFIG.channels)] == []


def test_a_broken_line_for_one_channel_lets_the_other_channels_orders_through(
    harness_factory, tmp_path, monkeypatch, database_url
):
    skus, original = tmp_path / "sku_map.csv", sku_map_file().read_text()
    skus.write_text(original + "shop,SKU-1\n")
    line = len(skus.read_text().splitlines())
    monkeypatch.setenv("SYNC_SKU_MAP_FILE", str(skus))
    harness = harness_factory(scenario([("shop", "shopify", 6), ("woo", "woocommerce", 6)], days=1, start=YESTERDAY),
                              database_url=database_url)
    stopped = harness.materialize("shop", YESTERDAY, raise_on_error=False)
    assert not stopped.success
    failure = next(e for e in stopped.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"{skus}:{line}: 2 values where the header has 4" in str(failure.event_specific_data.error)
    assert harness.materialize("woo", YESTERDAY).success
    at_3pl = [o["channel"] for o in harness.simulator.warehouse.orders()]
    assert "shop" not in at_3pl and at_3pl.count("woo") > 0
    # Each order the broken line stopped is accounted for: IMPORT_ERROR, with an error row naming the file, the line
    # and the fix, which `why` shows.
    with get_engine(database_url).connect() as connection:
        normalized = set(connection.execute(sa.select(orders.c.external_order_id).where(orders.c.channel == "shop"))
                         .scalars())
        states = dict(connection.execute(sa.select(fulfilment_orders.c.external_order_id, fulfilment_orders.c.status)
                                         .where(fulfilment_orders.c.channel == "shop")).all())
        errors = connection.execute(sa.select(order_sync_errors).where(
            order_sync_errors.c.channel == "shop", order_sync_errors.c.stage == "fulfilment")).mappings().all()
    assert normalized and states == dict.fromkeys(normalized, "IMPORT_ERROR")
    assert {e["external_order_id"] for e in errors} == normalized
    assert {e["error_code"] for e in errors} == {"MAP_FILE_ERROR"}
    assert all(f"{skus}:{line}: 2 values where the header has 4" in e["message"] and "fix the line or delete it" in
               e["message"] for e in errors)
    explained = explain(get_engine(database_url), harness.config, f"shop:{sorted(normalized)[0]}")
    assert "MAP_FILE_ERROR" in explained and f"{skus}:{line}" in explained
    # The repair sensor takes them up as soon as the file changes, like any order a map edit can unblock.
    assert [(c, str(d)) for c, d in blocked_partitions(get_engine(database_url))] == [("shop", str(YESTERDAY))]
    # Once the line is fixed the next run sends them and the errors are resolved.
    skus.write_text(original)
    assert harness.materialize("shop", YESTERDAY).success
    at_3pl = [o["channel_order_id"] for o in harness.simulator.warehouse.orders() if o["channel"] == "shop"]
    assert at_3pl and set(at_3pl) <= normalized
    with get_engine(database_url).connect() as connection:
        assert not connection.execute(sa.select(order_sync_errors.c.id).where(
            order_sync_errors.c.error_code == "MAP_FILE_ERROR", order_sync_errors.c.resolved_at.is_(None))).all()


def test_a_broken_sku_map_line_stops_only_its_channels_stock_and_a_mapped_row_is_pointed_at(harness_factory, tmp_path,
                                                                                            monkeypatch):
    harness = harness_factory(scenario([("shop", "shopify", 6), ("woo", "woocommerce", 0)], days=1, start=YESTERDAY),
                              overrides_in={"shop": {"inventory_sync": True}, "woo": {"inventory_sync": True}})
    woo_listings = harness.simulator._platform("woo").listings.all()
    remapped = woo_listings[0]
    skus = tmp_path / "sku_map.csv"
    skus.write_text(sku_map_file().read_text() + "shop,SKU-1\n" + f"woo,{remapped['sku']},,WH-GONE\n")
    broken, mapped = len(skus.read_text().splitlines()) - 1, len(skus.read_text().splitlines())
    monkeypatch.setenv("SYNC_SKU_MAP_FILE", str(skus))
    assert not harness.materialize("shop", YESTERDAY, raise_on_error=False).success  # its orders stop, promised
    stopped = harness.push_stock("shop", raise_on_error=False)
    assert not stopped.success
    failure = next(e for e in stopped.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"{skus}:{broken}: 2 values where the header has 4" in str(failure.event_specific_data.error)
    assert harness.push_stock("woo").success  # shop's broken line does not stop woo's stock
    promised: dict[str, int] = {}
    for order in harness.expected("shop", YESTERDAY).values():
        for item in order.payload["line_items"]:
            promised[item["sku"]] = promised.get(item["sku"], 0) + item["quantity"]
    free = {i["sku"]: max(0, i["good"] - i["allocated"]) for i in harness.simulator.warehouse.items()}
    for listing in harness.simulator._platform("woo").listings.all():  # the simulated channel's own records
        if listing["listing_id"] == remapped["listing_id"]:
            assert listing["quantity"] == remapped["quantity"], "a listing mapped to a missing item is left alone"
        else:
            sku = listing["warehouse_sku"]
            assert listing["quantity"] == max(0, free[sku] - promised.get(sku, 0)), sku
    with get_engine(harness.database_url).connect() as connection:
        message = connection.execute(sa.select(inventory_pushes.c.message).where(
            inventory_pushes.c.channel == "woo", inventory_pushes.c.listing_id == remapped["listing_id"])).scalar_one()
    assert message == (f"the warehouse has no item 'WH-GONE', which the row {skus}:{mapped} maps listing "
                       f"{remapped['sku']!r} to: correct that row's warehouse SKU, or ask the warehouse to add the "
                       "item")


def test_a_row_naming_a_missing_warehouse_sku_is_pointed_at(tmp_path):
    path = tmp_path / "sku_map.csv"
    path.write_text("channel,channel_sku,variant_id,warehouse_sku\nshopify,OLD-1,,WH-GONE\nshopify-demo,TWIN,7,wh-7\n")
    lines = pd.DataFrame([("a", 1, "OLD-1", "1", 1), ("b", 1, "TWIN", "7", 1)],
                         columns=["order_id", "line_number", "channel_sku", "variant_id", "quantity"]).astype(object)
    messages = resolve_skus(lines, SHOPIFY, catalogue={"WH-7"}, ambiguous={}, path=path)["sku_message"].tolist()
    assert messages[0] == (f"SKU 'WH-GONE' (channel SKU 'OLD-1') is not in the warehouse catalogue; it comes from the "
                           f"row {path}:2 (shopify,OLD-1,,WH-GONE): correct that row's warehouse SKU, or ask the "
                           "warehouse to add the item")
    assert f"'WH-7' is, differing only in case); it comes from the row {path}:3 (shopify-demo,TWIN,7,wh-7)" in messages[1]
