"""The models' SQL is written once, in Postgres's dialect, and sqlglot writes it for the database in use. Where
sqlglot's SQLite output is not SQL that SQLite runs, this dialect says how to write it: one rule per construct."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite

JULIAN_DAY_OF_UNIX_EPOCH = 2440587.5


def _sqlite_extract(generator: SQLite.Generator, expression: exp.Extract) -> str:
    """`EXTRACT(EPOCH FROM ts)`: seconds since 1970 (fractions kept), from SQLite's Julian day of the stored text."""
    unit = expression.this.name.upper()
    if unit != "EPOCH":
        raise sqlglot.errors.UnsupportedError(
            f"EXTRACT({unit} FROM ...) has no SQLite form here: use EXTRACT(EPOCH FROM ...) or CAST(... AS DATE)")
    return f"((JULIANDAY({generator.sql(expression, 'expression')}) - {JULIAN_DAY_OF_UNIX_EPOCH}) * 86400.0)"


class SyncSQLite(SQLite):
    """SQLite, with the constructs the models use that sqlglot's own SQLite output leaves as Postgres."""

    class Generator(SQLite.Generator):
        TRANSFORMS = {**SQLite.Generator.TRANSFORMS, exp.Extract: _sqlite_extract}


DIALECTS = {"sqlite": SyncSQLite, "postgresql": "postgres"}


def transpile(sql: str, backend: str) -> str:
    """One statement of the models' Postgres SQL, written for `backend` (SQLAlchemy's backend name)."""
    if backend not in DIALECTS:
        raise ValueError(f"the SQL models run on {' or '.join(DIALECTS)}, not {backend!r}")
    (statement,) = sqlglot.transpile(sql, read="postgres", write=DIALECTS[backend],
                                     unsupported_level=sqlglot.ErrorLevel.RAISE)
    return statement
