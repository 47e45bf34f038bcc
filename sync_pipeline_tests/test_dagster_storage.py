"""Dagster's own storage on PostgreSQL, configured by the documented deploy/postgres/dagster.yaml."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from sync_pipeline_tests.conftest import TODAY, scenario

DEPLOY_YAML = Path(__file__).parents[1] / "deploy" / "postgres" / "dagster.yaml"


@pytest.mark.postgres
def test_materialize_with_dagster_storage_on_postgres(harness_factory, postgres_schema_url, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_schema_url)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        harness = harness_factory(scenario([("shop", "shopify", 5)]))
        harness.instance = instance
        day = TODAY - timedelta(days=1)
        result = harness.materialize("shop", day)
        assert instance.get_run_by_id(result.run_id).is_success
        materialization = instance.get_latest_materialization_event(dg.AssetKey("raw_orders"))
        assert materialization.dagster_event.partition == f"shop|{day}"
    finally:
        instance.dispose()
