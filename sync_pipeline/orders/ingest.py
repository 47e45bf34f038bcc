"""Fetch a channel's orders for some UTC days and land every new payload version in raw_orders."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import orjson
import sqlalchemy as sa

from sync_pipeline.channels import CONNECTORS, ChannelConnector, RawOrder
from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.config import ChannelConfig, ConfigError
from sync_pipeline.db.tables import api_calls, ingest_cursors, raw_orders
from sync_pipeline.db.writes import insert_new, upsert
from sync_pipeline.orders.csv_import import CsvImportError, imports_dir, read_exports

# Re-read this much before the cursor: channel clocks drift and updates commit late.
CURSOR_OVERLAP = timedelta(minutes=10)


class HistoryLimitError(Exception):
    """The channel's API no longer serves orders that old."""


@dataclass
class ChannelIngest:
    """What one channel's fetch did, for metadata, summaries and error reports."""

    channel: str
    dates: list[date]
    log: ApiCallLog
    fetched: int = 0
    landed: int = 0
    csv_orders: int = 0
    incremental: bool = False
    seconds: float = 0.0
    error: str | None = None


def payload_row(
    channel: str, order: RawOrder, run_id: str, fetched_at: datetime, source: str, filed_under: date | None = None
) -> dict:
    """`filed_under`: the day an order whose creation time is unreadable is kept under (placed_at stays NULL)."""
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


def _updated_since(connection: sa.Connection, channel: str, days: list[date]) -> datetime | None:
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
    result = ChannelIngest(channel.name, days, ApiCallLog(channel.name))
    requested = set(days)
    try:
        rows, api_days, sync_started = _fetch_rows(
            engine, channel, days, run_id, result, full_resync, connector_factory, today
        )
        with engine.begin() as connection:
            result.landed = insert_new(
                connection,
                raw_orders,
                [r for r in rows if r["partition_date"] in requested],
                ["channel", "external_order_id", "payload_sha256"],
            )
            # The sync start is the high-water mark: whatever changes after it is fetched next time.
            cursors = [
                {"channel": channel.name, "partition_date": d, "cursor_updated_at": sync_started,
                 "last_synced_at": datetime.now(timezone.utc), "last_run_id": run_id}
                for d in api_days
            ]
            upsert(connection, ingest_cursors, cursors, ["channel", "partition_date"])
    except (ChannelError, ConfigError, CsvImportError, HistoryLimitError) as exc:
        result.error = str(exc)
    finally:
        if result.log.calls:
            with engine.begin() as connection:
                connection.execute(api_calls.insert(), result.log.rows(run_id))
        result.seconds = time.perf_counter() - started
    return result


def filed_days(engine: sa.Engine, channel: str, external_ids: list[str]) -> dict[str, date]:
    """Where orders with an unreadable creation time were filed before, so every version stays in one partition;
    a first sighting is filed under the first day of the window the channel returned it for."""
    if not external_ids:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(raw_orders.c.external_order_id, sa.func.min(raw_orders.c.partition_date))
            .where(raw_orders.c.channel == channel, raw_orders.c.external_order_id.in_(external_ids))
            .group_by(raw_orders.c.external_order_id)
        ).all()
    return dict(rows)


def _history_floor(channel: ChannelConfig, today: date | None) -> date:
    return (today or datetime.now(timezone.utc).date()) - timedelta(days=channel.history_days)


def _fetch_rows(
    engine, channel, days, run_id, result, full_resync, connector_factory, today
) -> tuple[list[dict], list[date], datetime]:
    """Payload rows from the channel's CSV exports and its API, the days the API covered, and when it began."""
    floor = _history_floor(channel, today)
    api_days = [d for d in days if d >= floor]
    old_days = [d for d in days if d < floor]
    fetched_at = sync_started = datetime.now(timezone.utc)
    rows: list[dict] = []

    connector_class = CONNECTORS[channel.type]
    exports = read_exports(channel, connector_class.csv_export)
    if old_days and not exports:
        raise HistoryLimitError(
            f"channel {channel.name!r}: the {channel.type} API keeps {channel.history_days} days of order "
            f"history, so {old_days[0]}..{old_days[-1]} (before {floor}) cannot be fetched. Export those "
            f"orders from the channel as CSV into {imports_dir(channel)}/ and materialize these partitions again."
        )
    for file_name, orders in exports.items():
        result.csv_orders += len(orders)
        rows.extend(payload_row(channel.name, o, run_id, fetched_at, f"csv:{file_name}") for o in orders)

    if api_days:
        factory = connector_factory or (lambda cfg, log: connector_class(cfg, log))
        connector = factory(channel, result.log)
        with engine.connect() as connection:
            updated_since = None if full_resync else _updated_since(connection, channel.name, api_days)
        result.incremental = updated_since is not None
        placed_from, placed_to = _window(api_days)
        orders = connector.fetch_orders(placed_from, placed_to, updated_since)
        result.fetched = len(orders)
        undated = filed_days(engine, channel.name, [o.external_order_id for o in orders if o.placed_at is None])
        rows.extend(
            payload_row(channel.name, o, run_id, fetched_at, "api", undated.get(o.external_order_id, api_days[0]))
            for o in orders
        )
    return rows, api_days, sync_started
