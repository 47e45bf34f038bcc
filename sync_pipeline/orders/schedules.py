"""Unattended order sync: each channel on its own interval, for today and yesterday (late updates); and the
continuation of a run that landed only some of its partitions."""

from collections import defaultdict
from datetime import date, timedelta

import dagster as dg

from sync_pipeline.config import ChannelConfig
from sync_pipeline.operations.attempts import ORDERS
from sync_pipeline.partitions import partition_key, run_requests, sync_tags


def cron_every(minutes: int) -> str:
    """A cron schedule for every `minutes` (hourly multiples above an hour, else daily)."""
    if minutes < 60:
        return f"*/{minutes} * * * *"
    if minutes % 60 == 0 and minutes < 24 * 60:
        return f"0 */{minutes // 60} * * *"
    return "0 0 * * *"


def build_order_sync_schedules(channels: list[ChannelConfig], job) -> list[dg.ScheduleDefinition]:
    schedules = []
    for channel in channels:
        if not channel.order_sync:
            continue

        def ticks(context: dg.ScheduleEvaluationContext, channel=channel):
            now = context.scheduled_execution_time
            for day in (now.date() - timedelta(days=1), now.date()):
                key = partition_key(channel.name, day)
                yield dg.RunRequest(run_key=f"{key}@{now.isoformat()}", partition_key=key,
                                    tags=sync_tags(channel.name, ORDERS))

        schedules.append(
            dg.ScheduleDefinition(
                name=f"{channel.name.replace('-', '_')}_order_sync",
                cron_schedule=cron_every(channel.sync_interval_minutes),
                execution_timezone="UTC",
                job=job,
                execution_fn=ticks,
                description=f"Fetch {channel.name}'s new and updated orders every {channel.sync_interval_minutes} min.",
            )
        )
    return schedules


RAW_ORDERS = dg.AssetKey("raw_orders")
DOWNSTREAM = [dg.AssetKey("normalized_orders"), dg.AssetKey("fulfilment_orders")]


def landed_but_not_carried_on(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[date]]:
    """Per channel, the days whose raw_orders partition the run materialized before its raw_orders step failed
    (so the steps after it did not run); nothing for a run whose ingest succeeded."""
    failures = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    if not any(record.event_log_entry.step_key == RAW_ORDERS.path[-1] for record in failures):
        return {}
    materialized: dict[dg.AssetKey, set[str]] = defaultdict(set)
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event and event.partition:
            materialized[event.asset_key].add(event.partition)
    by_channel: dict[str, list[date]] = defaultdict(list)
    for key in sorted(materialized[RAW_ORDERS] - materialized[DOWNSTREAM[-1]]):
        channel, day = key.split("|")  # channel x date keys: "<channel>|<YYYY-MM-DD>"
        by_channel[channel].append(date.fromisoformat(day))
    return dict(by_channel)


def continuation_requests(instance: dg.DagsterInstance, run_id: str) -> list[dg.RunRequest]:
    """One run per channel and run of consecutive days: normalized_orders and fulfilment_orders for the
    partitions a failed run landed (a multi-partition range run has to be a rectangle, so gaps split it)."""
    return [request for channel, days in landed_but_not_carried_on(instance, run_id).items()
            for request in run_requests(channel, days, run_id, asset_selection=DOWNSTREAM)]


def build_continuation_sensor(job) -> dg.SensorDefinition:
    @dg.run_failure_sensor(name="order_sync_continue", request_job=job, default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "A run that landed some partitions and failed on others (a channel's refused key, days older than its"
            " API keeps) skipped normalized_orders and fulfilment_orders for all of them; this runs those two for"
            " the partitions that landed, so a failing channel or day does not hold back the others."))
    def order_sync_continue(context: dg.RunFailureSensorContext):
        yield from continuation_requests(context.instance, context.dagster_run.run_id)

    return order_sync_continue
