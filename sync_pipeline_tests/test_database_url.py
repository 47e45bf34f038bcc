"""The sync database's URL: SYNC_DATABASE_URL, the old SYNC_WAREHOUSE_URL still read with a warning, else SQLite."""

from __future__ import annotations

import warnings

import pytest

from sync_pipeline.db.engine import DEFAULT_DATABASE_PATH, database_url


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
