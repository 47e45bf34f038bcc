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
