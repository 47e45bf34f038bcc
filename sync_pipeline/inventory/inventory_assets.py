"""`inventory_snapshots` (the warehouse's stock as read, kept as history) and `inventory_pushes` (per channel:
every listing brought to its quantity, only what changed written)."""

import time
from collections.abc import Iterator
from datetime import datetime, timezone

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.channels.inventory import (
    HELD_BACK,
    INVALID_QUANTITY,
    INVENTORY_NOT_TRACKED,
    NOT_ACTIVE,
    NOT_SUPPORTED,
    PRODUCT_NOT_FOUND,
    PUSHED,
    RETRYING,
    UNCHANGED,
)
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ASSET_OWNERS, ConfigError, PipelineConfig
from sync_pipeline.db.resource import DatabaseResource, table_metadata
from sync_pipeline.db.tables import inventory_pushes as inventory_pushes_table
from sync_pipeline.db.tables import inventory_snapshots as inventory_snapshots_table
from sync_pipeline.db.writes import log_api_calls
from sync_pipeline.fulfilment.map_files import MapFileError
from sync_pipeline.inventory.push import skipped_reason, sync_inventory
from sync_pipeline.inventory.stock import read_stock
from sync_pipeline.operations.attempts import INVENTORY, record_attempt
from sync_pipeline.warehouse.resource import WarehouseApiResource

SNAPSHOTS = dg.AssetKey("inventory_snapshots")
# Every status a listing can end a run with: each is reported, zero included, so a plot over runs has no gaps.
STATUSES = (PUSHED, UNCHANGED, PRODUCT_NOT_FOUND, INVENTORY_NOT_TRACKED, NOT_ACTIVE, NOT_SUPPORTED, INVALID_QUANTITY,
            RETRYING, HELD_BACK)


def channel_partitions(config: PipelineConfig) -> dg.StaticPartitionsDefinition:
    """Stock is pushed per channel; the stock is now, so there is no day to backfill."""
    return dg.StaticPartitionsDefinition([c.name for c in config.channels])


def _read(database: DatabaseResource, channels: ChannelsResource, warehouse: WarehouseApiResource, run_id: str) -> dict:
    settings = channels.pipeline_config()
    engine = database.engine()
    log = ApiCallLog(settings.warehouse.name if settings.warehouse else "warehouse")
    try:
        landed = read_stock(engine, warehouse.client(settings, log), run_id, datetime.now(timezone.utc))
    except (ChannelError, ConfigError) as exc:
        raise dg.Failure(description=str(exc)) from None
    finally:
        log_api_calls(engine, log, run_id)
    return {"items_changed": landed, "warehouse_api_calls": len(log.calls)}


def build_inventory_snapshots() -> dg.AssetsDefinition:
    @dg.asset(key=SNAPSHOTS, group_name="inventory", owners=ASSET_OWNERS, kinds={"api", "sql"},
              metadata=table_metadata(inventory_snapshots_table))
    def inventory_snapshots(context: dg.AssetExecutionContext, database: DatabaseResource, channels: ChannelsResource,
                            warehouse: WarehouseApiResource) -> dg.MaterializeResult:
        """The warehouse's stock, appended for every item that moved since the last read (GET items?updated_since)."""
        started = time.perf_counter()
        figures = _read(database, channels, warehouse, context.run.run_id)
        return dg.MaterializeResult(metadata={**figures, **_snapshot_rows(database.engine()),
                                              "seconds": round(time.perf_counter() - started, 3)})

    return inventory_snapshots


def _snapshot_rows(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {"dagster/row_count": connection.execute(
            sa.select(sa.func.count()).select_from(inventory_snapshots_table)).scalar_one()}


class InventoryPushConfig(dg.Config):
    read_listings: bool = Field(default=True, description=(
        "read every listing from the channel first (finds drift, new and deleted listings); false: write only the "
        "listings whose quantity moved since the last read, from what it and the writes since left"))


def build_inventory_pushes(partitions_def: dg.StaticPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(name="inventory_pushes", group_name="inventory", owners=ASSET_OWNERS, partitions_def=partitions_def, deps=[SNAPSHOTS],
              kinds={"api", "sql"}, metadata=table_metadata(inventory_pushes_table))
    def inventory_pushes(context: dg.AssetExecutionContext, config: InventoryPushConfig, database: DatabaseResource,
                         channels: ChannelsResource, warehouse: WarehouseApiResource,
                         ) -> Iterator[dg.AssetMaterialization | dg.MaterializeResult]:
        """The channel's listings at the warehouse's free Good stock less what is promised: the stock is read first
        (what moved since the last read), so nothing is pushed from a stale figure; that read is a materialization
        of inventory_snapshots too, so the UI shows when the stock was last read."""
        started = time.perf_counter()
        settings = channels.pipeline_config()
        engine = database.engine()
        stock_read_at = datetime.now(timezone.utc)  # orders accepted after it are not in the stock read
        stock = _read(database, channels, warehouse, context.run.run_id)
        yield dg.AssetMaterialization(asset_key=SNAPSHOTS, metadata={**stock, **_snapshot_rows(engine)})
        channel = settings.channel(context.partition_key)
        log = ApiCallLog(channel.name)
        attempt_started = datetime.now(timezone.utc)
        try:
            counts = sync_inventory(engine, channels.inventory(channel, log), channel, settings, context.run.run_id,
                                    read_listings=config.read_listings, stock_read_at=stock_read_at)
        except (ChannelError, ConfigError, MapFileError) as exc:
            record_attempt(engine, channel.name, INVENTORY, context.run.run_id, attempt_started, exc)
            raise dg.Failure(description=str(exc)) from None
        finally:
            log_api_calls(engine, log, context.run.run_id)
        record_attempt(engine, channel.name, INVENTORY, context.run.run_id, attempt_started)
        with engine.connect() as connection:
            listings_kept = connection.execute(sa.select(sa.func.count()).select_from(inventory_pushes_table).where(
                inventory_pushes_table.c.channel == channel.name)).scalar_one()
        written = counts.get(f"status_{PUSHED}", 0)
        skipped = skipped_reason(channel)
        if skipped:
            context.log.info(f"{channel.name}: nothing pushed: {skipped}")
        yield dg.MaterializeResult(metadata={
            **({"skipped_reason": skipped} if skipped else {}),
            **{f"status_{status}": 0 for status in STATUSES},
            **{k: int(v) for k, v in sorted(counts.items())}, **stock,
            "dagster/row_count": listings_kept,
            "channel_api_calls": len(log.calls),
            "api_calls_per_written_listing": round(len(log.calls) / written, 3) if written else 0.0,
            "seconds": round(time.perf_counter() - started, 3),
        })

    return inventory_pushes
