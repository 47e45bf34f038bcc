"""Freshness policies (S06 in the UI): every asset a schedule or sensor runs is expected again within twice its
interval, taken from the channels' settings."""

from datetime import timedelta

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import default_channel, parse_config
from sync_pipeline.definitions import build_definitions


def test_each_scheduled_asset_fails_freshness_past_twice_its_interval_and_warns_past_it():
    channels = [{**default_channel("fast", "shopify", "https://fast.example.com"), "sync_interval_minutes": 10},
                {**default_channel("slow", "woocommerce", "https://slow.example.com"), "sync_interval_minutes": 45,
                 "inventory_sync": True, "inventory_interval_minutes": 20}]
    config = parse_config({"channels": channels}, "test")
    definitions = build_definitions(config, ChannelsResource())
    policies = {spec.key.to_user_string(): spec.freshness_policy
                for assets in definitions.assets for spec in assets.specs}
    windows = {name: (p.fail_window.to_timedelta(), p.warn_window.to_timedelta())
               for name, p in policies.items() if p is not None}
    minutes = timedelta(minutes=1)
    assert windows["raw_orders"] == windows["fulfilment_orders"] == (20 * minutes, 10 * minutes), "the busiest channel's"
    assert windows["inventory_pushes"] == (40 * minutes, 20 * minutes)
    assert windows["channel_health"] == (10 * minutes, 5 * minutes)
    assert windows["tracking_updates"] == windows["warehouse_orders_matched"] == (120 * minutes, 60 * minutes)
    assert windows["sync_metrics_daily"] == windows["stg_orders"] == (30 * minutes, 15 * minutes)
    assert policies["inventory_snapshots"] is None, "read on demand by the pushes, never on a schedule"
