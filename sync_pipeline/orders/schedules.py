"""Unattended order sync: each channel on its own interval, for today and yesterday (late updates)."""

from datetime import timedelta

import dagster as dg

from sync_pipeline.config import ChannelConfig
from sync_pipeline.operations.attempts import ORDERS
from sync_pipeline.partitions import partition_key, sync_tags


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
