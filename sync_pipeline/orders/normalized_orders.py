"""`normalized_orders`: one canonical row per channel order, behind the Pandera gate."""

import time
from collections import Counter
from datetime import date, datetime, timezone

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from sync_pipeline.channels import ORDER_MAPPINGS
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import order_lines, order_sync_errors, orders, raw_orders
from sync_pipeline.db.writes import lock_partitions, records
from sync_pipeline.orders.normalize import STAGE, NormalizeResult, normalize
from sync_pipeline.orders.status_map import load_status_map
from sync_pipeline.orders.sync_errors import record_errors
from sync_pipeline.partitions import dates_by_channel

CONSERVATION_CHECK = "every_raw_order_accounted_for"
GATE_CHECK = "pandera_gate"


def read_raw_versions(connection: sa.Connection, channel: str, days: list[date]) -> pd.DataFrame:
    query = sa.select(raw_orders).where(raw_orders.c.channel == channel, raw_orders.c.partition_date.in_(days))
    return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in raw_orders.columns])


def write_normalized(connection: sa.Connection, channel: str, days: list[date], result: NormalizeResult, seen_at: datetime) -> None:
    """Replace the partitions' orders and lines and record their errors, all in one transaction."""
    lock_partitions(connection, f"normalize:{channel}")
    for table in (order_lines, orders):
        connection.execute(table.delete().where(table.c.channel == channel, table.c.partition_date.in_(days)))
    if len(result.orders):
        connection.execute(orders.insert(), records(result.orders))
    if len(result.lines):
        connection.execute(order_lines.insert(), records(result.lines))
    record_errors(connection, STAGE, channel, days, result.errors, seen_at)


def conservation(connection: sa.Connection, channel: str, days: list[date]) -> list[dict]:
    """Per day: distinct raw orders against normalized + filtered + quarantined; unbalanced days only."""

    def per_day(table, count):
        query = sa.select(table.c.partition_date, count).where(table.c.channel == channel, table.c.partition_date.in_(days))
        if table is order_sync_errors:
            query = query.where(table.c.stage == STAGE, table.c.resolved_at.is_(None))
        return dict(connection.execute(query.group_by(table.c.partition_date)).all())

    raw = per_day(raw_orders, sa.func.count(sa.distinct(raw_orders.c.external_order_id)))
    normalized = per_day(orders, sa.func.count())
    held = per_day(order_sync_errors, sa.func.count(sa.distinct(order_sync_errors.c.external_order_id)))
    return [
        {"channel": channel, "date": str(day), "raw": raw.get(day, 0), "normalized": normalized.get(day, 0),
         "filtered_or_quarantined": held.get(day, 0)}
        for day in days
        if raw.get(day, 0) != normalized.get(day, 0) + held.get(day, 0)
    ]


def build_normalized_orders(partitions_def: dg.MultiPartitionsDefinition, raw: dg.AssetsDefinition) -> dg.AssetsDefinition:
    key = dg.AssetKey("normalized_orders")

    @dg.asset(
        key=key,
        deps=[raw],
        group_name="orders",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"pandas", "sql"},
        check_specs=[
            dg.AssetCheckSpec(CONSERVATION_CHECK, asset=key, blocking=True,
                              description="distinct raw orders = normalized + filtered + quarantined, per day"),
            dg.AssetCheckSpec(GATE_CHECK, asset=key,
                              description="orders that failed the Pandera contract, by error code"),
        ],
    )
    def normalized_orders(context: dg.AssetExecutionContext, database: DatabaseResource, channels: ChannelsResource):
        """Canonical orders and lines; filtered and quarantined orders land in order_sync_errors with their fix."""
        started = time.perf_counter()
        settings = channels.pipeline_config()
        engine = database.engine()
        totals: Counter = Counter()
        codes: Counter = Counter()
        unbalanced: list[dict] = []
        for channel_name, days in dates_by_channel(context).items():
            channel = settings.channel(channel_name)
            seen_at = datetime.now(timezone.utc)
            with engine.connect() as connection:
                raw = read_raw_versions(connection, channel_name, days)
            result = normalize(raw, channel, ORDER_MAPPINGS[channel.type], load_status_map(channel), context.run.run_id, seen_at)
            with engine.begin() as connection:
                write_normalized(connection, channel_name, days, result, seen_at)
                unbalanced += conservation(connection, channel_name, days)
            totals.update(raw_orders=result.raw_orders, normalized=result.normalized,
                          filtered=result.filtered, quarantined=result.quarantined, lines=len(result.lines))
            codes.update(result.errors["error_code"])
            context.log.info(
                f"{channel_name} {days[0]}..{days[-1]}: {result.raw_orders} raw -> {result.normalized} normalized, "
                f"{result.filtered} filtered, {result.quarantined} quarantined"
            )
        errors_by_code = {f"errors_{code}": count for code, count in sorted(codes.items()) if code != "FILTERED"}
        return dg.MaterializeResult(
            metadata={**totals, **errors_by_code, "seconds": round(time.perf_counter() - started, 3)},
            check_results=[
                dg.AssetCheckResult(
                    check_name=CONSERVATION_CHECK, passed=not unbalanced,
                    metadata={"unbalanced_days": len(unbalanced), "detail": dg.MetadataValue.json(unbalanced)},
                ),
                dg.AssetCheckResult(
                    check_name=GATE_CHECK, passed=totals["quarantined"] == 0, severity=dg.AssetCheckSeverity.WARN,
                    metadata={"quarantined": totals["quarantined"], **errors_by_code},
                ),
            ],
        )

    return normalized_orders
