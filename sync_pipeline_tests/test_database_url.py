"""The sync database: its URL (SYNC_DATABASE_URL, the old SYNC_WAREHOUSE_URL still read with a warning, else SQLite),
and a database made by an earlier version brought up to the current columns."""

from __future__ import annotations

import socket
import time
import warnings

import pytest
import sqlalchemy as sa

from sync_pipeline.db.engine import DEFAULT_DATABASE_PATH, database_url, get_engine
from sync_pipeline.db.tables import fulfilment_orders


def test_sync_database_url_wins_and_the_old_name_still_works_with_a_warning(monkeypatch):
    monkeypatch.delenv("SYNC_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNC_WAREHOUSE_URL", raising=False)
    assert database_url() == f"sqlite:///{DEFAULT_DATABASE_PATH}" and DEFAULT_DATABASE_PATH.name == "sync.db"

    monkeypatch.setenv("SYNC_WAREHOUSE_URL", "sqlite:///old.db")
    with pytest.warns(FutureWarning, match="SYNC_WAREHOUSE_URL is deprecated: rename it to SYNC_DATABASE_URL"):
        assert database_url() == "sqlite:///old.db"

    monkeypatch.setenv("SYNC_DATABASE_URL", "sqlite:///new.db")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name says nothing
        assert database_url() == "sqlite:///new.db"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_database_made_before_in_doubt_since_gains_the_column(kind, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'old.db'}" if kind == "sqlite" else request.getfixturevalue("postgres_schema_url")
    before = sa.MetaData()  # fulfilment_orders as the previous version made it: no in_doubt_since
    sa.Table("fulfilment_orders", before, *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                            for c in fulfilment_orders.columns if c.name != "in_doubt_since"))
    old = sa.create_engine(url)
    before.create_all(old)
    with old.begin() as connection:
        connection.execute(sa.text(
            "insert into fulfilment_orders (order_id, channel, external_order_id, partition_date, client_reference, "
            "status, linked, attempts, updated_at, run_id) "
            "values ('shop:1', 'shop', '1', '2026-11-30', 'shop:1', 'ACCEPTED', false, 1, '2026-11-30 10:00:00', 'r')"))
    old.dispose()
    engine = get_engine(url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("fulfilment_orders")}
    assert {"in_doubt_since", "claimed_at", "submitted_at"} <= columns
    with engine.connect() as connection:
        assert connection.execute(sa.text("select status, in_doubt_since from fulfilment_orders")).all() == [("ACCEPTED", None)]


@pytest.mark.postgres
def test_a_postgres_database_made_before_widens_a_grown_column(postgres_schema_url):
    """warehouse_status grew from 16 to 24 characters (partially_shipped): an earlier version's table is widened."""
    before = sa.MetaData()
    sa.Table("fulfilment_orders", before, *(
        sa.Column(c.name, sa.String(16) if c.name == "warehouse_status" else c.type, primary_key=c.primary_key,
                  nullable=c.nullable)
        for c in fulfilment_orders.columns))
    old = sa.create_engine(postgres_schema_url)
    before.create_all(old)
    old.dispose()
    engine = get_engine(postgres_schema_url)
    column = next(c for c in sa.inspect(engine).get_columns("fulfilment_orders") if c["name"] == "warehouse_status")
    assert column["type"].length == 24
    with engine.begin() as connection:
        connection.execute(sa.text(
            "insert into fulfilment_orders (order_id, channel, external_order_id, partition_date, client_reference, "
            "status, warehouse_status, linked, attempts, updated_at, run_id) values ('shop:1', 'shop', '1', "
            "'2026-11-30', 'shop:1', 'ACCEPTED', 'partially_shipped', false, 1, '2026-11-30 10:00:00', 'r')"))


@pytest.mark.postgres
def test_a_hanging_statement_is_cancelled_by_the_statement_timeout_and_the_url_keeps_its_options(
        postgres_schema_url, monkeypatch):
    monkeypatch.setenv("SYNC_DATABASE_STATEMENT_TIMEOUT", "1")
    url = sa.engine.make_url(postgres_schema_url).update_query_dict({"application_name": "statement-timeout-test"})
    engine = get_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("show statement_timeout")).scalar() == "1s"
            search_path = url.query["options"].split("search_path=")[1]  # the fixture's own option, kept
            assert connection.execute(sa.text("select current_schema()")).scalar() == search_path
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"), engine.connect() as connection:
            connection.execute(sa.text("select pg_sleep(10)"))
        assert time.monotonic() - started < 5
    finally:
        engine.dispose()


def test_a_server_that_accepts_and_never_answers_fails_within_the_connect_timeout(tmp_path, monkeypatch, capsys):
    from sync_pipeline.cli import main

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel's backlog) and never says a word
    port = silent.getsockname()[1]
    config = tmp_path / "channels.yaml"
    config.write_text(
        "channels:\n  - {name: shop, type: shopify, base_url: 'https://shop.example.com', credentials: {access_token: T}}\n")
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(config))
    monkeypatch.setenv("SYNC_DATABASE_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("SYNC_DATABASE_URL", f"postgresql+psycopg2://sync:s3cret@127.0.0.1:{port}/sync")
    try:
        started = time.monotonic()
        assert main(["why", "shop", "1001"]) == 6
        assert time.monotonic() - started < 8
    finally:
        silent.close()
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error and "s3cret" not in error
    assert f"127.0.0.1:{port}/sync" in error and "SYNC_DATABASE_URL" in error and "timeout" in error.lower()


def test_a_timeout_that_is_not_a_number_names_the_variable(monkeypatch):
    from sync_pipeline.config import ConfigError

    monkeypatch.setenv("SYNC_DATABASE_STATEMENT_TIMEOUT", "ten")
    with pytest.raises(ConfigError, match="SYNC_DATABASE_STATEMENT_TIMEOUT='ten' is not a whole number of seconds"):
        get_engine("postgresql+psycopg2://sync@127.0.0.1:1/not-a-number-test")
