"""The warehouse's stock as read, kept as history (inventory_snapshots), and what a channel may sell of it.

A snapshot row is appended for every item whose stock changed since the last read (the warehouse's `updated_at`
cursor), so the table is the stock's history for drift trends, and the latest row per SKU is the stock now."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from sync_pipeline.config import ChannelConfig, PipelineConfig
from sync_pipeline.db.tables import fulfilment_orders, inventory_snapshots, order_lines, orders
from sync_pipeline.fulfilment.map_files import LINE, for_channel, read_map, usable_rows
from sync_pipeline.fulfilment.skus import COLUMNS as SKU_MAP_COLUMNS
from sync_pipeline.fulfilment.skus import sku_map_file
from sync_pipeline.warehouse.client import WarehouseClient

LOOKBACK = timedelta(minutes=5)  # re-read a little before the newest change seen: clocks and commits race
# Orders the channel sold that the warehouse has not allocated yet: their units are promised already.
NOT_YET_AT_THE_WAREHOUSE = ("NEW", "IMPORT_ERROR", "HELD")
CLOSED_ON_THE_CHANNEL = ("cancelled", "refunded", "shipped", "delivered", "failed")


def read_stock(engine: sa.Engine, client: WarehouseClient, run_id: str, now: datetime) -> int:
    """Append the items that moved since the newest change already kept; returns how many rows landed."""
    with engine.connect() as connection:
        newest = connection.execute(sa.select(sa.func.max(inventory_snapshots.c.warehouse_updated_at))).scalar()
    items = client.items_changed(newest - LOOKBACK if newest else None)
    with engine.connect() as connection:
        kept = latest_stock(connection)
    rows = [
        {"sku": item["sku"], "good": int(item["good"]), "hurt": int(item["hurt"]), "allocated": int(item["allocated"]),
         "warehouse_updated_at": _utc(item.get("updated_at")), "read_at": now, "run_id": run_id}
        for item in items
        if (kept.get(item["sku"]) or {}).get("state") != (int(item["good"]), int(item["hurt"]), int(item["allocated"]))
    ]
    if rows:
        with engine.begin() as connection:
            connection.execute(inventory_snapshots.insert(), rows)
    return len(rows)


def latest_stock(connection: sa.Connection) -> dict[str, dict]:
    """The newest snapshot of every SKU: {sku: {good, hurt, allocated, state}}."""
    newest = (sa.select(inventory_snapshots.c.sku, sa.func.max(inventory_snapshots.c.id).label("id"))
              .group_by(inventory_snapshots.c.sku).subquery())
    rows = connection.execute(
        sa.select(inventory_snapshots).join(newest, inventory_snapshots.c.id == newest.c.id)
    ).mappings()
    return {r["sku"]: {"good": r["good"], "hurt": r["hurt"], "allocated": r["allocated"],
                       "state": (r["good"], r["hurt"], r["allocated"])} for r in rows}


def impossible(stock: dict) -> str | None:
    """Why a stock record cannot be true (S39), or None."""
    if stock["good"] < 0 or stock["hurt"] < 0 or stock["allocated"] < 0:
        return f"negative stock (good {stock['good']}, hurt {stock['hurt']}, allocated {stock['allocated']})"
    if stock["allocated"] > stock["good"]:
        return f"more allocated ({stock['allocated']}) than in Good stock ({stock['good']})"
    return None


def promised_units(connection: sa.Connection, config: PipelineConfig, stock_read_at: datetime | None = None) -> Counter:
    """Per warehouse SKU, the units of orders landed on any channel and not yet allocated at the warehouse.

    With `stock_read_at` (when the stock the push works from was read), orders the warehouse accepted since count
    too: their allocation is not in that stock yet. One accepted just before the read may then count twice, which
    shows a little less for a run; never counting it would show stock that is already promised."""
    waiting = (fulfilment_orders.c.status.is_(None) | fulfilment_orders.c.status.in_(NOT_YET_AT_THE_WAREHOUSE))
    if stock_read_at is not None:
        waiting = waiting | ((fulfilment_orders.c.status == "ACCEPTED") & (fulfilment_orders.c.accepted_at >= stock_read_at))
    query = (
        sa.select(order_lines.c.channel, order_lines.c.channel_sku, order_lines.c.quantity)
        .join(orders, orders.c.order_id == order_lines.c.order_id)
        .join(fulfilment_orders, fulfilment_orders.c.order_id == order_lines.c.order_id, isouter=True)
        .where(waiting, orders.c.canonical_status.not_in(CLOSED_ON_THE_CHANNEL))
    )
    lines = pd.DataFrame(connection.execute(query).all(), columns=["channel", "channel_sku", "quantity"])
    promised: Counter = Counter()
    if lines.empty:
        return promised
    table = read_map(sku_map_file(), SKU_MAP_COLUMNS, ["variant_id"])
    for channel in config.channels:
        mine = lines[lines["channel"] == channel.name]
        if mine.empty:
            continue
        # Units of every channel count, so a channel whose map has a broken line (its own pushes and orders stop
        # on it) is mapped by the lines that can be read: it must not stop the other channels' stock.
        rows = usable_rows(table[table["variant_id"] == ""], channel, ["channel_sku"])
        mapping = dict(zip(rows["channel_sku"], rows["warehouse_sku"]))
        skus = mine["channel_sku"].map(lambda s: mapping.get(s, s))
        promised.update({sku: int(units) for sku, units in mine.groupby(skus)["quantity"].sum().items()})
    return promised


def sku_to_warehouse(table: pd.DataFrame, channel: ChannelConfig) -> dict[str, tuple[str, int]]:
    """The SKU map's rows for the channel (variant-free ones): channel SKU -> (warehouse SKU, its file line); a
    broken line that could affect the channel raises MapFileError naming it."""
    rows = for_channel(table[table["variant_id"] == ""], channel, ["channel_sku"])
    return {sku: (warehouse_sku, int(line)) for sku, warehouse_sku, line in zip(rows["channel_sku"],
                                                                               rows["warehouse_sku"], rows[LINE])}


def _utc(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
