"""order_poll: for channels whose platform sends no webhooks (Amazon, eBay, Takealot) and that set `poll_seconds`,
a cheap "updated since" read of today's and yesterday's orders every `poll_seconds`, on the channel's connector
(its throttle, retries and api_calls log). Only when it finds an order version not landed yet does it ask for an
order_sync run of exactly the days holding them; a quiet channel costs one list call per poll and no run."""

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import orjson
import sqlalchemy as sa

from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ConfigError
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import raw_orders
from sync_pipeline.db.writes import log_api_calls
from sync_pipeline.orders.ingest import updated_since
from sync_pipeline.partitions import run_requests

SENSOR_SECONDS = 30  # how often the sensor looks which channel's poll is due


def unseen(connection: sa.Connection, channel: str, found: dict[str, datetime]) -> set[str]:
    """Of the orders found (external id -> the channel's updated-at), those with no version landed that recent."""
    landed = dict(connection.execute(
        sa.select(raw_orders.c.external_order_id, sa.func.max(raw_orders.c.channel_updated_at))
        .where(raw_orders.c.channel == channel, raw_orders.c.external_order_id.in_(list(found) or [""]))
        .group_by(raw_orders.c.external_order_id)).all())
    return {order_id for order_id, updated in found.items() if order_id not in landed or landed[order_id] < updated}


def build_poll_sensor(job: dg.JobDefinition) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=SENSOR_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Channels without webhooks that set `poll_seconds`: an \"updated since\" read every "
                           "poll_seconds; an order_sync run of exactly the days with an order version not landed yet")
    def order_poll(context: dg.SensorEvaluationContext, database: DatabaseResource, channels: ChannelsResource):
        settings = channels.pipeline_config()
        engine = database.engine()
        last_polls: dict[str, str] = orjson.loads(context.cursor) if context.cursor else {}
        now = datetime.now(timezone.utc)
        today = now.date()
        days = [today - timedelta(days=1), today]
        requests, skipped = [], []
        for channel in settings.channels:
            if channel.poll_seconds is None or not channel.order_sync:
                continue
            last = last_polls.get(channel.name)
            if last and now - datetime.fromisoformat(last) < timedelta(seconds=channel.poll_seconds):
                continue
            last_polls[channel.name] = now.isoformat()
            log = ApiCallLog(channel.name)
            try:
                with engine.connect() as connection:
                    since = updated_since(connection, channel.name, days)
                if since is None:  # never synced: the schedule's first run lands the days in full
                    skipped.append(f"{channel.name}: no cursor yet")
                    continue
                start = datetime.combine(days[0], datetime.min.time(), tzinfo=timezone.utc)
                found = channels.connector(channel, log).fetch_orders(start, now, updated_since=since)
            except (ChannelError, ConfigError) as exc:
                skipped.append(f"{channel.name}: {exc}")
                continue
            finally:
                log_api_calls(engine, log, None)
            with engine.connect() as connection:
                new = unseen(connection, channel.name, {o.external_order_id: o.updated_at or now for o in found})
            if not new:
                continue
            placed: set[date] = {o.placed_at.astimezone(timezone.utc).date() for o in found
                                 if o.external_order_id in new and o.placed_at is not None}
            requests += run_requests(channel.name, placed & set(days) or set(days), f"poll:{channel.name}:{now.isoformat()}",
                                     tags={"sync/trigger": "poll", "sync/channel": channel.name})
        context.update_cursor(orjson.dumps(last_polls).decode())
        if not requests:
            return dg.SkipReason("no order changed since the cursors" + (f" ({'; '.join(skipped)})" if skipped else ""))
        return requests

    return order_poll
