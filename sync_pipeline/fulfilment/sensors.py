"""The repair loop: when an operator edits data/sku_map.csv or data/ship_maps.csv, the partitions holding
orders that edit could unblock are materialized again, so the orders go through with nobody running anything."""

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.fulfilment.map_files import fingerprint
from sync_pipeline.fulfilment.ship_methods import ship_maps_file
from sync_pipeline.fulfilment.skus import sku_map_file
from sync_pipeline.partitions import partition_key
from sync_pipeline.warehouse.resource import WarehouseResource
from sync_pipeline.warehouse.tables import fulfilment_orders

# ADDRESS_INVALID is here for its po_box rule: mapping the method to a PO-box carrier fixes it.
FIXABLE_BY_MAPS = ("SKU_NOT_FOUND", "SKU_AMBIGUOUS", "SHIP_METHOD_NOT_MAPPED", "ADDRESS_INVALID")


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


def build_mapping_change_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
    def fulfilment_mapping_change(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        """Re-runs fulfilment for partitions with SKU or ship-method errors whenever a mapping file changes."""
        current = fingerprint(sku_map_file(), ship_maps_file())
        if context.cursor is None:
            return dg.SensorResult(skip_reason="first look at the mapping files: remembered", cursor=current)
        if context.cursor == current:
            return dg.SkipReason("the mapping files have not changed")
        # The previous fingerprint is in the key too: a file edited back to an earlier content is still a change.
        change = f"{context.cursor[:12]}>{current[:12]}"
        requests = [
            dg.RunRequest(run_key=f"{change}:{channel}|{day}", partition_key=partition_key(channel, day))
            for channel, day in blocked_partitions(warehouse.engine())
        ]
        return dg.SensorResult(run_requests=requests, cursor=current)

    return fulfilment_mapping_change
