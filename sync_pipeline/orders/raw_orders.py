"""`raw_orders`: every order payload, verbatim, per channel and UTC day of placement."""

import time
from datetime import date

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ASSET_OWNERS
from sync_pipeline.db.resource import DatabaseResource, table_metadata
from sync_pipeline.db.tables import raw_orders as raw_orders_table
from sync_pipeline.orders.ingest import ChannelIngest, ingest_channel
from sync_pipeline.partitions import PartitionOutcome, judged, partition_counts
from sync_pipeline.webhooks.inbox import TRIGGER_TAG, land_deliveries

RAW_ORDERS = dg.AssetKey("raw_orders")
LANDED_CHECK = "every_requested_day_landed"


def ingest_metadata(results: list[ChannelIngest], seconds: float) -> dict[str, float | int]:
    """Numeric counters, so the UI can plot each one over time."""
    logs = [r.log for r in results]
    return {
        "orders_fetched": sum(r.fetched for r in results),
        "orders_landed": sum(r.landed for r in results),
        "csv_orders": sum(r.csv_orders for r in results),
        "channels": len(results),
        "channels_failed": sum(1 for r in results if r.error),
        "partitions_failed": sum(len(r.failed_days) for r in results),
        "pages": sum(log.pages for log in logs),
        "api_calls": sum(len(log.calls) for log in logs),
        "retries": sum(log.retries for log in logs),
        "http_429": sum(log.http_429 for log in logs),
        "window_splits": sum(log.window_splits for log in logs),
        "throttled_seconds": round(sum(log.throttled_seconds for log in logs), 3),
        "seconds": round(seconds, 3),
        "run_partitions": sum(len(r.dates) for r in results),  # what the run-wide figures above cover
    }


def partition_figures(engine: sa.Engine, results: list[ChannelIngest], run_id: str) -> dict:
    """Each partition's own: its orders and payload versions, and the versions this run landed in it."""
    with engine.connect() as connection:
        return partition_counts(connection, raw_orders_table, {r.channel: r.dates for r in results}, {
            "orders": sa.func.count(sa.distinct(raw_orders_table.c.external_order_id)),
            "dagster/row_count": sa.func.count(),
            "orders_landed": sa.func.count().filter(raw_orders_table.c.run_id == run_id),
        })


def landed_check(results: list[ChannelIngest]) -> dg.AssetCheckResult:
    """Did every channel and day the run asked for land? Names the channel, the days that did not, and the fix."""
    failed = [{"channel": r.channel, "days": f"{r.failed_days[0]}..{r.failed_days[-1]}", "partitions": len(r.failed_days),
               "error": r.error} for r in results if r.failed_days]
    return dg.AssetCheckResult(
        asset_key=RAW_ORDERS, check_name=LANDED_CHECK, passed=not failed,
        description="; ".join(f"{f['channel']} {f['days']}: {f['error']}" for f in failed) or None,
        metadata={**judged({r.channel: r.dates for r in results}),
                  "partitions_requested": sum(len(r.dates) for r in results),
                  "partitions_failed": sum(f["partitions"] for f in failed),
                  "orders_fetched": sum(r.fetched for r in results), "orders_landed": sum(r.landed for r in results),
                  "detail": dg.MetadataValue.json(failed)},
    )


def raw_orders_spec() -> tuple[dg.AssetSpec, dg.AssetCheckSpec]:
    """The asset and its check, for the order_flow step (orders/order_flow.py) that materializes it."""
    return (
        dg.AssetSpec(RAW_ORDERS, group_name="orders", owners=ASSET_OWNERS, metadata=table_metadata(raw_orders_table),
                     kinds={"api", "sql"}, skippable=True,
                     description="Order payloads exactly as each channel sent them; a new row only when an order's "
                                 "payload changed."),
        dg.AssetCheckSpec(
            LANDED_CHECK, asset=RAW_ORDERS,
            description="every channel and day the run asked for landed, from the API or a CSV export; when not, "
                        "names the channel, the days and the fix (a refused key, days older than the API keeps)"),
    )


def land_orders(context: dg.AssetExecutionContext, by_channel: dict[str, list[date]], full_resync: bool,
                database: DatabaseResource, channels: ChannelsResource) -> PartitionOutcome:
    """Fetch and land each channel's days. A channel that fails (a refused key) or days that cannot be had (older
    than the API keeps, with no CSV export) are left out of the outcome's partitions, with the error and its fix."""
    started = time.perf_counter()
    settings = channels.pipeline_config()
    engine = database.engine()
    results = []
    from_webhooks = context.run.tags.get(TRIGGER_TAG) == "webhook"
    for channel_name, days in by_channel.items():
        channel = settings.channel(channel_name)
        if from_webhooks:
            # The deliveries' orders, from their bodies or read by id: no list fetch over the cursors.
            result = land_deliveries(engine, channel, days, context.run.run_id,
                                     connector_factory=lambda cfg, log: channels.connector(cfg, log))
            results.append(result)
            context.log.info(f"{channel_name} {days[0]}..{days[-1]} (webhooks): {result.fetched} orders "
                             f"delivered, landed {result.landed} new payload versions, "
                             f"{len(result.log.calls)} API calls")
            continue
        result = ingest_channel(
            engine,
            channel,
            days,
            context.run.run_id,
            full_resync=full_resync,
            connector_factory=lambda cfg, log: channels.connector(cfg, log),
        )
        results.append(result)
        mode = "full" if not result.incremental else "incremental"
        context.log.info(
            f"{channel_name} {days[0]}..{days[-1]} ({mode}): fetched {result.fetched}, landed {result.landed} "
            f"new payload versions, {result.csv_orders} from CSV exports, {len(result.log.calls)} API calls"
        )
    figures = partition_figures(engine, results, context.run.run_id)
    for result in results:
        for day in result.failed_days:
            figures.pop((result.channel, day), None)
    return PartitionOutcome(RAW_ORDERS, figures, ingest_metadata(results, time.perf_counter() - started),
                            [landed_check(results)], [r.error for r in results if r.error])
