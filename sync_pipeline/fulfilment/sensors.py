"""The repair loop: when an operator edits data/sku_map.csv or data/ship_maps.csv, the partitions holding
orders that edit could unblock are materialized again, so the orders go through with nobody running anything;
and every hour, any partition still holding stopped or in-doubt orders is tried again."""

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import fulfilment_orders
from sync_pipeline.fulfilment.map_files import fingerprint
from sync_pipeline.fulfilment.ship_methods import ship_maps_file
from sync_pipeline.fulfilment.skus import sku_map_file
from sync_pipeline.operations.attempts import ORDERS
from sync_pipeline.partitions import partition_key, sync_tags

# ADDRESS_INVALID is here for its po_box rule: mapping the method to a PO-box carrier fixes it; MAP_FILE_ERROR is
# an order stopped by a broken line of one of those files.
FIXABLE_BY_MAPS = ("SKU_NOT_FOUND", "SKU_AMBIGUOUS", "SHIP_METHOD_NOT_MAPPED", "ADDRESS_INVALID", "MAP_FILE_ERROR")


def blocked_partitions(engine: sa.Engine) -> list[tuple[str, object]]:
    """(channel, day) of every partition with an order stopped for a reason a mapping file can fix."""
    query = (
        sa.select(fulfilment_orders.c.channel, fulfilment_orders.c.partition_date)
        .where(fulfilment_orders.c.status == "IMPORT_ERROR", fulfilment_orders.c.error_code.in_(FIXABLE_BY_MAPS))
        .distinct()
        .order_by(fulfilment_orders.c.channel, fulfilment_orders.c.partition_date)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def unsettled_partitions(engine: sa.Engine) -> list[tuple[str, object]]:
    """(channel, day) of every partition with an order stopped by any error, or in doubt (sent, answer lost)."""
    stopped = fulfilment_orders.c.status == "IMPORT_ERROR"
    in_doubt = fulfilment_orders.c.in_doubt_since.is_not(None)
    query = (
        sa.select(fulfilment_orders.c.channel, fulfilment_orders.c.partition_date)
        .where(stopped | in_doubt)
        .distinct()
        .order_by(fulfilment_orders.c.channel, fulfilment_orders.c.partition_date)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def build_fulfilment_retry_schedule(job) -> dg.ScheduleDefinition:
    @dg.schedule(job=job, cron_schedule="15 * * * *", execution_timezone="UTC",
        description=(
            "Hourly, older partitions too: a fix made at the warehouse or on the channel lets stopped orders "
            "through, and an order in doubt is looked up, however old its partition."))
    def fulfilment_retry_hourly(context: dg.ScheduleEvaluationContext, database: DatabaseResource):
        tick = context.scheduled_execution_time.isoformat()
        for channel, day in unsettled_partitions(database.engine()):
            yield dg.RunRequest(run_key=f"{channel}|{day}@{tick}", partition_key=partition_key(channel, day),
                                tags=sync_tags(channel, ORDERS))

    return fulfilment_retry_hourly


def build_mapping_change_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Re-runs fulfilment for partitions with SKU or ship-method errors whenever a mapping file changes."))
    def fulfilment_mapping_change(context: dg.SensorEvaluationContext, database: DatabaseResource):
        current = fingerprint(sku_map_file(), ship_maps_file())
        if context.cursor is None:
            return dg.SensorResult(skip_reason="first look at the mapping files: remembered", cursor=current)
        if context.cursor == current:
            return dg.SkipReason("the mapping files have not changed")
        # The previous fingerprint is in the key too: a file edited back to an earlier content is still a change.
        change = f"{context.cursor[:12]}>{current[:12]}"
        requests = [
            dg.RunRequest(run_key=f"{change}:{channel}|{day}", partition_key=partition_key(channel, day),
                          tags=sync_tags(channel, ORDERS))
            for channel, day in blocked_partitions(database.engine())
        ]
        return dg.SensorResult(run_requests=requests, cursor=current)

    return fulfilment_mapping_change
