"""The sync database: its URL (SYNC_DATABASE_URL, the old SYNC_WAREHOUSE_URL still read with a warning, else SQLite),
and a database made by an earlier version brought up to the current columns."""

from __future__ import annotations

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
