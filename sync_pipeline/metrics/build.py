"""Building a model's table and running its YAML tests, on SQLite or Postgres from the one SQL source."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from sync_pipeline.db.writes import lock_partitions
from sync_pipeline.metrics.dialect import transpile
from sync_pipeline.metrics.models import DataTest, SqlProject

SAMPLE_ROWS = 5  # failing rows shown with a failed test


class ModelBuildError(RuntimeError):
    """A model's SQL that the database refused: the model's file, the database's words, and the SQL it ran."""


@dataclass(frozen=True)
class TestOutcome:
    failures: int
    sample: list[dict]


def build_model(engine: sa.Engine, project: SqlProject, name: str) -> int:
    """Replaces the model's table with what its SELECT returns now, in one transaction (readers see the old table or
    the new one, never none; a failed build leaves the old one). Returns its row count."""
    select = transpile(project.select_sql(name), engine.dialect.name)
    building = f"{name}__building"
    with engine.begin() as connection:
        lock_partitions(connection, f"sql-model:{name}")  # two runs building one model take turns
        # A savepoint opens SQLite's transaction before the DDL (its driver would run DDL outside one).
        with connection.begin_nested():
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {building}"))
            try:
                connection.execute(sa.text(f"CREATE TABLE {building} AS {select}"))
            except sa.exc.DBAPIError as error:
                raise ModelBuildError(
                    f"{project.models[name].path}: the database refused the model: {error.orig}\n"
                    f"SQL run ({engine.dialect.name}):\n{select}") from None
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
            connection.execute(sa.text(f"ALTER TABLE {building} RENAME TO {name}"))
            return connection.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar_one()


def run_test(engine: sa.Engine, test: DataTest) -> TestOutcome:
    """How many rows break the test, and the first few of them."""
    failing = transpile(test.failing_rows_sql(), engine.dialect.name)
    with engine.connect() as connection:
        count = connection.execute(sa.text(f"SELECT COUNT(*) FROM ({failing}) AS failing")).scalar_one()
        sample = connection.execute(sa.text(f"{failing} LIMIT {SAMPLE_ROWS}")).mappings().all() if count else []
    return TestOutcome(count, [{key: _plain(value) for key, value in row.items()} for row in sample])


def _plain(value):
    """A cell as JSON-ready text or number, for metadata."""
    return value if value is None or isinstance(value, (int, float, str)) else str(value)
