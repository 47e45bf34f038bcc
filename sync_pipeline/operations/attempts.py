"""Every flow's attempt per channel, kept in `sync_attempts`: what channel health reads for the last success, the
last attempt, its error and the failures since the last success."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from sync_pipeline.channels.http import ChannelError
from sync_pipeline.db.tables import sync_attempts

ORDERS, TRACKING, INVENTORY = "orders", "tracking", "inventory"
FLOWS = (ORDERS, TRACKING, INVENTORY)


def error_code(error: BaseException) -> str:
    """The kind of trouble: a channel's own code (AUTH_FAILED, PERMISSION_DENIED, RATE_LIMITED, UNAVAILABLE,
    REFUSED), or CONFIG for a setting or map file a person must fix here."""
    return error.code if isinstance(error, ChannelError) else "CONFIG"


def record_attempt(engine: sa.Engine, channel: str, flow: str, run_id: str | None, started_at: datetime,
                   error: BaseException | None = None) -> None:
    """One attempt of a flow for a channel, in a transaction of its own (kept whatever the flow then does)."""
    with engine.begin() as connection:
        connection.execute(sync_attempts.insert(), [{
            "channel": channel, "flow": flow, "run_id": run_id, "started_at": started_at,
            "finished_at": datetime.now(timezone.utc), "outcome": "FAILED" if error is not None else "SUCCESS",
            "error_code": error_code(error) if error is not None else None,
            "error": str(error) if error is not None else None,
        }])
