"""Channel health: per channel and flow (orders, tracking, inventory), the seeds' "Last Sync", "Connection
Status" and "API Usage" checks, judged from what the pipeline recorded (sync_attempts, api_calls and each flow's
open problems), with what to do for every row that is not HEALTHY.

A status, first match wins:
- MISCONFIGURED: the channel's channels.yaml entry is wrong, so the channel is left out of every flow; the reason is
  the entry's error, with its line;
- DISABLED: the flow is off for the channel (`order_sync`/`inventory_sync` false) or its platform has no API for it;
- AUTH_FAILED / PERMISSION_DENIED / RATE_LIMITED / FAILING: the flow's last attempt failed, by the kind of error
  (401, 403, 429 after every retry, anything else);
- STALE (S06): the last success is older than twice the flow's interval (orders `sync_interval_minutes`, inventory
  `inventory_interval_minutes`; tracking the hourly retry, and only while packages wait to be pushed);
- PERMISSION_DENIED: tracking pushes the channel refused for lack of a scope (S33), though runs succeed;
- RATE_LIMITED: at least RATE_LIMITED_SHARE of the channel's calls in the last hour were answered 429;
- DEGRADED: at least DEGRADED_SHARE of them got a 5xx or no answer;
- HEALTHY.
API usage is the channel's (every flow shares its rate budget), so each flow's row of a channel shows the same."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import pandas as pd
import sqlalchemy as sa

from sync_pipeline.channels import CONNECTORS, TRACKING_PUSHES
from sync_pipeline.channels.inventory import HELD_BACK, INVALID_QUANTITY, PRODUCT_NOT_FOUND
from sync_pipeline.channels.inventory import RETRYING as INVENTORY_RETRYING
from sync_pipeline.channels.tracking import CARRIER_NOT_MAPPED, ORDER_NOT_FOUND, PERMISSION_DENIED, REFUSED
from sync_pipeline.channels.tracking import RETRYING as TRACKING_RETRYING
from sync_pipeline.config import ChannelConfig, PipelineConfig
from sync_pipeline.db.tables import (
    api_calls,
    channel_health,
    channel_health_history,
    inventory_pushes,
    order_sync_errors,
    sync_attempts,
    tracking_updates,
)
from sync_pipeline.db.writes import upsert
from sync_pipeline.inventory.push import skipped_reason
from sync_pipeline.operations.attempts import FLOWS, INVENTORY, ORDERS, TRACKING

HEALTHY, STALE, DISABLED, DEGRADED, FAILING = "HEALTHY", "STALE", "DISABLED", "DEGRADED", "FAILING"
AUTH_FAILED, RATE_LIMITED, MISCONFIGURED = "AUTH_FAILED", "RATE_LIMITED", "MISCONFIGURED"
STATUSES = (HEALTHY, STALE, AUTH_FAILED, PERMISSION_DENIED, RATE_LIMITED, DEGRADED, FAILING, DISABLED, MISCONFIGURED)
RATE_LIMITED_SHARE = 0.2
DEGRADED_SHARE = 0.1
TRACKING_INTERVAL_MINUTES = 60  # tracking_retry_hourly: the safety net behind the shipments sensor
FAILED_BY_CODE = {"AUTH_FAILED": AUTH_FAILED, "PERMISSION_DENIED": PERMISSION_DENIED, "RATE_LIMITED": RATE_LIMITED}
# What each flow's table holds that a person or a later run still has to settle.
TRACKING_OPEN = (ORDER_NOT_FOUND, PERMISSION_DENIED, TRACKING_RETRYING, CARRIER_NOT_MAPPED, REFUSED, "PENDING",
                 "NO_TRACKING_NUMBER", "UNKNOWN_ORDER")
INVENTORY_OPEN = (PRODUCT_NOT_FOUND, INVALID_QUANTITY, INVENTORY_RETRYING, HELD_BACK)
ORDER_STAGES = ("normalize", "fulfilment")  # the orders flow's; a filtered order (by its status) is no problem


def check_health(engine: sa.Engine, config: PipelineConfig, now: datetime | None = None) -> list[dict]:
    """Every channel's and flow's health now; saved in channel_health, each change of status in its history."""
    now = now or datetime.now(timezone.utc)
    rows = judge(engine, config, now)
    with engine.begin() as connection:
        before = {(r.channel, r.flow): r.status for r in connection.execute(
            sa.select(channel_health.c.channel, channel_health.c.flow, channel_health.c.status))}
        upsert(connection, channel_health, rows, ["channel", "flow"])
        changes = [{"channel": r["channel"], "flow": r["flow"], "status": r["status"], "reason": r["reason"],
                    "previous_status": before.get((r["channel"], r["flow"])), "changed_at": now}
                   for r in rows if before.get((r["channel"], r["flow"])) != r["status"]]
        if changes:
            connection.execute(channel_health_history.insert(), changes)
    return rows


def judge(engine: sa.Engine, config: PipelineConfig, now: datetime) -> list[dict]:
    """The rows of channel_health, computed (nothing is written)."""
    names = [c.name for c in config.channels]
    with engine.connect() as connection:
        attempts = _attempts(connection, names)
        usage = _usage(connection, config, now)
        problems = _open_problems(connection, names)
    rows = []
    for channel in config.channels:
        for flow in FLOWS:
            row = {"channel": channel.name, "flow": flow, "checked_at": now, "interval_minutes": _interval(channel, flow),
                   **attempts.get((channel.name, flow), _no_attempts()), **usage.get(channel.name, _no_usage()),
                   **problems.get((channel.name, flow), {"open_errors": {}, "oldest_open_error_at": None})}
            row["status"], row["reason"] = _status(channel, flow, row, now)
            rows.append(row)
    for entry in config.disabled:  # a bad entry is shown, under its name (or its place in the list), not dropped
        rows += [{"channel": entry.key, "flow": flow, "checked_at": now, "interval_minutes": None, **_no_attempts(),
                  **_no_usage(), "open_errors": {}, "oldest_open_error_at": None, "status": MISCONFIGURED,
                  "reason": entry.error} for flow in FLOWS]
    return rows


def _interval(channel: ChannelConfig, flow: str) -> int:
    return {ORDERS: channel.sync_interval_minutes, TRACKING: TRACKING_INTERVAL_MINUTES,
            INVENTORY: channel.inventory_interval_minutes}[flow]


def _disabled(channel: ChannelConfig, flow: str) -> str | None:
    if flow == ORDERS and not channel.order_sync:
        return "order_sync is false in channels.yaml: set it to true to fetch this channel's orders"
    if flow == TRACKING and channel.type not in TRACKING_PUSHES:
        return (f"{channel.type} takes no tracking numbers through its API (the seeds: the marketplace tracks "
                "shipments itself): nothing to push")
    if flow == INVENTORY:
        return skipped_reason(channel)
    return None


def _status(channel: ChannelConfig, flow: str, row: dict, now: datetime) -> tuple[str, str | None]:
    disabled = _disabled(channel, flow)
    if disabled:
        return DISABLED, disabled
    if row["consecutive_failures"]:
        status = FAILED_BY_CODE.get(row["last_error_code"], FAILING)
        return status, f"{row['consecutive_failures']} failed attempt(s) in a row; the last: {row['last_error']}"
    limit = timedelta(minutes=2 * row["interval_minutes"])
    waiting = flow != TRACKING or bool(row["open_errors"].get("PENDING") or row["open_errors"].get(TRACKING_RETRYING))
    if waiting and (row["last_success_at"] is None or now - row["last_success_at"] > limit):
        since = "has never synced" if row["last_success_at"] is None else \
            f"last synced at {row['last_success_at']:%Y-%m-%d %H:%M} UTC"
        return STALE, (f"{channel.name} {flow} {since}, more than twice its {row['interval_minutes']}-minute interval "
                       f"ago (S06): check that the Dagster daemon runs and the channel's schedules and sensors are on "
                       f"(`dagster dev`, or the daemon service), then look at the latest {flow} runs for errors")
    if flow == TRACKING and row["open_errors"].get(PERMISSION_DENIED):
        return PERMISSION_DENIED, (f"{row['open_errors'][PERMISSION_DENIED]} package(s) refused for lack of a scope "
                                   "(S33): grant the app the fulfillment write scope on the channel, then the "
                                   "hourly retry pushes them")
    calls = row["calls_1h"]
    if calls and row["http_429_1h"] / calls >= RATE_LIMITED_SHARE:
        return RATE_LIMITED, (f"{row['http_429_1h']} of the last hour's {calls} calls were refused with 429: lower "
                              "page_size or the sync frequency, or move to a plan with a higher API limit")
    if calls and row["http_5xx_1h"] / calls >= DEGRADED_SHARE:
        return DEGRADED, (f"{row['http_5xx_1h']} of the last hour's {calls} calls failed on the channel's side (5xx "
                          "or no answer); the retries carried the syncs. If it persists, check the platform's status "
                          "page")
    return HEALTHY, None


def _no_attempts() -> dict:
    return {"last_success_at": None, "last_attempt_at": None, "last_error": None, "last_error_code": None,
            "consecutive_failures": 0}


def _attempts(connection, names: list[str]) -> dict[tuple[str, str], dict]:
    """Per channel and flow: the last success, the last attempt, and the failures since the last success."""
    rows = connection.execute(
        sa.select(sync_attempts.c.channel, sync_attempts.c.flow, sync_attempts.c.outcome, sync_attempts.c.finished_at,
                  sync_attempts.c.error, sync_attempts.c.error_code)
        .where(sync_attempts.c.channel.in_(names)).order_by(sync_attempts.c.finished_at, sync_attempts.c.id)).all()
    found: dict[tuple[str, str], dict] = defaultdict(_no_attempts)
    for row in rows:
        entry = found[(row.channel, row.flow)]
        entry["last_attempt_at"] = row.finished_at
        if row.outcome == "SUCCESS":
            entry.update(last_success_at=row.finished_at, consecutive_failures=0)
        else:
            entry.update(last_error=row.error, last_error_code=row.error_code,
                         consecutive_failures=entry["consecutive_failures"] + 1)
    return dict(found)


def _no_usage() -> dict:
    return {f"{name}_{window}": 0 for name in ("calls", "http_429", "http_5xx") for window in ("1h", "24h")} | {
        "p95_latency_ms_1h": None, "p95_latency_ms_24h": None, "budget_used_1h": None, "budget_used_24h": None}


def _usage(connection, config: PipelineConfig, now: datetime) -> dict[str, dict]:
    """Per channel, over the last hour and day: calls, 429s, 5xx or no answer, p95 latency, and the share of the
    busiest rate-limit bucket's allowance used."""
    day_ago = now - timedelta(days=1)
    calls = pd.DataFrame(connection.execute(
        sa.select(api_calls.c.channel, api_calls.c.bucket, api_calls.c.status_code, api_calls.c.latency_ms,
                  api_calls.c.called_at)
        .where(api_calls.c.called_at >= day_ago, api_calls.c.channel.in_([c.name for c in config.channels]))
    ).all(), columns=["channel", "bucket", "status_code", "latency_ms", "called_at"])
    calls["called_at"] = pd.to_datetime(calls["called_at"], utc=True)
    found = {}
    for channel in config.channels:
        mine = calls[calls["channel"] == channel.name]
        figures = {}
        for window, since in (("1h", now - timedelta(hours=1)), ("24h", day_ago)):
            part = mine[mine["called_at"] >= since]
            status = part["status_code"]
            figures.update({
                f"calls_{window}": len(part),
                f"http_429_{window}": int((status == 429).sum()),
                f"http_5xx_{window}": int(((status >= 500) | status.isna()).sum()),
                f"p95_latency_ms_{window}": round(float(part["latency_ms"].quantile(0.95)), 1) if len(part) else None,
                f"budget_used_{window}": _budget_used(channel, part, (now - since).total_seconds()),
            })
        found[channel.name] = figures
    return found


def _budget_used(channel: ChannelConfig, calls: pd.DataFrame, seconds: float) -> float | None:
    """The busiest bucket's calls over what its limit allows in the window (None: the platform sets no limit)."""
    limits = CONNECTORS[channel.type].rate_limits
    if not limits:
        return None
    by_bucket = Counter(calls["bucket"].fillna("default"))
    shares = [count / ((channel.rate_limit or limits[bucket]).per_second * seconds)
              for bucket, count in by_bucket.items() if bucket in limits]
    return round(max(shares), 4) if shares else 0.0


def _open_problems(connection, names: list[str]) -> dict[tuple[str, str], dict]:
    """Per channel and flow: what is still open, by code, and since when."""
    queries = {
        ORDERS: sa.select(order_sync_errors.c.channel, order_sync_errors.c.error_code, sa.func.count(),
                          sa.func.min(order_sync_errors.c.first_seen_at))
        .where(order_sync_errors.c.resolved_at.is_(None), order_sync_errors.c.channel.in_(names),
               order_sync_errors.c.stage.in_(ORDER_STAGES), order_sync_errors.c.error_code != "FILTERED")
        .group_by(order_sync_errors.c.channel, order_sync_errors.c.error_code),
        TRACKING: sa.select(tracking_updates.c.channel, tracking_updates.c.status, sa.func.count(),
                            sa.func.min(tracking_updates.c.shipped_at))
        .where(tracking_updates.c.status.in_(TRACKING_OPEN), tracking_updates.c.channel.in_(names))
        .group_by(tracking_updates.c.channel, tracking_updates.c.status),
        INVENTORY: sa.select(inventory_pushes.c.channel, inventory_pushes.c.status, sa.func.count(),
                             sa.func.min(inventory_pushes.c.updated_at))
        .where(inventory_pushes.c.status.in_(INVENTORY_OPEN), inventory_pushes.c.channel.in_(names))
        .group_by(inventory_pushes.c.channel, inventory_pushes.c.status),
    }
    found: dict[tuple[str, str], dict] = {}
    for flow, query in queries.items():
        for channel, code, count, oldest in connection.execute(query):
            entry = found.setdefault((channel, flow), {"open_errors": {}, "oldest_open_error_at": None})
            entry["open_errors"][code] = int(count)
            if oldest is not None and (entry["oldest_open_error_at"] is None or oldest < entry["oldest_open_error_at"]):
                entry["oldest_open_error_at"] = oldest
    return found


STYLE = {HEALTHY: "green", DISABLED: "dim", STALE: "yellow", DEGRADED: "yellow", RATE_LIMITED: "yellow",
         AUTH_FAILED: "bold red", PERMISSION_DENIED: "bold red", FAILING: "bold red", MISCONFIGURED: "bold red"}


def print_health(rows: list[dict]) -> None:
    """A table for the terminal (rich fits it to the width; piped, 120 columns), then what to do for each row that
    is not healthy."""
    import sys

    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 120)
    table = Table(title="channel health", box=box.SIMPLE_HEAD)
    for column in ("channel", "flow", "status", "last success"):
        table.add_column(column, no_wrap=True)
    for column in ("fails", "calls 1h", "429", "5xx", "p95 ms", "budget"):
        table.add_column(column, justify="right")
    table.add_column("open")
    for row in rows:
        table.add_row(
            escape(row["channel"]), row["flow"], f"[{STYLE[row['status']]}]{row['status']}[/]",
            f"{row['last_success_at']:%m-%d %H:%M}" if row["last_success_at"] else "never",
            str(row["consecutive_failures"]), str(row["calls_1h"]), str(row["http_429_1h"]), str(row["http_5xx_1h"]),
            "" if row["p95_latency_ms_1h"] is None else f"{row['p95_latency_ms_1h']:.0f}",
            "" if row["budget_used_1h"] is None else f"{row['budget_used_1h']:.0%}",
            str(sum(row["open_errors"].values())),
        )
    console.print(table)
    for row in rows:
        if row["status"] not in (HEALTHY, DISABLED):
            console.print(f"[{STYLE[row['status']]}]{escape(row['channel'])} {row['flow']} {row['status']}[/]: "
                          f"{escape(row['reason'] or '')}", highlight=False)
    opened = [row for row in rows if row["open_errors"]]
    if opened:
        console.print("open problems by code (`sync-pipeline why` explains an order):")
        for row in opened:
            console.print(f"  {escape(row['channel'])} {row['flow']}: " + escape(", ".join(
                f"{code} {n}" for code, n in sorted(row["open_errors"].items()))), highlight=False)
