"""Bulk, idempotent writes that behave the same on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sync_pipeline.db.tables import api_calls

if TYPE_CHECKING:  # the database layer needs no channel code at run time (channels import it)
    from sync_pipeline.channels.http import ApiCallLog


def _insert(connection: sa.Connection, table: sa.Table):
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database dialect {dialect!r} is not supported; use SQLite or PostgreSQL")


def insert_new(
    connection: sa.Connection, table: sa.Table, rows: Sequence[dict], unique_columns: Sequence[str]
) -> int:
    """Insert rows in one statement, skipping those whose unique key exists; returns how many landed."""
    if not rows:
        return 0
    statement = _insert(connection, table).on_conflict_do_nothing(index_elements=list(unique_columns))
    primary = list(table.primary_key.columns)[0]
    return len(connection.execute(statement.returning(primary), list(rows)).all())


def upsert(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict],
    key_columns: Sequence[str],
    update: dict[str, sa.ColumnElement] | None = None,
) -> None:
    """Insert rows or update existing ones; `update` maps column -> expression over `excluded`."""
    if not rows:
        return
    statement = _insert(connection, table)
    excluded = statement.excluded
    if update is None:
        update = {c.name: excluded[c.name] for c in table.columns if c.name not in key_columns}
    else:
        update = {name: expr(excluded) if callable(expr) else expr for name, expr in update.items()}
    connection.execute(
        statement.on_conflict_do_update(index_elements=list(key_columns), set_=update), list(rows)
    )


def lock_partitions(connection: sa.Connection, key: str) -> None:
    """Serialize writers of one channel's partitions until the transaction ends. SQLite needs nothing:
    its first write takes the database lock, which concurrent writers wait on (busy timeout)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("select pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def log_api_calls(engine: sa.Engine, log: ApiCallLog, run_id: str) -> None:
    """An ApiCallLog's calls into api_calls, in a transaction of their own, so they are kept whether or not what
    they fetched or sent is written."""
    if log.calls:
        with engine.begin() as connection:
            connection.execute(api_calls.insert(), log.rows(run_id))


def with_none(data):
    """A Series or DataFrame as Python objects with None for every missing value (NaN, NaT, None): what the
    database drivers, JSON bodies and `is None` tests expect."""
    return data.astype(object).where(data.notna(), None)


def records(frame) -> list[dict]:
    """DataFrame rows as dicts with None for missing values, as the database drivers expect."""
    return with_none(frame).to_dict(orient="records")
