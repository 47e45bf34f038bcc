"""order_webhooks: every 15 seconds, the inbox's new deliveries become one order_sync run per channel over exactly
the days they touch (the order's day of placement; for a payload without it, BigCommerce's, the delivery's day and
the day before). The order schedules stay as the safety net that catches a dropped webhook."""

from collections import defaultdict
from datetime import date, timedelta

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import webhook_inbox
from sync_pipeline.partitions import run_requests
from sync_pipeline.webhooks.inbox import TRIGGER_TAG

INTERVAL_SECONDS = 15
BATCH = 5000  # deliveries read per tick; more wait for the next one


def touched_days(engine: sa.Engine, after_id: int) -> tuple[dict[str, set[date]], int]:
    """Per channel, the days the deliveries after `after_id` touch; and the last delivery id read."""
    query = (sa.select(webhook_inbox.c.id, webhook_inbox.c.channel, webhook_inbox.c.placed_on,
                       webhook_inbox.c.received_at)
             .where(webhook_inbox.c.id > after_id).order_by(webhook_inbox.c.id).limit(BATCH))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    days: dict[str, set[date]] = defaultdict(set)
    for row in rows:
        if row.placed_on is not None:
            days[row.channel].add(row.placed_on)
        else:
            received = row.received_at.date()
            days[row.channel].update((received, received - timedelta(days=1)))
    return dict(days), rows[-1].id if rows else after_id


def build_webhook_sensor(job: dg.JobDefinition) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Order webhooks (`sync-pipeline webhooks` stores them) become one order_sync run per channel "
                           "over exactly the days they touch, within seconds; the schedules catch dropped ones")
    def order_webhooks(context: dg.SensorEvaluationContext, database: DatabaseResource):
        after = int(context.cursor or 0)
        by_channel, last = touched_days(database.engine(), after)
        if not by_channel:
            return dg.SkipReason(f"no delivery after #{after}")
        requests = [request for channel, days in sorted(by_channel.items())
                    for request in run_requests(channel, days, f"webhooks:{last}",
                                                tags={TRIGGER_TAG: "webhook", "sync/channel": channel})]
        context.update_cursor(str(last))
        return requests

    return order_webhooks
