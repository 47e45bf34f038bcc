"""The code location's shape: what the UI shows and what a backfill relies on."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import yaml

from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.definitions import defs


def test_raw_orders_spec():
    definitions = defs()
    assets_def = definitions.resolve_assets_def("raw_orders")
    partitions = assets_def.partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert [d.name for d in partitions.partitions_defs] == ["channel", "date"]
    assert partitions.get_partitions_def_for_dimension("channel").get_partition_keys() == [
        "shopify-demo", "woo-demo", "amazon-demo", "takealot-demo", "bigcommerce-demo", "ebay-demo", "magento-demo",
        "bobshop-demo",
    ]
    assert assets_def.backfill_policy == dg.BackfillPolicy.single_run()
    assert assets_def.specs_by_key[dg.AssetKey("raw_orders")].group_name == "orders"
    # raw -> normalized -> fulfilment are one subsettable step, so a run's outcomes are per partition (issue 9).
    assert assets_def.node_def.name == "order_flow" and assets_def.can_subset
    assert assets_def.keys == {dg.AssetKey(k) for k in ("raw_orders", "normalized_orders", "fulfilment_orders")}
    assert {c.name for c in assets_def.check_specs if c.asset_key == dg.AssetKey("raw_orders")} == {
        "every_requested_day_landed"}
    assert set(definitions.resources) == {"database", "channels", "warehouse"}


def test_fulfilment_orders_spec():
    definitions = defs()
    assets_def = definitions.resolve_assets_def("fulfilment_orders")
    spec = assets_def.specs_by_key[dg.AssetKey("fulfilment_orders")]
    assert [dep.asset_key for dep in spec.deps] == [dg.AssetKey("normalized_orders")]
    assert spec.group_name == "fulfilment"
    assert assets_def.backfill_policy == dg.BackfillPolicy.single_run()
    assert assets_def.partitions_def == definitions.resolve_assets_def("raw_orders").partitions_def
    checks = {check.name: check for check in assets_def.check_specs if check.asset_key == spec.key}
    assert set(checks) == {"one_warehouse_order_per_channel_order", "every_normalized_order_has_a_fulfilment_state"}
    assert checks["one_warehouse_order_per_channel_order"].blocking
    order_sync = definitions.resolve_job_def("order_sync")
    assert {key.to_user_string() for key in order_sync.asset_layer.executable_asset_keys} == {
        "raw_orders", "normalized_orders", "fulfilment_orders",
    }
    sensor = definitions.resolve_sensor_def("fulfilment_mapping_change")
    assert sensor.job_name == "fulfilment_retry"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_tracking_updates_spec():
    definitions = defs()
    assets_def = definitions.resolve_assets_def("tracking_updates")
    spec = assets_def.specs_by_key[dg.AssetKey("tracking_updates")]
    assert spec.group_name == "tracking"
    assert assets_def.backfill_policy == dg.BackfillPolicy.single_run()
    assert assets_def.partitions_def == definitions.resolve_assets_def("raw_orders").partitions_def
    tracking_sync = definitions.resolve_job_def("tracking_sync")
    assert {key.to_user_string() for key in tracking_sync.asset_layer.executable_asset_keys} == {"tracking_updates"}
    shipments = definitions.resolve_sensor_def("tracking_shipments")
    assert shipments.job_name == "tracking_sync" and shipments.minimum_interval_seconds == 60
    assert shipments.default_status == dg.DefaultSensorStatus.RUNNING
    assert definitions.resolve_sensor_def("tracking_carrier_map_change").job_name == "tracking_sync"
    assert definitions.get_schedule_def("tracking_retry_hourly").cron_schedule == "40 * * * *"


def test_workspace_loads_the_same_definitions():
    workspace = yaml.safe_load((Path(__file__).parents[1] / "workspace.yaml").read_text())
    target = workspace["load_from"][0]["python_module"]
    assert (target["module_name"], target["attribute"]) == ("sync_pipeline.definitions", "defs")


def test_each_syncing_channel_has_a_schedule_for_today_and_yesterday():
    definitions = defs()
    schedule = definitions.get_schedule_def("shopify_demo_order_sync")
    assert schedule.cron_schedule == "*/30 * * * *"
    assert definitions.get_schedule_def("takealot_demo_order_sync").cron_schedule == "0 */1 * * *"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 20, 0, 30, tzinfo=timezone.utc),
        repository_def=definitions.get_repository_def(),
    )
    requests = list(schedule.evaluate_tick(context).run_requests)
    assert [r.partition_key for r in requests] == ["shopify-demo|2026-11-19", "shopify-demo|2026-11-20"]


def test_channel_health_spec_and_every_asset_sensor_and_schedule_is_described_and_owned():
    definitions = defs()
    assets_def = definitions.resolve_assets_def("channel_health")
    assert assets_def.specs_by_key[dg.AssetKey("channel_health")].group_name == "operations"
    graph = definitions.resolve_asset_graph()
    checks = {key.name for key in graph.asset_check_keys if key.asset_key == dg.AssetKey("channel_health")}
    assert checks == {"configuration_valid"} | {f"{c.replace('-', '_')}_healthy" for c in (
        "shopify-demo", "woo-demo", "amazon-demo", "takealot-demo", "bigcommerce-demo", "ebay-demo", "magento-demo",
        "bobshop-demo")}
    health_check = definitions.resolve_job_def("health_check")
    assert {key.to_user_string() for key in health_check.asset_layer.executable_asset_keys} == {"channel_health"}
    schedule = definitions.get_schedule_def("channel_health_every_5_minutes")
    assert schedule.cron_schedule == "*/5 * * * *" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:order-sync"] and node.description and node.group_name, key
    for definition in [*definitions.schedules, *definitions.sensors]:
        assert definition.description, definition.name
    assert definitions.get_sensor_def("inventory_stock_moved").job_name == "inventory_sync"


def test_every_scheduled_run_names_its_channel_and_flow_for_the_run_queue(tmp_path):
    """deploy/postgres/dagster.yaml limits runs to one per sync/channel_flow: a run without the tag escapes it."""
    definitions = defs()
    moment = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    database = DatabaseResource(url=f"sqlite:///{tmp_path / 'sync.db'}")
    seen = set()
    for schedule in definitions.schedules:
        with dg.build_schedule_context(scheduled_execution_time=moment, repository_def=definitions.get_repository_def(),
                                       resources={**definitions.resources, "database": database}) as context:
            data = schedule.evaluate_tick(context)
        for request in data.run_requests or []:
            if request.partition_key is None:
                continue  # a run over every channel (health, reconciliation, metrics)
            channel, flow = request.tags["sync/channel"], request.tags["sync/flow"]
            assert request.tags["sync/channel_flow"] == f"{channel}.{flow}", (schedule.name, request.tags)
            assert request.partition_key.startswith(channel) or request.partition_key == channel, schedule.name
            seen.add(flow)
    assert seen == {"orders", "inventory", "completeness", "tracking"}
