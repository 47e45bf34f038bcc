"""Stock on every channel: each channel on its own interval (`inventory_interval_minutes`), reading every listing
(drift, new and deleted listings are found there), and soon after the warehouse's stock moves (a sensor polls GET
items?updated_since), writing only the listings whose quantity moved, without reading the channel again."""

from datetime import datetime, timezone

import dagster as dg

from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ChannelConfig, ConfigError
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.writes import log_api_calls
from sync_pipeline.inventory.stock import LOOKBACK
from sync_pipeline.operations.attempts import INVENTORY
from sync_pipeline.orders.schedules import cron_every
from sync_pipeline.partitions import sync_tags
from sync_pipeline.warehouse.resource import WarehouseApiResource

# The sensor's runs write what moved from what inventory_pushes knows; the schedule's read the channel.
CHANGES_ONLY = {"ops": {"inventory_pushes": {"config": {"read_listings": False}}}}


def build_inventory_schedules(channels: list[ChannelConfig], job) -> list[dg.ScheduleDefinition]:
    return [
        dg.ScheduleDefinition(
            name=f"{channel.name.replace('-', '_')}_inventory_sync", cron_schedule=cron_every(channel.inventory_interval_minutes),
            execution_timezone="UTC", job=job,
            execution_fn=lambda context, channel=channel: dg.RunRequest(
                run_key=f"{channel.name}@{context.scheduled_execution_time.isoformat()}", partition_key=channel.name,
                tags=sync_tags(channel.name, INVENTORY)),
            description=f"Push {channel.name}'s stock every {channel.inventory_interval_minutes} min.",
        )
        for channel in channels if channel.inventory_sync
    ]


def build_stock_sensor(job, poll_seconds: int) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=poll_seconds, default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "The warehouse's stock moved -> push every inventory channel (run key = channel + the newest change)."))
    def inventory_stock_moved(context: dg.SensorEvaluationContext, database: DatabaseResource,
                              channels: ChannelsResource, warehouse: WarehouseApiResource):
        settings = channels.pipeline_config()
        cursor = datetime.fromisoformat(context.cursor) if context.cursor else None
        log = ApiCallLog(settings.warehouse.name if settings.warehouse else "warehouse")
        try:
            moved = warehouse.client(settings, log).items_changed(cursor - LOOKBACK if cursor else None)
        except (ChannelError, ConfigError) as exc:
            return dg.SkipReason(f"the warehouse's stock could not be read: {exc}")
        finally:
            log_api_calls(database.engine(), log, None)
        stamps = [datetime.fromisoformat(i["updated_at"].replace("Z", "+00:00")) for i in moved if i.get("updated_at")]
        newest = max(stamps, default=cursor or datetime.now(timezone.utc))
        if cursor is not None and newest <= cursor:
            return dg.SkipReason("the warehouse's stock has not moved")
        return dg.SensorResult(cursor=newest.isoformat(), run_requests=[
            dg.RunRequest(run_key=f"{channel.name}@{newest.isoformat()}", partition_key=channel.name,
                          run_config=CHANGES_ONLY, tags=sync_tags(channel.name, INVENTORY))
            for channel in settings.channels if channel.inventory_sync
        ])

    return inventory_stock_moved
