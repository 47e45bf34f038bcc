"""The models' SQL is written once, in Postgres's dialect, and sqlglot writes it for the database in use. Where
sqlglot's SQLite output is not SQL that SQLite runs, this dialect says how to write it: one rule per construct."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite

JULIAN_DAY_OF_UNIX_EPOCH = 2440587.5
# Units SQLite's date modifiers add as Postgres does; months and years differ at a month's end (Jan 31 + 1 month).
SQLITE_INTERVAL_UNITS = ("DAY", "HOUR", "MINUTE", "SECOND")


def _sqlite_extract(generator: SQLite.Generator, expression: exp.Extract) -> str:
    """`EXTRACT(EPOCH FROM ts)`: seconds since 1970 (fractions kept), from SQLite's Julian day of the stored text."""
    unit = expression.this.name.upper()
    if unit != "EPOCH":
        raise sqlglot.errors.UnsupportedError(
            f"EXTRACT({unit} FROM ...) has no SQLite form here: use EXTRACT(EPOCH FROM ...) or CAST(... AS DATE)")
    return f"((JULIANDAY({generator.sql(expression, 'expression')}) - {JULIAN_DAY_OF_UNIX_EPOCH}) * 86400.0)"


def _sqlite_add(generator: SQLite.Generator, expression: exp.Add) -> str:
    """`CAST(d + INTERVAL 'n day' AS DATE)`: SQLite's DATE(d, 'n day'). Only under that cast: SQLite's result is a
    date, where Postgres's is a timestamp."""
    interval = expression.expression
    if not isinstance(interval, exp.Interval):
        return generator.binary(expression, "+")
    cast = expression.parent
    under_date_cast = isinstance(cast, exp.Cast) and cast.to.is_type(exp.DataType.Type.DATE)
    unit = interval.unit.name.upper().removesuffix("S") if interval.unit else ""
    if not under_date_cast or unit not in SQLITE_INTERVAL_UNITS:
        raise sqlglot.errors.UnsupportedError(
            f"{expression.sql('postgres')} has no SQLite form here: write CAST(... + INTERVAL 'n "
            f"{'|'.join(SQLITE_INTERVAL_UNITS).lower()}' AS DATE)")
    return f"DATE({generator.sql(expression, 'this')}, '{interval.this.name} {unit.lower()}')"


def _sqlite_at_time_zone(generator: SQLite.Generator, expression: exp.AtTimeZone) -> str:
    """`ts AT TIME ZONE 'UTC'`: `ts`, since SQLite's timestamps (CURRENT_TIMESTAMP and the stored ones) are UTC."""
    zone = expression.args["zone"].name
    if zone.upper() != "UTC":
        raise sqlglot.errors.UnsupportedError(f"AT TIME ZONE {zone!r} has no SQLite form here: only 'UTC'")
    return generator.sql(expression, "this")


class SyncSQLite(SQLite):
    """SQLite, with the constructs the models use that sqlglot's own SQLite output leaves as Postgres."""

    class Generator(SQLite.Generator):
        TRANSFORMS = {**SQLite.Generator.TRANSFORMS, exp.Extract: _sqlite_extract, exp.Add: _sqlite_add,
                      exp.AtTimeZone: _sqlite_at_time_zone}


DIALECTS = {"sqlite": SyncSQLite, "postgresql": "postgres"}


def transpile(sql: str, backend: str) -> str:
    """One statement of the models' Postgres SQL, written for `backend` (SQLAlchemy's backend name)."""
    if backend not in DIALECTS:
        raise ValueError(f"the SQL models run on {' or '.join(DIALECTS)}, not {backend!r}")
    (statement,) = sqlglot.transpile(sql, read="postgres", write=DIALECTS[backend],
                                     unsupported_level=sqlglot.ErrorLevel.RAISE)
    return statement
