"""The warehouse as a Dagster resource."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.warehouse.engine import get_engine, warehouse_url


class WarehouseResource(dg.ConfigurableResource):
    """Where the sync tables live; `url` defaults to SYNC_WAREHOUSE_URL, then the local SQLite file."""

    url: str | None = None

    def engine(self) -> sa.Engine:
        return get_engine(self.url or warehouse_url())
