"""The code location: assets built from the configured channels, with their resources."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ConfigError, PipelineConfig
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.fulfilment.fulfilment_orders import FULFILMENT_ORDERS
from sync_pipeline.fulfilment.sensors import build_fulfilment_retry_schedule, build_mapping_change_sensor
from sync_pipeline.inventory.inventory_assets import (
    build_inventory_pushes,
    build_inventory_snapshots,
    channel_partitions,
)
from sync_pipeline.inventory.schedules import build_inventory_schedules, build_stock_sensor
from sync_pipeline.metrics.metrics_assets import build_metric_models, build_metrics_job, build_metrics_schedule
from sync_pipeline.metrics.models import MODELS_DIR
from sync_pipeline.operations.completeness_assets import (
    build_completeness_schedule,
    build_completeness_sensor,
    build_order_completeness,
)
from sync_pipeline.operations.freshness import with_freshness
from sync_pipeline.operations.health_assets import build_channel_health, build_health_checks, build_health_schedule
from sync_pipeline.operations.reconcile_assets import (
    build_reconciliation_assets,
    build_reconciliation_checks,
    build_reconciliation_job,
    build_reconciliation_schedule,
)
from sync_pipeline.orders.imports_sensor import build_imports_sensor
from sync_pipeline.orders.order_flow import build_order_flow
from sync_pipeline.orders.poll import build_poll_sensor
from sync_pipeline.orders.schedules import build_order_sync_schedules
from sync_pipeline.partitions import channel_date_partitions
from sync_pipeline.tracking.sensors import (
    build_carrier_map_sensor,
    build_shipments_sensor,
    build_tracking_retry_schedule,
)
from sync_pipeline.tracking.tracking_updates import build_tracking_updates
from sync_pipeline.warehouse.resource import WarehouseApiResource
from sync_pipeline.webhooks.sensors import build_webhook_sensor


def build_definitions(
    config: PipelineConfig, channels: ChannelsResource, database: DatabaseResource | None = None,
    sql_models: Path = MODELS_DIR,
) -> dg.Definitions:
    """Partitions follow the channel list, so the config is known before the assets are built; `sql_models`: the
    dbt_like_sql/ folder whose models become the metrics assets."""
    partitions = channel_date_partitions(config)
    order_flow = build_order_flow(partitions)
    order_sync = dg.define_asset_job("order_sync", selection=[order_flow])
    fulfilment_retry = dg.define_asset_job("fulfilment_retry", selection=dg.AssetSelection.assets(FULFILMENT_ORDERS))
    tracking_updates = build_tracking_updates(partitions)
    tracking_sync = dg.define_asset_job("tracking_sync", selection=[tracking_updates])
    inventory_snapshots = build_inventory_snapshots()
    inventory_pushes = build_inventory_pushes(channel_partitions(config))
    inventory_sync = dg.define_asset_job("inventory_sync", selection=[inventory_pushes])
    order_completeness = build_order_completeness(partitions)
    completeness_check = dg.define_asset_job("completeness_check", selection=[order_completeness])
    reconciliation_assets = build_reconciliation_assets()
    reconciliation = build_reconciliation_job(reconciliation_assets)
    channel_health = build_channel_health()
    health_check = dg.define_asset_job("health_check", selection=[channel_health])
    metric_models = build_metric_models(sql_models)
    sync_metrics = build_metrics_job(metric_models)
    poll_seconds = config.warehouse.shipments_poll_seconds if config.warehouse else 60
    return dg.Definitions(
        assets=with_freshness([order_flow, tracking_updates, inventory_snapshots,
                               inventory_pushes, order_completeness, *reconciliation_assets, channel_health, metric_models],
                              config),
        asset_checks=[*build_reconciliation_checks(), build_health_checks(config)],
        jobs=[order_sync, fulfilment_retry, tracking_sync, inventory_sync, completeness_check, reconciliation,
              health_check, sync_metrics],
        schedules=[
            *build_order_sync_schedules(config.channels, order_sync), build_fulfilment_retry_schedule(fulfilment_retry),
            build_tracking_retry_schedule(tracking_sync, [c.name for c in config.channels]),
            *build_inventory_schedules(config.channels, inventory_sync), build_health_schedule(health_check),
            build_completeness_schedule(completeness_check, [c.name for c in config.channels if c.order_sync]),
            build_reconciliation_schedule(reconciliation), build_metrics_schedule(sync_metrics),
        ],
        sensors=[
            build_mapping_change_sensor(fulfilment_retry),
            build_shipments_sensor(tracking_sync, poll_seconds), build_stock_sensor(inventory_sync, poll_seconds),
            build_carrier_map_sensor(tracking_sync), build_completeness_sensor(order_sync),
            build_webhook_sensor(order_sync), build_poll_sensor(order_sync), build_imports_sensor(order_sync),
        ],
        # A run's steps share its process: a step started in a subprocess of its own would import everything again
        # (seconds per step, bench latency).
        executor=dg.in_process_executor,
        resources={
            "database": database or DatabaseResource(),
            "channels": channels,
            "warehouse": WarehouseApiResource(max_attempts=channels.max_attempts, backoff_base_s=channels.backoff_base_s),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    channels = ChannelsResource(simulator_url=os.environ.get("SYNC_SIMULATOR_URL"))
    try:
        config = channels.pipeline_config()
    except ConfigError as exc:
        # Dagster's CLI loads the location outside its error handling, so Python prints the traceback with the
        # message last; the one line goes first, and the error is re-raised for the webserver's load error.
        print(f"configuration error: {exc}", file=sys.stderr, flush=True)
        raise
    for entry in config.disabled:  # left out, the other channels load; the configuration_valid check shows it too
        print(f"configuration error: {entry.error}", file=sys.stderr, flush=True)
    return build_definitions(config, channels)
