"""Every listing of a channel shows the warehouse's free Good stock, less what is already promised: only what
changed is written, in the platform's bulk form, and every listing ends with a status and its reason.

The quantity a listing should show is the free Good stock (Good less Allocated; Hurt never counts) less the units
of orders landed here that the warehouse has not allocated yet (any channel's: they are promised already), less
the channel's `inventory_buffer`, never below 0; the same for every listing of the SKU. The SKU map is read in
reverse: a listing whose SKU the map names stands for that warehouse SKU, any other for the SKU it carries. The
warehouse is the source of truth (one-way): a listing a person changed by hand (S40) is reported as drift and
written back."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from sync_pipeline.channels import INVENTORY_PUSHES
from sync_pipeline.channels.http import ChannelUnavailable
from sync_pipeline.channels.inventory import (
    HELD_BACK,
    INVALID_QUANTITY,
    INVENTORY_NOT_TRACKED,
    NOT_ACTIVE,
    PRODUCT_NOT_FOUND,
    PUSHED,
    RETRYING,
    UNCHANGED,
    InventoryPush,
    Listing,
    StockUpdate,
    Written,
)
from sync_pipeline.config import ChannelConfig, PipelineConfig
from sync_pipeline.db.tables import inventory_drift, inventory_pushes
from sync_pipeline.db.writes import upsert
from sync_pipeline.fulfilment.map_files import read_map
from sync_pipeline.fulfilment.skus import COLUMNS as SKU_MAP_COLUMNS
from sync_pipeline.fulfilment.skus import sku_map_file
from sync_pipeline.inventory.stock import impossible, latest_stock, promised_units, sku_to_warehouse

# A platform's daily write cap per listing, shared out: rises may run this many writes ahead of an even spread of
# the cap over the day, and the last writes of the day are kept for falls.
RISES_AT_ONCE = 25
FALLS_RESERVED = 10


def skipped_reason(channel: ChannelConfig) -> str | None:
    """Why none of the channel's stock is pushed (S38, S37), and what to do; None when it is pushed."""
    if not channel.inventory_sync:
        return "inventory_sync is false in channels.yaml (S38): set it to true to push the warehouse's stock here"
    if channel.type not in INVENTORY_PUSHES:
        return (f"{channel.type} has no stock API this pipeline can write to (S37): keep its listings' stock on the "
                "channel by hand, or turn inventory_sync off for it")
    return None


def sync_inventory(engine: sa.Engine, push: InventoryPush | None, channel: ChannelConfig, config: PipelineConfig,
                   run_id: str, read_listings: bool = True, stock_read_at: datetime | None = None) -> Counter:
    """Bring every listing of the channel to its quantity; returns the run's counters.

    `read_listings` reads every listing from the channel first (what a scheduled run does: it finds drift, new
    listings and deleted ones). Without it the run works from what the last read and the writes since left in
    inventory_pushes and writes only the listings whose quantity moved: what a run right after the warehouse's
    stock moved needs, at a fraction of the calls. A channel never read is read whatever is asked. `stock_read_at`:
    when this run read the warehouse's stock (orders accepted since are promised too, see promised_units)."""
    now = datetime.now(timezone.utc)
    if not channel.inventory_sync:  # S38: nothing is read or written
        return Counter({"skipped_inventory_sync_off": 1})
    if push is None:  # S37: the platform takes no stock from us
        return Counter({"skipped_not_supported": 1})
    with engine.connect() as connection:
        stock = latest_stock(connection)
        promised = promised_units(connection, config, stock_read_at)
        known = {row.listing_id: row for row in connection.execute(
            sa.select(inventory_pushes).where(inventory_pushes.c.channel == channel.name))}
    mapped = sku_to_warehouse(read_map(sku_map_file(), SKU_MAP_COLUMNS, ["variant_id"]), channel)
    full = read_listings or not any(row.listing is not None for row in known.values())
    if full:
        listings = push.listings(set(stock) | set(mapped) | {row.sku for row in known.values()})
    else:
        listings = [_as_known(row) for row in known.values() if row.listing is not None]
    by_lower = {sku.casefold(): sku for sku in stock}
    decisions: dict[str, dict] = {}
    updates: list[StockUpdate] = []
    drift_rows: list[dict] = []
    today = now.date()
    for listing in listings:
        warehouse_sku, map_line = mapped.get(listing.sku, (listing.sku, None))
        earlier = known.get(listing.listing_id)
        row = {"channel": channel.name, "listing_id": listing.listing_id, "sku": listing.sku,
               "warehouse_sku": warehouse_sku if warehouse_sku in stock else None, "previous": listing.quantity,
               "shown": listing.quantity, "listing": _listing_fields(listing),
               "updated_at": now, "run_id": run_id, "message": None,
               # What was written before stays known (drift is measured against it; daily caps count it).
               "pushed_quantity": earlier.pushed_quantity if earlier else None,
               "pushed_at": earlier.pushed_at if earlier else None,
               "writes_day": earlier.writes_day if earlier else None,
               "writes_that_day": earlier.writes_that_day if earlier else 0}
        decisions[listing.listing_id] = row
        if warehouse_sku not in stock:
            near = by_lower.get(warehouse_sku.casefold())
            if map_line:  # the row that maps it is what to correct, not a row to add
                message = (f"the warehouse has no item {warehouse_sku!r}, which the row {sku_map_file()}:{map_line} "
                           f"maps listing {listing.sku!r} to: correct that row's warehouse SKU, or ask the warehouse "
                           "to add the item")
            elif near:
                message = (f"listing {listing.sku!r} differs from the warehouse's SKU {near!r} only by case (S36): "
                           f"correct it on {channel.name}, or map it in {sku_map_file()} "
                           f"('{channel.name},{listing.sku},,{near}')")
            else:
                message = (f"the warehouse has no item {warehouse_sku!r} for listing {listing.sku!r}: map it to one in "
                           f"{sku_map_file()}, or leave it (nothing is written to it)")
            row.update(status=PRODUCT_NOT_FOUND, quantity=None, message=message)
            continue
        target = _target(stock[warehouse_sku], promised[warehouse_sku], channel.inventory_buffer)
        row["quantity"] = target
        problem = impossible(stock[warehouse_sku])
        if problem:
            row.update(status=INVALID_QUANTITY, quantity=None, message=(
                f"the warehouse reports {problem} for {warehouse_sku} (S39): nothing is written until it is corrected "
                "at the warehouse"))
        elif not listing.tracked:
            row.update(status=INVENTORY_NOT_TRACKED, message=(
                f"{channel.name} keeps no stock for {listing.sku} (inventory management disabled): turn stock tracking "
                "on for it on the channel to have it synced"))
        elif not listing.active:
            row.update(status=NOT_ACTIVE, message=(
                f"{listing.sku} is not active on {channel.name} (draft, archived or disabled, S41): it is synced once it "
                "is active again"))
        elif listing.quantity == target:
            row.update(status=UNCHANGED)
        elif held := _held_back(earlier, push, channel, listing, target, now):
            row.update(status=HELD_BACK, message=held)
        else:
            updates.append(StockUpdate(listing, target))
        if full and earlier is not None and earlier.pushed_quantity is not None and listing.quantity is not None \
                and listing.quantity != earlier.pushed_quantity and listing.tracked:
            drift_rows.append({
                "channel": channel.name, "listing_id": listing.listing_id, "sku": listing.sku,
                "pushed": earlier.pushed_quantity, "found": listing.quantity,
                "difference": listing.quantity - earlier.pushed_quantity,
                "changed_by": _changed_by(earlier, channel, push),
                "changed_at": listing.changed_at, "first_seen_at": now, "run_id": run_id})
    counts = Counter({"listings": len(listings), "listings_read": len(listings) if full else 0,
                      "to_write": len(updates), "drift_found": len(drift_rows)})
    try:
        for start in range(0, len(updates), push.batch_size):
            batch = updates[start:start + push.batch_size]
            for update, written in zip(batch, push.write(batch)):
                _apply(decisions[update.listing.listing_id], update, written, known.get(update.listing.listing_id),
                       today, now)
    except ChannelUnavailable as exc:  # no answer: what is left goes on the next run
        for update in updates:
            row = decisions[update.listing.listing_id]
            if "status" not in row:
                row.update(status=RETRYING, message=f"{exc}; written on the next run")
    for row in decisions.values():  # a write the channel answered without this listing in it
        row.setdefault("status", RETRYING)
    # A listing written before that the channel no longer lists (deleted there): said, not left as it was.
    for listing_id, earlier in known.items():
        if listing_id not in decisions and full:
            decisions[listing_id] = {
                "channel": channel.name, "listing_id": listing_id, "sku": earlier.sku,
                "warehouse_sku": earlier.warehouse_sku, "previous": None, "shown": None, "listing": None,
                "updated_at": now, "run_id": run_id,
                "pushed_quantity": earlier.pushed_quantity, "pushed_at": earlier.pushed_at,
                "writes_day": earlier.writes_day, "writes_that_day": earlier.writes_that_day,
                "quantity": earlier.quantity, "status": PRODUCT_NOT_FOUND, "message": (
                    f"{earlier.sku} is no longer listed on {channel.name} (deleted there?): nothing is written to it; "
                    "list it again to have it synced"),
            }
    # A full read stamps every listing as read now; a run from what is known keeps the rows nothing changed.
    rows = list(decisions.values()) if full else [
        row for row in decisions.values() if _moved(row, known.get(row["listing_id"]))]
    with engine.begin() as connection:
        upsert(connection, inventory_pushes, rows, ["channel", "listing_id"])
        if drift_rows:
            connection.execute(inventory_drift.insert(), drift_rows)
        corrected = [r["listing_id"] for r in decisions.values() if r["status"] == PUSHED]
        if corrected:
            connection.execute(inventory_drift.update().where(
                inventory_drift.c.channel == channel.name, inventory_drift.c.listing_id.in_(corrected),
                inventory_drift.c.corrected_at.is_(None)).values(corrected_at=now))
    counts.update(f"status_{r['status']}" for r in decisions.values())
    return counts


def _changed_by(earlier, channel: ChannelConfig, push: InventoryPush) -> str:
    """Who changed a drifted listing, as far as can be known: not us (we wrote something else), and where the
    channel keeps the name."""
    when = f" at {earlier.pushed_at:%Y-%m-%d %H:%M} UTC" if earlier.pushed_at else ""
    return (f"not this pipeline, which wrote {earlier.pushed_quantity}{when}: a person, another app or a sale on "
            f"{channel.name}; {push.change_history}")


def _listing_fields(listing: Listing) -> dict:
    """What a write needs of a listing besides its quantity, kept for the runs that do not read the channel."""
    return {"tracked": listing.tracked, "active": listing.active, "ids": listing.ids}


def _as_known(row) -> Listing:
    """A listing as the last read and the writes since left it."""
    fields = row.listing
    return Listing(listing_id=row.listing_id, sku=row.sku, quantity=row.shown, tracked=fields["tracked"],
                   active=fields["active"], ids=fields.get("ids") or {})


def _moved(row: dict, earlier) -> bool:
    """The run changed what the table says of the listing."""
    return earlier is None or any(row[name] != getattr(earlier, name) for name in (
        "status", "quantity", "shown", "message", "warehouse_sku", "pushed_quantity"))


def _target(stock: dict, promised: int, buffer: int) -> int:
    return max(0, stock["good"] - stock["allocated"] - promised - buffer)


def _held_back(earlier, push: InventoryPush, channel: ChannelConfig, listing: Listing, target: int,
               now: datetime) -> str | None:
    """Why a listing of a platform with a daily write cap per listing (eBay 250) is not written now, or None.

    Showing less than the warehouse has is safe, showing more is not: a fall is written until the cap; a rise only
    while the listing's writes of the day keep within an even spread of the cap over the day (RISES_AT_ONCE ahead
    of it, the last FALLS_RESERVED writes kept for falls), so a fast-moving SKU cannot spend its day's writes by
    noon and then show stock it no longer has. A held rise is coalesced: the latest target goes with a later run."""
    cap = push.daily_writes_per_listing
    if not cap or earlier is None or earlier.writes_day != now.date():
        return None
    used, day = earlier.writes_that_day, timedelta(days=1)
    day_start = datetime.combine(now.date(), time(), timezone.utc)
    if used >= cap:
        return (f"{listing.sku} was written {used} times today, {channel.type}'s daily limit per listing: {target} "
                "goes out after midnight UTC")
    if listing.quantity is not None and target <= listing.quantity:
        return None
    spread = cap - FALLS_RESERVED - RISES_AT_ONCE  # rises allowed over the day beyond RISES_AT_ONCE
    if used < RISES_AT_ONCE + spread * ((now - day_start) / day):
        return None
    due = day_start + day * ((used + 1 - RISES_AT_ONCE) / spread)  # when the spread allows one more
    when = f"after {due:%H:%M} UTC" if due < day_start + day else "after midnight UTC"
    return (f"{listing.sku} was written {used} times today of {channel.type}'s {cap} per listing, which are spread "
            f"over the day for rises (the last {FALLS_RESERVED} kept for falls, so it never shows stock it no longer "
            f"has): the rise to {target} goes out with the first run {when}")


def _apply(row: dict, update: StockUpdate, written: Written, earlier, today: date, now: datetime) -> None:
    row.update(status=written.status, message=written.message)
    if written.status == PUSHED:
        same_day = earlier is not None and earlier.writes_day == today
        row.update(pushed_quantity=update.quantity, shown=update.quantity, pushed_at=now, writes_day=today,
                   writes_that_day=(earlier.writes_that_day if same_day else 0) + 1)


