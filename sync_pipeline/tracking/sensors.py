"""Tracking within minutes: a sensor polls the warehouse's shipments and runs `tracking_updates` for exactly the
partitions with new or corrected packages; an hourly schedule is the safety net (locked orders, lost replies, a
run that failed, a sensor that was off); and an edit of data/carrier_map.csv re-runs the partitions it could
unblock."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ConfigError
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import tracking_updates
from sync_pipeline.db.writes import log_api_calls
from sync_pipeline.fulfilment.map_files import fingerprint
from sync_pipeline.operations.attempts import TRACKING
from sync_pipeline.partitions import partition_key, sync_tags
from sync_pipeline.tracking.carriers import carrier_map_file
from sync_pipeline.tracking.push import CARRIER_NOT_MAPPED, CORRECTING, LOOKBACK, TO_PUSH
from sync_pipeline.warehouse.resource import WarehouseApiResource


def shipment_partitions(shipments: list[dict], channels: set[str]) -> set[tuple[str, str]]:
    """(channel, UTC day of shipment) of each shipment of a configured channel."""
    return {(s["channel"], s["shipped_at"][:10]) for s in shipments if s.get("channel") in channels}


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def build_shipments_sensor(job, poll_seconds: int) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=poll_seconds, default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "New and corrected packages at the warehouse -> runs for exactly their (channel, day of shipment); "
            "every `warehouse.shipments_poll_seconds` (channels.yaml, default 60). Each tick reads from a little "
            "before its cursor (a change committed late is not skipped); a partition is asked for again only when"
            " it holds a change newer than the last request for it (the run key names that change, and Dagster "
            "never repeats a run key)."))
    def tracking_shipments(context: dg.SensorEvaluationContext, database: DatabaseResource,
                           channels: ChannelsResource, warehouse: WarehouseApiResource):
        settings = channels.pipeline_config()
        cursor = datetime.fromisoformat(context.cursor) if context.cursor else None
        since = cursor - LOOKBACK if cursor else datetime.now(timezone.utc) - timedelta(days=2)
        log = ApiCallLog(settings.warehouse.name if settings.warehouse else "warehouse")
        try:
            shipments = warehouse.client(settings, log).shipments(since)
        except (ChannelError, ConfigError) as exc:
            return dg.SkipReason(f"the warehouse's shipments could not be read: {exc}")
        finally:
            log_api_calls(database.engine(), log, None)
        if not shipments:
            return dg.SkipReason(f"no shipment changed since {since.isoformat()}")
        newest: dict[tuple[str, str], datetime] = {}
        for partition in shipment_partitions(shipments, {c.name for c in settings.channels}):
            changes = [_moment(s["updated_at"]) for s in shipments if (s["channel"], s["shipped_at"][:10]) == partition]
            newest[partition] = max(changes)
        requests = [
            dg.RunRequest(run_key=f"{channel}|{day}@{moment.isoformat()}", partition_key=partition_key(channel, day),
                          tags=sync_tags(channel, TRACKING))
            for (channel, day), moment in sorted(newest.items())
        ]
        latest = max(_moment(s["updated_at"]) for s in shipments)
        return dg.SensorResult(run_requests=requests, cursor=max(latest, cursor or latest).isoformat())

    return tracking_shipments


def unfinished_partitions(engine: sa.Engine) -> list[tuple[str, object]]:
    """(channel, day) of every partition with a package still to push or in doubt."""
    query = (
        sa.select(tracking_updates.c.channel, tracking_updates.c.partition_date)
        .where(tracking_updates.c.status.in_(TO_PUSH) | tracking_updates.c.in_doubt_since.is_not(None) | CORRECTING)
        .distinct().order_by(tracking_updates.c.channel, tracking_updates.c.partition_date)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def build_tracking_retry_schedule(job, channels: list[str]) -> dg.ScheduleDefinition:
    @dg.schedule(job=job, cron_schedule="40 * * * *", execution_timezone="UTC",
        description=(
            "Hourly, the safety net: every partition with a package not on its channel yet (locked, unanswered, "
            "in doubt, a correction), and today and yesterday of every channel, so a shipment whose run failed "
            "before it was filed (the warehouse down, the run cancelled) is read again although the sensor moved "
            "past it."))
    def tracking_retry_hourly(context: dg.ScheduleEvaluationContext, database: DatabaseResource):
        tick = context.scheduled_execution_time
        recent = {(channel, day) for channel in channels for day in (tick.date() - timedelta(days=1), tick.date())}
        for channel, day in sorted(recent | set(unfinished_partitions(database.engine()))):
            yield dg.RunRequest(run_key=f"{channel}|{day}@{tick.isoformat()}",
                                partition_key=partition_key(channel, day), tags=sync_tags(channel, TRACKING))

    return tracking_retry_hourly


def build_carrier_map_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "An edit of data/carrier_map.csv re-runs every partition holding CARRIER_NOT_MAPPED packages."))
    def tracking_carrier_map_change(context: dg.SensorEvaluationContext, database: DatabaseResource):
        current = fingerprint(carrier_map_file())
        if context.cursor is None:
            return dg.SensorResult(skip_reason="first look at the carrier map: remembered", cursor=current)
        if context.cursor == current:
            return dg.SkipReason("the carrier map has not changed")
        query = (sa.select(tracking_updates.c.channel, tracking_updates.c.partition_date)
                 .where(tracking_updates.c.status == CARRIER_NOT_MAPPED).distinct())
        with database.engine().connect() as connection:
            blocked = sorted(tuple(row) for row in connection.execute(query))
        change = f"{context.cursor[:12]}>{current[:12]}"
        return dg.SensorResult(cursor=current, run_requests=[
            dg.RunRequest(run_key=f"{change}:{channel}|{day}", partition_key=partition_key(channel, day),
                          tags=sync_tags(channel, TRACKING))
            for channel, day in blocked
        ])

    return tracking_carrier_map_change
