"""Table definitions. Every timestamp is stored as UTC."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

metadata = sa.MetaData()


class UtcDateTime(sa.types.TypeDecorator):
    """Stores aware datetimes as naive UTC and hands them back aware, identically on SQLite and Postgres."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing naive datetime {value!r}: every timestamp must carry a time zone")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


raw_orders = sa.Table(
    "raw_orders",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("external_order_id", sa.String(128), nullable=False),
    sa.Column("payload", sa.Text, nullable=False, comment="the channel's JSON, verbatim"),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Column("channel_updated_at", UtcDateTime, nullable=False),
    sa.Column("placed_at", UtcDateTime, nullable=False),
    sa.Column("fetched_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("source", sa.String(16), nullable=False, comment="api or csv:<file name>"),
    # One row per distinct version of an order: re-fetching an unchanged order lands nothing.
    sa.UniqueConstraint("channel", "external_order_id", "payload_sha256", name="uq_raw_orders_version"),
    sa.Index("ix_raw_orders_partition", "channel", "partition_date"),
)

ingest_cursors = sa.Table(
    "ingest_cursors",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("partition_date", sa.Date, primary_key=True),
    sa.Column("cursor_updated_at", UtcDateTime, nullable=True, comment="newest channel updated-at landed"),
    sa.Column("last_synced_at", UtcDateTime, nullable=False),
    sa.Column("last_run_id", sa.String(64), nullable=False),
)

api_calls = sa.Table(
    "api_calls",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("endpoint", sa.String(256), nullable=False, comment="path without query string"),
    sa.Column("status_code", sa.Integer, nullable=True, comment="null when no response arrived"),
    sa.Column("error", sa.String(64), nullable=True, comment="timeout, connection_reset, ..."),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("rate_limit", sa.String(64), nullable=True, comment="the platform's rate-limit header"),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("called_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Index("ix_api_calls_channel_time", "channel", "called_at"),
)
