"""Dagster freshness policies (S06, as the UI shows it): each asset is expected to be materialized again within
twice the interval of what runs it, and warned once it is past that interval. Per channel, `channel_health` and
its `<channel>_healthy` checks say which channel is stale; these say it for the asset as a whole."""

from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

from sync_pipeline.config import PipelineConfig
from sync_pipeline.metrics.metrics_assets import METRICS_INTERVAL_MINUTES
from sync_pipeline.operations.health_assets import HEALTH_INTERVAL_MINUTES

HOURLY = 60  # the hourly schedules: tracking retry, completeness, reconciliation


def intervals_minutes(config: PipelineConfig) -> dict[str, int]:
    """How often each asset runs: for the order flow, its most frequent channel's interval."""
    order_channels = [c.sync_interval_minutes for c in config.channels if c.order_sync]
    stock_channels = [c.inventory_interval_minutes for c in config.channels if c.inventory_sync]
    intervals = {"tracking_updates": HOURLY, "order_completeness": HOURLY, "open_orders_rechecked": HOURLY,
                 "warehouse_orders_matched": HOURLY, "channel_health": HEALTH_INTERVAL_MINUTES}
    if order_channels:
        intervals.update(dict.fromkeys(["raw_orders", "normalized_orders", "fulfilment_orders"], min(order_channels)))
    if stock_channels:
        intervals["inventory_pushes"] = min(stock_channels)  # (inventory_snapshots is read on demand: no schedule)
    return intervals


def with_freshness(assets: Sequence[dg.AssetsDefinition], config: PipelineConfig) -> Sequence[dg.AssetsDefinition]:
    """The assets with their freshness policies; the metrics models' follow their schedule."""
    intervals = intervals_minutes(config)

    def policy(spec: dg.AssetSpec) -> dg.AssetSpec:
        minutes = intervals.get(spec.key.to_user_string(),
                                METRICS_INTERVAL_MINUTES if spec.group_name == "metrics" else None)
        if minutes is None:
            return spec
        return spec.replace_attributes(freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(minutes=2 * minutes), warn_window=timedelta(minutes=minutes)))

    return dg.map_asset_specs(policy, assets)
