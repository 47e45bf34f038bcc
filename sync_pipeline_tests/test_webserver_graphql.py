"""The UI as a newcomer meets it: the real webserver serves the code location, and its GraphQL API shows the assets
in their groups with their partitions, owners and checks, and every schedule and sensor."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from sync_pipeline.config import load_config
from sync_pipeline.operations.freshness import intervals_minutes

PROJECT = Path(__file__).parents[1]
QUERY = """{
  assetNodes { assetKey { path } groupName isPartitioned owners { ... on TeamAssetOwner { team } } kinds description
               internalFreshnessPolicy { ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds } }
               assetChecksOrError { ... on AssetChecks { checks { name } } } }
  repositoriesOrError { ... on RepositoryConnection { nodes { location { name } schedules { name } sensors { name }
                                                              jobs { name } } } }
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_webserver_shows_the_asset_graph_with_groups_partitions_checks_schedules_and_sensors(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    webserver = Path(sys.executable).with_name("dagster-webserver")
    process = subprocess.Popen(
        [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)], cwd=PROJECT,
        env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the webserver did not come up"
            time.sleep(0.5)
        while True:  # the code location loads in its own server after the webserver answers
            data = requests.post(f"{url}/graphql", json={"query": QUERY}, timeout=30).json()["data"]
            if data["assetNodes"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assets = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert {name: n["groupName"] for name, n in assets.items()} == {
        "raw_orders": "orders", "normalized_orders": "orders", "fulfilment_orders": "fulfilment",
        "tracking_updates": "tracking", "inventory_snapshots": "inventory", "inventory_pushes": "inventory",
        "order_completeness": "operations", "open_orders_rechecked": "operations",
        "warehouse_orders_matched": "operations", "channel_health": "operations",
        **dict.fromkeys(["stg_orders", "stg_packages", "stg_api_calls", "stg_order_sync_errors", "stg_listings",
                         "stg_sync_attempts", "sync_metrics_daily", "sync_errors_daily", "channel_last_sync"], "metrics"),
    }
    assert {name for name, n in assets.items() if n["isPartitioned"]} == {
        "raw_orders", "normalized_orders", "fulfilment_orders", "tracking_updates", "inventory_pushes",
        "order_completeness"}
    assert all(n["owners"] == [{"team": "order-sync"}] for n in assets.values())
    assert all(n["kinds"] and n["description"] for n in assets.values()), "every asset says what it is and runs on"
    assert set(assets["raw_orders"]["kinds"]) == {"api", "sql"} and "pandas" in assets["normalized_orders"]["kinds"]
    freshness = {name: n["internalFreshnessPolicy"] for name, n in assets.items() if n["internalFreshnessPolicy"]}
    for name, minutes in intervals_minutes(load_config()).items():
        assert freshness[name] == {"failWindowSeconds": 120 * minutes, "warnWindowSeconds": 60 * minutes}, name
    assert set(freshness) >= {name for name, n in assets.items() if n["groupName"] == "metrics"}
    checks = {name: {c["name"] for c in n["assetChecksOrError"]["checks"]} for name, n in assets.items()}
    assert checks["raw_orders"] == {"every_requested_day_landed"}
    assert checks["normalized_orders"] == {"every_raw_order_accounted_for", "pandera_gate"}
    assert checks["fulfilment_orders"] == {"one_warehouse_order_per_channel_order",
                                           "every_normalized_order_has_a_fulfilment_state"}
    assert "shopify_demo_healthy" in checks["channel_health"] and "configuration_valid" in checks["channel_health"]
    assert len(checks["channel_health"]) == len(load_config().channels) + 1
    assert checks["order_completeness"] == {"every_channel_order_landed"}
    assert "unique_combination_of_columns_sync_metrics_daily_channel__day" in checks["sync_metrics_daily"]
    (repository,) = data["repositoriesOrError"]["nodes"]
    assert repository["location"]["name"] == "sync_pipeline"
    schedules = {s["name"] for s in repository["schedules"]}
    assert {"shopify_demo_order_sync", "fulfilment_retry_hourly", "tracking_retry_hourly",
            "shopify_demo_inventory_sync", "channel_health_every_5_minutes", "order_completeness_hourly",
            "reconciliation_hourly", "sync_metrics_every_15_minutes"} <= schedules
    assert {s["name"] for s in repository["sensors"]} == {
        "fulfilment_mapping_change", "tracking_shipments", "inventory_stock_moved",
        "tracking_carrier_map_change", "order_completeness_refetch", "order_webhooks", "order_poll", "order_imports"}
    assert {"order_sync", "fulfilment_retry", "tracking_sync", "inventory_sync", "completeness_check",
            "reconciliation", "health_check", "sync_metrics"} <= {
        j["name"] for j in repository["jobs"]}
