"""`sync-pipeline demo`: the simulator plus real Dagster runs into the sync database and the simulated 3PL, one run
per channel."""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import yaml

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import (
    PROJECT_ROOT,
    ChannelConfig,
    PipelineConfig,
    channels_file,
    default_channel,
    parse_config,
)
from sync_pipeline.db.engine import database_url, get_engine
from sync_pipeline.db.tables import (
    api_calls,
    channel_health,
    fulfilment_orders,
    inventory_drift,
    inventory_pushes,
    order_sync_errors,
    orders,
    raw_orders,
    tracking_updates,
)
from sync_pipeline.definitions import build_definitions
from sync_pipeline.inventory.stock import promised_units
from sync_pipeline.operations.attempts import FLOWS, INVENTORY, ORDERS, TRACKING
from sync_pipeline.operations.completeness_assets import COUNT_FLOW
from sync_pipeline.orders.order_flow import order_flow_config
from sync_pipeline.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_key, sync_tags
from sync_pipeline.simulator import Scenario, Simulator
from sync_pipeline.simulator.platforms.amazon import seller_id_for

DEMO_DIR = PROJECT_ROOT / "var" / "demo"


@dataclass
class ChannelSummary:
    channel: str
    type: str
    days: str
    run_status: str
    orders: int
    payload_versions: int
    api_calls: int
    http_429: int
    normalized: int
    filtered: int
    quarantined_by_code: dict[str, int]
    fulfilment_by_status: dict[str, int]  # ACCEPTED, IMPORT_ERROR, HELD, MANUAL, CANCELLED, NEW
    fulfilment_errors_by_code: dict[str, int]
    warehouse_orders: int  # live orders of the channel at the 3PL, from the simulator's own records
    duplicate_references: int  # the channel's references the 3PL holds more than once, from its own records
    example_fix: dict[tuple[str, str], tuple[str, str]]  # (stage, code) -> (order, message) of one such error
    error: str | None
    # shipped_packages, tracking_on_channel, duplicate_tracking (from the simulator's own records), completed and
    # corrections_pushed (from our tables)
    tracking: dict[str, int] = field(default_factory=dict)
    tracking_by_status: dict[str, int] = field(default_factory=dict)  # tracking_updates rows by status
    # listings, in_sync (from the simulator's records), drift_found, inventory_by_status (from our tables)
    inventory: dict = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)  # channel_health status by flow, after the demo's runs
    # From the SQL models built after every flow ran: the channel's sync_metrics_daily rows for the demo's days, its
    # sync_errors_daily rows from the demo's first day on (an error counts on the day it was found: the demo's own
    # on the day it ran), and its channel_last_sync rows by flow
    metrics: list[dict] = field(default_factory=list)
    errors_daily: list[dict] = field(default_factory=list)
    last_sync: dict[str, dict] = field(default_factory=dict)


def scenario_channels_file(
    scenario: Scenario, simulator_url: str, overrides: dict[str, dict] | None = None, directory: Path = DEMO_DIR
) -> tuple[Path, PipelineConfig]:
    """channels.yaml entries for the scenario's channels (defaults for unknown ones), saved for the runs."""
    raw = yaml.safe_load(channels_file().read_text(encoding="utf-8"))
    known = {c["name"]: c for c in raw.get("channels", [])}
    channels = [
        known.get(c.name)
        or {**default_channel(c.name, c.type, f"https://{c.name}.example.com"), "timezone": c.timezone}
        for c in scenario.channels
    ]
    for channel in channels:  # the simulated Amazon seller's id, which a merchant copies from Seller Central
        if channel["type"] == "amazon":
            channel["options"] = {"seller_id": seller_id_for(channel["name"]), **(channel.get("options") or {})}
    channels = [{**c, **(overrides or {}).get(c["name"], {})} for c in channels]
    start = min(date.fromisoformat(str(raw.get("partitions_start_date", "2025-01-01"))), scenario.start_date)
    document = {"partitions_start_date": start.isoformat(), "channels": channels}
    if raw.get("warehouse"):
        name = scenario.warehouse.name
        document["warehouse"] = {**raw["warehouse"], "name": name, **(overrides or {}).get(name, {})}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "channels.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path, parse_config(document, str(path), simulator_url)


def export_credentials(simulator: Simulator, config: PipelineConfig) -> None:
    """The simulator's credentials into the environment variables channels.yaml names, channels and warehouse."""
    for name, variables in config.credential_variables().items():
        for credential, env_var in variables.items():
            os.environ[env_var] = simulator.credentials[name][credential]


PRODUCTION_INSTANCE = PROJECT_ROOT / "deploy" / "postgres" / "dagster.yaml"
EARLIER_DEFAULT = "telemetry:\n  enabled: false\n"  # what demos wrote before the run queue's limits


def default_instance_settings() -> str:
    """Local storage, with the production instance's run limits (one run per channel and flow), so `dagster dev` on
    the demo's DAGSTER_HOME never runs two syncs of one channel's flow at once either."""
    production = yaml.safe_load(PRODUCTION_INSTANCE.read_text(encoding="utf-8"))
    return yaml.safe_dump({"telemetry": {"enabled": False}, "concurrency": production["concurrency"]}, sort_keys=False)


def dagster_instance() -> dg.DagsterInstance:
    """The persistent instance in DAGSTER_HOME (default .dagster_home/), so the UI shows the demo's runs. A
    dagster.yaml of the user's own is kept; one an earlier demo wrote gets the limits."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists() or settings.read_text(encoding="utf-8") == EARLIER_DEFAULT:
        settings.write_text(default_instance_settings(), encoding="utf-8")
    return dg.DagsterInstance.get()


@dataclass
class Demo:
    channels: list[ChannelSummary]
    warehouse: dict[str, int | str]  # the 3PL's own records: orders, references held twice, POSTs

    def as_json(self) -> dict:
        """`sync-pipeline demo --json`: {"channels": {name: figures}, "warehouse": figures} (README, "demo --json")."""
        channels = {}
        for s in self.channels:
            status = s.fulfilment_by_status
            channels[s.channel] = {
                "type": s.type, "days": s.days, "run": s.run_status, "landed": s.orders, "payload_versions": s.payload_versions,
                "api_calls": s.api_calls, "http_429": s.http_429, "normalized": s.normalized, "filtered": s.filtered,
                "quarantined": sum(s.quarantined_by_code.values()), "accepted": status.get("ACCEPTED", 0),
                "stopped": status.get("IMPORT_ERROR", 0), "held": status.get("HELD", 0), "manual": status.get("MANUAL", 0),
                "cancelled": status.get("CANCELLED", 0), "unsettled": status.get("NEW", 0),
                "errors": {"normalize": dict(sorted(s.quarantined_by_code.items())),
                           "fulfilment": dict(sorted(s.fulfilment_errors_by_code.items()))},
                "at_3pl": s.warehouse_orders, "duplicate_references": s.duplicate_references,
                **s.tracking, "tracking_by_status": dict(sorted(s.tracking_by_status.items())), **s.inventory,
                "health": {flow: s.health[flow] for flow in FLOWS if flow in s.health}, "metrics": s.metrics,
                "errors_daily": s.errors_daily, "last_sync": s.last_sync, "error": s.error,
            }
        return {"channels": channels, "warehouse": self.warehouse}


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the console gets warnings; the UI every event


def next_warehouse_numbers() -> tuple[int, int]:
    """The simulated warehouse's first order and shipment numbers for this demo: past every one the sync database
    holds from an earlier demo, so a fresh simulator's ids never name an older demo's orders or packages."""
    def after(column) -> int:
        ids = connection.execute(sa.select(column).where(column.is_not(None)).distinct()).scalars()
        return max((int(i[1:]) for i in ids if i[1:].isdigit()), default=0) + 1

    with get_engine(database_url()).connect() as connection:
        return after(fulfilment_orders.c.warehouse_order_id), after(tracking_updates.c.shipment_id)


def say(message: str) -> None:
    """The demo's progress, on stderr (stdout holds only the summary, or the JSON)."""
    print(message, file=sys.stderr, flush=True)


def run_demo(scenario: Scenario, full_resync: bool = False, progress: Callable[[str], None] = say,
             now: datetime | None = None) -> Demo:
    """`now`: the moment the simulated channels and 3PL are cut at (default: this one)."""
    # The channels file lives as long as the demo, in a folder of its own: two demos at once never share one.
    with Simulator(scenario, first_warehouse_numbers=next_warehouse_numbers(), now=now).start() as simulator, \
            tempfile.TemporaryDirectory(prefix="demo-") as folder:
        path, config = scenario_channels_file(scenario, simulator.url, directory=Path(folder))
        export_credentials(simulator, config)
        definitions = build_definitions(config, ChannelsResource(config_path=str(path), simulator_url=simulator.url))
        job = definitions.resolve_job_def("order_sync")
        instance = dagster_instance()
        first, last = scenario.start_date, scenario.start_date + timedelta(days=scenario.days - 1)
        summaries = []
        for channel in config.channels:
            # One run per channel over the whole date range: what a single-run backfill launches.
            started = time.perf_counter()
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config={**order_flow_config(full_resync), **QUIET},
                tags={
                    RANGE_START_TAG: str(partition_key(channel.name, first)),
                    RANGE_END_TAG: str(partition_key(channel.name, last)),
                    **sync_tags(channel.name, ORDERS),
                },
            )
            at_warehouse = Counter(order["channel"] for order in simulator.warehouse.orders() if order["status"] != "cancelled")
            twice = Counter(ref.split(":", 1)[0] for ref, r in simulator.warehouse.references().items() if len(r["orders"]) > 1)
            summaries.append(_summary(channel.name, channel.type, first, last, result, at_warehouse, twice))
            progress(f"orders   {channel.name} {first}..{last}: {'SUCCESS' if result.success else 'FAILURE'} "
                     f"({time.perf_counter() - started:.1f} s)")
        # Tracking: the packages the 3PL shipped meanwhile, pushed to each channel. Two passes, as two sensor ticks
        # would run: the second pushes the numbers the 3PL corrected after the first read them (S34).
        tracking_job = definitions.resolve_job_def("tracking_sync")
        for number in (1, 2):
            progress(f"tracking pass {number} of 2, every channel")
            for channel in config.channels:
                tracking_job.execute_in_process(
                    instance=instance, raise_on_error=False,
                    run_config=QUIET,
                    tags={RANGE_START_TAG: str(partition_key(channel.name, first)),
                          RANGE_END_TAG: str(partition_key(channel.name, max(last, datetime.now(timezone.utc).date()))),
                          **sync_tags(channel.name, TRACKING)},
                )
        for summary in summaries:
            summary.tracking = {**channel_tracking_figures(simulator, summary.channel),
                                **_tracking_outcomes(summary.channel)}
            summary.tracking_by_status = _tracking_by_status(summary.channel)
        # Stock: one inventory run per channel; each is counted before the next one's read moves the stock again.
        inventory_job = definitions.resolve_job_def("inventory_sync")
        for channel, summary in zip(config.channels, summaries):
            progress(f"stock    {channel.name}")
            inventory_job.execute_in_process(
                instance=instance, raise_on_error=False, partition_key=channel.name,
                run_config=QUIET, tags=sync_tags(channel.name, INVENTORY),
            )
            summary.inventory = channel_inventory_figures(simulator, channel, config)
        # Completeness: each channel's own count of its orders per day, as the hourly check makes it (the metrics'
        # orders_placed; a platform without a count says NO_COUNT).
        completeness_job = definitions.resolve_job_def("completeness_check")
        progress("counts   every channel's own order count per day")
        for channel in config.channels:
            completeness_job.execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET,
                tags={RANGE_START_TAG: str(partition_key(channel.name, first)),
                      RANGE_END_TAG: str(partition_key(channel.name, last)), **sync_tags(channel.name, COUNT_FLOW)},
            )
        # Health: judged once every flow has run, as the health schedule would.
        progress("health   every channel and flow")
        definitions.resolve_job_def("health_check").execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET)
        # Metrics: the analysts' SQL models, rebuilt from every flow's tables, as their schedule would.
        progress("metrics  dbt_like_sql models and their tests")
        definitions.resolve_job_def("sync_metrics").execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET)
        with get_engine(database_url()).connect() as connection:
            by_channel = {summary.channel: summary for summary in summaries}
            for row in connection.execute(sa.select(channel_health.c.channel, channel_health.c.flow, channel_health.c.status)):
                if row.channel in by_channel:
                    by_channel[row.channel].health[row.flow] = row.status
            for summary in summaries:
                summary.metrics = mart_rows(connection, "sync_metrics_daily", summary.channel, "day", first, last)
                summary.errors_daily = mart_rows(connection, "sync_errors_daily", summary.channel,
                                                 "day, stage, error_code", since=first)
                summary.last_sync = {row.pop("flow"): row
                                     for row in mart_rows(connection, "channel_last_sync", summary.channel, "flow")}
        records = simulator.warehouse.references().values()
        warehouse = {
            "name": scenario.warehouse.name, "duplicate_references_setting": scenario.warehouse.duplicate_references,
            "orders": sum(len(r["orders"]) for r in records), "duplicate_references": sum(len(r["orders"]) > 1 for r in records),
            "posts": sum(r["posts"] for r in records), "duplicate_posts": sum(r["duplicate_posts"] for r in records),
        }
    return Demo(summaries, warehouse)


def mart_rows(connection: sa.Connection, mart: str, channel: str, order_by: str, since: date | None = None,
              until: date | None = None) -> list[dict]:
    """The channel's rows of a mart, for a daily one those of its days from `since` through `until` (each end open
    when None), the same from SQLite and Postgres: days as ISO dates, times as ISO 8601 UTC, rates and seconds
    rounded for reading."""
    where = "channel = :channel" + (" AND day >= :since" if since else "") + (" AND day <= :until" if until else "")
    bounds = {name: day.isoformat() for name, day in (("since", since), ("until", until)) if day}
    rows = connection.execute(sa.text(f"SELECT * FROM {mart} WHERE {where} ORDER BY {order_by}"),
                              {"channel": channel, **bounds}).mappings()
    return [{key: _json_ready(key, value) for key, value in row.items() if key != "channel"} for row in rows]


def _json_ready(key: str, value):
    if value is None:
        return None
    if key == "day":
        return str(value)
    if key.endswith("_at"):  # SQLite hands back its text, Postgres a naive datetime: both UTC
        return datetime.fromisoformat(str(value)).replace(tzinfo=timezone.utc).isoformat()
    return round(value, 4) if isinstance(value, float) else value


def channel_tracking_figures(simulator: Simulator, channel: str) -> dict[str, int]:
    """From the simulator's own records: packages the 3PL shipped for the channel, how many of their (current)
    numbers the channel holds, numbers held twice on one channel order, and fulfillments beyond one per package
    and correction of the order (where a platform adds a corrected number instead of changing it)."""
    held = simulator.tracking(channel)
    shipments = [s for s in simulator.warehouse.shipments() if s["channel"] == channel]
    numbers_by_order = {order_id: [n for f in fulfillments for n in f["tracking_numbers"]]
                        for order_id, fulfillments in held.items()}
    issued = Counter()  # per channel order: its packages, and the corrections among them
    for shipment in shipments:
        issued[shipment["channel_order_id"]] += 1 + (shipment["corrected_from"] is not None)
    pushed = Counter({order_id: sum(f["source"] == "api" for f in fulfillments) for order_id, fulfillments in held.items()})
    return {
        "shipped_packages": len(shipments),
        "tracking_on_channel": sum(1 for s in shipments if s["tracking_number"]
                                   and s["tracking_number"] in numbers_by_order.get(s["channel_order_id"], [])),
        "duplicate_tracking": sum(n - 1 for numbers in numbers_by_order.values() for n in Counter(numbers).values()
                                  if n > 1),
        "extra_fulfillments": sum(max(0, n - issued[order_id]) for order_id, n in pushed.items()),
    }


def channel_inventory_figures(simulator: Simulator, channel: ChannelConfig, config: PipelineConfig) -> dict:
    """Live listings and those showing what they should, from the simulator's own records (the warehouse's free
    Good stock less the units promised to orders not yet at the warehouse, which only our tables know, less the
    buffer); drift found and listings by status from our tables."""
    with get_engine(database_url()).connect() as connection:
        promised = promised_units(connection, config)
        by_status = dict(connection.execute(
            sa.select(inventory_pushes.c.status, sa.func.count()).where(inventory_pushes.c.channel == channel.name)
            .group_by(inventory_pushes.c.status)).all())
        drift = connection.execute(sa.select(sa.func.count()).where(inventory_drift.c.channel == channel.name)).scalar_one()
    free = {i["sku"]: max(0, i["good"] - i["allocated"]) for i in simulator.warehouse.items()}
    live = [listing for listing in simulator.listings(channel.name) if not listing.get("deleted")]
    expected = {listing["listing_id"]: max(0, free.get(listing["warehouse_sku"], 0) - promised[listing["warehouse_sku"]]
                                           - channel.inventory_buffer) for listing in live}
    return {
        "listings": len(live),
        "in_sync": sum(1 for listing in live if listing["quantity"] == expected[listing["listing_id"]]),
        "drift_found": drift,
        "inventory_by_status": dict(sorted(by_status.items())),
    }


def _tracking_by_status(channel: str) -> dict[str, int]:
    with get_engine(database_url()).connect() as connection:
        return dict(connection.execute(
            sa.select(tracking_updates.c.status, sa.func.count()).where(tracking_updates.c.channel == channel)
            .group_by(tracking_updates.c.status)
        ).all())


def _tracking_outcomes(channel: str) -> dict[str, int]:
    """From our tables: orders COMPLETED (every line shipped, all tracking on the channel) and packages whose
    corrected number the channel now holds."""
    with get_engine(database_url()).connect() as connection:
        completed = connection.execute(sa.select(sa.func.count()).where(
            fulfilment_orders.c.channel == channel, fulfilment_orders.c.status == "COMPLETED")).scalar_one()
        corrected = connection.execute(sa.select(sa.func.count()).where(
            tracking_updates.c.channel == channel, tracking_updates.c.corrected_from.is_not(None),
            tracking_updates.c.pushed_number == tracking_updates.c.tracking_number)).scalar_one()
    return {"completed": completed, "corrections_pushed": corrected}


def _summary(
    channel: str, channel_type: str, first: date, last: date, result, warehouse_orders: Counter, held_twice: Counter
) -> ChannelSummary:
    engine = get_engine(database_url())
    in_range = (raw_orders.c.channel == channel) & raw_orders.c.partition_date.between(first, last)
    with engine.connect() as connection:
        raw_count, versions = connection.execute(
            sa.select(sa.func.count(sa.distinct(raw_orders.c.external_order_id)), sa.func.count()).where(in_range)
        ).one()
        normalized = connection.execute(
            sa.select(sa.func.count()).where(orders.c.channel == channel, orders.c.partition_date.between(first, last))
        ).scalar()
        open_errors = (
            (order_sync_errors.c.channel == channel)
            & order_sync_errors.c.partition_date.between(first, last)
            & order_sync_errors.c.resolved_at.is_(None)
        )
        errors = connection.execute(
            sa.select(order_sync_errors.c.stage, order_sync_errors.c.error_code, order_sync_errors.c.external_order_id,
                      order_sync_errors.c.message)
            .where(open_errors).order_by(order_sync_errors.c.id)
        ).all()
        orders_by_code: dict[tuple[str, str], set[str]] = {}
        example_fix = {}
        for stage, code, external_order_id, message in errors:
            orders_by_code.setdefault((stage, code), set()).add(external_order_id)
            example_fix.setdefault((stage, code), (external_order_id, message))
        by_code = {code: len(ids) for (stage, code), ids in orders_by_code.items() if stage == "normalize"}
        fulfilment_codes = {code: len(ids) for (stage, code), ids in orders_by_code.items() if stage == "fulfilment"}
        by_status = dict(connection.execute(
            sa.select(fulfilment_orders.c.status, sa.func.count())
            .where(fulfilment_orders.c.channel == channel, fulfilment_orders.c.partition_date.between(first, last))
            .group_by(fulfilment_orders.c.status)
        ).all())
        calls, throttled = connection.execute(
            sa.select(sa.func.count(), sa.func.count().filter(api_calls.c.status_code == 429)).where(
                api_calls.c.channel == channel, api_calls.c.run_id == result.run_id
            )
        ).one()
    error = None
    if not result.success:
        failure = next((e for e in result.all_events if e.is_failure), None)
        error = failure.step_failure_data.error.message.strip() if failure and failure.step_failure_data else "failed"
    return ChannelSummary(
        channel, channel_type, f"{first}..{last}", "SUCCESS" if result.success else "FAILURE",
        raw_count, versions, calls, throttled, normalized, by_code.pop("FILTERED", 0), by_code, by_status,
        fulfilment_codes, warehouse_orders.get(channel, 0), held_twice.get(channel, 0), example_fix, error,
    )


WIDTH = 100  # a normal terminal: no line of the summary is longer
SUMMARY_COLUMNS = (  # (header, width): the table fits a WIDTH-column terminal; LEGEND says what each one counts
    ("channel", 18), ("run", 8), ("orders", 7), ("norm", 6), ("filt", 6), ("quar", 6), ("acc", 6), ("stop", 6),
    ("held", 6), ("man", 5), ("canc", 5), ("3PL", 5), ("ship", 6), ("trk", 6),
)
LEGEND = ("orders landed; norm(alized), filt(ered), quar(antined); fulfilment: acc(epted), stop(ped: IMPORT_ERROR), "
          "held, man(ual), canc(elled); 3PL: live warehouse orders this demo's simulated 3PL holds (a rerun sends "
          "nothing twice, so 0); ship(ped packages), tr(ac)k(ing on the channel)")


def _share(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _hours(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:.1f} h"


def format_summary(summaries: list[ChannelSummary]) -> str:
    header = "".join(f"{name:<{width}}" if i < 2 else f"{name:>{width}}"
                     for i, (name, width) in enumerate(SUMMARY_COLUMNS))
    lines = [header, "-" * len(header)]
    for s in summaries:
        status = s.fulfilment_by_status
        values = [s.channel, s.run_status, s.orders, s.normalized, s.filtered, sum(s.quarantined_by_code.values()),
                  status.get("ACCEPTED", 0), status.get("IMPORT_ERROR", 0), status.get("HELD", 0),
                  status.get("MANUAL", 0), status.get("CANCELLED", 0), s.warehouse_orders,
                  s.tracking.get("shipped_packages", 0), s.tracking.get("tracking_on_channel", 0)]
        lines.append("".join(f"{value:<{width}}" if i < 2 else f"{value:>{width}}"
                             for i, (value, (_, width)) in enumerate(zip(values, SUMMARY_COLUMNS))))
        lines.append(f"    {s.type}, {s.days}: {s.payload_versions} payload versions, {s.api_calls} API calls, "
                     f"{s.http_429} answered 429")
        if s.tracking_by_status:
            lines.append("    tracking: " + ", ".join(f"{k} {v}" for k, v in sorted(s.tracking_by_status.items())))
        if s.health:
            lines.append("    health: " + ", ".join(f"{flow} {s.health[flow]}" for flow in FLOWS if flow in s.health)
                         + ("" if set(s.health.values()) <= {"HEALTHY", "DISABLED"} else
                            "  (`sync-pipeline health` says what to do)"))
        for day in s.metrics:
            tracking = "no order shipped yet" if day["tracking_update_rate"] is None else \
                f"tracking on the channel for {day['tracking_update_rate']:.0%} of shipped orders"
            lines.append(f"    metrics {day['day']}: {_share(day['sync_success_rate'])} of valid orders accepted, p95 "
                         f"{_hours(day['p95_placement_to_accepted_s'])} from placement; {tracking}")
        if s.inventory.get("inventory_by_status"):
            lines.append(f"    stock: {s.inventory['in_sync']} of {s.inventory['listings']} listings in sync, drift found "
                         f"{s.inventory['drift_found']}; " + ", ".join(
                             f"{k} {v}" for k, v in s.inventory["inventory_by_status"].items()))
        for stage, codes in (("normalize", s.quarantined_by_code), ("fulfilment", s.fulfilment_errors_by_code)):
            for code, count in sorted(codes.items()):
                order, message = s.example_fix[(stage, code)]
                lines.append(f"    {stage} {code}: {count}, e.g. {order}: {message}")
        if s.error:
            lines.append(f"    ! {s.error}")
    lines += ["", textwrap.fill(LEGEND, WIDTH), "where any order is, and why: sync-pipeline why <channel> <order id>"]
    return "\n".join(_fitted(line) for line in lines)


def _fitted(line: str) -> str:
    """A channel's detail line wrapped to the terminal width, its continuation indented under it."""
    if len(line) <= WIDTH:
        return line
    indent = line[:len(line) - len(line.lstrip())]
    return textwrap.fill(line.strip(), WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=True, break_on_hyphens=False)
