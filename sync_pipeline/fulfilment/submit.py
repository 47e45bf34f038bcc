"""Exactly once at the warehouse, whatever fails, however many runs overlap, and whether or not the warehouse
refuses a client reference it already holds (many targets store it again, and the order ships twice).

Every order has a row in fulfilment_orders before anything is sent. A run claims each batch of orders just before
sending it, with one conditional UPDATE timed by the database's clock, and that UPDATE also sets `in_doubt_since`:
from then on the order is *in doubt* until the warehouse's answer is recorded. An order in doubt, whatever its status,
is looked up at the warehouse before anything else is done with it (linked if there, sendable again if not), and
is never settled, cancelled or resent while the warehouse cannot say. An order sent before is looked up before
it is sent again, and the first sends of a run are checked against the warehouse's list of the channel's orders
(an order keyed in by hand is linked, not posted). A claim is a lease: the live run renews its claims while it
works, so only a dead run's claims lapse (after `claim_expiry_seconds`), however long a send takes. ACCEPTED,
CANCELLED and MANUAL orders are never sent again.

The states of a row and what moves them are drawn in docs/architecture.md ("Fulfilment")."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import orjson
import pandas as pd
import sqlalchemy as sa

from sync_pipeline.channels.http import ChannelError
from sync_pipeline.db.claims import Claims, chunks
from sync_pipeline.db.clock import database_now
from sync_pipeline.db.tables import UtcDateTime
from sync_pipeline.db.tables import fulfilment_orders as table
from sync_pipeline.db.writes import insert_new, with_none
from sync_pipeline.fulfilment.prepare import MAP_FILE_ERROR, NOT_READY, SHIPPED_ON_CHANNEL, STAGE, Prepared
from sync_pipeline.fulfilment.schemas import GATE_CODES
from sync_pipeline.orders.sync_errors import record_errors
from sync_pipeline.warehouse.client import REJECTION_FIXES, Submission, WarehouseClient, linked_submission

FINAL = ("ACCEPTED", "CANCELLED", "COMPLETED")  # _settle leaves these alone
# COMPLETED: shipped, and every package's tracking is on the channel (set by the tracking flow).
NEVER_SENT = ("ACCEPTED", "CANCELLED", "MANUAL", "COMPLETED")  # a person may have keyed a MANUAL order in at the warehouse
SENDABLE = ("NEW", "IMPORT_ERROR", "HELD")
STATUSES = (*SENDABLE, *NEVER_SENT)
STOPPED = ("IMPORT_ERROR", "HELD")  # kept from the warehouse for the reason its error_code names
# Every code a stopped order can carry: the gate's, the holds', a broken map file's, and the warehouse's refusals
# (WAREHOUSE_ORDER_CANCELLED: it holds the reference, cancelled). The metadata reports each, zero included.
ERROR_CODES = tuple(sorted({*GATE_CODES, SHIPPED_ON_CHANNEL, NOT_READY, MAP_FILE_ERROR, *REJECTION_FIXES,
                            "WAREHOUSE_ORDER_CANCELLED"}))
STATUS_OF_ACTION = {"hold": "HELD", "manual": "MANUAL", "error": "IMPORT_ERROR", "cancel": "CANCELLED"}
SHIPPED_BEFORE_CANCEL = "SHIPPED_BEFORE_CANCEL"
WRITE_BATCH = 100


def fulfil(
    engine: sa.Engine, client: WarehouseClient, channel: str, days: list[date], prepared: Prepared, run_id: str,
    now: datetime,
) -> Counter:
    """Bring every prepared order to its state at the warehouse; returns counters for the run's metadata."""
    with Claims(engine, table, "order_id", run_id, timedelta(seconds=client.config.claim_expiry_seconds)) as claims:
        return _fulfil(engine, client, channel, days, prepared, run_id, now, claims)


def _fulfil(
    engine: sa.Engine, client: WarehouseClient, channel: str, days: list[date], prepared: Prepared, run_id: str,
    now: datetime, claims: Claims,
) -> Counter:
    counts: Counter = Counter()
    orders = prepared.orders
    with engine.begin() as connection:
        insert_new(connection, table, [
            {"order_id": o.order_id, "channel": channel, "external_order_id": o.external_order_id,
             "partition_date": o.partition_date, "client_reference": o.client_reference, "status": "NEW",
             "updated_at": now, "run_id": run_id}
            for o in orders.itertuples(index=False)
        ], ["order_id"])
        state = _state(connection, list(orders.index))

    # A send whose answer was never recorded (lost, or the run died) may have reached the warehouse: ask it first.
    counts.update(_resolve_in_doubt(engine, client, claims, state.index[state["in_doubt_since"].notna()], state, run_id))
    with engine.connect() as connection:
        state = _state(connection, list(orders.index))
    in_doubt = set(state.index[state["in_doubt_since"].notna()])
    counts["in_doubt_unresolved"] = len(in_doubt)

    accepted = set(state.index[state["status"] == "ACCEPTED"])
    action = orders["action"]
    settled = orders[action.isin(["hold", "manual", "error", "cancel"]) & ~orders.index.isin(accepted | in_doubt)]
    with engine.begin() as connection:
        _settle(connection, settled, run_id, now, claims)

    # Cancelled on the channel after it reached the warehouse: cancel it there too, once, unless it shipped.
    cancellable = state.index[(state["status"] == "ACCEPTED") & (state["error_code"] != SHIPPED_BEFORE_CANCEL)]
    to_cancel = orders.index[(action == "cancel") & orders.index.isin(set(cancellable))]
    for order_id in claims.take(to_cancel, ("ACCEPTED",)):
        counts.update(_cancel(engine, client, order_id, state.loc[order_id], run_id))

    counts["already_accepted"] = len(accepted)
    to_send = [i for i in orders.index[action == "submit"] if state.loc[i, "status"] not in NEVER_SENT and i not in in_doubt]
    sent_before = set(state.index[state["submitted_at"].notna()])
    # Orders this pipeline never sent may still be there (keyed in by hand): one read of the channel's list.
    held = client.orders_by_reference(channel) if any(i not in sent_before for i in to_send) else {}
    with ThreadPoolExecutor(max_workers=client.config.concurrency) as pool:
        for start in range(0, len(to_send), WRITE_BATCH):
            # Claimed batch by batch, just before it goes out; orders another run holds, or that moved on since
            # this run read their state, are left out.
            chunk = to_send[start:start + WRITE_BATCH]
            batch = claims.take_to_send(chunk, SENDABLE,
                                        submitted_at=sa.func.coalesce(table.c.submitted_at, database_now(claims.dialect)))
            counts["skipped_claimed_elsewhere"] += len(chunk) - len(batch)
            sends = pool.map(lambda order_id: _send(client, order_id, prepared.requests[order_id],
                                                    order_id in sent_before, held), batch)
            outcomes = []
            for order_id, submission in zip(batch, sends):
                counts.update(_count(submission))
                outcomes.append(_outcome(order_id, submission, orders.loc[order_id, "ship_code"], run_id))
            _record(engine, outcomes, run_id)

    with engine.begin() as connection:
        final = _state(connection, list(orders.index))
        stopped = final.index[final["status"].isin(STOPPED) & final["in_doubt_since"].isna()]
        errors = pd.concat([prepared.errors, _rejections(final, orders)], ignore_index=True)
        record_errors(connection, STAGE, channel, days, errors[errors["order_id"].isin(set(stopped))].drop(columns="order_id"), now)
    counts.update(f"status_{status}" for status in final["status"])
    counts["in_doubt"] = int(final["in_doubt_since"].notna().sum())
    counts.update(f"errors_{code}" for code in final.loc[stopped, "error_code"].dropna())
    return counts


def _send(client: WarehouseClient, order_id: str, request: dict, sent_before: bool, held: dict[str, dict]) -> Submission:
    """One claimed order: looked up where it may be there already, then posted. Whatever goes wrong is this
    order's outcome, never the batch's."""
    reference = request["client_reference"]
    try:
        existing = client.find(reference) if sent_before else held.get(reference)
        if existing is not None:
            return linked_submission(existing, 0)
        return client.create(request)
    except Exception as exc:  # noqa: BLE001 - kept in doubt and looked up on the next run
        return Submission("unavailable", 0, message=f"sending failed ({type(exc).__name__}: {exc}); "
                                                    "the order is looked up at the warehouse on the next run")


def _resolve_in_doubt(engine: sa.Engine, client: WarehouseClient, claims: Claims, order_ids, state: pd.DataFrame,
                      run_id: str) -> Counter:
    counts: Counter = Counter()
    found = []
    for order_id in claims.take(order_ids, STATUSES, table.c.in_doubt_since.is_not(None)):
        try:
            existing = client.find(state.loc[order_id, "client_reference"])
        except ChannelError:  # still in doubt: nothing is sent, settled or cancelled for it this run
            claims.release([order_id], still_in_doubt=True)
            continue
        if existing is None:  # the request never arrived: an ordinary unsent order again
            counts["in_doubt_not_there"] += 1
            claims.release([order_id], still_in_doubt=False)
            continue
        counts["in_doubt_found"] += 1
        found.append(_outcome(order_id, linked_submission(existing, 0), state.loc[order_id, "ship_code"], run_id))
    _record(engine, found, run_id)
    return counts


def _state(connection: sa.Connection, order_ids: list[str]) -> pd.DataFrame:
    rows = []
    for chunk in chunks(order_ids):
        rows += connection.execute(sa.select(table).where(table.c.order_id.in_(chunk))).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in table.columns]).set_index("order_id", drop=False)


def _settle(connection: sa.Connection, settled: pd.DataFrame, run_id: str, now: datetime, claims: Claims) -> None:
    """Orders that are not sent: their state and reason, unless final, in doubt, or held by another run."""
    if settled.empty:
        return
    statement = (
        table.update()
        .where(table.c.order_id == sa.bindparam("b_order_id"), *(table.c.status != s for s in FINAL),
               table.c.in_doubt_since.is_(None), claims.free())
        .values(status=sa.bindparam("b_status"), error_code=sa.bindparam("b_error_code"), message=sa.bindparam("b_message"),
                ship_code=sa.bindparam("b_ship_code"), updated_at=now, run_id=run_id,
                cancelled_at=sa.case((sa.bindparam("b_status") == "CANCELLED", sa.literal(now, UtcDateTime)), else_=None))
    )
    clean = with_none(settled)
    connection.execute(statement, [
        {"b_order_id": o.order_id, "b_status": STATUS_OF_ACTION[o.action], "b_error_code": o.error_code,
         "b_message": o.message, "b_ship_code": o.ship_code}
        for o in clean.itertuples(index=False)
    ])


def _cancel(engine: sa.Engine, client: WarehouseClient, order_id: str, row: pd.Series, run_id: str) -> Counter:
    now = datetime.now(timezone.utc)
    values = {"claimed_by": None, "claimed_at": None, "updated_at": now, "run_id": run_id}
    try:
        answer = client.cancel(row["warehouse_order_id"])
    except ChannelError as exc:  # this order only: it stays ACCEPTED and the cancellation is tried next run
        values.update(message=f"cancelled on the channel, but the cancellation did not reach the warehouse ({exc}); "
                              "tried again on the next run")
        outcome = "cancel_failed"
    else:
        if answer == "cancelled":
            values.update(status="CANCELLED", cancelled_at=now, warehouse_status="cancelled", error_code=None,
                          message="cancelled on the channel; the cancellation reached the warehouse before it shipped")
            outcome = "cancelled_at_warehouse"
        else:  # final: the warehouse is not asked again on later runs
            values.update(warehouse_status="shipped", error_code=SHIPPED_BEFORE_CANCEL,
                          message="cancelled on the channel after the warehouse shipped it: handle it as a return")
            outcome = "cancelled_too_late"
    with engine.begin() as connection:
        connection.execute(table.update().where(table.c.order_id == order_id, table.c.claimed_by == run_id).values(**values))
    return Counter({outcome: 1})


def _count(submission: Submission) -> Counter:
    counts = Counter({f"submit_{submission.outcome}": 1, "create_requests": submission.attempts})
    if submission.linked:
        counts["linked_existing"] += 1
    if submission.backordered:
        counts["backordered"] += 1
    return counts


def _outcome(order_id: str, s: Submission, ship_code: str | None, run_id: str) -> dict:
    return {
        "b_order_id": order_id, "b_outcome": s.outcome, "b_error_code": s.error_code, "b_message": s.message,
        "b_warehouse_order_id": s.warehouse_order_id, "b_warehouse_status": s.warehouse_status,
        "b_backordered": orjson.dumps(s.backordered).decode() if s.backordered else None, "b_linked": s.linked,
        "b_attempts": s.attempts, "b_ship_code": ship_code, "b_accepted": s.outcome == "accepted", "b_run_id": run_id,
    }


def _record(engine: sa.Engine, outcomes: list[dict], run_id: str) -> None:
    """Keep the warehouse's answers, for the rows this run still holds, and release them. An answer clears the
    in-doubt mark; no answer keeps it (and the status the order had), so the next run asks the warehouse first."""
    answered = [o for o in outcomes if o["b_outcome"] != "unavailable"]
    unanswered = [o for o in outcomes if o["b_outcome"] == "unavailable"]
    now = sa.literal(datetime.now(timezone.utc), UtcDateTime)
    mine = (table.c.order_id == sa.bindparam("b_order_id"), table.c.claimed_by == run_id)
    release = {"claimed_by": None, "claimed_at": None, "updated_at": now, "run_id": sa.bindparam("b_run_id"),
               "attempts": table.c.attempts + sa.bindparam("b_attempts"), "message": sa.bindparam("b_message")}
    with engine.begin() as connection:
        if answered:
            connection.execute(table.update().where(*mine).values(
                **release, in_doubt_since=None,
                status=sa.case((sa.bindparam("b_accepted", type_=sa.Boolean), "ACCEPTED"), else_="IMPORT_ERROR"),
                error_code=sa.bindparam("b_error_code"),
                warehouse_order_id=sa.func.coalesce(sa.bindparam("b_warehouse_order_id"), table.c.warehouse_order_id),
                warehouse_status=sa.bindparam("b_warehouse_status"), backordered=sa.bindparam("b_backordered"),
                linked=sa.bindparam("b_linked"), ship_code=sa.bindparam("b_ship_code"),
                accepted_at=sa.case((sa.bindparam("b_accepted", type_=sa.Boolean) & table.c.accepted_at.is_(None), now),
                                    else_=table.c.accepted_at),
            ), answered)
        if unanswered:
            connection.execute(table.update().where(*mine).values(**release), unanswered)


def _rejections(final: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """The warehouse's own refusals (IMPORT_ERROR with its text) as error rows."""
    rejected = final[(final["status"] == "IMPORT_ERROR") & final["message"].str.startswith("the warehouse rejected", na=False)]
    return pd.DataFrame({
        "order_id": rejected["order_id"], "external_order_id": rejected["external_order_id"],
        "partition_date": rejected["partition_date"], "error_code": rejected["error_code"], "field": "warehouse",
        "message": rejected["message"] + "; the order is sent again on the next run",
        "payload_sha256": rejected["order_id"].map(orders["payload_sha256"]),
    })
