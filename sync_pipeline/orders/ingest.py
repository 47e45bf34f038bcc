"""Fetch a channel's orders for some UTC days and land every new payload version in raw_orders."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import orjson
import sqlalchemy as sa

from sync_pipeline.channels import CONNECTORS, ChannelConnector, RawOrder
from sync_pipeline.channels.exports import CsvImportError, ExportFile, imports_dir
from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.config import ChannelConfig, ConfigError
from sync_pipeline.db.tables import ingest_cursors, raw_orders
from sync_pipeline.db.writes import insert_new, lock_partitions, log_api_calls, upsert
from sync_pipeline.operations.attempts import ORDERS, record_attempt
from sync_pipeline.orders.csv_import import imported, imported_span, new_exports, record_imports

# Re-read this much before the cursor: channel clocks drift and updates commit late.
CURSOR_OVERLAP = timedelta(minutes=10)
# Order ids per IN list when looking up homes: well under SQLite's and Postgres' bound-parameter limits.
HOME_LOOKUP_CHUNK = 500
VERSION_KEY = ["channel", "external_order_id", "payload_sha256"]  # raw_orders' unique key: one row per version


@dataclass
class ChannelIngest:
    """What one channel's fetch did, for metadata, summaries and error reports."""

    channel: str
    dates: list[date]
    log: ApiCallLog
    fetched: int = 0
    landed: int = 0
    csv_orders: int = 0
    files: list[ExportFile] = field(default_factory=list)  # export files this run imported (each once, ever)
    incremental: bool = False
    seconds: float = 0.0
    error: str | None = None
    # Requested days that did not land: all of them when the channel failed, else the days older than the API
    # keeps that no CSV export covers. The others landed, and their partitions can flow on.
    failed_days: list[date] = field(default_factory=list)


def payload_row(
    channel: str, order: RawOrder, run_id: str, fetched_at: datetime, source: str, filed_under: date | None = None
) -> dict:
    """A version under the day the fetch found it for: its UTC day of placement, or `filed_under` when its
    creation time is unreadable (placed_at stays NULL). `at_home` then moves it to its order's home."""
    text = orjson.dumps(order.payload).decode("utf-8")
    return {
        "channel": channel,
        "partition_date": order.placed_at.astimezone(timezone.utc).date() if order.placed_at else filed_under,
        "external_order_id": order.external_order_id,
        "payload": text,
        "payload_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "channel_updated_at": order.updated_at or fetched_at,
        "placed_at": order.placed_at,
        "fetched_at": fetched_at,
        "run_id": run_id,
        "source": source,
    }


def _window(days: list[date]) -> tuple[datetime, datetime]:
    start = datetime.combine(days[0], datetime.min.time(), tzinfo=timezone.utc)
    return start, datetime.combine(days[-1], datetime.min.time(), tzinfo=timezone.utc) + timedelta(days=1)


def updated_since(connection: sa.Connection, channel: str, days: list[date]) -> datetime | None:
    """The oldest cursor of the days, less the overlap; None (a full fetch) if any day has none yet."""
    rows = connection.execute(
        sa.select(ingest_cursors.c.cursor_updated_at).where(
            ingest_cursors.c.channel == channel, ingest_cursors.c.partition_date.in_(days)
        )
    ).scalars().all()
    if len(rows) < len(days) or any(r is None for r in rows):
        return None
    return min(rows) - CURSOR_OVERLAP


def ingest_channel(
    engine: sa.Engine,
    channel: ChannelConfig,
    days: list[date],
    run_id: str,
    *,
    full_resync: bool = False,
    connector_factory: Callable[[ChannelConfig, ApiCallLog], ChannelConnector] | None = None,
    today: date | None = None,
) -> ChannelIngest:
    """Land the channel's orders placed on `days`. All or nothing per channel; API calls are always logged."""
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc)
    result = ChannelIngest(channel.name, days, ApiCallLog(channel.name))
    requested = set(days)
    failure: Exception | None = None
    try:
        rows, api_days, sync_started = _fetch_rows(
            engine, channel, days, run_id, result, full_resync, connector_factory, today
        )
        with engine.begin() as connection:
            lock_partitions(connection, f"ingest:{channel.name}")
            # A file another run imported meanwhile is left to it (the lock makes this the last word on Postgres).
            taken = imported(connection, channel.name, [f.checksum for f in result.files])
            result.files = [f for f in result.files if f.checksum not in taken]
            sources = {f.source for f in result.files}
            # The requested days choose which orders of the API land, an export file all its orders (it is read once);
            # their homes choose where.
            found = [r for r in rows if r["partition_date"] in requested and r["source"] == "api" or r["source"] in sources]
            result.landed = insert_new(connection, raw_orders, at_home(connection, channel.name, found), VERSION_KEY)
            record_imports(connection, channel.name, result.files, run_id, datetime.now(timezone.utc), days[-1])
            result.csv_orders = sum(len(f.orders) for f in result.files)
            # The sync start is the high-water mark: whatever changes after it is fetched next time.
            cursors = [
                {"channel": channel.name, "partition_date": d, "cursor_updated_at": sync_started,
                 "last_synced_at": datetime.now(timezone.utc), "last_run_id": run_id}
                for d in api_days
            ]
            upsert(connection, ingest_cursors, cursors, ["channel", "partition_date"])
    except (ChannelError, ConfigError, CsvImportError) as exc:
        result.error = str(exc)
        result.failed_days = list(days)
        failure = exc
    finally:
        log_api_calls(engine, result.log, run_id)
        result.seconds = time.perf_counter() - started
    record_attempt(engine, channel.name, ORDERS, run_id, started_at, failure)
    return result


def homes(connection: sa.Connection, channel: str, external_ids: list[str]) -> dict[str, date]:
    """Each landed order's home: the partition it was first filed in (the earliest day of its versions)."""
    ids = sorted(set(external_ids))
    found: dict[str, date] = {}
    for start in range(0, len(ids), HOME_LOOKUP_CHUNK):
        found.update(connection.execute(
            sa.select(raw_orders.c.external_order_id, sa.func.min(raw_orders.c.partition_date))
            .where(raw_orders.c.channel == channel, raw_orders.c.external_order_id.in_(ids[start:start + HOME_LOOKUP_CHUNK]))
            .group_by(raw_orders.c.external_order_id)
        ).all())
    return found


def at_home(connection: sa.Connection, channel: str, rows: list[dict]) -> list[dict]:
    """The rows moved to their orders' homes, so every version of an order lands in one partition whatever its
    creation time says now (an edit across midnight, a date fixed later). A first sighting's home is the earliest
    day it was found for in this batch. On Postgres the channel's ingest lock, held until the transaction ends,
    makes concurrent runs agree on a new order's home."""
    lock_partitions(connection, f"ingest:{channel}")
    home: dict[str, date] = {}
    for row in rows:
        key = row["external_order_id"]
        home[key] = min(home.get(key, row["partition_date"]), row["partition_date"])
    home.update(homes(connection, channel, list(home)))
    return [dict(row, partition_date=home[row["external_order_id"]]) for row in rows]


def landed_payloads(engine: sa.Engine, channel: str) -> Callable[[list[str]], dict[str, list]]:
    """A connector's `landed`: the payload versions raw_orders holds for some of the channel's orders, so a version
    already landed is not read in full again (insert-or-skip would have dropped it anyway)."""
    def lookup(external_ids: list[str]) -> dict[str, list]:
        ids, found = sorted(set(external_ids)), defaultdict(list)
        with engine.connect() as connection:
            for start in range(0, len(ids), HOME_LOOKUP_CHUNK):
                for order_id, payload in connection.execute(
                    sa.select(raw_orders.c.external_order_id, raw_orders.c.payload).where(
                        raw_orders.c.channel == channel,
                        raw_orders.c.external_order_id.in_(ids[start:start + HOME_LOOKUP_CHUNK]))):
                    found[order_id].append(orjson.loads(payload))
        return found

    return lookup


def history_floor(channel: ChannelConfig, today: date | None = None) -> date:
    """The first UTC day the channel's API still serves. A channel counts its history in its own days, so east of
    UTC, late in the UTC day, its today is already tomorrow: the later of the two todays counts."""
    if today is None:
        now = datetime.now(timezone.utc)
        today = max(now.date(), now.astimezone(channel.tz).date())
    return today - timedelta(days=channel.history_days)


def _fetch_rows(
    engine, channel, days, run_id, result, full_resync, connector_factory, today
) -> tuple[list[dict], list[date], datetime]:
    """Payload rows from the channel's CSV exports and its API, the days the API covered, and when it began."""
    floor = history_floor(channel, today)
    api_days = [d for d in days if d >= floor]
    old_days = [d for d in days if d < floor]
    fetched_at = sync_started = datetime.now(timezone.utc)
    rows: list[dict] = []

    connector_class = CONNECTORS[channel.type]
    with engine.connect() as connection:
        result.files = new_exports(connection, channel, connector_class.csv_export)
        span = imported_span(connection, channel.name)
    # An old day can be had when it lies within the span of the imported exports' orders; the others fail alone.
    exported = sorted({d for f in result.files for d in f.days} | set(span or ()))
    missing = [d for d in old_days if not exported or not exported[0] <= d <= exported[-1]]
    if missing:
        result.failed_days = missing
        # The API no longer serves these days: they fail on their own, the rest of the range lands.
        result.error = (
            f"channel {channel.name!r}: the {channel.type} API keeps {channel.history_days} days of order "
            f"history, so {len(missing)} day(s) {missing[0]}..{missing[-1]} (before {floor}) cannot be fetched and no "
            f"CSV export covers them. Export those orders from the channel as CSV into {imports_dir(channel)}/ and "
            f"materialize these partitions again."
        )
    for export in result.files:
        rows.extend(payload_row(channel.name, o, run_id, fetched_at, export.source) for o in export.orders)

    if api_days:
        factory = connector_factory or (lambda cfg, log: connector_class(cfg, log))
        connector = factory(channel, result.log)
        if not full_resync:  # a full resync reads every order in full
            connector.landed = landed_payloads(engine, channel.name)
        with engine.connect() as connection:
            since = None if full_resync else updated_since(connection, channel.name, api_days)
        result.incremental = since is not None
        placed_from, placed_to = _window(api_days)
        orders = connector.fetch_orders(placed_from, placed_to, since)
        result.fetched = len(orders)
        # An undated order is found for the window's first day; a known one then goes back to its home.
        rows.extend(payload_row(channel.name, o, run_id, fetched_at, "api", api_days[0]) for o in orders)
    return rows, api_days, sync_started
