"""order_sync_errors: one row per order, stage, code and field; kept, not deleted, once resolved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa

from sync_pipeline.db.tables import order_sync_errors
from sync_pipeline.db.writes import records, upsert


def record_errors(
    connection: sa.Connection, stage: str, channel: str, days: Sequence[date], errors: pd.DataFrame, seen_at: datetime
) -> None:
    """Upsert what this run found and mark resolved whatever it no longer finds in these partitions."""
    rows = records(errors.assign(channel=channel, stage=stage, first_seen_at=seen_at, last_seen_at=seen_at, resolved_at=None))
    upsert(
        connection,
        order_sync_errors,
        rows,
        ["channel", "external_order_id", "stage", "error_code", "field"],
        update={
            name: (lambda excluded, name=name: excluded[name])
            for name in ("partition_date", "message", "payload_sha256", "last_seen_at", "resolved_at")
        },
    )
    connection.execute(
        order_sync_errors.update()
        .where(
            order_sync_errors.c.channel == channel,
            order_sync_errors.c.stage == stage,
            order_sync_errors.c.partition_date.in_(list(days)),
            order_sync_errors.c.resolved_at.is_(None),
            order_sync_errors.c.last_seen_at < seen_at,
        )
        .values(resolved_at=seen_at)
    )
