"""The sync database as a Dagster resource."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.db.engine import database_url, get_engine


class DatabaseResource(dg.ConfigurableResource):
    """Where the sync tables live; `url` defaults to SYNC_DATABASE_URL, then the local SQLite file."""

    url: str | None = None

    def engine(self) -> sa.Engine:
        return get_engine(self.url or database_url())


def table_metadata(table: sa.Table) -> dict:
    """An asset's table for the UI: its name and columns, with their types and the comments tables.py gives them."""
    return {
        "dagster/table_name": table.name,
        "dagster/column_schema": dg.TableSchema(columns=[
            dg.TableColumn(column.name, type=str(column.type), description=column.comment,
                           constraints=dg.TableColumnConstraints(nullable=column.nullable, unique=column.primary_key))
            for column in table.columns
        ]),
    }
