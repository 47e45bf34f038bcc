"""`sync-pipeline bench ingest`: how close ingest runs to each channel's rate limit without tripping it,
and how fast it lands orders when nothing limits it."""

from __future__ import annotations

import tempfile
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from pathlib import Path

import dagster as dg

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.definitions import build_definitions
from sync_pipeline.demo import scenario_channels_file
from sync_pipeline.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_key
from sync_pipeline.simulator import Scenario, Simulator
from sync_pipeline.warehouse.resource import WarehouseResource

# (channel type, simulator rate-limit key, requests/s the channel allows, burst, orders)
LIMITED = [
    ("shopify", "shopify", 20.0, 4, 160),
    ("takealot", "takealot", 20.0, 4, 160),
    ("amazon", "amazon_getOrderItems", 20.0, 4, 160),
]
UNTHROTTLED_DAYS, UNTHROTTLED_PER_DAY = 5, 2000


def _scenario(channels: list[dict], days: int, rate_limits: dict, faults: dict | None = None) -> Scenario:
    start = datetime.now(timezone.utc).date() - timedelta(days=days)
    return Scenario.from_dict(
        {"seed": 1, "start_date": start.isoformat(), "days": days, "speed": 1, "channels": channels,
         "faults": faults or {}, "anomalies": {}, "rate_limits": rate_limits}
    )


def _env_credentials(simulator: Simulator, config) -> None:
    import os

    for channel in config.channels:
        for credential, value in simulator.credentials[channel.name].items():
            os.environ[channel.credentials[credential]] = value


def _rate_limited(channel_type: str, key: str, per_second: float, burst: int, orders: int) -> dict:
    """One day's orders fetched page by page (page size 1) against a channel limited to `per_second`."""
    name = f"bench-{channel_type}"
    bucket = {"bucket": burst} if channel_type == "shopify" else {"burst": burst}
    scenario = _scenario(
        [{"name": name, "type": channel_type, "orders_per_day": orders}], 1,
        {key: {**bucket, "per_second": per_second}}, faults={"rate_limit_429": 0.02},
    )
    with Simulator(scenario).start() as simulator:
        _, config = scenario_channels_file(scenario, simulator.url, overrides={name: {"page_size": 1}})
        _env_credentials(simulator, config)
        channels = ChannelsResource(simulator_url=simulator.url)
        connector = channels.connector(config.channel(name))
        day = scenario.start_date
        start = datetime.combine(day, dtime(), tzinfo=timezone.utc)
        began = time.perf_counter()
        connector.fetch_orders(start, start + timedelta(days=1))
        elapsed = time.perf_counter() - began
        limited_path = "orderItems" if channel_type == "amazon" else ""
        served = [r for r in simulator.requests if r["channel"] == name and limited_path in r["path"]]
        injected = sum(1 for r in served if r["injected"] == "rate_limit_429")
        refused = sum(1 for r in served if r["status"] == 429)
    # The first `burst` requests pass at once; the steady rate is what the limit governs.
    utilization = (len(served) - burst) / elapsed / per_second
    return {"requests": len(served), "seconds": round(elapsed, 3), "utilization": round(utilization, 3),
            "self_caused_429": refused - injected, "injected_429": injected}


def _unthrottled(workdir: Path) -> dict:
    """raw_orders over several days of a busy WooCommerce shop (no rate limit), one Dagster run."""
    name = "bench-woo"
    scenario = _scenario([{"name": name, "type": "woocommerce", "orders_per_day": UNTHROTTLED_PER_DAY}], UNTHROTTLED_DAYS, {})
    with Simulator(scenario).start() as simulator:
        path, config = scenario_channels_file(scenario, simulator.url, overrides={name: {"page_size": 100}})
        _env_credentials(simulator, config)
        definitions = build_definitions(
            config,
            ChannelsResource(config_path=str(path), simulator_url=simulator.url),
            WarehouseResource(url=f"sqlite:///{workdir / 'bench.db'}"),
        )
        first: date = scenario.start_date
        last = first + timedelta(days=UNTHROTTLED_DAYS - 1)
        began = time.perf_counter()
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            tags={RANGE_START_TAG: str(partition_key(name, first)), RANGE_END_TAG: str(partition_key(name, last))},
        )
        elapsed = time.perf_counter() - began
    landed = result.get_asset_materialization_events()[0].materialization.metadata["orders_landed"].value
    return {"orders": landed, "seconds": round(elapsed, 3), "orders_per_s": round(landed / elapsed, 1)}


def run_ingest_benchmark() -> dict:
    limited = {t: _rate_limited(t, key, rate, burst, orders) for t, key, rate, burst, orders in LIMITED}
    with tempfile.TemporaryDirectory() as workdir:
        unthrottled = _unthrottled(Path(workdir))
    return {
        "rate_limit_utilization": min(r["utilization"] for r in limited.values()),
        "self_caused_429": sum(r["self_caused_429"] for r in limited.values()),
        "unthrottled_orders_per_s": unthrottled["orders_per_s"],
        "rate_limited": limited,
        "unthrottled": unthrottled,
    }
