"""`order_completeness`: per channel and UTC day, the channel's own order count against the orders landed, with the
check `every_channel_order_landed` naming the short days, and `order_completeness_refetch`, the sensor that fetches a
short day again in full."""

import time
from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ASSET_OWNERS
from sync_pipeline.db.resource import DatabaseResource, table_metadata
from sync_pipeline.db.tables import order_completeness as completeness_table
from sync_pipeline.operations.attempts import ORDERS
from sync_pipeline.operations.completeness import NO_COUNT, SHORT, check_completeness, short_days
from sync_pipeline.orders.order_flow import order_flow_config
from sync_pipeline.orders.raw_orders import RAW_ORDERS
from sync_pipeline.partitions import dates_by_channel, judged, partition_key, sync_tags

COMPLETENESS = dg.AssetKey("order_completeness")
COUNT_FLOW = "completeness"  # the hourly count check runs in a queue lane of its own beside each channel's syncs
CHECK = "every_channel_order_landed"
SENSOR = "order_completeness_refetch"
# What the refetch runs: order_sync for the partition, ignoring its cursors (an incremental fetch asks only for orders
# updated since the last one, so an order it missed and that never changed would be missed again).
FULL_RESYNC = order_flow_config(full_resync=True)
REFETCH_INTERVAL_SECONDS = 120


def completeness_metadata(row: dict, seconds: float, api_calls: int) -> dict:
    """A partition's figures, numeric so the UI plots them (channel_count and missing only where the platform counts);
    seconds and api_calls are its channel's check in the run."""
    metadata: dict = {"landed": row["landed"], "status": row["status"], "reason": row["reason"],
                      "api_calls": api_calls, "seconds": round(seconds, 3)}
    if row["channel_count"] is not None:
        metadata.update(channel_count=row["channel_count"], missing=row["missing"])
    return metadata


def check_result(rows: list[dict], by_channel: dict[str, list[date]]) -> dg.AssetCheckResult:
    """Fails (WARN: the sensor repairs it; a day still short after its refetch needs a look) naming each short
    channel, day and how many orders are missing; its metadata names the channels and days judged (`by_channel`)."""
    short = [r for r in rows if r["status"] == SHORT]
    if short:
        description = "; ".join(
            f"{r['channel']} {r['partition_date']}: {r['missing']} of the {r['channel_count']} orders the channel "
            f"counts have not landed ({r['landed']} landed)" for r in short
        ) + f". {SENSOR} fetches these days again in full."
    else:
        description = "; ".join(
            f"{r['channel']} {r['partition_date']}: " + (
                f"not counted: {r['reason']}" if r["status"] == NO_COUNT
                else f"all {r['channel_count']} orders the channel counts landed") for r in rows
        )
    return dg.AssetCheckResult(
        check_name=CHECK, asset_key=COMPLETENESS, passed=not short, severity=dg.AssetCheckSeverity.WARN,
        description=description or None,
        metadata={
            **judged(by_channel), "days_short": len(short), "missing": sum(r["missing"] for r in short),
            "days_no_count": sum(1 for r in rows if r["status"] == NO_COUNT),
            "short": dg.MetadataValue.json([
                {"channel": r["channel"], "day": str(r["partition_date"]), "channel_count": r["channel_count"],
                 "landed": r["landed"], "missing": r["missing"]} for r in short
            ]),
        },
    )


def build_order_completeness(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=COMPLETENESS,
        deps=[RAW_ORDERS],
        group_name="operations",
        owners=ASSET_OWNERS,
        metadata=table_metadata(completeness_table),
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"api", "sql"},
        # Each partition is materialized with its own figures (below); a channel that cannot be counted fails alone.
        output_required=False,
        check_specs=[dg.AssetCheckSpec(
            CHECK, asset=COMPLETENESS,
            description="every order the channel counts for the day (its own count: Shopify orders/count.json, "
                        "WooCommerce X-WP-Total, BigCommerce v2/orders/count, eBay total, Magento total_count) has "
                        "landed in raw_orders; warns naming the channel, the day and how many are missing (Amazon, "
                        "Takealot and Bob Shop give no count: NO_COUNT with the reason)",
        )],
    )
    def order_completeness(
        context: dg.AssetExecutionContext, database: DatabaseResource, channels: ChannelsResource,
    ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
        """Per channel and UTC day: the channel's own count of the orders placed that day (until the start of the
        day's last fetch), the distinct orders landed, missing = max(0, count - landed), and the status: COMPLETE,
        SHORT, or NO_COUNT with the platform and why. One row per day in order_completeness, replaced on every run."""
        started = time.perf_counter()
        settings = channels.pipeline_config()
        engine = database.engine()
        results = []
        for channel_name, days in dates_by_channel(context).items():
            result = check_completeness(
                engine, settings.channel(channel_name), days, context.run.run_id,
                connector_factory=lambda cfg, log: channels.connector(cfg, log),
            )
            results.append(result)
            for row in result.rows:
                log = context.log.warning if row["status"] == SHORT else context.log.info
                log(f"{row['channel']} {row['partition_date']}: {row['status']}: {row['reason']}")
        # One materialization per partition, each with its own figures (a range run's days differ); a channel that
        # could not be counted has none, and the step then fails naming it.
        for result in results:
            for row in result.rows:
                yield dg.AssetMaterialization(
                    asset_key=COMPLETENESS, partition=partition_key(row["channel"], row["partition_date"]),
                    metadata=completeness_metadata(row, result.seconds, len(result.log.calls)),
                )
        rows = [row for result in results for row in result.rows]
        if rows:
            # Judged: the run's channels and days, less any channel that could not be counted.
            yield check_result(rows, {result.channel: result.days for result in results if not result.error})
        failures = [result.error for result in results if result.error]
        if failures:
            raise dg.Failure(description="\n".join(failures))
        context.log.info(f"{len(rows)} days checked in {time.perf_counter() - started:.2f}s")

    return order_completeness


def refetch_requests(rows: list[dict], channels: set[str]) -> list[dg.RunRequest]:
    """A full refetch of each short day of a syncing channel. The run key names the partition with the count and
    the landed number it was judged on, so Dagster requests it once: a refetch that lands nothing leaves both as
    they were and is not asked again, and a channel whose count never matches is refetched only when something
    changed (an order landed, or the channel's count moved)."""
    return [
        dg.RunRequest(
            run_key=f"refetch:{row['channel']}|{row['partition_date']}:count={row['channel_count']}:landed={row['landed']}",
            partition_key=partition_key(row["channel"], row["partition_date"]),
            run_config=FULL_RESYNC,
            tags={"sync/reason": f"order_completeness SHORT: {row['missing']} missing",
                  **sync_tags(row["channel"], ORDERS)},
        )
        for row in rows if row["channel"] in channels
    ]


def build_completeness_sensor(order_sync_job) -> dg.SensorDefinition:
    @dg.sensor(name=SENSOR, job=order_sync_job, minimum_interval_seconds=REFETCH_INTERVAL_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING, description=(
                   "Days whose latest order_completeness is SHORT -> an order_sync run of the partition with "
                   "full_resync (every order of the day fetched again, ignoring the cursors), once per (partition, "
                   "channel count, landed): the run key names them, and Dagster never repeats a run key. Channels "
                   "with order_sync off are left alone."))
    def order_completeness_refetch(context: dg.SensorEvaluationContext, database: DatabaseResource,
                                   channels: ChannelsResource):
        syncing = {c.name for c in channels.pipeline_config().channels if c.order_sync}
        requests = refetch_requests(short_days(database.engine()), syncing)
        if not requests:
            return dg.SkipReason("no short day: every day counted has all the channel's orders")
        return dg.SensorResult(run_requests=requests)

    return order_completeness_refetch


def build_completeness_schedule(job, channels: list[str]) -> dg.ScheduleDefinition:
    """Hourly, yesterday and today of every syncing channel: the days a missed order is still worth fetching."""

    def ticks(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time
        for channel in channels:
            for day in (now.date() - timedelta(days=1), now.date()):
                key = partition_key(channel, day)
                yield dg.RunRequest(run_key=f"{key}@{now.isoformat()}", partition_key=key,
                                    tags=sync_tags(channel, COUNT_FLOW))

    return dg.ScheduleDefinition(
        name="order_completeness_hourly", cron_schedule="50 * * * *", execution_timezone="UTC", job=job,
        execution_fn=ticks, default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every hour, each syncing channel's own order count for yesterday and today against the orders "
                    "landed; the refetch sensor fetches a short day again.",
    )
