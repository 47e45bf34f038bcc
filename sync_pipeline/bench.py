"""Benchmarks that print their figures. `ingest`: how close ingest runs to each channel's rate limit without
tripping it, alone and as two processes sharing one channel's budget, what taking a token costs a request, and how
fast it lands orders when nothing limits it. `transform`: mapping and validation against
parsing alone. `submit`: orders accepted per second by the simulated warehouse, with and without lost replies, and
exactly-once under SIGKILLs of the submitting process, against a warehouse that refuses a repeated reference and one
that stores it again, counted from the simulator's own records. `tracking`: packages pushed per second per platform
under its simulated rate limit, and duplicate fulfillments with lost replies, counted from the simulated channels.
`inventory`: per platform, a full first stock sync of 20,000 listings and resyncs after 1% of the stock moved (writing
only what moved, and reading every listing first), against the floor the platform's limits allow."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path

import dagster as dg

from sync_pipeline.channels.http import SharedTokenBucket, TokenBucket
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import RateLimitConfig, load_config
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.definitions import build_definitions
from sync_pipeline.demo import export_credentials, scenario_channels_file
from sync_pipeline.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_key
from sync_pipeline.simulator import Scenario, Simulator

# (channel type, simulator rate-limit key, requests/s the channel allows, the platform's documented burst, orders)
LIMITED = [
    ("shopify", "shopify", 20.0, 40, 240),
    ("takealot", "takealot", 20.0, 10, 240),
    ("amazon", "amazon_getOrderItems", 20.0, 30, 240),
]
UNTHROTTLED_DAYS, UNTHROTTLED_PER_DAY = 5, 2000


def _scenario(channels: list[dict], days: int, rate_limits: dict, faults: dict | None = None) -> Scenario:
    start = datetime.now(timezone.utc).date() - timedelta(days=days)
    return Scenario.from_dict(
        {"seed": 1, "start_date": start.isoformat(), "days": days, "speed": 1, "channels": channels,
         "faults": faults or {}, "anomalies": {}, "rate_limits": rate_limits}
    )


def _rate_limited(channel_type: str, key: str, per_second: float, burst: int, orders: int) -> dict:
    """One day's orders fetched page by page (page size 1) against a channel limited to `per_second`."""
    name = f"bench-{channel_type}"
    bucket = {"bucket": burst} if channel_type == "shopify" else {"burst": burst}
    scenario = _scenario(
        [{"name": name, "type": channel_type, "orders_per_day": orders}], 1,
        {key: {**bucket, "per_second": per_second}}, faults={"rate_limit_429": 0.02},
    )
    with Simulator(scenario).start() as simulator:
        # Page by page where the list endpoint is the limited one; Amazon's limit here is getOrderItems.
        overrides: dict = {} if channel_type == "amazon" else {"page_size": 1}
        if channel_type != "amazon":  # their headers give the bucket, not its refill rate: that is the plan's
            overrides["rate_limit"] = {"per_second": per_second, "burst": burst}
        _, config = scenario_channels_file(scenario, simulator.url, overrides={name: overrides})
        export_credentials(simulator, config)
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
    # The first `burst` requests pass at once, and injected 429s take no token: the steady rate of
    # counted requests is what the limit governs.
    utilization = (len(served) - injected - burst) / elapsed / per_second
    return {"requests": len(served), "seconds": round(elapsed, 3), "utilization": round(utilization, 3),
            "self_caused_429": refused - injected, "injected_429": injected}


def _unthrottled(workdir: Path) -> dict:
    """raw_orders over several days of a busy WooCommerce shop (no rate limit), one Dagster run."""
    name = "bench-woo"
    scenario = _scenario([{"name": name, "type": "woocommerce", "orders_per_day": UNTHROTTLED_PER_DAY}], UNTHROTTLED_DAYS, {})
    with Simulator(scenario).start() as simulator:
        path, config = scenario_channels_file(scenario, simulator.url, overrides={name: {"page_size": 100}})
        export_credentials(simulator, config)
        definitions = build_definitions(
            config,
            ChannelsResource(config_path=str(path), simulator_url=simulator.url),
            DatabaseResource(url=f"sqlite:///{workdir / 'bench.db'}"),
        )
        first: date = scenario.start_date
        last = first + timedelta(days=UNTHROTTLED_DAYS - 1)
        began = time.perf_counter()
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=[dg.AssetKey("raw_orders")],
            tags={RANGE_START_TAG: str(partition_key(name, first)), RANGE_END_TAG: str(partition_key(name, last))},
        )
        elapsed = time.perf_counter() - began
    # A range run records one materialization per partition, each with the run's totals.
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("raw_orders"))
    landed = event.materialization.metadata["orders_landed"].value
    return {"orders": landed, "seconds": round(elapsed, 3), "orders_per_s": round(landed / elapsed, 1)}


def _budget_cost(database_url: str, takes: int = 2000) -> dict:
    """Milliseconds a request spends taking its token, from a budget that never makes it wait: the in-process model
    alone, and the shared one (its row in the sync database, locked, read and written)."""
    limit = RateLimitConfig(per_second=1e9, burst=10**9)
    figures = {}
    for label, bucket in (("in_process", TokenBucket(limit)),
                          ("shared", SharedTokenBucket(limit, "bench|cost|default", database_url))):
        began = time.perf_counter()
        for _ in range(takes):
            bucket.acquire(time.sleep)
        figures[label] = round((time.perf_counter() - began) / takes * 1000, 4)
    return figures


def run_ingest_benchmark() -> dict:
    limited = {t: _rate_limited(t, key, rate, burst, orders) for t, key, rate, burst, orders in LIMITED}
    with tempfile.TemporaryDirectory() as workdir:
        unthrottled = _unthrottled(Path(workdir))
        two_process = _two_process(Path(workdir))
        cost = _budget_cost(f"sqlite:///{Path(workdir) / 'budget.db'}")
    return {
        "rate_limit_utilization": min(r["utilization"] for r in limited.values()),
        "self_caused_429": sum(r["self_caused_429"] for r in limited.values()),
        "unthrottled_orders_per_s": unthrottled["orders_per_s"],
        "two_process_utilization": two_process["utilization"],
        "two_process_self_caused_429": two_process["self_caused_429"],
        "budget_ms_per_request": cost,
        "rate_limited": limited,
        "unthrottled": unthrottled,
        "two_process": two_process,
    }


# Two processes syncing one channel at once, against Amazon's order-items limit: its headers give the rate, never what
# is left, so only a budget the processes share keeps the two under it together. (type, simulator bucket, the path
# part it counts, requests/s, the documented burst, orders)
TWO_PROCESS = ("amazon", "amazon_getOrderItems", "orderItems", 10.0, 30, 120)
WORKER_READY = "worker ready"


@contextmanager
def two_processes_syncing(workdir: Path, database_url: str, orders: int = TWO_PROCESS[5],
                          faults: dict | None = None) -> Iterator[tuple[Simulator, str]]:
    """A simulated Amazon channel with `orders` placed yesterday, and two processes that each run order_sync for that
    day at the same moment on one sync database (both fetch, normalize and send the same orders); yields the simulator
    and the channel's name once both have finished."""
    channel_type, key, _, per_second, burst, _ = TWO_PROCESS
    name = f"shared-{channel_type}"
    scenario = _scenario([{"name": name, "type": channel_type, "orders_per_day": orders}], 1,
                         {key: {"burst": burst, "per_second": per_second}}, faults=faults)
    with Simulator(scenario).start() as simulator:
        path, config = scenario_channels_file(scenario, simulator.url, directory=workdir)
        export_credentials(simulator, config)
        get_engine(database_url)  # the tables, before two processes race to create them
        env = {**os.environ, "SYNC_DATABASE_URL": database_url}
        workers = []
        for number in (1, 2):
            with open(workdir / f"worker-{number}.log", "w") as log:
                workers.append(subprocess.Popen(
                    [sys.executable, "-m", "sync_pipeline.bench", "sync-once", str(path), simulator.url, name,
                     scenario.start_date.isoformat()],
                    env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True))
        try:
            for worker in workers:  # both have imported everything and built their definitions
                if worker.stdout.readline().strip() != WORKER_READY:
                    raise RuntimeError(f"a sync worker did not start (exit {worker.wait()}): see {workdir}/worker-*.log")
            for worker in workers:
                worker.stdin.write("go\n")
                worker.stdin.flush()
            for number, worker in enumerate(workers, 1):
                if worker.wait(timeout=300):
                    raise RuntimeError(f"sync worker {number}'s run failed: see {workdir}/worker-{number}.log")
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
        yield simulator, name


def _sync_once(path: str, simulator_url: str, channel: str, day: str) -> int:
    """One order_sync run of one partition in a process of its own, started when its parent says "go" on stdin."""
    config = load_config(Path(path), simulator_url=simulator_url)
    definitions = build_definitions(config, ChannelsResource(config_path=path, simulator_url=simulator_url),
                                    DatabaseResource())
    job = definitions.resolve_job_def("order_sync")
    print(WORKER_READY, flush=True)
    sys.stdin.readline()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
                                    partition_key=partition_key(channel, date.fromisoformat(day)))
    return 0 if result.success else 1


def _two_process(workdir: Path) -> dict:
    """Two processes syncing one channel together: the steady rate of the limited calls both made, over the limit,
    and the 429s the channel sent that the scenario did not inject, from the simulator's request log."""
    _, _, counted_path, per_second, burst, _ = TWO_PROCESS
    with two_processes_syncing(workdir, f"sqlite:///{workdir / 'two-process.db'}",
                               faults={"rate_limit_429": 0.02}) as (simulator, name):
        served = [r for r in simulator.requests if r["channel"] == name and counted_path in r["path"]]
        at_3pl = _at_3pl(simulator)
    times = [datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in served]
    window = (max(times) - min(times)).total_seconds()
    injected = sum(1 for r in served if r["injected"] == "rate_limit_429")
    refused = sum(1 for r in served if r["status"] == 429)
    return {"requests": len(served), "seconds": round(window, 3),
            "utilization": round((len(served) - injected - burst) / window / per_second, 3),
            "self_caused_429": refused - injected, "injected_429": injected,
            "duplicates_at_3pl": at_3pl["duplicates"], "duplicate_posts": at_3pl["duplicate_posts"]}


TRANSFORM_ORDERS = 100_000
NAMES = ["Bob Norman", "王芳", "Ελένη Παπαδοπούλου", "Дмитрий Иванов", "محمد علي", "Zoë Ã. Müller", "Thandiwe Nkosi"]
COUNTRIES = ["US", "GB", "ZA", "DE", "JP", "FR", "BR", "IN"]


def _synthetic_raw(channel_type: str, count: int, offset: int):
    """Raw rows shaped exactly like the channel's real example payload, with varied values."""
    import hashlib
    import json
    from importlib import resources

    import pandas as pd

    templates = resources.files("sync_pipeline.simulator") / "templates"
    if channel_type == "shopify":
        base = json.loads((templates / "shopify_order.json").read_text())["orders"][0]
    elif channel_type == "woocommerce":
        base = json.loads((templates / "woocommerce_order.json").read_text())
    elif channel_type == "amazon":
        order = json.loads((templates / "amazon_getOrders_doc_example.json").read_text())["payload"]["Orders"][0]
        order.update(OrderStatus="Unshipped", OrderTotal={"CurrencyCode": "USD", "Amount": "10.00"})
        base = {"Order": order, "OrderItems": json.loads((templates / "amazon_order_items.json").read_text())["payload"]["OrderItems"]}
    elif channel_type == "bigcommerce":
        sub_resources = json.loads((templates / "bigcommerce_order_subresources.json").read_text())
        base = {
            "order": json.loads((templates / "bigcommerce_order.json").read_text())[0],
            "products": sub_resources["GET /orders/{order_id}/products"],
            "shipping_addresses": sub_resources["GET /orders/{order_id}/shipping_addresses"][:1],
        }
    elif channel_type == "ebay":
        base = json.loads((templates / "ebay_order.json").read_text())["orders"][0]
    else:
        base = json.loads((templates / "takealot_order.SCHEMA_DERIVED_NOT_REAL.json").read_text())["sales"]
        base[0].update(sale_status="Accepted", customer="Thandiwe Nkosi", order_date="2026-01-05 10:00:00")
    text = json.dumps(base, ensure_ascii=False)
    now = datetime.now(timezone.utc)
    rows = []
    for number in range(offset, offset + count):
        # Vary identity, names and countries by string substitution: cheap, and the shape stays the real one.
        name = NAMES[number % len(NAMES)]
        payload = (
            text.replace("Bob Norman", name).replace("John Doe", name).replace('"Jane"', f'"{name}"').replace('"US"', f'"{COUNTRIES[number % len(COUNTRIES)]}"')
            .replace("450789469", str(450789469 + number)).replace("902-3159896-1390916", f"902-{number:07d}-1390916")
        )
        rows.append({
            "id": number, "channel": "bench", "partition_date": now.date(), "external_order_id": str(number),
            "payload": payload, "payload_sha256": hashlib.sha256(payload.encode()).hexdigest(),
            "channel_updated_at": now, "placed_at": now, "fetched_at": now, "run_id": "bench", "source": "api",
        })
    return pd.DataFrame(rows)


REPEATS = 3


def _parse_each(payloads: list[str]) -> None:
    import orjson

    for payload in payloads:
        orjson.loads(payload)  # parsed and dropped, as mapping drops each payload once mapped


def _seconds(work) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def run_transform_benchmark(orders: int = TRANSFORM_ORDERS) -> dict:
    import resource

    from sync_pipeline.channels import ORDER_MAPPINGS
    from sync_pipeline.config import default_channel, parse_config
    from sync_pipeline.orders.normalize import normalize
    from sync_pipeline.orders.status_map import load_status_map

    types = ["shopify", "woocommerce", "amazon", "takealot", "bigcommerce", "ebay"]
    per_type = orders // len(types)
    parse_seconds = transform_seconds = 0.0
    total = normalized = 0
    by_type = {}
    for index, channel_type in enumerate(types):
        channel = parse_config({"channels": [default_channel(f"bench-{channel_type}", channel_type, "https://x.example")]}, "bench").channels[0]
        raw = _synthetic_raw(channel_type, per_type, index * per_type)
        payloads = raw["payload"].tolist()
        # Best of a few passes each: a single pass swings by a third with caches and the other core's load.
        parsed = min(_seconds(lambda: _parse_each(payloads)) for _ in range(REPEATS))
        results = {}  # only the last pass's result is kept, so passes do not pile up memory
        transformed = min(_seconds(lambda: results.update(last=normalize(
            raw, channel, ORDER_MAPPINGS[channel_type], load_status_map(channel), "bench", datetime.now(timezone.utc)
        ))) for _ in range(REPEATS))
        result = results["last"]
        parse_seconds, transform_seconds = parse_seconds + parsed, transform_seconds + transformed
        total += result.raw_orders
        normalized += result.normalized
        # Small payloads parse fast, so their ratio is low whatever mapping costs: the mix decides the total.
        by_type[channel_type] = {"orders_per_s": round(result.raw_orders / transformed, 1),
                                 "ratio_to_parse": round(parsed / transformed, 3)}
    return {
        "orders": total,
        "normalized": normalized,
        "orders_per_s": round(total / transform_seconds, 1),
        "parse_only_orders_per_s": round(total / parse_seconds, 1),
        "ratio_to_parse": round(parse_seconds / transform_seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "by_type": by_type,
    }


SUBMIT_ORDERS = 500
SUBMIT_KILLS = 20
DUPLICATE_REFERENCE_SETTINGS = ("reject", "accept")
# Lost replies stall the reply past the client's read timeout; both are kept short so the figure is about the
# pipeline's own work (look-up, link), not about waiting.
LOST_REPLY_TIMEOUT_S, LOST_REPLY_STALL_S = 0.2, 0.3
# Under kills a dead run's claims must lapse before the next run can resolve its orders: keep that short here.
KILLED_CLAIM_EXPIRY_S = 2.0
SUBMITTER_READY = "submitter ready"


def _submit_scenario(orders: int, duplicate_references: str, faults: dict) -> Scenario:
    return Scenario.from_dict({
        "seed": 3, "start_date": (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat(), "days": 1,
        "speed": 1, "channels": [{"name": "bench-submit", "type": "woocommerce", "orders_per_day": orders}],
        "warehouse": {"duplicate_references": duplicate_references, "faults": faults},
    })


def _definitions(workdir: Path, scenario: Scenario, simulator: Simulator, overrides: dict, label: str):
    """channels.yaml for the simulator (with these overrides by channel or warehouse name), the credentials in the
    environment, and definitions on a fresh SQLite database: (channels.yaml, database URL, definitions)."""
    path, config = scenario_channels_file(scenario, simulator.url, overrides=overrides,
                                          directory=workdir / f"config-{label}")
    export_credentials(simulator, config)
    database_url = f"sqlite:///{workdir / f'{label}.db'}"
    definitions = build_definitions(
        config, ChannelsResource(config_path=str(path), simulator_url=simulator.url), DatabaseResource(url=database_url)
    )
    return path, database_url, definitions


def _submit_setup(workdir: Path, scenario: Scenario, simulator: Simulator, label: str, warehouse: dict):
    name = scenario.channels[0].name
    path, database_url, definitions = _definitions(
        workdir, scenario, simulator, {name: {"page_size": 100}, scenario.warehouse.name: warehouse}, f"submit-{label}")
    return path, database_url, definitions, partition_key(name, scenario.start_date)


def _land_orders(definitions: dg.Definitions, key) -> None:
    definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), partition_key=key,
        asset_selection=[dg.AssetKey("raw_orders"), dg.AssetKey("normalized_orders")],
    )


def _at_3pl(simulator: Simulator) -> dict:
    """Counted from the simulated warehouse's own records, never from the pipeline's tables."""
    records = simulator.warehouse.references()
    return {
        "warehouse_orders": sum(len(r["orders"]) for r in records.values()),
        "duplicates": sum(max(0, len(r["orders"]) - 1) for r in records.values()),
        "duplicate_posts": sum(r["duplicate_posts"] for r in records.values()),
        "posts": sum(r["posts"] for r in records.values()),
        "references": {ref for ref, r in records.items() if r["orders"]},
    }


def _submit(workdir: Path, orders: int, timeout_after_commit: float, duplicate_references: str) -> dict:
    """raw -> normalized in one run, then fulfilment_orders timed alone in another, against a fresh warehouse."""
    scenario = _submit_scenario(orders, duplicate_references,
                                {"timeout_after_commit": timeout_after_commit, "timeout_delay_s": LOST_REPLY_STALL_S})
    with Simulator(scenario).start() as simulator:
        _, _, definitions, key = _submit_setup(workdir, scenario, simulator, f"{duplicate_references}-{timeout_after_commit}",
                                               {"timeout_seconds": LOST_REPLY_TIMEOUT_S})
        _land_orders(definitions, key)
        began = time.perf_counter()
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), partition_key=key, asset_selection=[dg.AssetKey("fulfilment_orders")],
        )
        elapsed = time.perf_counter() - began
        at_3pl = _at_3pl(simulator)
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("fulfilment_orders"))
    figures = {k: v.value for k, v in event.materialization.metadata.items() if isinstance(v.value, (int, float))}
    return {
        "accepted": figures.get("submit_accepted", 0), "seconds": round(elapsed, 3),
        "orders_per_s": round(figures.get("submit_accepted", 0) / elapsed, 1),
        "lost_replies_linked": figures.get("linked_existing", 0), "references": at_3pl.pop("references"), **at_3pl,
    }


def _start_submitter(path: Path, database_url: str, simulator_url: str, key) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sync_pipeline.bench", "submit-once", str(path), database_url, simulator_url, str(key)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )


def _killed(workdir: Path, orders: int, kills: int, duplicate_references: str, rng: random.Random) -> dict:
    """fulfilment_orders in a process of its own, SIGKILLed `kills` times at random points while it sends (after a
    random number of POSTs the warehouse received, so also between a stored order and its recorded answer), each
    kill followed by a rerun; then one last run to the end. Lost replies, 5xx and resets meanwhile."""
    scenario = _submit_scenario(orders, duplicate_references, {
        "timeout_after_commit": 0.1, "server_error_5xx": 0.05, "connection_reset": 0.02, "timeout_delay_s": LOST_REPLY_STALL_S})
    with Simulator(scenario).start() as simulator:
        path, database_url, definitions, key = _submit_setup(
            workdir, scenario, simulator, f"{duplicate_references}-killed",
            {"timeout_seconds": LOST_REPLY_TIMEOUT_S, "claim_expiry_seconds": KILLED_CLAIM_EXPIRY_S})
        _land_orders(definitions, key)
        killed = 0
        while killed < kills:
            process = _start_submitter(path, database_url, simulator.url, key)
            if process.stdout.readline().strip() != SUBMITTER_READY:
                raise RuntimeError(f"the submitting process did not start (exit {process.wait()})")
            target = simulator.warehouse.posts() + rng.randint(1, max(1, orders // (kills + 1)))
            while process.poll() is None and simulator.warehouse.posts() < target:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.01))
            if process.poll() is not None:  # it ran to the end before the kill: nothing is left to send
                break
            process.send_signal(signal.SIGKILL)
            killed += 1
            process.wait()
            time.sleep(KILLED_CLAIM_EXPIRY_S)  # the dead run's claims lapse; its orders in doubt are looked up next
        simulator.warehouse.set_faults({})
        final = _start_submitter(path, database_url, simulator.url, key)
        final.communicate()
        return {"kills": killed, "final_run_exit": final.returncode, **_at_3pl(simulator)}


def run_submit_benchmark(orders: int = SUBMIT_ORDERS, kills: int = SUBMIT_KILLS, seed: int = 1) -> dict:
    """Per duplicate_references setting: throughput clean and with lost replies, and exactly-once under kills.
    `lost` compares with a clean run's warehouse: valid orders missing after the killed runs' last rerun."""
    rng = random.Random(seed)
    figures: dict = {}
    with tempfile.TemporaryDirectory() as workdir:
        for setting in DUPLICATE_REFERENCE_SETTINGS:
            clean = _submit(Path(workdir), orders, 0.0, setting)
            lossy = _submit(Path(workdir), orders, 0.2, setting)
            killed = _killed(Path(workdir), orders, kills, setting, rng)
            expected, reached = clean.pop("references"), killed.pop("references")
            lossy.pop("references")
            figures[setting] = {
                "orders_per_s": clean["orders_per_s"],
                "orders_per_s_with_timeouts": lossy["orders_per_s"],
                "kills": killed["kills"],
                "duplicates": clean["duplicates"] + lossy["duplicates"] + killed["duplicates"],
                "duplicate_posts": clean["duplicate_posts"] + lossy["duplicate_posts"] + killed["duplicate_posts"],
                "lost": len(expected - reached),
                "clean": clean, "with_timeouts": lossy, "killed": killed,
            }
    return {
        "duplicates": sum(f["duplicates"] for f in figures.values()),
        "duplicate_posts": sum(f["duplicate_posts"] for f in figures.values()),
        "lost": sum(f["lost"] for f in figures.values()),
        "kills": min(f["kills"] for f in figures.values()),
        **figures,
    }


def _submit_once(path: str, database_url: str, simulator_url: str, key: str) -> int:
    """One fulfilment_orders run of one partition, as a process of its own (the benchmark kills it)."""
    config = load_config(Path(path), simulator_url=simulator_url)
    definitions = build_definitions(
        config, ChannelsResource(config_path=path, simulator_url=simulator_url), DatabaseResource(url=database_url)
    )
    job = definitions.resolve_implicit_global_asset_job_def()
    print(SUBMITTER_READY, flush=True)
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=key,
                                    asset_selection=[dg.AssetKey("fulfilment_orders")], raise_on_error=False)
    return 0 if result.success else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["submit-once"]:
        sys.exit(_submit_once(*sys.argv[2:6]))
    if sys.argv[1:2] == ["sync-once"]:
        sys.exit(_sync_once(*sys.argv[2:6]))
    sys.exit("usage: python -m sync_pipeline.bench submit-once CONFIG DATABASE_URL SIMULATOR_URL PARTITION_KEY\n"
             "       python -m sync_pipeline.bench sync-once CONFIG SIMULATOR_URL CHANNEL DAY")


# Tracking: (channel type, the simulator's bucket for its tracking calls or None, request path part that bucket
# counts ("" = every request of the channel), orders). Speed 5: every limit runs at five times the real rate.
TRACKING_SPEED = 5.0
TRACKING_PLATFORMS = [
    ("shopify", "shopify", "", 150),
    ("amazon", "amazon_confirmShipment", "shipmentConfirmation", 150),
    ("bigcommerce", "bigcommerce", "", 400),
    ("ebay", None, "", 150),
    ("woocommerce", None, "", 150),
]
# Amazon's order reads are not what is measured: lifted so landing the orders is quick.
FAST_AMAZON_READS = {key: {"burst": 100, "per_second": 100.0}
                     for key in ("amazon_getOrders", "amazon_getOrderItems", "amazon_getOrder")}


def _tracking_scenario(channel_type: str, orders: int, faults: dict) -> Scenario:
    return Scenario.from_dict({
        "seed": 5, "start_date": (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat(), "days": 1,
        "speed": TRACKING_SPEED, "channels": [{"name": f"bench-{channel_type}", "type": channel_type,
                                               "orders_per_day": orders}],
        "faults": faults, "rate_limits": FAST_AMAZON_READS if channel_type == "amazon" else {},
        "warehouse": {"ship_after_hours": [0, 0], "multi_package": 0.2},
    })


def _tracking(workdir: Path, channel_type: str, bucket_key: str | None, counted_path: str, orders: int,
              lost_reply: float) -> dict:
    """Orders landed and sent to the warehouse (untimed), then timed tracking_updates runs for the day they shipped
    (today); what arrived is counted from the simulated channel's own records."""
    from sync_pipeline.demo import channel_tracking_figures

    scenario = _tracking_scenario(channel_type, orders, {"lost_reply": lost_reply} if lost_reply else {})
    name = scenario.channels[0].name
    limit = scenario.rate_limits.get(bucket_key) if bucket_key else None
    overrides: dict = {"page_size": 100}
    if limit is not None:  # the client's model of the limit at the simulator's speed
        overrides["rate_limit"] = {"per_second": limit.per_second * TRACKING_SPEED, "burst": limit.burst}
    with Simulator(scenario).start() as simulator:
        _, _, definitions = _definitions(workdir, scenario, simulator, {name: overrides},
                                         f"tracking-{channel_type}-{lost_reply}")
        instance = dg.DagsterInstance.ephemeral()
        definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key=partition_key(name, scenario.start_date),
            asset_selection=[dg.AssetKey("raw_orders"), dg.AssetKey("normalized_orders"), dg.AssetKey("fulfilment_orders")],
        )
        if limit is not None:  # landing the orders drew on the same bucket: let it fill, so the burst is there
            time.sleep(limit.burst / (limit.per_second * TRACKING_SPEED))
        simulator.clear_requests()
        today = partition_key(name, datetime.now(timezone.utc).date())
        began = time.perf_counter()
        # With lost replies a second run looks up what the first left in doubt (as the next sensor tick would).
        for _ in range(2 if lost_reply else 1):
            result = definitions.resolve_job_def("tracking_sync").execute_in_process(
                instance=instance, partition_key=today, raise_on_error=False)
        elapsed = time.perf_counter() - began
        counted = [r for r in simulator.requests if r["channel"] == name and counted_path in r["path"]]
        figures = channel_tracking_figures(simulator, name)
    pushed = figures["tracking_on_channel"]
    utilization = None
    if limit is not None and elapsed > 0:
        # The first `burst` requests pass at once: the steady rate of the rest is what the limit governs.
        utilization = round(max(0, len(counted) - limit.burst) / elapsed / (limit.per_second * TRACKING_SPEED), 3)
    return {
        "run": "SUCCESS" if result.success else "FAILURE", "shipped_packages": figures["shipped_packages"],
        "pushed": pushed, "seconds": round(elapsed, 3), "packages_per_s": round(pushed / elapsed, 1) if elapsed else None,
        "limited_requests": len(counted), "rate_limit_utilization": utilization,
        "duplicate_fulfillments": figures["duplicate_tracking"] + figures["extra_fulfillments"],
    }


def run_tracking_benchmark(lost_reply: float = 0.2) -> dict:
    """Per platform: packages pushed per second under its simulated limit, how much of the limit was used, and
    duplicate fulfillments with `lost_reply` of the channel's replies lost after it took the request."""
    per_platform = {}
    with tempfile.TemporaryDirectory() as workdir:
        for channel_type, bucket_key, counted_path, orders in TRACKING_PLATFORMS:
            clean = _tracking(Path(workdir), channel_type, bucket_key, counted_path, orders, 0.0)
            lossy = _tracking(Path(workdir), channel_type, bucket_key, counted_path, max(20, orders // 3), lost_reply)
            per_platform[channel_type] = {**clean, "lost_replies": lossy}
    limited = [f["rate_limit_utilization"] for f in per_platform.values() if f["rate_limit_utilization"] is not None]
    return {
        "rate_limit_utilization": min(limited) if limited else None,
        "duplicate_fulfillments": sum(f["lost_replies"]["duplicate_fulfillments"] + f["duplicate_fulfillments"]
                                      for f in per_platform.values()),
        "not_pushed_with_lost_replies": sum(f["lost_replies"]["shipped_packages"] - f["lost_replies"]["pushed"]
                                            for f in per_platform.values()),
        "lost_reply_share": lost_reply,
        "platforms": per_platform,
    }


# Inventory: (channel type, the speed it runs at, its limited calls: (the simulator's rate-limit key, method or None
# for any, path part)). Each limited platform runs at a speed that puts its limit near 200 requests/s, so the
# limit, not this machine, is what binds, and the run stays short; each floor is also given at the real limit.
INVENTORY_SKUS = 20_000
INVENTORY_CHANGED_SHARE = 0.01
INVENTORY_PLATFORMS = [
    ("shopify", 100.0, [("shopify", None, "/admin/api/"), ("shopify_graphql", "POST", "graphql.json")]),
    ("woocommerce", 1.0, []),
    ("amazon", 40.0, [("amazon_listings", "GET", "/listings/"), ("amazon_listings", "PATCH", "/listings/")]),
    ("bigcommerce", 40.0, [("bigcommerce", None, "")]),
    ("ebay", 1.0, []),  # eBay's limits are calls per day, not simulated
    ("takealot", 200.0, [("takealot", None, "")]),
]


def _inventory_scenario(channel_type: str, skus: int, speed: float) -> Scenario:
    from sync_pipeline.simulator.orders import CATALOGUE_SIZE

    return Scenario.from_dict({
        "seed": 11, "start_date": (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat(), "days": 1,
        "speed": speed, "faults": {}, "anomalies": {},
        "channels": [{"name": f"bench-{channel_type}", "type": channel_type, "orders_per_day": 0,
                      "extra_listings": max(0, skus - CATALOGUE_SIZE)}],
    })


def _floor(calls: list[dict], scenario: Scenario, limited: list[tuple[str, str | None, str]]) -> float | None:
    """The fewest seconds these calls can take under the platform's limits: per limited bucket, the calls past its
    burst at its rate (reads and writes come one after the other, so the buckets' floors add up)."""
    if not limited:
        return None
    floor = 0.0
    for key, method, part in limited:
        limit = scenario.rate_limits.get(key)
        if limit is None:
            continue
        counted = sum(1 for r in calls if part in r["path"] and (method is None or r["method"] == method)
                      and not (key == "shopify" and "graphql" in r["path"]))
        floor += max(0, counted - limit.burst) / (limit.per_second * scenario.speed)
    return floor


def _inventory_run(definitions: dg.Definitions, instance, simulator: Simulator, scenario: Scenario,
                   limited: list, read_listings: bool) -> dict:
    """One timed inventory_sync run of the channel: what it wrote, its calls, and the floor the limits allow."""
    from sync_pipeline.inventory.schedules import CHANGES_ONLY

    name = scenario.channels[0].name
    simulator.clear_requests()
    began = time.perf_counter()
    result = definitions.resolve_job_def("inventory_sync").execute_in_process(
        instance=instance, partition_key=name, raise_on_error=False, run_config={} if read_listings else CHANGES_ONLY)
    elapsed = time.perf_counter() - began
    calls = [r for r in simulator.requests if r["channel"] == name]
    metadata = next(e.materialization.metadata for e in result.get_asset_materialization_events()
                    if e.asset_key == dg.AssetKey("inventory_pushes")) if result.success else {}
    written = metadata["status_PUSHED"].value if "status_PUSHED" in metadata else 0
    floor = _floor(calls, scenario, limited)
    return {
        "run": "SUCCESS" if result.success else "FAILURE", "read_listings": read_listings,
        "listings_written": written, "api_calls": len(calls), "seconds": round(elapsed, 3),
        "api_calls_per_listing": round(len(calls) / written, 3) if written else None,
        "listings_written_per_s": round(written / elapsed, 1) if elapsed else None,
        "floor_seconds": round(floor, 3) if floor is not None else None,
        "rate_limit_utilization": round(floor / elapsed, 3) if floor is not None and elapsed else None,
        # What the same calls need at the platform's real limits (the simulator runs `speed` times faster).
        "floor_seconds_at_real_limits": round(floor * scenario.speed, 1) if floor is not None else None,
    }


def _move_stock(simulator: Simulator, share: float, rng: random.Random) -> int:
    """Good stock up on `share` of the warehouse's items (at least one): how many moved."""
    items = simulator.warehouse.items()
    moved = rng.sample(items, max(1, round(len(items) * share)))
    for item in moved:
        simulator.warehouse.put_item({"sku": item["sku"], "good": item["good"] + rng.randint(1, 20)})
    return len(moved)


def _inventory(workdir: Path, channel_type: str, speed: float, limited: list, skus: int, changed_share: float) -> dict:
    """A full first sync; `changed_share` of the stock moves and a run writes what moved (as the stock sensor's
    runs do); as much moves again and a run reads every listing first (as the schedule's do). In sync is counted
    from the simulated channel's records against the simulated warehouse's."""
    scenario = _inventory_scenario(channel_type, skus, speed)
    name = scenario.channels[0].name
    overrides: dict = {"inventory_sync": True}
    main = scenario.rate_limits.get(limited[0][0]) if limited else None
    if main is not None:  # the client's model of the limit at the simulator's speed
        overrides["rate_limit"] = {"per_second": main.per_second * speed, "burst": main.burst}
    rng = random.Random(7)
    with Simulator(scenario).start() as simulator:
        _, _, definitions = _definitions(workdir, scenario, simulator, {name: overrides}, f"inventory-{channel_type}")
        instance = dg.DagsterInstance.ephemeral()
        figures: dict = {"first_sync": _inventory_run(definitions, instance, simulator, scenario, limited, True)}
        for label, read_listings in (("resync_changes_only", False), ("resync_reading_listings", True)):
            if main is not None:  # let the buckets fill again, as between two runs
                time.sleep(main.burst / (main.per_second * speed))
            moved = _move_stock(simulator, changed_share, rng)
            figures[label] = {"items_moved": moved,
                              **_inventory_run(definitions, instance, simulator, scenario, limited, read_listings)}
        listings = [listing for listing in simulator.listings(name) if not listing.get("deleted")]
        free = {i["sku"]: max(0, i["good"] - i["allocated"]) for i in simulator.warehouse.items()}
    return {"listings": len(listings), "in_sync": sum(1 for listing in listings
                                                      if listing["quantity"] == free.get(listing["warehouse_sku"])),
            "speed": speed, **figures}


def run_inventory_benchmark(skus: int = INVENTORY_SKUS, changed_share: float = INVENTORY_CHANGED_SHARE,
                            platforms: list[str] | None = None) -> dict:
    """Per platform, `skus` listings: a full first sync and two resyncs after `changed_share` of the warehouse's
    stock moved, timed, with the calls each made and the floor the platform's limits allow."""
    per_platform = {}
    with tempfile.TemporaryDirectory() as workdir:
        for channel_type, speed, limited in INVENTORY_PLATFORMS:
            if platforms is None or channel_type in platforms:
                per_platform[channel_type] = _inventory(Path(workdir), channel_type, speed, limited, skus, changed_share)
    return {
        "skus": skus, "changed_share": changed_share,
        "in_sync": sum(f["in_sync"] for f in per_platform.values()),
        "listings": sum(f["listings"] for f in per_platform.values()),
        "platforms": per_platform,
    }
