"""Exactly once at the warehouse, whatever fails and however many runs overlap.

Every order has a row in fulfilment_orders before anything is sent. A run *claims* the rows it will send with one
conditional UPDATE, so a concurrent run (a schedule beside a manual resync) skips them; the warehouse client looks
an order up by its deterministic client reference after any ambiguous failure, and links a "Duplicate order number"
instead of failing. An ACCEPTED order is never sent again; a claim left by a dead run expires."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import orjson
import pandas as pd
import sqlalchemy as sa

from sync_pipeline.fulfilment.prepare import STAGE, Prepared
from sync_pipeline.fulfilment.warehouse_client import Submission, WarehouseClient
from sync_pipeline.orders.sync_errors import record_errors
from sync_pipeline.warehouse.tables import fulfilment_orders as table
from sync_pipeline.warehouse.writes import insert_new

CLAIM_EXPIRY = timedelta(minutes=15)
FINAL = ("ACCEPTED", "CANCELLED")
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

    settled = orders[orders["action"].isin(["hold", "manual", "error"])
                     | (orders["action"] == "cancel") & (state.reindex(orders.index)["attempts"].fillna(0) == 0)]
    with engine.begin() as connection:
        _settle(connection, settled, run_id, now)

    # Cancelled on the channel after it may have reached the warehouse: cancel it there too, unless it shipped.
    to_cancel = orders.index[(orders["action"] == "cancel") & state.reindex(orders.index)["attempts"].fillna(0).gt(0)]
    for order_id in _claim(engine, to_cancel, run_id, now, cancelling=True):
        counts.update(_cancel(engine, client, order_id, state.loc[order_id], run_id, now))

    to_send = [i for i in orders.index[orders["action"] == "submit"] if state.loc[i, "status"] not in FINAL]
    counts["already_accepted"] = int((state["status"] == "ACCEPTED").sum())
    claimed = _claim(engine, to_send, run_id, now, cancelling=False)
    with ThreadPoolExecutor(max_workers=client.config.concurrency) as pool:
        for start in range(0, len(claimed), WRITE_BATCH):
            batch = claimed[start:start + WRITE_BATCH]
            submissions = pool.map(client.create, [prepared.requests[order_id] for order_id in batch])
            outcomes = []
            for order_id, submission in zip(batch, submissions):
                counts.update(_count(submission))
                outcomes.append(_outcome(order_id, submission, orders.loc[order_id, "ship_code"], run_id, now))
            _record(engine, outcomes)

    with engine.begin() as connection:
        final = _state(connection, list(orders.index))
        stopped = final.index[final["status"].isin(["IMPORT_ERROR", "HELD"])]
        errors = pd.concat([prepared.errors, _rejections(final, orders)], ignore_index=True)
        record_errors(connection, STAGE, channel, days, errors[errors["order_id"].isin(set(stopped))].drop(columns="order_id"), now)
    counts.update(f"status_{status}" for status in final["status"])
    counts.update(f"errors_{code}" for code in final.loc[stopped, "error_code"].dropna())
    return counts


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
    """Orders that are not sent: their state and reason, unless already final or being sent by another run."""
    if settled.empty:
        return
    statement = (
        table.update()
        .where(table.c.order_id == sa.bindparam("b_order_id"), *(table.c.status != s for s in FINAL),
               table.c.claimed_by.is_(None) | (table.c.claimed_at < now - CLAIM_EXPIRY))
        .values(status=sa.bindparam("b_status"), error_code=sa.bindparam("b_error_code"), message=sa.bindparam("b_message"),
                ship_code=sa.bindparam("b_ship_code"), updated_at=now, run_id=run_id,
                cancelled_at=sa.case((sa.bindparam("b_status") == "CANCELLED", now), else_=None))
    )
    clean = settled.astype(object).where(settled.notna(), None)
    connection.execute(statement, [
        {"b_order_id": o.order_id, "b_status": STATUS_OF_ACTION[o.action], "b_error_code": o.error_code,
         "b_message": o.message, "b_ship_code": o.ship_code}
        for o in clean.itertuples(index=False)
    ])


def _claim(engine: sa.Engine, order_ids: Iterable[str], run_id: str, now: datetime, cancelling: bool) -> list[str]:
    """Take the orders no other live run holds; only the rows this UPDATE changed are this run's to send."""
    claimed: list[str] = []
    eligible = (table.c.status == "ACCEPTED") | (table.c.status == "NEW") if cancelling else table.c.status.not_in(FINAL)
    for chunk in _chunks(order_ids):
        with engine.begin() as connection:
            connection.execute(
                table.update()
                .where(table.c.order_id.in_(chunk), eligible,
                       table.c.claimed_by.is_(None) | (table.c.claimed_at < now - CLAIM_EXPIRY))
                .values(claimed_by=run_id, claimed_at=now)
            )
            claimed += connection.execute(
                sa.select(table.c.order_id).where(table.c.order_id.in_(chunk), table.c.claimed_by == run_id)
            ).scalars().all()
    return claimed


def _cancel(engine: sa.Engine, client: WarehouseClient, order_id: str, row: pd.Series, run_id: str, now: datetime) -> Counter:
    warehouse_order_id = row["warehouse_order_id"] or (client.find(row["client_reference"]) or {}).get("order_id")
    values = {"claimed_by": None, "claimed_at": None, "updated_at": now, "run_id": run_id}
    if warehouse_order_id is None:  # it never arrived: nothing to undo
        values.update(status="CANCELLED", cancelled_at=now, error_code=None,
                      message="cancelled on the channel; the warehouse never had it")
        outcome = "cancelled_before_warehouse"
    elif client.cancel(warehouse_order_id) == "cancelled":
        values.update(status="CANCELLED", cancelled_at=now, warehouse_order_id=warehouse_order_id,
                      warehouse_status="cancelled", error_code=None,
                      message="cancelled on the channel; the cancellation reached the warehouse before it shipped")
        outcome = "cancelled_at_warehouse"
    else:
        values.update(warehouse_order_id=warehouse_order_id, warehouse_status="shipped", error_code="SHIPPED_BEFORE_CANCEL",
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


def _outcome(order_id: str, s: Submission, ship_code: str | None, run_id: str, now: datetime) -> dict:
    status = {"accepted": "ACCEPTED", "rejected": "IMPORT_ERROR", "unavailable": "NEW"}[s.outcome]
    return {
        "b_order_id": order_id, "b_status": status, "b_error_code": s.error_code, "b_message": s.message,
        "b_warehouse_order_id": s.warehouse_order_id, "b_warehouse_status": s.warehouse_status,
        "b_backordered": orjson.dumps(s.backordered).decode() if s.backordered else None, "b_linked": s.linked,
        "b_attempts": s.attempts, "b_ship_code": ship_code, "b_accepted_at": now if status == "ACCEPTED" else None,
        "b_now": now, "b_run_id": run_id,
    }


def _record(engine: sa.Engine, outcomes: list[dict]) -> None:
    if not outcomes:
        return
    statement = table.update().where(table.c.order_id == sa.bindparam("b_order_id")).values(
        status=sa.bindparam("b_status"), error_code=sa.bindparam("b_error_code"), message=sa.bindparam("b_message"),
        warehouse_order_id=sa.func.coalesce(sa.bindparam("b_warehouse_order_id"), table.c.warehouse_order_id),
        warehouse_status=sa.bindparam("b_warehouse_status"), backordered=sa.bindparam("b_backordered"),
        linked=sa.bindparam("b_linked"), attempts=table.c.attempts + sa.bindparam("b_attempts"),
        ship_code=sa.bindparam("b_ship_code"),
        submitted_at=sa.func.coalesce(table.c.submitted_at, sa.bindparam("b_now")),
        accepted_at=sa.func.coalesce(table.c.accepted_at, sa.bindparam("b_accepted_at")),
        updated_at=sa.bindparam("b_now"), run_id=sa.bindparam("b_run_id"), claimed_by=None, claimed_at=None,
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
