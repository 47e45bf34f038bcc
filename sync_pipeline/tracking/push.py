"""Every package the warehouse shipped, on its channel once, with the carrier the channel knows.

A run reads the warehouse's shipments changed since the partitions' cursors, files each package (a row of
tracking_updates, keyed by the warehouse's shipment id) under its UTC day of shipment, picks the channel's carrier
code, and pushes what is not on the channel yet with the send-and-settle machinery of the order flow (db/claims.py):
a package is claimed and marked in doubt in one statement just before its push; its answer clears the mark. A
package still in doubt (the reply was lost, or the run died) is looked for on the channel before anything else,
and pushed again only when the channel does not hold its number. A corrected number is pushed as a correction of
the fulfillment that holds the old one (or added beside it where the platform cannot change one).

When every line of an order has shipped and every package is on the channel, the order is COMPLETED in
fulfilment_orders (the seeds' IS2)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock_time

import orjson
import pandas as pd
import sqlalchemy as sa

from sync_pipeline.channels.http import ChannelAuthError, ChannelError, ChannelRequestError, ChannelUnavailable
from sync_pipeline.channels.tracking import (
    ALREADY_FULFILLED,
    CARRIER_NOT_MAPPED,
    ORDER_CANCELLED,
    ORDER_NOT_FOUND,
    PERMISSION_DENIED,
    PUSHED,
    REFUSED,
    RETRYING,
    Package,
    PackageLine,
    Pushed,
    TrackingPush,
)
from sync_pipeline.config import ChannelConfig
from sync_pipeline.db.claims import Claims, chunks
from sync_pipeline.db.tables import (
    fulfilment_orders,
    order_lines,
    raw_orders,
    reconciliation_findings,
    tracking_cursors,
)
from sync_pipeline.db.tables import tracking_updates as table
from sync_pipeline.db.writes import insert_new, upsert
from sync_pipeline.orders.sync_errors import record_errors
from sync_pipeline.tracking.carriers import CarrierMap
from sync_pipeline.warehouse.client import WarehouseClient

STAGE = "tracking"
PENDING = "PENDING"
NOT_APPLICABLE = "NOT_APPLICABLE"
NO_TRACKING_NUMBER = "NO_TRACKING_NUMBER"
UNKNOWN_ORDER = "UNKNOWN_ORDER"
# PERMISSION_DENIED and REFUSED are tried again on every run: a person may grant the scope or fix the cause meanwhile.
TO_PUSH = (PENDING, RETRYING, PERMISSION_DENIED, REFUSED)
ON_CHANNEL = (PUSHED, ALREADY_FULFILLED)
DONE = (*ON_CHANNEL, NOT_APPLICABLE)  # what an order needs of every package to be COMPLETED
CORRECTING = (table.c.status == PUSHED) & (table.c.pushed_number != table.c.tracking_number)  # a correction to push
# Statuses a person must act on: each is an order_sync_errors row (stage tracking) until it is gone.
FOR_A_PERSON = (ORDER_NOT_FOUND, PERMISSION_DENIED, CARRIER_NOT_MAPPED, NO_TRACKING_NUMBER, UNKNOWN_ORDER, REFUSED)
STATUSES = (PENDING, RETRYING, PUSHED, ALREADY_FULFILLED, ORDER_NOT_FOUND, ORDER_CANCELLED, PERMISSION_DENIED,
            CARRIER_NOT_MAPPED, NOT_APPLICABLE, NO_TRACKING_NUMBER, UNKNOWN_ORDER, REFUSED)
LOOKBACK = timedelta(minutes=5)  # shipments are re-read a little before the cursor: clocks and commits race
SEND_TRIES = 3  # pushes of one package in one run (after a lost reply, or while the order is locked), with backoff
# Why a channel type without a tracking push (no TRACKING_PUSHES entry) settles its packages NOT_APPLICABLE.
NO_TRACKING_PUSH = {
    "takealot": "{type} delivers to its customers itself: there is no tracking push, nothing to do",
    "bobshop": ("Bob Shop has no order API to take tracking: the order is marked shipped on Bob Shop's own site, where "
                "status updates take 15-30 minutes to show; nothing is pushed from here for {channel}"),
}
NO_PUSH_DEFAULT = "{type} takes no tracking from this pipeline: there is no tracking push, nothing to do"



@dataclass(frozen=True)
class Settings:
    claim_expiry: timedelta
    backoff_base_s: float
    sleep: Callable[[float], None] = time.sleep


def sync_tracking(
    engine: sa.Engine, warehouse: WarehouseClient, push: TrackingPush | None, channel: ChannelConfig,
    days: list[date], run_id: str, settings: Settings,
) -> Counter:
    """Bring every package the channel's orders shipped on `days` to the channel; returns the run's counters."""
    counts: Counter = Counter()
    newest = _land(engine, warehouse, push, channel, days, run_id, counts)
    try:
        if push is not None:
            _choose_carriers(engine, CarrierMap(channel, type(push)), channel.name, days)
            with Claims(engine, table, "package_id", run_id, settings.claim_expiry) as claims:
                _resolve_in_doubt(engine, push, claims, channel.name, days, run_id, counts)
                _push(engine, push, claims, channel.name, days, run_id, settings, counts)
    finally:
        _complete(engine, channel.name, days)
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        _record_errors(connection, channel.name, days, now)
        upsert(connection, tracking_cursors, [
            {"channel": channel.name, "partition_date": day, "cursor_updated_at": moment, "last_synced_at": now,
             "last_run_id": run_id}
            for day, moment in newest.items()
        ], ["channel", "partition_date"], update={
            "cursor_updated_at": lambda excluded: _later(connection, tracking_cursors.c.cursor_updated_at,
                                                         excluded.cursor_updated_at),
            "last_synced_at": lambda excluded: excluded.last_synced_at,
            "last_run_id": lambda excluded: excluded.last_run_id,
        })
        final = connection.execute(
            sa.select(table.c.status, sa.func.count()).where(table.c.channel == channel.name,
                                                             table.c.partition_date.in_(days))
            .group_by(table.c.status)
        ).all()
        counts["in_doubt"] = connection.execute(
            sa.select(sa.func.count()).where(table.c.channel == channel.name, table.c.partition_date.in_(days),
                                             table.c.in_doubt_since.is_not(None))
        ).scalar_one()
    counts.update({f"status_{status}": n for status, n in final})
    return counts


# --- landing the warehouse's shipments ---------------------------------------------------------------------------
def _since(connection: sa.Connection, channel: str, days: list[date]) -> datetime:
    """The earliest change worth reading: each day from its cursor (less the lookback), or from its start."""
    cursors = dict(connection.execute(
        sa.select(tracking_cursors.c.partition_date, tracking_cursors.c.cursor_updated_at)
        .where(tracking_cursors.c.channel == channel, tracking_cursors.c.partition_date.in_(days))
    ).all())
    starts = [cursors[day] - LOOKBACK if day in cursors else datetime.combine(day, clock_time(), timezone.utc)
              for day in days]
    return min(starts)


def _land(engine: sa.Engine, warehouse: WarehouseClient, push: TrackingPush | None, channel: ChannelConfig,
          days: list[date], run_id: str, counts: Counter) -> dict[date, datetime]:
    """New packages as rows, corrected numbers onto their rows; returns the newest change read per day."""
    with engine.connect() as connection:
        since = _since(connection, channel.name, days)
    wanted = set(days)
    with engine.connect() as connection:
        linked = _linked_elsewhere(connection, channel.name)
    shipped = warehouse.shipments(since, channel.name)
    if linked:  # keyed in by hand at the warehouse (no channel there) and linked here by reconciliation (S43)
        shipped += [s for s in warehouse.shipments(since) if s.get("channel") != channel.name and s["order_id"] in linked]
    shipments = [s for s in shipped if _utc(s["shipped_at"]).date() in wanted]
    counts["shipments_read"] = len(shipments)
    newest: dict[date, datetime] = {}
    for shipment in shipments:
        day, moment = _utc(shipment["shipped_at"]).date(), _utc(shipment["updated_at"])
        newest[day] = max(newest.get(day, moment), moment)
    if not shipments:
        return newest
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        orders = _orders_by_reference(connection, channel.name, {s["client_reference"] for s in shipments})
        known = {row.package_id: row for row in _rows(connection, [package_key(s) for s in shipments])}
        new_rows = [_new_row(s, linked.get(s["order_id"]) or orders.get(s["client_reference"]), push, channel, now,
                             run_id)
                    for s in shipments if package_key(s) not in known]
        counts["packages_new"] = insert_new(connection, table, new_rows, ["package_id"])
        for shipment in shipments:
            row = known.get(package_key(shipment))
            number = _text(shipment.get("tracking_number"))
            if row is None or number is None or number == row.tracking_number:
                continue
            counts["corrections_read"] += 1
            # In SQL, from the row as it is now (another run may be pushing it): a push in flight keeps the number
            # it carries in sending_number, so the correction is pushed after it, never instead of it.
            waiting = table.c.status == NO_TRACKING_NUMBER
            connection.execute(
                table.update().where(table.c.package_id == row.package_id, table.c.tracking_number.is_distinct_from(number))
                .values(tracking_number=number, corrected_from=table.c.tracking_number, updated_at=now, run_id=run_id,
                        status=sa.case((waiting, PENDING), else_=table.c.status),
                        message=sa.case((waiting, None), else_=table.c.message))
            )
    return newest


def package_key(shipment: dict) -> str:
    """A package's row key: its order's reference and the warehouse's shipment id, so a warehouse that numbers
    shipments anew (a fresh simulator, a migrated 3PL) cannot put one order's number on another's row."""
    return f"{shipment['client_reference']}/{shipment['shipment_id']}"


def _new_row(shipment: dict, order: sa.Row | None, push: TrackingPush | None, channel: ChannelConfig,
             now: datetime, run_id: str) -> dict:
    number = _text(shipment.get("tracking_number"))
    row = {
        "package_id": package_key(shipment), "shipment_id": shipment["shipment_id"], "channel": channel.name,
        "order_id": order.order_id if order else shipment["client_reference"],
        "external_order_id": order.external_order_id if order else str(shipment.get("channel_order_id") or ""),
        "partition_date": _utc(shipment["shipped_at"]).date(), "warehouse_order_id": shipment["order_id"],
        "tracking_number": number, "carrier_as_sent": _text(shipment.get("carrier")),
        "shipped_at": _utc(shipment["shipped_at"]),
        "lines": orjson.dumps([{k: line.get(k) for k in ("line_number", "sku", "quantity")}
                               for line in shipment.get("lines") or []]).decode(),
        "status": PENDING, "message": None, "updated_at": now, "run_id": run_id,
    }
    if order is None:
        row.update(status=UNKNOWN_ORDER, message=(
            f"the warehouse shipped {shipment['order_id']} under the reference {shipment['client_reference']!r}, which "
            "this pipeline never sent; if it is a channel order, push its tracking on the channel by hand"))
    elif push is None:
        row.update(status=NOT_APPLICABLE, message=NO_TRACKING_PUSH.get(channel.type, NO_PUSH_DEFAULT).format(
            type=channel.type, channel=channel.name))
    elif number is None:
        row.update(status=NO_TRACKING_NUMBER, message=(
            f"the warehouse shipped package {shipment['shipment_id']} of {shipment['order_id']} without a tracking "
            "number; ask the warehouse to add it, and it is pushed on the next run after they do"))
    return row


def _linked_elsewhere(connection: sa.Connection, channel: str) -> dict[str, sa.Row]:
    """The channel's orders linked to a warehouse order it did not send (S43), by that warehouse order's id: their
    packages carry another reference, or none, and no channel at the warehouse."""
    findings = reconciliation_findings
    return {row.warehouse_order_id: row for row in connection.execute(
        sa.select(fulfilment_orders.c.warehouse_order_id, fulfilment_orders.c.order_id,
                  fulfilment_orders.c.external_order_id)
        .join(findings, sa.and_(findings.c.order_id == fulfilment_orders.c.order_id,
                                findings.c.warehouse_order_id == fulfilment_orders.c.warehouse_order_id))
        .where(fulfilment_orders.c.channel == channel, fulfilment_orders.c.linked.is_(True),
               findings.c.kind == "S43", findings.c.status == "LINKED")
    )}


def _orders_by_reference(connection: sa.Connection, channel: str, references: set[str]) -> dict[str, sa.Row]:
    found: dict[str, sa.Row] = {}
    for chunk in chunks(references):
        for row in connection.execute(
            sa.select(fulfilment_orders.c.client_reference, fulfilment_orders.c.order_id,
                      fulfilment_orders.c.external_order_id)
            .where(fulfilment_orders.c.channel == channel, fulfilment_orders.c.client_reference.in_(chunk))
        ):
            found[row.client_reference] = row
    return found


def _rows(connection: sa.Connection, package_ids: list[str]) -> list[sa.Row]:
    rows: list[sa.Row] = []
    for chunk in chunks(package_ids):
        rows += connection.execute(sa.select(table).where(table.c.package_id.in_(chunk))).all()
    return rows


def _partition_rows(connection: sa.Connection, channel: str, days: list[date], *conditions) -> list[sa.Row]:
    return connection.execute(
        sa.select(table).where(table.c.channel == channel, table.c.partition_date.in_(days), *conditions)
        .order_by(table.c.shipped_at, table.c.package_id)
    ).all()


# --- carriers ------------------------------------------------------------------------------------------------------
def _choose_carriers(engine: sa.Engine, carriers: CarrierMap, channel: str, days: list[date]) -> None:
    """The channel's code and tracking link for every package still to push or to correct (a map edited since is
    read again each run). Only rows nobody holds, and as they were read, are changed."""
    with engine.begin() as connection:
        rows = _partition_rows(connection, channel, days, table.c.status.in_((*TO_PUSH, CARRIER_NOT_MAPPED)) | CORRECTING,
                               table.c.in_doubt_since.is_(None), table.c.claimed_by.is_(None))
        for row in rows:
            choice = carriers.choose(row.carrier_as_sent, row.tracking_number)
            if row.status == PUSHED:  # a correction: the number's link; the carrier stays what the channel took
                values = {"tracking_url": choice.tracking_url, "carrier_code": choice.code or row.carrier_code}
            elif choice.code is None:
                values = {"status": CARRIER_NOT_MAPPED, "carrier_code": None, "tracking_url": choice.tracking_url,
                          "message": choice.message}
            else:
                values = {"status": PENDING if row.status == CARRIER_NOT_MAPPED else row.status,
                          "carrier_code": choice.code, "tracking_url": choice.tracking_url,
                          "message": None if row.status == CARRIER_NOT_MAPPED else row.message}
            if any(getattr(row, k) != v for k, v in values.items()):
                connection.execute(table.update().where(
                    table.c.package_id == row.package_id, table.c.status == row.status,
                    table.c.in_doubt_since.is_(None), table.c.claimed_by.is_(None),
                ).values(**values))


# --- pushing -------------------------------------------------------------------------------------------------------
def _resolve_in_doubt(engine: sa.Engine, push: TrackingPush, claims: Claims, channel: str, days: list[date],
                      run_id: str, counts: Counter) -> None:
    """A push whose answer was never recorded may have reached the channel: look for the number it carried before
    anything else. Whatever keeps the channel from answering keeps the package in doubt."""
    with engine.connect() as connection:
        doubtful = [r.package_id for r in _partition_rows(connection, channel, days, table.c.in_doubt_since.is_not(None))]
    for package_id in claims.take(doubtful, STATUSES, table.c.in_doubt_since.is_not(None)):
        with engine.connect() as connection:
            row = _rows(connection, [package_id])[0]
            package = _packages(connection, push, [row])[package_id]
        try:
            fulfillment_id = push.find(package)
        except ChannelError:  # the channel cannot say: nothing is pushed for it this run
            claims.release([package_id], still_in_doubt=True)
            counts["in_doubt_unresolved"] += 1
            continue
        if fulfillment_id is None:
            counts["in_doubt_not_there"] += 1
            claims.release([package_id], still_in_doubt=False)
            continue
        counts["in_doubt_found"] += 1
        push.on_channel(package)
        _record(engine, row, package.tracking_number, Pushed(PUSHED, fulfillment_id, (
            "found on the channel after a push whose answer was lost: linked, not pushed again")), run_id)


def _push(engine: sa.Engine, push: TrackingPush, claims: Claims, channel: str, days: list[date], run_id: str,
          settings: Settings, counts: Counter) -> None:
    pushable = table.c.status.in_(TO_PUSH) | CORRECTING
    ready = sa.and_(table.c.carrier_code.is_not(None), table.c.tracking_number.is_not(None))
    with engine.connect() as connection:
        candidates = [r.package_id for r in _partition_rows(connection, channel, days, pushable, ready,
                                                            table.c.in_doubt_since.is_(None))]
    for package_id in candidates:
        claimed = claims.take_to_send([package_id], (*TO_PUSH, PUSHED), pushable, ready,
                                      attempts=table.c.attempts + 1, sending_number=table.c.tracking_number)
        if not claimed:
            counts["skipped_claimed_elsewhere"] += 1
            continue
        with engine.connect() as connection:
            row = _rows(connection, [package_id])[0]
            package = _packages(connection, push, [row])[package_id]
        # Something of this package is on the channel already (an earlier number): correct it, never add to it.
        correcting = row.pushed_number is not None and row.channel_fulfillment_id is not None
        try:
            pushed = _push_once(push, package, row, correcting, settings, counts)
        except ChannelUnavailable as exc:  # no answer: kept in doubt, looked for on the channel next run
            counts["push_unanswered"] += 1
            with engine.begin() as connection:
                connection.execute(table.update().where(table.c.package_id == package_id,
                                                        table.c.claimed_by == run_id).values(
                    claimed_by=None, claimed_at=None, status=row.status if correcting else RETRYING,
                    message=f"{exc}; the channel is read for this package before it is pushed again",
                    updated_at=datetime.now(timezone.utc), run_id=run_id))
            continue
        except ChannelAuthError:  # refused before anything happened: not in doubt; the channel's run fails
            claims.release([package_id], still_in_doubt=False)
            raise
        except ChannelRequestError as exc:  # refused as invalid: nothing was taken; this package waits for a person
            pushed = Pushed(REFUSED, message=f"{exc}; fix it on the channel or at the warehouse: it is tried again on "
                                             "every run of its partition (sync-pipeline why shows the package)")
        counts[f"push_{pushed.status}"] += 1
        if correcting and pushed.status == PUSHED:
            counts["corrections_pushed"] += 1
        _record(engine, row, package.tracking_number, pushed, run_id)


def _push_once(push: TrackingPush, package: Package, row: sa.Row, correcting: bool, settings: Settings,
               counts: Counter) -> Pushed:
    """One package to the channel. A push that got no answer is looked for on the channel before it is sent
    again; a locked order (S31) is tried again with backoff. SEND_TRIES sends at most; then ChannelUnavailable
    (the package stays in doubt) or the last answer (RETRYING: the next run tries again)."""
    for attempt in range(SEND_TRIES):
        if attempt:
            settings.sleep(settings.backoff_base_s * 2 ** (attempt - 1))
        try:
            if correcting:
                pushed = push.correct(package, row.channel_fulfillment_id, row.pushed_number)
            else:
                pushed = push.push(package)
        except ChannelUnavailable:
            if attempt == SEND_TRIES - 1:
                raise
            counts["lost_replies"] += 1
            try:
                fulfillment_id = push.find(package)
            except ChannelError as exc:  # the channel cannot say whether it took the push: it stays in doubt
                raise ChannelUnavailable(push.connector.config.name, f"the push of package {package.package_id} got no "
                                         f"answer, and looking for it failed too ({exc})") from None
            if fulfillment_id is not None:
                push.on_channel(package)
                return Pushed(PUSHED, fulfillment_id, "the channel took it, though its reply was lost")
            continue
        if pushed.status != RETRYING:
            return pushed
        counts["locked_retries"] += 1
    return pushed


def _record(engine: sa.Engine, row: sa.Row, number: str, pushed: Pushed, run_id: str) -> None:
    """The channel's answer, for a row this run still holds; the in-doubt mark goes."""
    now = datetime.now(timezone.utc)
    values = {"claimed_by": None, "claimed_at": None, "in_doubt_since": None, "updated_at": now, "run_id": run_id,
              "message": pushed.message}
    if pushed.status == PUSHED:
        values.update(status=PUSHED, pushed_number=number, pushed_at=now,
                      channel_fulfillment_id=pushed.fulfillment_id or row.channel_fulfillment_id)
    elif row.pushed_number is not None:  # a correction the channel refused: the old number stays on the channel
        values.update(status=pushed.status, message=(
            f"the corrected number {number} was not pushed ({row.pushed_number} stays on the channel): {pushed.message}"))
    else:
        values.update(status=pushed.status)
    with engine.begin() as connection:
        connection.execute(table.update().where(table.c.package_id == row.package_id,
                                                table.c.claimed_by == run_id).values(**values))


# --- packages ------------------------------------------------------------------------------------------------------
def _packages(connection: sa.Connection, push: TrackingPush, rows: list[sa.Row]) -> dict[str, Package]:
    """Rows as Packages, with the channel's order payload and what the order's other packages carried."""
    order_ids = {r.order_id for r in rows}
    siblings = defaultdict(list)
    for chunk in chunks(order_ids):
        for sibling in connection.execute(sa.select(table).where(table.c.order_id.in_(chunk))):
            siblings[sibling.order_id].append(sibling)
    ordered = _ordered_quantities(connection, order_ids)
    payloads = _payloads(connection, rows)
    packages = {}
    for row in rows:
        lines = _lines(row)
        others = [s for s in siblings[row.order_id] if s.package_id != row.package_id]
        pushed_before = [line for s in others if s.status == PUSHED for line in _lines(s)]
        shipped = Counter()
        for line in [*lines, *(line for s in others for line in _lines(s))]:
            shipped[line.line_number] += line.quantity
        all_shipped = all(shipped[n] >= q for n, q in ordered.get(row.order_id, {}).items())
        packages[row.package_id] = Package(
            external_order_id=row.external_order_id, package_id=row.package_id,
            # While a push is claimed or in doubt, the number it carries; else the warehouse's current one.
            tracking_number=row.sending_number if row.in_doubt_since is not None and row.sending_number else row.tracking_number,
            carrier_code=row.carrier_code, carrier_name=row.carrier_as_sent or "",
            other_carrier=row.carrier_code is not None and row.carrier_code == push.other_carrier_code,
            tracking_url=row.tracking_url, shipped_at=row.shipped_at, lines=tuple(lines),
            payload=payloads.get((row.channel, row.external_order_id)), pushed_before=tuple(pushed_before),
            completes_order=all_shipped and all(s.status in DONE for s in others),
        )
    return packages


def _lines(row: sa.Row) -> list[PackageLine]:
    return [PackageLine(int(line["line_number"]), int(line["quantity"])) for line in orjson.loads(row.lines)
            if line.get("line_number") is not None and line.get("quantity")]


def _ordered_quantities(connection: sa.Connection, order_ids: set[str]) -> dict[str, dict[int, int]]:
    ordered: dict[str, dict[int, int]] = defaultdict(dict)
    for chunk in chunks(order_ids):
        for line in connection.execute(sa.select(order_lines.c.order_id, order_lines.c.line_number,
                                                 order_lines.c.quantity).where(order_lines.c.order_id.in_(chunk))):
            ordered[line.order_id][line.line_number] = line.quantity
    return ordered


def _payloads(connection: sa.Connection, rows: list[sa.Row]) -> dict[tuple[str, str], object]:
    """The channel's latest version of each order (where its line, address and item ids are)."""
    by_channel = defaultdict(set)
    for row in rows:
        by_channel[row.channel].add(row.external_order_id)
    payloads = {}
    for channel, ids in by_channel.items():
        for chunk in chunks(ids):
            for version in connection.execute(
                sa.select(raw_orders.c.external_order_id, raw_orders.c.payload)
                .where(raw_orders.c.channel == channel, raw_orders.c.external_order_id.in_(chunk))
                .order_by(raw_orders.c.id)
            ):
                payloads[(channel, version.external_order_id)] = orjson.loads(version.payload)
    return payloads


# --- outcomes ------------------------------------------------------------------------------------------------------
def _complete(engine: sa.Engine, channel: str, days: list[date]) -> None:
    """COMPLETED for orders whose every line shipped and whose every package is on the channel (or takes no
    tracking there: Takealot); the warehouse's shipping state on the others."""
    with engine.begin() as connection:
        order_ids = {r.order_id for r in _partition_rows(connection, channel, days)}
        if not order_ids:
            return
        packages = defaultdict(list)
        for chunk in chunks(order_ids):
            for row in connection.execute(sa.select(table).where(table.c.order_id.in_(chunk))):
                packages[row.order_id].append(row)
        ordered = _ordered_quantities(connection, order_ids)
        complete, partial, shipped = [], [], []
        for order_id, rows in packages.items():
            quantities = Counter()
            for row in rows:
                for line in _lines(row):
                    quantities[line.line_number] += line.quantity
            every_line = bool(ordered.get(order_id)) and all(quantities[n] >= q for n, q in ordered[order_id].items())
            on_channel = all(r.status in DONE and (r.status != PUSHED or r.pushed_number == r.tracking_number)
                             for r in rows)
            (complete if every_line and on_channel else shipped if every_line else partial).append(order_id)
        now = datetime.now(timezone.utc)
        accepted = fulfilment_orders.c.status == "ACCEPTED"
        for ids, values in ((complete, {"status": "COMPLETED", "warehouse_status": "shipped"}),
                            (shipped, {"warehouse_status": "shipped"}),
                            (partial, {"warehouse_status": "partially_shipped"})):
            for chunk in chunks(ids):
                connection.execute(fulfilment_orders.update().where(fulfilment_orders.c.order_id.in_(chunk), accepted)
                                   .values(updated_at=now, **values))


def _record_errors(connection: sa.Connection, channel: str, days: list[date], now: datetime) -> None:
    rows = _partition_rows(connection, channel, days, table.c.status.in_(FOR_A_PERSON))
    errors = pd.DataFrame(
        [{"external_order_id": r.external_order_id, "partition_date": r.partition_date, "error_code": r.status,
          "field": f"package {r.shipment_id}", "message": r.message or r.status, "payload_sha256": None} for r in rows],
        columns=["external_order_id", "partition_date", "error_code", "field", "message", "payload_sha256"],
    )
    record_errors(connection, STAGE, channel, days, errors, now)


def _later(connection: sa.Connection, a, b) -> sa.ColumnElement:
    """The later of two times (a re-run of an old day must not move its cursor back)."""
    return (sa.func.max if connection.dialect.name == "sqlite" else sa.func.greatest)(a, b)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _text(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
