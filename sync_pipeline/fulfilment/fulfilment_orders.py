"""`fulfilment_orders`: every normalized order mapped to the warehouse and submitted exactly once, or held, queued
for manual entry, cancelled, or stopped with an error that names its fix."""


import time
from collections import Counter
from datetime import date, datetime, timezone

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ASSET_OWNERS, ConfigError
from sync_pipeline.db.resource import DatabaseResource, table_metadata
from sync_pipeline.db.tables import fulfilment_orders as fulfilment_table
from sync_pipeline.db.tables import order_lines, orders
from sync_pipeline.db.writes import log_api_calls
from sync_pipeline.fulfilment.map_files import MapFileError, unknown_channel_rows
from sync_pipeline.fulfilment.prepare import ERROR_COLUMNS, MAP_FILE_ERROR, Prepared, client_reference, prepare
from sync_pipeline.fulfilment.submit import ERROR_CODES, STATUSES, STOPPED, fulfil
from sync_pipeline.orders.normalized_orders import NORMALIZED_ORDERS
from sync_pipeline.partitions import PartitionOutcome, judged, partition_counts
from sync_pipeline.warehouse.client import WarehouseClient
from sync_pipeline.warehouse.resource import WarehouseApiResource

FULFILMENT_ORDERS = dg.AssetKey("fulfilment_orders")
ONE_PER_ORDER_CHECK = "one_warehouse_order_per_channel_order"
ACCOUNTED_CHECK = "every_normalized_order_has_a_fulfilment_state"
SETTLED = ("ACCEPTED", "IMPORT_ERROR", "MANUAL", "CANCELLED", "HELD", "COMPLETED")


def read_normalized(connection: sa.Connection, channel: str, days: list[date]) -> tuple[pd.DataFrame, pd.DataFrame]:
    def frame(table):
        query = sa.select(table).where(table.c.channel == channel, table.c.partition_date.in_(days))
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in table.columns])

    return frame(orders), frame(order_lines)


def ambiguous_skus(connection: sa.Connection, channel: str) -> dict[str, str]:
    """Channel SKUs that name more than one variant among every line the channel ever sent, each with the variant it
    named first ("" for lines without one): that variant's orders go on as ever; a newcomer's stop as SKU_AMBIGUOUS
    until a sku_map.csv row with its variant id maps it."""
    variant = sa.func.coalesce(order_lines.c.variant_id, "")
    query = (
        sa.select(order_lines.c.channel_sku, variant.label("variant"), sa.func.min(orders.c.placed_at).label("first"),
                  sa.func.count().label("lines"))
        .select_from(order_lines.join(orders, orders.c.order_id == order_lines.c.order_id))
        .where(order_lines.c.channel == channel, order_lines.c.channel_sku.is_not(None))
        .group_by(order_lines.c.channel_sku, variant)
    )
    seen: dict[str, list[tuple]] = {}
    for row in connection.execute(query):
        seen.setdefault(row.channel_sku, []).append((row.first, -row.lines, row.variant))
    return {sku: min(found)[2] for sku, found in seen.items() if len(found) > 1}


def duplicates_at_warehouse(client: WarehouseClient, connection: sa.Connection, channel: str, order_ids: set[str]) -> list[dict]:
    """Channel orders the warehouse holds twice (by its own list), or that share one warehouse order here."""
    live = [o for o in client.orders(channel) if o.get("status") != "cancelled"]
    counts = Counter(f"{channel}:{o['channel_order_id']}" for o in live)
    found = [{"order_id": k, "warehouse_orders": n} for k, n in counts.items() if n > 1 and k in order_ids]
    shared = connection.execute(
        sa.select(fulfilment_table.c.warehouse_order_id, sa.func.count())
        .where(fulfilment_table.c.channel == channel, fulfilment_table.c.warehouse_order_id.is_not(None))
        .group_by(fulfilment_table.c.warehouse_order_id).having(sa.func.count() > 1)
    ).all()
    return found + [{"warehouse_order_id": w, "channel_orders": n} for w, n in shared]


def unaccounted(connection: sa.Connection, channel: str, days: list[date]) -> list[dict]:
    """Normalized orders with no settled fulfilment state: NEW, or in doubt (sent, and the answer not recorded)."""
    states = dict(connection.execute(
        sa.select(fulfilment_table.c.order_id,
                  sa.case((fulfilment_table.c.in_doubt_since.is_not(None), "IN_DOUBT"), else_=fulfilment_table.c.status))
        .where(fulfilment_table.c.channel == channel, fulfilment_table.c.partition_date.in_(days))
    ).all())
    normalized = connection.execute(
        sa.select(orders.c.order_id).where(orders.c.channel == channel, orders.c.partition_date.in_(days))
    ).scalars()
    return [{"order_id": o, "status": states.get(o)} for o in normalized if states.get(o) not in SETTLED]


def stopped_by_map_file(normalized: pd.DataFrame, error: MapFileError) -> Prepared:
    """Every order of a channel whose map file has a broken line that could affect it: IMPORT_ERROR with an
    order_sync_errors row naming the file, the line and its fix (so `why` explains it); sent once it is fixed."""
    message = (f"not sent: a map file line that applies to this channel is broken ({error}); fix it and the order is "
               "sent on the next run")
    frame = normalized.set_index("order_id", drop=False)
    stopped = frame[["order_id", "external_order_id", "partition_date", "payload_sha256"]].assign(
        client_reference=client_reference(frame["order_id"]), action="error", error_code=MAP_FILE_ERROR,
        message=message, ship_code=None)
    errors = stopped.assign(field="map file")[["order_id", *ERROR_COLUMNS]].reset_index(drop=True)
    return Prepared(orders=stopped, requests={}, errors=errors)


def fulfilment_orders_spec() -> tuple[dg.AssetSpec, list[dg.AssetCheckSpec]]:
    """The asset and its checks, for the order_flow step (orders/order_flow.py) that materializes it."""
    return (
        dg.AssetSpec(FULFILMENT_ORDERS, deps=[NORMALIZED_ORDERS], group_name="fulfilment", owners=ASSET_OWNERS,
                     metadata=table_metadata(fulfilment_table), kinds={"api", "sql"}, skippable=True,
                     description="Warehouse orders, one per valid channel order; IMPORT_ERROR orders are retried "
                                 "once their cause is gone."),
        [
            dg.AssetCheckSpec(ONE_PER_ORDER_CHECK, asset=FULFILMENT_ORDERS, blocking=True,
                              description="no channel order has two live warehouse orders (the warehouse's own list)"),
            dg.AssetCheckSpec(ACCOUNTED_CHECK, asset=FULFILMENT_ORDERS,
                              description="every normalized order is ACCEPTED, IMPORT_ERROR, MANUAL, CANCELLED or HELD"),
        ],
    )


def fulfil_orders(context: dg.AssetExecutionContext, by_channel: dict[str, list[date]], database: DatabaseResource,
                  channels: ChannelsResource, warehouse: WarehouseApiResource) -> PartitionOutcome:
    """Map each channel's normalized orders and send the valid ones to the warehouse, exactly once. Raises
    dg.Failure when the warehouse cannot be used or a map file line is broken (that channel's orders stop as
    IMPORT_ERROR naming the line; the others are sent)."""
    started = time.perf_counter()
    settings = channels.pipeline_config()
    engine = database.engine()
    log = ApiCallLog(settings.warehouse.name if settings.warehouse else "warehouse")
    totals: Counter = Counter()
    duplicates: list[dict] = []
    missing: list[dict] = []
    map_failures: list[str] = []
    for problem in unknown_channel_rows(settings.channels, [d.name for d in settings.disabled if d.name]):
        context.log.error(f"{problem} (the row maps nothing; the channels go on)")
    try:
        client = warehouse.client(settings, log)
        catalogue = set(client.items())
        po_box_codes = {code for code, method in client.ship_methods().items() if method["po_box"]}
        for channel_name, days in by_channel.items():
            channel = settings.channel(channel_name)
            with engine.connect() as connection:
                normalized_orders, lines = read_normalized(connection, channel_name, days)
                ambiguous = ambiguous_skus(connection, channel_name)
            try:
                prepared = prepare(normalized_orders, lines, channel, catalogue, po_box_codes, ambiguous)
            except MapFileError as exc:  # a broken map line stops its channel's orders only; the others go on
                map_failures.append(str(exc))
                context.log.error(str(exc))
                prepared = stopped_by_map_file(normalized_orders, exc)
            counts = fulfil(engine, client, channel_name, days, prepared, context.run.run_id, datetime.now(timezone.utc))
            totals.update(counts)
            with engine.connect() as connection:
                duplicates += duplicates_at_warehouse(client, connection, channel_name, set(prepared.orders.index))
                missing += unaccounted(connection, channel_name, days)
            context.log.info(
                f"{channel_name} {days[0]}..{days[-1]}: {len(prepared.orders)} orders; "
                + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k.startswith("status_"))
            )
        if map_failures:
            raise MapFileError("\n".join(map_failures))
    except (ChannelError, ConfigError, MapFileError) as exc:
        raise dg.Failure(description=str(exc)) from None
    finally:
        log_api_calls(engine, log, context.run.run_id)
    metadata = {
        **{k: int(v) for k, v in sorted(totals.items())},
        "warehouse_api_calls": len(log.calls),
        "retries": log.retries,
        "seconds": round(time.perf_counter() - started, 3),
        "run_partitions": sum(len(days) for days in by_channel.values()),
    }
    with engine.connect() as connection:  # each partition's own orders by status, and its stopped ones by code
        figures = partition_counts(connection, fulfilment_table, by_channel, {"status": sa.func.count()},
                                   group=(fulfilment_table.c.status, STATUSES))
        in_doubt = partition_counts(connection, fulfilment_table, by_channel, {"in_doubt": sa.func.count()},
                                    where=fulfilment_table.c.in_doubt_since.is_not(None))
        stopped = (fulfilment_table.c.status.in_(STOPPED) & fulfilment_table.c.in_doubt_since.is_(None)
                   & fulfilment_table.c.error_code.is_not(None))
        errors = partition_counts(connection, fulfilment_table, by_channel, {"errors": sa.func.count()},
                                  where=stopped, group=(fulfilment_table.c.error_code, ERROR_CODES))
    for key, figure in figures.items():
        figure["dagster/row_count"] = sum(figure.values())
        figure.update(in_doubt[key])
        figure.update(errors[key])
    checks = [
        dg.AssetCheckResult(asset_key=FULFILMENT_ORDERS, check_name=ONE_PER_ORDER_CHECK, passed=not duplicates, metadata={
            **judged(by_channel), "duplicates": len(duplicates), "detail": dg.MetadataValue.json(duplicates)}),
        dg.AssetCheckResult(asset_key=FULFILMENT_ORDERS, check_name=ACCOUNTED_CHECK, passed=not missing, metadata={
            **judged(by_channel), "unsettled": len(missing), "detail": dg.MetadataValue.json(missing[:100])}),
    ]
    return PartitionOutcome(FULFILMENT_ORDERS, figures, metadata, checks)
