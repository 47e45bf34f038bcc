"""Exactly once at the warehouse, whatever fails and however many runs overlap.

Every order has a row in fulfilment_orders before anything is sent. A run *claims* the rows it will send with one
conditional UPDATE, so a concurrent run (a schedule beside a manual resync) skips them, and stamps `submitted_at`
before sending, so an order whose answer was lost or never recorded (a crash) is known to be in doubt: the next
run asks the warehouse for its deterministic client reference before doing anything else with it. Within a run
the client looks an order up after any ambiguous failure, and links a "Duplicate order number" instead of failing.
ACCEPTED, CANCELLED and MANUAL orders are never sent again; a claim left by a dead run expires."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import orjson
import pandas as pd
import sqlalchemy as sa

from sync_pipeline.channels.http import ChannelError
from sync_pipeline.db.tables import UtcDateTime
from sync_pipeline.db.tables import fulfilment_orders as table
from sync_pipeline.db.writes import insert_new, with_none
from sync_pipeline.fulfilment.prepare import STAGE, Prepared
from sync_pipeline.orders.sync_errors import record_errors
from sync_pipeline.warehouse.client import (
    Submission,
    WarehouseClient,
    linked_submission,
)

CLAIM_EXPIRY = timedelta(minutes=15)
FINAL = ("ACCEPTED", "CANCELLED")  # _settle leaves these alone
NEVER_SENT = ("ACCEPTED", "CANCELLED", "MANUAL")  # a person may have keyed a MANUAL order in at the warehouse
SENDABLE = ("NEW", "IMPORT_ERROR", "HELD")
STATUS_OF_ACTION = {"hold": "HELD", "manual": "MANUAL", "error": "IMPORT_ERROR", "cancel": "CANCELLED"}
WRITE_BATCH = 100
CHUNK = 500  # ids per IN (...) list


def fulfil(
    engine: sa.Engine, client: WarehouseClient, channel: str, days: list[date], prepared: Prepared, run_id: str,
    now: datetime,
) -> Counter:
    """Bring every prepared order to its state at the warehouse; returns counters for the run's metadata."""
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

    # A send whose answer was lost (or never recorded: a crash) may have reached the warehouse: ask it first.
    in_doubt = state.index[(state["status"] == "NEW") & state["submitted_at"].notna()]
    counts.update(_resolve_in_doubt(engine, client, in_doubt, state, run_id))
    with engine.connect() as connection:
        state = _state(connection, list(orders.index))
    unknown = set(state.index[(state["status"] == "NEW") & state["submitted_at"].notna()])

    # Cancelled on the channel after it reached the warehouse: cancel it there too, unless it shipped.
    accepted = set(state.index[state["status"] == "ACCEPTED"])
    action = orders["action"]
    settled = orders[action.isin(["hold", "manual", "error", "cancel"]) & ~orders.index.isin(accepted | unknown)]
    with engine.begin() as connection:
        _settle(connection, settled, run_id, now)
    to_cancel = orders.index[(action == "cancel") & orders.index.isin(accepted)]
    for order_id in _claim(engine, to_cancel, run_id, ("ACCEPTED",)):
        counts.update(_cancel(engine, client, order_id, state.loc[order_id], run_id))

    counts["already_accepted"] = len(accepted)
    to_send = [i for i in orders.index[action == "submit"] if state.loc[i, "status"] not in NEVER_SENT and i not in unknown]
    with ThreadPoolExecutor(max_workers=client.config.concurrency) as pool:
        for start in range(0, len(to_send), WRITE_BATCH):
            # Claimed batch by batch, just before sending, so a claim never outlives its expiry unsent.
            batch = _claim(engine, to_send[start:start + WRITE_BATCH], run_id, SENDABLE, sending=True)
            submissions = pool.map(lambda order_id: _create(client, prepared.requests[order_id]), batch)
            outcomes = []
            for order_id, submission in zip(batch, submissions):
                counts.update(_count(submission))
                outcomes.append(_outcome(order_id, submission, orders.loc[order_id, "ship_code"], run_id))
            _record(engine, outcomes, run_id)

    with engine.begin() as connection:
        final = _state(connection, list(orders.index))
        stopped = final.index[final["status"].isin(["IMPORT_ERROR", "HELD"])]
        errors = pd.concat([prepared.errors, _rejections(final, orders)], ignore_index=True)
        record_errors(connection, STAGE, channel, days, errors[errors["order_id"].isin(set(stopped))].drop(columns="order_id"), now)
    counts.update(f"status_{status}" for status in final["status"])
    counts.update(f"errors_{code}" for code in final.loc[stopped, "error_code"].dropna())
    return counts


def _create(client: WarehouseClient, request: dict) -> Submission:
    """Whatever goes wrong with one order is that order's outcome, never the batch's: the others' answers are kept."""
    try:
        return client.create(request)
    except Exception as exc:  # noqa: BLE001 - recorded as unknown, looked up on the next run
        return Submission("unavailable", 1, message=f"sending failed ({type(exc).__name__}: {exc}); "
                                                     "the order is looked up and sent on the next run")


def _resolve_in_doubt(engine: sa.Engine, client: WarehouseClient, order_ids, state: pd.DataFrame, run_id: str) -> Counter:
    counts: Counter = Counter()
    found = []
    for order_id in _claim(engine, order_ids, run_id, ("NEW",)):
        try:
            existing = client.find(state.loc[order_id, "client_reference"])
        except ChannelError:  # still in doubt: nothing is sent, settled or cancelled for it this run
            counts["in_doubt_unresolved"] += 1
            _release(engine, [order_id], run_id, in_doubt=True)
            continue
        if existing is None:  # the request never arrived: the order is an ordinary unsent one again
            _release(engine, [order_id], run_id, in_doubt=False)
            continue
        counts["in_doubt_found"] += 1
        found.append(_outcome(order_id, linked_submission(existing, 0), state.loc[order_id, "ship_code"], run_id))
    _record(engine, found, run_id)
    return counts


def _release(engine: sa.Engine, order_ids: list[str], run_id: str, in_doubt: bool) -> None:
    values = {"claimed_by": None, "claimed_at": None, **({} if in_doubt else {"submitted_at": None})}
    with engine.begin() as connection:
        connection.execute(table.update().where(table.c.order_id.in_(order_ids), table.c.claimed_by == run_id).values(**values))


def _state(connection: sa.Connection, order_ids: list[str]) -> pd.DataFrame:
    rows = []
    for chunk in _chunks(order_ids):
        rows += connection.execute(sa.select(table).where(table.c.order_id.in_(chunk))).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in table.columns]).set_index("order_id", drop=False)


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _settle(connection: sa.Connection, settled: pd.DataFrame, run_id: str, now: datetime) -> None:
    """Orders that are not sent: their state and reason, unless final or being sent by another run."""
    if settled.empty:
        return
    statement = (
        table.update()
        .where(table.c.order_id == sa.bindparam("b_order_id"), *(table.c.status != s for s in FINAL),
               table.c.claimed_by.is_(None) | (table.c.claimed_at < now - CLAIM_EXPIRY))
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


def _claim(engine: sa.Engine, order_ids: Iterable[str], run_id: str, statuses: tuple[str, ...], sending: bool = False) -> list[str]:
    """Take the orders in `statuses` that no other live run holds; only the rows this UPDATE changed are this
    run's. A claim to send stamps submitted_at first: from then on the order is in doubt until its answer is kept."""
    claimed: list[str] = []
    for chunk in _chunks(order_ids):
        now = datetime.now(timezone.utc)
        values = {"claimed_by": run_id, "claimed_at": now}
        if sending:
            values["submitted_at"] = sa.func.coalesce(table.c.submitted_at, sa.literal(now, UtcDateTime))
        with engine.begin() as connection:
            connection.execute(
                table.update()
                .where(table.c.order_id.in_(chunk), table.c.status.in_(statuses),
                       table.c.claimed_by.is_(None) | (table.c.claimed_at < now - CLAIM_EXPIRY))
                .values(**values)
            )
            claimed += connection.execute(
                sa.select(table.c.order_id).where(table.c.order_id.in_(chunk), table.c.claimed_by == run_id)
            ).scalars().all()
    return claimed


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
        else:
            values.update(warehouse_status="shipped", error_code="SHIPPED_BEFORE_CANCEL",
                          message="cancelled on the channel after the warehouse shipped it: handle it as a return")
            outcome = "cancelled_too_late"
    with engine.begin() as connection:
        connection.execute(table.update().where(table.c.order_id == order_id).values(**values))
    return Counter({outcome: 1})


def _count(submission: Submission) -> Counter:
    counts = Counter({f"submit_{submission.outcome}": 1, "create_requests": submission.attempts})
    if submission.linked:
        counts["linked_existing"] += 1
    if submission.backordered:
        counts["backordered"] += 1
    return counts


def _outcome(order_id: str, s: Submission, ship_code: str | None, run_id: str) -> dict:
    status = {"accepted": "ACCEPTED", "rejected": "IMPORT_ERROR", "unavailable": "NEW"}[s.outcome]
    return {
        "b_order_id": order_id, "b_status": status, "b_error_code": s.error_code, "b_message": s.message,
        "b_warehouse_order_id": s.warehouse_order_id, "b_warehouse_status": s.warehouse_status,
        "b_backordered": orjson.dumps(s.backordered).decode() if s.backordered else None, "b_linked": s.linked,
        "b_attempts": s.attempts, "b_ship_code": ship_code, "b_accepted": status == "ACCEPTED", "b_run_id": run_id,
    }


def _record(engine: sa.Engine, outcomes: list[dict], run_id: str) -> None:
    """Keep the warehouse's answers, for the rows this run still holds, and release them."""
    if not outcomes:
        return
    now = sa.literal(datetime.now(timezone.utc), UtcDateTime)
    statement = table.update().where(table.c.order_id == sa.bindparam("b_order_id"), table.c.claimed_by == run_id).values(
        status=sa.bindparam("b_status"), error_code=sa.bindparam("b_error_code"), message=sa.bindparam("b_message"),
        warehouse_order_id=sa.func.coalesce(sa.bindparam("b_warehouse_order_id"), table.c.warehouse_order_id),
        warehouse_status=sa.bindparam("b_warehouse_status"), backordered=sa.bindparam("b_backordered"),
        linked=sa.bindparam("b_linked"), attempts=table.c.attempts + sa.bindparam("b_attempts"),
        ship_code=sa.bindparam("b_ship_code"),
        accepted_at=sa.case((sa.bindparam("b_accepted", type_=sa.Boolean) & table.c.accepted_at.is_(None), now), else_=table.c.accepted_at),
        updated_at=now, run_id=sa.bindparam("b_run_id"), claimed_by=None, claimed_at=None,
    )
    with engine.begin() as connection:
        connection.execute(statement, outcomes)


def _rejections(final: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """The warehouse's own refusals (IMPORT_ERROR with its text) as error rows."""
    rejected = final[(final["status"] == "IMPORT_ERROR") & final["message"].str.startswith("the warehouse rejected", na=False)]
    return pd.DataFrame({
        "order_id": rejected["order_id"], "external_order_id": rejected["external_order_id"],
        "partition_date": rejected["partition_date"], "error_code": rejected["error_code"], "field": "warehouse",
        "message": rejected["message"] + "; the order is sent again on the next run",
        "payload_sha256": rejected["order_id"].map(orders["payload_sha256"]),
    })
