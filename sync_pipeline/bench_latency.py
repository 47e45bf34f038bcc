"""`sync-pipeline bench latency`: minutes, not hours, with the Dagster daemon really running this project's sensors.

The simulator runs in live mode: orders are placed on three webhook platforms (Shopify, WooCommerce, BigCommerce)
at a set rate for some minutes, their webhooks go to the receiver (some dropped, some duplicated, out of order),
and the simulated 3PL ships each accepted order when due by the wall clock. `dagster-daemon` runs this project's
code location with its own sensors (`order_webhooks`, `tracking_shipments`) launching real runs. The figures come
from the simulator's records: seconds from placement to the 3PL's order (ACCEPTED), and from shipment to the
tracking number on the channel, over the orders a webhook brought; API calls per order against one schedule-style
run over the same orders; then one run per channel as the order schedule's next tick makes (the safety net), and
`caught_by_schedule` (orders whose webhook was dropped) and `lost` (placed, still not at the 3PL: must be 0)."""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import uvicorn

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import PROJECT_ROOT
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.definitions import build_definitions
from sync_pipeline.demo import export_credentials, scenario_channels_file
from sync_pipeline.partitions import partition_key
from sync_pipeline.simulator import Scenario, Simulator
from sync_pipeline.webhooks.receiver import build_app

CHANNELS = [("bench-shop", "shopify"), ("bench-woo", "woocommerce"), ("bench-bc", "bigcommerce")]
SHIPMENTS_POLL_SECONDS = 10  # the lowest warehouse.shipments_poll_seconds allows
DAEMON_READY_SECONDS = 180
DRAIN_SECONDS = 240  # after the last order: time for the last ones to arrive, ship and be tracked


def _scenario() -> Scenario:
    return Scenario.from_dict({
        "seed": 5, "start_date": datetime.now(timezone.utc).date().isoformat(), "days": 1, "speed": 50,
        "channels": [{"name": name, "type": kind, "orders_per_day": 0} for name, kind in CHANNELS],
        "anomalies": {},
        "warehouse": {"ship_after_hours": [0.003, 0.008]},  # 11 to 29 seconds after placement
        "webhooks": {"drop": 0.05, "duplicate": 0.1, "max_delay_s": 2.0},
    })


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _percentiles(values: list[float]) -> dict:
    """p50, p95 (nearest rank) and max, in seconds."""
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)

    def rank(share: float) -> float:
        return ordered[max(0, math.ceil(len(ordered) * share) - 1)]

    return {"p50": round(rank(0.5), 2), "p95": round(rank(0.95), 2), "max": round(ordered[-1], 2)}


# The order flow's reads, as the connectors make them: the list endpoints, BigCommerce's order by id and its
# sub-resources (tracking reads an order's fulfillment orders, WooCommerce order or shipments: not counted here).
ORDER_READS = re.compile(r"(/orders\.json|/wc/v3/orders|/v2/orders(/\d+(/(products|shipping_addresses))?)?)$")


def _order_reads(simulator: Simulator) -> Counter:
    """The order flow's API calls per channel, from the simulator's request log."""
    return Counter(r["channel"] for r in simulator.requests if r["method"] == "GET" and ORDER_READS.search(r["path"]))


def _per_order(reads: Counter, references: dict) -> dict:
    """API calls per order placed: over all the channels, and per channel."""
    placed = Counter(reference.split(":", 1)[0] for reference in references)
    return {"all": round(sum(reads.values()) / len(references), 2) if references else None,
            **{channel: round(reads[channel] / n, 2) for channel, n in sorted(placed.items())}}


def _start_daemon(home: Path, env: dict) -> subprocess.Popen:
    daemon = Path(sys.executable).with_name("dagster-daemon")
    return subprocess.Popen([str(daemon), "run", "-w", str(PROJECT_ROOT / "workspace.yaml")], env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(home / "daemon.log", "w"), start_new_session=True)


def _wait_for_sensors(instance: dg.DagsterInstance, deadline: float) -> None:
    """Until the daemon has ticked order_webhooks once (the code location is loaded and the sensors evaluated)."""
    while time.monotonic() < deadline:
        for state in instance.all_instigator_state():
            if state.name == "order_webhooks" and instance.get_ticks(state.instigator_origin_id, state.selector_id,
                                                                     limit=1):
                return
        time.sleep(2)
    raise RuntimeError("the Dagster daemon did not tick the sensors in time: see daemon.log in its DAGSTER_HOME")


def run_latency_benchmark(minutes: float = 4.0, orders_per_minute: float = 4.0) -> dict:
    """`orders_per_minute` on each of the three channels for `minutes`."""
    scenario = _scenario()
    names = {name for name, _ in CHANNELS}
    # A run the daemon launched may still write to its DAGSTER_HOME as the folder goes: keep the figures then.
    with tempfile.TemporaryDirectory(prefix="bench-latency-", ignore_cleanup_errors=True) as folder, \
            Simulator(scenario, live=True).start() as simulator:
        workdir = Path(folder)
        overrides = {name: {"webhooks": True} for name in names}
        overrides[scenario.warehouse.name] = {"shipments_poll_seconds": SHIPMENTS_POLL_SECONDS}
        path, config = scenario_channels_file(scenario, simulator.url, overrides=overrides, directory=workdir)
        export_credentials(simulator, config)
        database_url = f"sqlite:///{workdir / 'sync.db'}"
        port = _free_port()
        receiver = uvicorn.Server(uvicorn.Config(build_app(config, get_engine(database_url)), host="127.0.0.1",
                                                 port=port, log_level="warning"))
        threading.Thread(target=receiver.run, daemon=True).start()
        for name in names:
            simulator.subscribe_webhooks(name, f"http://127.0.0.1:{port}/webhooks/{name}")
        home = workdir / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        env = {**os.environ, "DAGSTER_HOME": str(home), "SYNC_DATABASE_URL": database_url,
               "SYNC_CHANNELS_FILE": str(path), "SYNC_SIMULATOR_URL": simulator.url}
        daemon = _start_daemon(home, env)
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            started = time.monotonic()
            _wait_for_sensors(instance, started + DAEMON_READY_SECONDS)
            daemon_ready_s = time.monotonic() - started
            reads_before = _order_reads(simulator)
            placed = []
            gap = 60.0 / orders_per_minute
            end = time.monotonic() + minutes * 60
            next_at = time.monotonic()
            while next_at < end:
                time.sleep(max(0.0, next_at - time.monotonic()))
                for name in sorted(names):
                    placed.append((name, simulator.place_order(name)))
                next_at += gap
            references = {f"{name}:{record.external_order_id}": record for name, record in placed}
            # The orders a delivery reached the receiver for; a dropped one waits for the schedule (below).
            delivered = {f"{d['channel']}:{d['external_order_id']}" for d in simulator.webhooks.decided()
                         if not d["dropped"]}
            drain_end = time.monotonic() + DRAIN_SECONDS
            while time.monotonic() < drain_end:
                at_3pl = {o["client_reference"] for o in simulator.warehouse.orders()}
                shipments = [s for s in simulator.warehouse.shipments() if s["client_reference"] in references]
                tracked = all(s["tracking_number"] in _numbers(simulator, s) for s in shipments)
                shipped = {s["client_reference"] for s in shipments}
                if delivered <= at_3pl and delivered <= shipped and tracked:
                    break
                time.sleep(2)
            reads = _order_reads(simulator) - reads_before
            by_webhook = {o["client_reference"] for o in simulator.warehouse.orders()} & set(references)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
            receiver.should_exit = True
        runs = instance.get_runs()
        figures = _figures(simulator, {ref: references[ref] for ref in by_webhook}, reads, runs)
        figures.update(_run_overhead(instance))
        figures.update(_safety_net(simulator, path, database_url, references, by_webhook))
        figures.update(_schedule_only(workdir, scenario, simulator, path, references, names))
        instance.dispose()
    return {"minutes": minutes, "orders_per_minute_per_channel": orders_per_minute, "channels": sorted(names),
            "daemon_ready_s": round(daemon_ready_s, 1), **figures}


def _numbers(simulator: Simulator, shipment: dict) -> list[str]:
    held = simulator.tracking(shipment["channel"]).get(shipment["channel_order_id"], [])
    return [n for fulfillment in held for n in fulfillment["tracking_numbers"]]


def _figures(simulator: Simulator, references: dict, reads: Counter, runs: list) -> dict:
    """From the simulator's records: per order, placement to the 3PL's order; per package, shipment to the
    channel's fulfillment holding its number."""
    at_3pl = {o["client_reference"]: o for o in simulator.warehouse.orders() if o["client_reference"] in references}
    to_3pl = [(datetime.fromisoformat(o["created_at"]) - references[ref].placed_at).total_seconds()
              for ref, o in at_3pl.items()]
    to_tracking = []
    for shipment in simulator.warehouse.shipments():
        if shipment["client_reference"] not in references:
            continue
        held = simulator.tracking(shipment["channel"]).get(shipment["channel_order_id"], [])
        pushed = [f for f in held if shipment["tracking_number"] in f["tracking_numbers"]]
        if pushed:
            tracked_at, shipped_at = (datetime.fromisoformat(t) for t in (pushed[0]["created_at"], shipment["updated_at"]))
            to_tracking.append((tracked_at - shipped_at).total_seconds())
    dropped = [d for d in simulator.webhooks.decided() if d["dropped"]]
    placement, shipment = _percentiles(to_3pl), _percentiles(to_tracking)
    return {
        "at_3pl_by_webhook": len(at_3pl),
        "packages": len(to_tracking) + sum(1 for s in simulator.warehouse.shipments()
                                           if s["client_reference"] in references and not _numbers(simulator, s)),
        "packages_tracked": len(to_tracking),
        "p50_placement_to_accepted_s": placement["p50"], "p95_placement_to_accepted_s": placement["p95"],
        "max_placement_to_accepted_s": placement["max"],
        "p50_shipment_to_tracking_s": shipment["p50"], "p95_shipment_to_tracking_s": shipment["p95"],
        "max_shipment_to_tracking_s": shipment["max"],
        "webhooks_sent": len(simulator.webhooks.decided()), "webhooks_dropped": len(dropped),
        "webhooks_duplicated": sum(d["copies"] > 1 for d in simulator.webhooks.decided()),
        "api_calls_per_order": _per_order(reads, references),
        "runs": len(runs), "runs_by_job": {job: sum(r.job_name == job for r in runs) for job in sorted({r.job_name for r in runs})},
    }


def _run_overhead(instance: dg.DagsterInstance) -> dict:
    """Dagster's own share of the latency, per order_sync run: from the sensor's request to the run's start (the
    launcher's subprocess and imports), and the run itself."""
    records = [r for r in instance.get_run_records() if r.dagster_run.job_name == "order_sync" and r.end_time]
    start_delay = [r.start_time - r.create_timestamp.timestamp() for r in records if r.start_time]
    duration = [r.end_time - r.start_time for r in records if r.start_time]
    return {"order_run_start_delay_s": _percentiles(start_delay), "order_run_seconds": _percentiles(duration)}


def _safety_net(simulator: Simulator, path: Path, database_url: str, references: dict, by_webhook: set[str]) -> dict:
    """What the order schedule's next tick catches: one order_sync run per channel over today on the bench's
    database (its orders, every run's records), then `lost`: placed and still not at the 3PL."""
    channels = ChannelsResource(config_path=str(path), simulator_url=simulator.url)
    definitions = build_definitions(channels.pipeline_config(), channels, DatabaseResource(url=database_url))
    today = datetime.now(timezone.utc).date()
    for name in sorted({reference.split(":", 1)[0] for reference in references}):
        definitions.resolve_job_def("order_sync").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), partition_key=partition_key(name, today), raise_on_error=False)
    at_3pl = {o["client_reference"] for o in simulator.warehouse.orders()} & set(references)
    return {"orders": len(references), "at_3pl": len(at_3pl), "lost": len(references) - len(at_3pl),
            "caught_by_schedule": len(at_3pl - by_webhook)}


def _schedule_only(workdir: Path, scenario: Scenario, simulator: Simulator, path: Path, references: dict,
                   names: set[str]) -> dict:
    """The same orders synced as the schedule alone would: one run per channel over today and yesterday on a fresh
    database, its order-reading calls per order (the schedule makes one such run per channel every 30 minutes)."""
    channels = ChannelsResource(config_path=str(path), simulator_url=simulator.url)
    definitions = build_definitions(channels.pipeline_config(), channels,
                                    DatabaseResource(url=f"sqlite:///{workdir / 'schedule-only.db'}"))
    job = definitions.resolve_job_def("order_sync")
    today = datetime.now(timezone.utc).date()
    before = _order_reads(simulator)
    for name in sorted(names):
        job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=partition_key(name, today),
                               asset_selection=[dg.AssetKey("raw_orders")])
    return {"schedule_only_api_calls_per_order": _per_order(_order_reads(simulator) - before, references)}
