"""Engines for the sync database URL, with SQLite set up to survive Dagster's multi-process runs."""

from __future__ import annotations

import functools
import os
import threading
import warnings
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sync_pipeline.config import PROJECT_ROOT, ConfigError
from sync_pipeline.db.tables import metadata

DEFAULT_DATABASE_PATH = PROJECT_ROOT / "var" / "sync.db"
DATABASE_URL_VARIABLE = "SYNC_DATABASE_URL"
CONNECT_TIMEOUT_VARIABLE = "SYNC_DATABASE_CONNECT_TIMEOUT"  # seconds; default 10
STATEMENT_TIMEOUT_VARIABLE = "SYNC_DATABASE_STATEMENT_TIMEOUT"  # seconds; default 300; 0: none
DEPRECATED_URL_VARIABLE = "SYNC_WAREHOUSE_URL"  # its old name, from when "warehouse" meant the database too


def database_url_variable() -> str | None:
    """The environment variable the URL comes from: SYNC_DATABASE_URL, else the deprecated SYNC_WAREHOUSE_URL."""
    for name in (DATABASE_URL_VARIABLE, DEPRECATED_URL_VARIABLE):
        if os.environ.get(name):
            return name
    return None


def database_url() -> str:
    variable = database_url_variable()
    if variable == DEPRECATED_URL_VARIABLE:
        warnings.warn(
            f"{DEPRECATED_URL_VARIABLE} is deprecated: rename it to {DATABASE_URL_VARIABLE} (\"warehouse\" now means the 3PL only)",
            FutureWarning, stacklevel=2,
        )
    return os.environ[variable] if variable else f"sqlite:///{DEFAULT_DATABASE_PATH}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA busy_timeout=30000")  # concurrent writers wait instead of failing
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_ENGINES_LOCK = threading.Lock()


def get_engine(url: str) -> sa.Engine:
    """One engine per URL per process, with the tables created; threads asking at once get the same one."""
    with _ENGINES_LOCK:
        return _engine(url)


@functools.cache
def _engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The pool hands a connection to one thread at a time, so sharing across threads is safe.
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=_postgres_timeouts(parsed))
    try:
        metadata.create_all(engine)
    except (sa.exc.IntegrityError, sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        if not _created_meanwhile(exc):
            raise  # the database cannot be reached or refuses: once, not retried into a second traceback
        # Another process created a table between our check and our CREATE ("already exists"): it won; check again.
        metadata.create_all(engine)
    _add_missing_columns(engine)
    _widen_grown_columns(engine)
    return engine


def _seconds(variable: str, default: int) -> int:
    raw = os.environ.get(variable, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"{variable}={raw!r} is not a whole number of seconds (0 or more); set it to, e.g., {default}")
    return value


def _postgres_timeouts(url: sa.URL) -> dict:
    """A server that does not answer fails the connection within the connect timeout, not after minutes; a statement
    that hangs (a lock never released, a server stuck) is cancelled by the server after the statement timeout."""
    if url.get_backend_name() != "postgresql":
        return {}
    connect = _seconds(CONNECT_TIMEOUT_VARIABLE, 10)
    statement = _seconds(STATEMENT_TIMEOUT_VARIABLE, 300)
    # The URL's own options (a search_path, say) are kept beside the timeout.
    options = " ".join([*url.normalized_query.get("options", ()), f"-c statement_timeout={statement * 1000}"])
    return {"connect_timeout": connect, "options": options}


def _created_meanwhile(error: sa.exc.DBAPIError) -> bool:
    """A CREATE that lost the race to another process: "already exists", or Postgres's duplicate type name."""
    text = str(getattr(error, "orig", error)).lower()
    return "already exists" in text or "duplicate key" in text


def _add_missing_columns(engine: sa.Engine) -> None:
    """A database made by an earlier version gains the columns added since (each nullable, so existing rows stay
    valid): an upgrade needs no manual step. Concurrent processes may race to add one; the loser finds it there."""
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(f"table {table.name} lacks the required column {column.name}: recreate the table")
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as connection:
                    connection.execute(sa.text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))
            except (sa.exc.OperationalError, sa.exc.ProgrammingError):
                if column.name not in {c["name"] for c in sa.inspect(engine).get_columns(table.name)}:
                    raise


def _widen_grown_columns(engine: sa.Engine) -> None:
    """A text column this version made longer (warehouse_status for `partially_shipped`) is widened on a database
    made by an earlier version; SQLite does not enforce lengths, so only PostgreSQL needs it. Widening never loses
    data, and two processes widening at once both end with the new length."""
    if engine.dialect.name != "postgresql":
        return
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        present = {column["name"]: column["type"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            wanted, found = getattr(column.type, "length", None), getattr(present.get(column.name), "length", None)
            if wanted and found and found < wanted:
                with engine.begin() as connection:
                    connection.execute(sa.text(
                        f'ALTER TABLE "{table.name}" ALTER COLUMN "{column.name}" TYPE VARCHAR({wanted})'))
