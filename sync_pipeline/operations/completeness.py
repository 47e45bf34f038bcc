"""Completeness at the source: per channel and UTC day, the channel's own count of the orders placed that day
(Shopify `orders/count.json`, WooCommerce `X-WP-Total`, BigCommerce `v2/orders/count`, eBay's `total`, Magento's
`total_count`) against the distinct orders landed in `raw_orders` for that partition. Amazon, Takealot and Bob Shop
(export files only, no order API) give no count: NO_COUNT, and why."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from sync_pipeline.channels import CONNECTORS, ChannelConnector
from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.config import ChannelConfig, ConfigError
from sync_pipeline.db.tables import ingest_cursors, order_completeness, raw_orders
from sync_pipeline.db.writes import log_api_calls, upsert
from sync_pipeline.orders.ingest import history_floor

COMPLETE, SHORT, NO_COUNT = "COMPLETE", "SHORT", "NO_COUNT"
STATUSES = (COMPLETE, SHORT, NO_COUNT)

@dataclass
class ChannelCompleteness:
    """One channel's check over some days: the rows written, its API calls, and its error if it could not count."""

    channel: str
    days: list[date]
    log: ApiCallLog
    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)


def count_windows(connection: sa.Connection, channel: str, days: list[date], now: datetime) -> dict[date, tuple]:
    """Per day, the UTC window to count: the day, ending at the start of its last successful fetch when that came
    earlier (an order placed since cannot have landed yet, so today is not short for orders still arriving), and
    never past now. Whole seconds: the platforms' time filters are."""
    cursors = dict(connection.execute(
        sa.select(ingest_cursors.c.partition_date, ingest_cursors.c.cursor_updated_at)
        .where(ingest_cursors.c.channel == channel, ingest_cursors.c.partition_date.in_(days))
    ).all())
    windows = {}
    for day in days:
        start = day_start(day)
        end = min(start + timedelta(days=1), now, cursors.get(day) or now).replace(microsecond=0)
        windows[day] = (start, max(start, end))
    return windows


def landed_by_day(connection: sa.Connection, channel: str, days: list[date]) -> dict[date, int]:
    """Distinct orders in raw_orders per partition (an order's versions all live in its home partition)."""
    return dict(connection.execute(
        sa.select(raw_orders.c.partition_date, sa.func.count(sa.distinct(raw_orders.c.external_order_id)))
        .where(raw_orders.c.channel == channel, raw_orders.c.partition_date.in_(days))
        .group_by(raw_orders.c.partition_date)
    ).all())


def counts(channel: ChannelConfig) -> bool:
    """Whether the channel's platform gives an order count at all (its connector overrides count_orders)."""
    return CONNECTORS[channel.type].count_orders is not ChannelConnector.count_orders


def judge(channel: ChannelConfig, day: date, window: tuple[datetime, datetime], landed: int,
          channel_count: int | None, reason: str | None = None) -> dict:
    """A row: COMPLETE when every order the channel counts landed, SHORT naming how many did not, NO_COUNT with
    `reason` (the platform and why) when there is no count to compare with."""
    start, end = window
    until = "the end of the day" if end == start + timedelta(days=1) else f"{end:%H:%M:%S} UTC (the last fetch's start)"
    if channel_count is None:
        status, missing = NO_COUNT, None
        reason = f"{reason}; {landed} orders landed"
    else:
        missing = max(0, channel_count - landed)
        status = SHORT if missing else COMPLETE
        counted = f"{channel.name} ({channel.type}) counts {channel_count} orders placed {day} (UTC) until {until}"
        repair = ("order_completeness_refetch fetches the day again in full" if channel.order_sync
                  else "order_sync is off for this channel, so nothing fetches it again")
        reason = f"{counted}, {landed} landed: {missing} missing; {repair}" if missing else f"{counted}, {landed} landed"
    return {
        "channel": channel.name, "partition_date": day, "channel_type": channel.type, "channel_count": channel_count,
        "landed": landed, "missing": missing, "status": status, "reason": reason, "counted_from": start,
        "counted_until": end,
    }


def no_count_reason(channel: ChannelConfig, day: date, today: date | None = None) -> str | None:
    """Why the day cannot be counted, or None when it can."""
    connector_class = CONNECTORS[channel.type]
    if not counts(channel):
        return f"{channel.type} gives no order count: {connector_class.no_count_reason}"
    floor = history_floor(channel, today)
    if day < floor:
        return (f"{day} is older than the {channel.type} API keeps ({channel.history_days} days, so before {floor}): "
                "its orders can only come from CSV exports, and the API's count does not reach back to it")
    return None


def check_completeness(
    engine: sa.Engine,
    channel: ChannelConfig,
    days: list[date],
    run_id: str | None,
    *,
    connector_factory: Callable[[ChannelConfig, ApiCallLog], ChannelConnector] | None = None,
    now: datetime | None = None,
) -> ChannelCompleteness:
    """Count the channel's orders for each day, compare with what landed, and upsert a row per day. The count calls
    are logged in api_calls whatever happens; a channel that cannot be counted (a refused key, no answer) writes
    nothing and keeps its error, naming the fix."""
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    result = ChannelCompleteness(channel.name, list(days), ApiCallLog(channel.name))
    try:
        with engine.connect() as connection:
            windows = count_windows(connection, channel.name, days, now)
        connector = None
        rows = []
        today = max(now.date(), now.astimezone(channel.tz).date())  # as history_floor counts the channel's days
        for day in days:
            reason = no_count_reason(channel, day, today)
            channel_count = None
            if reason is None:
                start, end = windows[day]
                if end <= start:
                    channel_count = 0  # nothing of the day can have been placed and fetched yet
                else:
                    if connector is None:
                        factory = connector_factory or (lambda cfg, log: CONNECTORS[cfg.type](cfg, log))
                        connector = factory(channel, result.log)
                    channel_count = connector.count_orders(start, end)
                    if channel_count is None:  # a connector that cannot count after all (e.g. an override)
                        reason = f"{channel.type} gives no order count: {connector.no_count_reason}"
            rows.append((day, channel_count, reason))
        checked_at = datetime.now(timezone.utc)
        with engine.begin() as connection:
            # Landed is read after the counts: an order landing meanwhile makes the day look fuller, never shorter.
            landed = landed_by_day(connection, channel.name, days)
            result.rows = [
                {**judge(channel, day, windows[day], landed.get(day, 0), channel_count, reason),
                 "checked_at": checked_at, "run_id": run_id}
                for day, channel_count, reason in rows
            ]
            upsert(connection, order_completeness, result.rows, ["channel", "partition_date"])
    except (ChannelError, ConfigError) as exc:
        result.error = str(exc)
        result.rows = []
    finally:
        log_api_calls(engine, result.log, run_id)
        result.seconds = time.perf_counter() - started
    return result


def short_days(engine: sa.Engine) -> list[dict]:
    """Every (channel, day) whose latest check is SHORT, oldest first."""
    query = (sa.select(order_completeness).where(order_completeness.c.status == SHORT)
             .order_by(order_completeness.c.channel, order_completeness.c.partition_date))
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]
