"""`normalized_orders`: one canonical row per channel order, behind the Pandera gate."""

import time
from collections import Counter
from datetime import date, datetime, timezone

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from sync_pipeline.channels import ORDER_MAPPINGS
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ASSET_OWNERS
from sync_pipeline.db.resource import DatabaseResource, table_metadata
from sync_pipeline.db.tables import order_lines, order_sync_errors, orders, raw_orders
from sync_pipeline.db.writes import lock_partitions, records
from sync_pipeline.orders.normalize import ERROR_CODES, STAGE, NormalizeResult, normalize
from sync_pipeline.orders.raw_orders import RAW_ORDERS
from sync_pipeline.orders.status_map import load_status_map
from sync_pipeline.orders.sync_errors import record_errors
from sync_pipeline.partitions import PartitionOutcome, judged, merged, partition_counts

NORMALIZED_ORDERS = dg.AssetKey("normalized_orders")
CONSERVATION_CHECK = "every_raw_order_accounted_for"
GATE_CHECK = "pandera_gate"
# A quarantined order is the gate working; the check warns only on what a person should look at: a share of the
# run's orders above this, or a code the channel never had before.
GATE_WARN_SHARE = 0.1


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
    """Per day, by order id: raw ids = normalized + filtered + quarantined ids, each id once and under the day its
    raw rows are in, so a wrong or doubled id cannot balance a missing one. An unbalanced day lists (the first 100
    of each) its raw ids not accounted for there (`missing`), ids accounted for there without raw rows there
    (`extra`), ids both normalized and held or held under two days (`twice`), and raw ids also landed, normalized
    or held under a day outside these (`elsewhere`, with that day)."""
    columns = ["external_order_id", "partition_date"]
    sample, chunk_size = 100, 500  # ids listed per problem and day; raw ids per IN list

    def ids(table, *where):
        query = sa.select(table.c.external_order_id, table.c.partition_date).distinct().where(table.c.channel == channel, *where)
        if table is order_sync_errors:
            query = query.where(table.c.stage == STAGE, table.c.resolved_at.is_(None))
        return query

    def read(query) -> pd.DataFrame:
        return pd.DataFrame(connection.execute(query).all(), columns=columns)

    raw, normalized, held = (read(ids(t, t.c.partition_date.in_(days))) for t in (raw_orders, orders, order_sync_errors))
    raw_ids = sorted(raw["external_order_id"].unique())
    outside = [
        read(sa.union(*(ids(t, t.c.external_order_id.in_(chunk), t.c.partition_date.not_in(days))
                        for t in (raw_orders, orders, order_sync_errors))))
        for chunk in (raw_ids[i:i + chunk_size] for i in range(0, len(raw_ids), chunk_size))
    ]
    accounted = pd.concat([normalized, held], ignore_index=True)
    both = raw.merge(accounted.drop_duplicates(), on=columns, how="outer", indicator=True)
    other_days = pd.concat(outside, ignore_index=True) if outside else pd.DataFrame(columns=columns)
    elsewhere = raw.merge(other_days, on="external_order_id", suffixes=("", "_other"))
    problems = {
        "missing": both[both["_merge"] == "left_only"],
        "extra": both[both["_merge"] == "right_only"],
        "twice": accounted[accounted.duplicated("external_order_id", keep=False)].drop_duplicates(),
        "elsewhere": elsewhere.assign(
            external_order_id=elsewhere["external_order_id"] + " (" + elsewhere["partition_date_other"].astype(str) + ")"
        ),
    }
    listed = {
        name: frame.sort_values(columns).groupby("partition_date").head(sample)
        .groupby("partition_date")["external_order_id"].agg(list)
        for name, frame in problems.items()
    }
    counts = {name: frame.groupby("partition_date").size() for name, frame in (("raw", raw), ("normalized", normalized), ("held", held))}
    return [
        {"channel": channel, "date": str(day), "raw": int(counts["raw"].get(day, 0)),
         "normalized": int(counts["normalized"].get(day, 0)), "filtered_or_quarantined": int(counts["held"].get(day, 0)),
         **{name: found.get(day, []) for name, found in listed.items()}}
        for day in days
        if any(day in found.index for found in listed.values())
    ]


def partition_figures(connection: sa.Connection, by_channel: dict[str, list[date]]) -> dict:
    """Each partition's own: raw orders, normalized orders and lines, and its open normalize errors by code."""
    open_errors = (order_sync_errors.c.stage == STAGE) & order_sync_errors.c.resolved_at.is_(None)
    distinct_orders = sa.func.count(sa.distinct(order_sync_errors.c.external_order_id))
    return merged(
        partition_counts(connection, raw_orders, by_channel, {"raw_orders": sa.func.count(sa.distinct(raw_orders.c.external_order_id))}),
        partition_counts(connection, orders, by_channel, {"normalized": sa.func.count(), "dagster/row_count": sa.func.count()}),
        partition_counts(connection, order_lines, by_channel, {"lines": sa.func.count()}),
        partition_counts(connection, order_sync_errors, by_channel, {"filtered": distinct_orders},
                         where=open_errors & (order_sync_errors.c.error_code == "FILTERED")),
        partition_counts(connection, order_sync_errors, by_channel, {"quarantined": distinct_orders},
                         where=open_errors & (order_sync_errors.c.error_code != "FILTERED")),
        partition_counts(connection, order_sync_errors, by_channel, {"errors": sa.func.count()}, where=open_errors,
                         group=(order_sync_errors.c.error_code, ERROR_CODES)),
    )


def normalized_orders_spec() -> tuple[dg.AssetSpec, list[dg.AssetCheckSpec]]:
    """The asset and its checks, for the order_flow step (orders/order_flow.py) that materializes it."""
    return (
        dg.AssetSpec(NORMALIZED_ORDERS, deps=[RAW_ORDERS], group_name="orders", owners=ASSET_OWNERS,
                     metadata=table_metadata(orders), kinds={"pandas", "sql"}, skippable=True,
                     description="Canonical orders and lines; filtered and quarantined orders land in "
                                 "order_sync_errors with their fix."),
        [
            dg.AssetCheckSpec(CONSERVATION_CHECK, asset=NORMALIZED_ORDERS, blocking=True,
                              description="per day, raw order ids = normalized + filtered + quarantined ids, each once "
                                          "and under its own day; lists the ids that do not balance (a channel with "
                                          "such a day sends nothing to the warehouse in that run)"),
            dg.AssetCheckSpec(GATE_CHECK, asset=NORMALIZED_ORDERS,
                              description=f"orders that failed the Pandera contract, by error code: warns when more "
                                          f"than {GATE_WARN_SHARE:.0%} of the run's orders did, or a code is new for "
                                          "the channel (quarantining an order is the gate working)"),
        ],
    )


def normalize_orders(context: dg.AssetExecutionContext, by_channel: dict[str, list[date]], database: DatabaseResource,
                     channels: ChannelsResource) -> tuple[PartitionOutcome, set[str]]:
    """Normalize each channel's days behind the Pandera gate; also the channels with a day whose ids do not balance
    (every_raw_order_accounted_for blocks them from the warehouse)."""
    started = time.perf_counter()
    settings = channels.pipeline_config()
    engine = database.engine()
    totals: Counter = Counter()
    codes: Counter = Counter()
    unbalanced: list[dict] = []
    run_started = datetime.now(timezone.utc)
    for channel_name, days in by_channel.items():
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
    errors_by_code = {f"errors_{code}": codes.get(code, 0) for code in sorted(ERROR_CODES)}
    with engine.connect() as connection:
        new_codes = _new_codes(connection, list(by_channel), run_started)
        figures = partition_figures(connection, by_channel)
    share = totals["quarantined"] / totals["raw_orders"] if totals["raw_orders"] else 0.0
    where = judged(by_channel)
    checks = [
        dg.AssetCheckResult(
            asset_key=NORMALIZED_ORDERS, check_name=CONSERVATION_CHECK, passed=not unbalanced,
            metadata={**where, "unbalanced_days": len(unbalanced), "detail": dg.MetadataValue.json(unbalanced)},
        ),
        dg.AssetCheckResult(
            asset_key=NORMALIZED_ORDERS, check_name=GATE_CHECK, passed=share <= GATE_WARN_SHARE and not new_codes,
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(filter(None, [
                f"{share:.0%} of the orders were quarantined" if share > GATE_WARN_SHARE else None,
                f"new error codes: {', '.join(new_codes)}" if new_codes else None])) or None,
            metadata={**where, "quarantined": totals["quarantined"], "quarantined_share": round(share, 4),
                      "new_codes": len(new_codes), **errors_by_code},
        ),
    ]
    metadata = {**totals, **errors_by_code, "seconds": round(time.perf_counter() - started, 3),
                "run_partitions": sum(len(days) for days in by_channel.values())}
    return PartitionOutcome(NORMALIZED_ORDERS, figures, metadata, checks), {u["channel"] for u in unbalanced}


def _new_codes(connection, channels: list[str], since: datetime) -> list[str]:
    """Quarantine codes one of these channels met for the first time in this run."""
    first_seen = sa.select(order_sync_errors.c.channel, order_sync_errors.c.error_code,
                           sa.func.min(order_sync_errors.c.first_seen_at).label("first")).where(
        order_sync_errors.c.channel.in_(channels), order_sync_errors.c.stage == STAGE,
        order_sync_errors.c.error_code != "FILTERED",
    ).group_by(order_sync_errors.c.channel, order_sync_errors.c.error_code)
    return sorted({f"{row.channel}:{row.error_code}" for row in connection.execute(first_seen) if row.first >= since})
