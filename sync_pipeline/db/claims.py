"""Which run works on a row now, for every table whose rows are sent somewhere exactly once (fulfilment_orders,
tracking_updates). A claim is one conditional UPDATE timed by the database's clock; only rows that UPDATE changed
belong to the run. A claim to send also marks the row *in doubt* (`in_doubt_since`) until the remote answer is
recorded, so a row whose run died is looked up remotely before anything is sent again. While the run lives, a
thread renews its claims four times per expiry, so they lapse only when the run is gone.

The table needs the columns `claimed_by`, `claimed_at`, `in_doubt_since` and `status`, and one key column."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa

from sync_pipeline.db.clock import database_now

CHUNK = 500  # ids per IN (...) list


def chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


class Claims:
    def __init__(self, engine: sa.Engine, table: sa.Table, key: str, run_id: str, expiry: timedelta):
        self.engine, self.table, self.key, self.run_id, self.expiry = engine, table, table.c[key], run_id, expiry
        self.dialect = engine.dialect.name
        self._done = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name=f"claims-{table.name}-{run_id}", daemon=True)

    def __enter__(self) -> Claims:
        self._renewer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._renewer.join()

    def _renew(self) -> None:
        table = self.table
        while not self._done.wait(self.expiry.total_seconds() / 4):
            try:
                with self.engine.begin() as connection:
                    connection.execute(table.update().where(table.c.claimed_by == self.run_id)
                                       .values(claimed_at=database_now(self.dialect)))
            except sa.exc.SQLAlchemyError:  # the next renewal tries again: a claim lapses only after four misses
                continue

    def free(self) -> sa.ColumnElement:
        """No live run holds the row."""
        table = self.table
        return table.c.claimed_by.is_(None) | (table.c.claimed_at < database_now(self.dialect, self.expiry))

    def take(self, ids: Iterable[str], statuses: tuple[str, ...], *conditions: sa.ColumnElement) -> list[str]:
        table = self.table
        claimed: list[str] = []
        for chunk in chunks(ids):
            with self.engine.begin() as connection:
                claimed += connection.execute(
                    table.update()
                    .where(self.key.in_(chunk), table.c.status.in_(statuses), self.free(), *conditions)
                    .values(claimed_by=self.run_id, claimed_at=database_now(self.dialect))
                    .returning(self.key)
                ).scalars().all()
        return claimed

    def take_to_send(self, ids: list[str], statuses: tuple[str, ...], *conditions: sa.ColumnElement,
                     **values) -> list[str]:
        """Claim rows just before they are sent, and mark them in doubt in the same statement (with `values` set
        too); in the order given. Rows in doubt already are left out: they are looked up first."""
        table = self.table
        now = database_now(self.dialect)
        claimed: set[str] = set()
        for chunk in chunks(ids):
            with self.engine.begin() as connection:
                claimed |= set(connection.execute(
                    table.update()
                    .where(self.key.in_(chunk), table.c.status.in_(statuses), table.c.in_doubt_since.is_(None),
                           self.free(), *conditions)
                    .values(claimed_by=self.run_id, claimed_at=now, in_doubt_since=now, **values)
                    .returning(self.key)
                ).scalars())
        return [i for i in ids if i in claimed]

    def release(self, ids: list[str], still_in_doubt: bool) -> None:
        table = self.table
        values = {"claimed_by": None, "claimed_at": None, **({} if still_in_doubt else {"in_doubt_since": None})}
        for chunk in chunks(ids):
            with self.engine.begin() as connection:
                connection.execute(
                    table.update().where(self.key.in_(chunk), table.c.claimed_by == self.run_id).values(**values)
                )
