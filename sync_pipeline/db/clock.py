"""The database's clock as SQL, so claims taken by runs on different hosts are timed by one clock, not by each
host's own (a host whose clock runs ahead would take over claims that are still live)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa


def database_now(dialect: str, minus: timedelta = timedelta(0)) -> sa.ColumnElement:
    """The database's current UTC time (less `minus`), in the form UtcDateTime columns are stored in."""
    seconds = minus.total_seconds()
    if dialect == "postgresql":
        # clock_timestamp(), not now(): now() is frozen at the start of the transaction.
        return sa.text(f"(timezone('UTC', clock_timestamp()) - interval '{seconds:f} seconds')")
    if dialect == "sqlite":
        # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff': %f gives milliseconds, pad to six digits.
        return sa.text(f"strftime('%Y-%m-%d %H:%M:%f000', 'now', '-{seconds:f} seconds')")
    raise NotImplementedError(f"database dialect {dialect!r} is not supported; use SQLite or PostgreSQL")
