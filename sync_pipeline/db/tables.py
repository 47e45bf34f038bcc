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
    sa.Column("placed_at", UtcDateTime, nullable=True, comment="null: the channel sent an unreadable time (INVALID_DATE)"),
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

import_files = sa.Table(
    "import_files",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False, comment="as dropped in data/imports/<channel>/"),
    sa.Column("checksum", sa.String(64), nullable=False, comment="sha256 of the file's bytes: what makes it the same file"),
    sa.Column("rows", sa.Integer, nullable=False, comment="data rows after the header"),
    sa.Column("rows_landed", sa.Integer, nullable=False),
    sa.Column("rows_bad", sa.Integer, nullable=False, comment="rows not landed: each has an order_sync_errors row"),
    sa.Column("orders_landed", sa.Integer, nullable=False),
    sa.Column("first_day", sa.Date, comment="UTC days of placement its orders span (an old day's backup cover)"),
    sa.Column("last_day", sa.Date),
    sa.Column("imported_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.UniqueConstraint("channel", "checksum", name="uq_import_files_checksum"),
    comment="every order export file imported, once per channel and content (a renamed or re-dropped copy is not)",
)

api_calls = sa.Table(
    "api_calls",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("endpoint", sa.String(256), nullable=False, comment="path without query string"),
    sa.Column("bucket", sa.String(64), comment="the client's rate-limit bucket it drew on (channel health's budget share)"),
    sa.Column("status_code", sa.Integer, nullable=True, comment="null when no response arrived"),
    sa.Column("error", sa.String(64), nullable=True, comment="timeout, connection_reset, ..."),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("rate_limit", sa.String(64), nullable=True, comment="the platform's rate-limit header"),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("called_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Index("ix_api_calls_channel_time", "channel", "called_at"),
)

rate_budgets = sa.Table(
    "rate_budgets",
    metadata,
    sa.Column("budget", sa.String(400), primary_key=True,
              comment="<channel>|<API base URL>|<client bucket>|<configured per_second/burst>"),
    sa.Column("tokens", sa.Float, nullable=False, comment="requests the model lets through now"),
    sa.Column("capacity", sa.Float, nullable=False, comment="the burst, as configured or learned from the channel"),
    sa.Column("per_second", sa.Float, nullable=False, comment="refill rate, as configured or learned"),
    sa.Column("updated_at", sa.Float, nullable=False, comment="the database clock's epoch seconds at the last change"),
    sa.Column("blocked_until", sa.Float, nullable=False, comment="epoch seconds: the channel said wait until then"),
    sa.Column("streak", sa.Integer, nullable=False, comment="requests let through since the model last had to wait"),
    comment="channels/http.py's token buckets, shared by every process and host syncing a channel (one row each)",
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.String(200), primary_key=True, comment="<channel>:<external_order_id>"),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("external_order_id", sa.String(128), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("order_number", sa.String(128)),
    sa.Column("channel_status", sa.String(64), nullable=False),
    sa.Column("canonical_status", sa.String(32), nullable=False),
    sa.Column("placed_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("customer_name", sa.Text),
    sa.Column("customer_email", sa.Text),
    sa.Column("customer_phone", sa.String(32), comment="E.164"),
    sa.Column("ship_name", sa.Text),
    sa.Column("ship_company", sa.Text),
    sa.Column("ship_address1", sa.Text),
    sa.Column("ship_address2", sa.Text),
    sa.Column("ship_city", sa.Text),
    sa.Column("ship_region", sa.Text),
    sa.Column("ship_postal_code", sa.String(32)),
    sa.Column("ship_country", sa.String(2), comment="ISO 3166-1 alpha-2"),
    sa.Column("ship_phone", sa.String(32), comment="E.164"),
    sa.Column("bill_name", sa.Text),
    sa.Column("bill_address1", sa.Text),
    sa.Column("bill_city", sa.Text),
    sa.Column("bill_postal_code", sa.String(32)),
    sa.Column("bill_country", sa.String(2)),
    sa.Column("currency", sa.String(3)),
    sa.Column("total_amount", sa.Numeric(18, 4)),
    sa.Column("shipping_amount", sa.Numeric(18, 4)),
    sa.Column("tax_amount", sa.Numeric(18, 4)),
    sa.Column("ship_method", sa.Text, comment="as the channel sent it"),
    sa.Column("channel_fields", sa.Text, comment="channel-specific fields, JSON"),
    sa.Column("payload_sha256", sa.String(64), nullable=False, comment="the raw_orders version mapped"),
    sa.Column("normalized_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Index("ix_orders_partition", "channel", "partition_date"),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("order_id", sa.String(200), primary_key=True),
    sa.Column("line_number", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("channel_sku", sa.String(128)),
    sa.Column("variant_id", sa.String(128)),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", sa.Numeric(18, 4)),
    sa.Column("title", sa.Text),
    sa.Index("ix_order_lines_partition", "channel", "partition_date"),
)

order_sync_errors = sa.Table(
    "order_sync_errors",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("external_order_id", sa.String(128), nullable=False),
    sa.Column("stage", sa.String(32), nullable=False, comment="normalize, fulfilment, ..."),
    sa.Column("error_code", sa.String(48), nullable=False),
    sa.Column("field", sa.String(64), nullable=False, server_default=""),
    sa.Column("message", sa.Text, nullable=False, comment="what is wrong and how to fix it"),
    sa.Column("payload_sha256", sa.String(64), comment="the raw_orders version it was found in"),
    sa.Column("first_seen_at", UtcDateTime, nullable=False),
    sa.Column("last_seen_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("channel", "external_order_id", "stage", "error_code", "field", name="uq_order_sync_errors"),
    sa.Index("ix_order_sync_errors_partition", "channel", "partition_date", "stage"),
)

fulfilment_orders = sa.Table(
    "fulfilment_orders",
    metadata,
    sa.Column("order_id", sa.String(200), primary_key=True, comment="<channel>:<external_order_id>"),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("external_order_id", sa.String(128), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("client_reference", sa.String(200), nullable=False, unique=True,
              comment="deterministic: the warehouse's order number, looked up before any resend"),
    sa.Column("status", sa.String(16), nullable=False,
              comment="NEW, ACCEPTED, IMPORT_ERROR, MANUAL, CANCELLED, HELD, COMPLETED"),
    sa.Column("error_code", sa.String(48), comment="why IMPORT_ERROR or HELD"),
    sa.Column("message", sa.Text, comment="what is wrong and how to fix it"),
    sa.Column("ship_code", sa.String(32), comment="the warehouse ship code the method mapped to"),
    sa.Column("warehouse_order_id", sa.String(64)),
    sa.Column("warehouse_status", sa.String(24),
              comment="accepted, backorder, partially_shipped, shipped, cancelled: as the warehouse said"),
    sa.Column("backordered", sa.Text, comment="JSON list of {sku, quantity} the warehouse could not cover (S24)"),
    sa.Column("linked", sa.Boolean, nullable=False, server_default=sa.false(),
              comment="the warehouse already had the order (a lost reply, or entered by hand): linked, not sent twice"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0", comment="create requests sent, over all runs"),
    sa.Column("submitted_at", UtcDateTime, comment="when the order was first sent"),
    sa.Column("in_doubt_since", UtcDateTime,
              comment="a send went out and its answer is not recorded: looked up at the warehouse before anything else"),
    sa.Column("accepted_at", UtcDateTime),
    sa.Column("cancelled_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("claimed_by", sa.String(64), comment="the run sending it now; concurrent runs leave it alone"),
    sa.Column("claimed_at", UtcDateTime, comment="by the database's clock"),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Index("ix_fulfilment_orders_partition", "channel", "partition_date"),
    sa.Index("ix_fulfilment_orders_status", "status"),
)

tracking_updates = sa.Table(
    "tracking_updates",
    metadata,
    sa.Column("package_id", sa.String(280), primary_key=True,
              comment="<client reference>/<shipment id>: one row per channel order and package, the same on every run"),
    sa.Column("shipment_id", sa.String(64), nullable=False, comment="the warehouse's id of the package"),
    sa.Column("order_id", sa.String(200), nullable=False, comment="<channel>:<external_order_id>"),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("external_order_id", sa.String(128), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False, comment="UTC day of shipment"),
    sa.Column("warehouse_order_id", sa.String(64), nullable=False),
    sa.Column("tracking_number", sa.String(128), comment="the warehouse's current number; null: it sent none"),
    sa.Column("carrier_as_sent", sa.String(128), comment="the warehouse's text"),
    sa.Column("carrier_code", sa.String(64), comment="the channel's code (data/carrier_map.csv or the platform's list)"),
    sa.Column("tracking_url", sa.Text),
    sa.Column("shipped_at", UtcDateTime, nullable=False),
    sa.Column("lines", sa.Text, nullable=False, comment="JSON list of {line_number, sku, quantity} in the package"),
    sa.Column("status", sa.String(32), nullable=False,
              comment="PENDING, PUSHED, ALREADY_FULFILLED, ORDER_NOT_FOUND_ON_CHANNEL, ORDER_CANCELLED, PERMISSION_DENIED, "
                      "CARRIER_NOT_MAPPED, NOT_APPLICABLE, RETRYING, NO_TRACKING_NUMBER, UNKNOWN_ORDER"),
    sa.Column("message", sa.Text, comment="what happened and, where a person must act, how to fix it"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0", comment="pushes sent, over all runs"),
    sa.Column("pushed_at", UtcDateTime),
    sa.Column("pushed_number", sa.String(128), comment="the number the channel holds; differs from tracking_number "
                                                       "while a correction is still to be pushed"),
    sa.Column("sending_number", sa.String(128), comment="the number the last push carried (set with its claim): what is "
                                                        "looked for on the channel while it is in doubt"),
    sa.Column("corrected_from", sa.String(128), comment="the number the warehouse replaced"),
    sa.Column("channel_fulfillment_id", sa.String(128), comment="the channel's id for what holds the number"),
    sa.Column("in_doubt_since", UtcDateTime,
              comment="a push went out and its answer is not recorded: the channel is read before any resend"),
    sa.Column("claimed_by", sa.String(64), comment="the run pushing it now; concurrent runs leave it alone"),
    sa.Column("claimed_at", UtcDateTime, comment="by the database's clock"),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Index("ix_tracking_updates_partition", "channel", "partition_date"),
    sa.Index("ix_tracking_updates_order", "order_id"),
)

tracking_cursors = sa.Table(
    "tracking_cursors",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("partition_date", sa.Date, primary_key=True),
    sa.Column("cursor_updated_at", UtcDateTime, nullable=False, comment="newest shipment updated-at read for the day"),
    sa.Column("last_synced_at", UtcDateTime, nullable=False),
    sa.Column("last_run_id", sa.String(64), nullable=False),
)

inventory_snapshots = sa.Table(
    "inventory_snapshots",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("sku", sa.String(128), nullable=False, comment="the warehouse's SKU"),
    sa.Column("good", sa.Integer, nullable=False),
    sa.Column("hurt", sa.Integer, nullable=False),
    sa.Column("allocated", sa.Integer, nullable=False),
    sa.Column("warehouse_updated_at", UtcDateTime, comment="the warehouse's time of this state, when it gives one"),
    sa.Column("read_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Index("ix_inventory_snapshots_sku_read", "sku", "read_at"),
)

inventory_pushes = sa.Table(
    "inventory_pushes",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("listing_id", sa.String(200), primary_key=True, comment="the channel's id for what holds the stock"),
    sa.Column("sku", sa.String(128), nullable=False, comment="as the channel holds it"),
    sa.Column("warehouse_sku", sa.String(128), comment="what it stands for at the warehouse (null: none found)"),
    sa.Column("quantity", sa.Integer, comment="the quantity the listing should show, as last decided"),
    sa.Column("previous", sa.Integer, comment="what the listing showed before this run wrote it"),
    sa.Column("shown", sa.Integer, comment="what it shows as far as we know: as last read, or as written since"),
    sa.Column("listing", sa.JSON, comment="as last read (tracked, active, the ids a write needs); null: not listed"),
    sa.Column("pushed_quantity", sa.Integer, comment="the last quantity written to it: drift is measured against it"),
    sa.Column("status", sa.String(32), nullable=False,
              comment="PUSHED, UNCHANGED, PRODUCT_NOT_FOUND, INVENTORY_NOT_TRACKED, NOT_ACTIVE, NOT_SUPPORTED, "
                      "INVALID_QUANTITY, RETRYING, HELD_BACK"),
    sa.Column("message", sa.Text, comment="why, and the fix where a person must act"),
    sa.Column("pushed_at", UtcDateTime),
    sa.Column("writes_day", sa.Date, comment="the UTC day writes_that_day counts (per-listing daily caps)"),
    sa.Column("writes_that_day", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
)

inventory_drift = sa.Table(
    "inventory_drift",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("listing_id", sa.String(200), nullable=False),
    sa.Column("sku", sa.String(128), nullable=False),
    sa.Column("pushed", sa.Integer, nullable=False, comment="what this pipeline last wrote"),
    sa.Column("found", sa.Integer, nullable=False, comment="what the channel showed instead: changed there, not by us"),
    sa.Column("difference", sa.Integer, comment="found - pushed: units added (or, negative, taken) on the channel"),
    sa.Column("changed_by", sa.Text, comment="who: not this pipeline (a person, another app or a sale there), and where "
                                             "the channel names them"),
    sa.Column("changed_at", UtcDateTime, comment="when the channel says the listing last changed; null where it does not"),
    sa.Column("first_seen_at", UtcDateTime, nullable=False),
    sa.Column("corrected_at", UtcDateTime, comment="when the warehouse's figure was written back over it"),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Index("ix_inventory_drift_channel", "channel", "listing_id"),
)

sync_attempts = sa.Table(
    "sync_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("flow", sa.String(16), nullable=False, comment="orders, tracking or inventory"),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False, comment="SUCCESS or FAILED"),
    sa.Column("error_code", sa.String(32), comment="AUTH_FAILED, PERMISSION_DENIED, RATE_LIMITED, UNAVAILABLE, "
                                                   "REFUSED, CONFIG"),
    sa.Column("error", sa.Text, comment="what went wrong, with its fix"),
    sa.Index("ix_sync_attempts_channel_flow", "channel", "flow", "finished_at"),
)

channel_health = sa.Table(
    "channel_health",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("flow", sa.String(16), primary_key=True),
    sa.Column("status", sa.String(24), nullable=False, comment="HEALTHY, STALE, AUTH_FAILED, PERMISSION_DENIED, "
                                                               "RATE_LIMITED, DEGRADED, FAILING, DISABLED"),
    sa.Column("reason", sa.Text, comment="why the status, and what to do when it is not HEALTHY"),
    sa.Column("last_success_at", UtcDateTime),
    sa.Column("last_attempt_at", UtcDateTime),
    sa.Column("last_error", sa.Text, comment="the last failed attempt's error, with its fix"),
    sa.Column("last_error_code", sa.String(32), comment="its kind: AUTH_FAILED, PERMISSION_DENIED, RATE_LIMITED, ..."),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("interval_minutes", sa.Integer, comment="how often the flow runs: STALE past twice this"),
    sa.Column("calls_1h", sa.Integer, nullable=False, server_default="0"),
    sa.Column("http_429_1h", sa.Integer, nullable=False, server_default="0"),
    sa.Column("http_5xx_1h", sa.Integer, nullable=False, server_default="0", comment="5xx and no answer at all"),
    sa.Column("p95_latency_ms_1h", sa.Float),
    sa.Column("budget_used_1h", sa.Float, comment="the busiest rate-limit bucket's calls over what it allows"),
    sa.Column("calls_24h", sa.Integer, nullable=False, server_default="0"),
    sa.Column("http_429_24h", sa.Integer, nullable=False, server_default="0"),
    sa.Column("http_5xx_24h", sa.Integer, nullable=False, server_default="0"),
    sa.Column("p95_latency_ms_24h", sa.Float),
    sa.Column("budget_used_24h", sa.Float),
    sa.Column("open_errors", sa.JSON, comment="open problems by code: {code: count}"),
    sa.Column("oldest_open_error_at", UtcDateTime),
    sa.Column("checked_at", UtcDateTime, nullable=False),
)

channel_health_history = sa.Table(
    "channel_health_history",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("flow", sa.String(16), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("previous_status", sa.String(24)),
    sa.Column("reason", sa.Text),
    sa.Column("changed_at", UtcDateTime, nullable=False),
    sa.Index("ix_channel_health_history", "channel", "flow", "changed_at"),
)

# One row per channel and UTC day: the latest judgement (upserted, so re-checking a day replaces it).
order_completeness = sa.Table(
    "order_completeness",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("partition_date", sa.Date, primary_key=True),
    sa.Column("channel_type", sa.String(32), nullable=False),
    sa.Column("channel_count", sa.Integer, nullable=True, comment="the channel's own count; null: NO_COUNT"),
    sa.Column("landed", sa.Integer, nullable=False, comment="distinct orders in raw_orders for the partition"),
    sa.Column("missing", sa.Integer, nullable=True, comment="max(0, channel_count - landed); null: NO_COUNT"),
    sa.Column("status", sa.String(16), nullable=False, comment="COMPLETE, SHORT, NO_COUNT"),
    sa.Column("reason", sa.Text, nullable=False, comment="what was counted, or why nothing could be"),
    sa.Column("counted_from", UtcDateTime, nullable=False),
    sa.Column("counted_until", UtcDateTime, nullable=False, comment="the day's end, or the last fetch's start if earlier"),
    sa.Column("checked_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
)

reconciliation_findings = sa.Table(
    "reconciliation_findings",
    metadata,
    sa.Column("finding_id", sa.String(300), primary_key=True, comment="S42:<order id> or S43:<warehouse order id>"),
    sa.Column("kind", sa.String(8), nullable=False, comment="S42 (open here, closed on the channel) or S43 (unlinked)"),
    sa.Column("channel", sa.String(64), comment="the channel order's (S43: the first candidate's; null: none)"),
    sa.Column("order_id", sa.String(200), comment="the channel order (S43: the one linked or matched uniquely)"),
    sa.Column("warehouse_order_id", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False, comment="FOUND, REFRESHED, LINKED, NEEDS_PERSON"),
    sa.Column("candidates", sa.Text, comment="S43: JSON list of the channel orders it matches"),
    sa.Column("message", sa.Text, nullable=False, comment="what was found, what was done, the fix when a person must act"),
    sa.Column("found_at", UtcDateTime, nullable=False),
    sa.Column("last_seen_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime, comment="settled (REFRESHED, LINKED), or no longer found"),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Index("ix_reconciliation_findings_order", "order_id"),
    sa.Index("ix_reconciliation_findings_kind", "kind", "status"),
)

channel_state_checks = sa.Table(
    "channel_state_checks",
    metadata,
    sa.Column("order_id", sa.String(200), primary_key=True, comment="<channel>:<external_order_id>"),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("checked_at", UtcDateTime, nullable=False, comment="when S42 last read it on its channel"),
    sa.Column("channel_status", sa.String(64), comment="as the channel said; null: the channel does not know it"),
    sa.Column("canonical_status", sa.String(32)),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Index("ix_channel_state_checks_channel", "channel", "checked_at"),
)

webhook_inbox = sa.Table(
    "webhook_inbox",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("delivery_id", sa.String(200), nullable=False, comment="the platform's id of the event (its duplicates share it)"),
    sa.Column("topic", sa.String(64), nullable=False),
    sa.Column("external_order_id", sa.String(128)),
    sa.Column("placed_on", sa.Date, comment="the order's UTC day of placement, when the payload says it"),
    sa.Column("sent_at", UtcDateTime, comment="when the platform says the event happened"),
    sa.Column("body_sha256", sa.String(64), nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("duplicates", sa.Integer, nullable=False, server_default="0", comment="the same delivery again, answered 200"),
    sa.Column("payload", sa.Text, comment="the order as the platform's API gives it (Shopify, WooCommerce): lands as is"),
    sa.Column("landed_at", UtcDateTime, comment="when raw_orders landed its payload (null: not yet, or none)"),
    sa.UniqueConstraint("channel", "delivery_id", name="uq_webhook_inbox_delivery"),
    comment="every order webhook received and checked: the order_webhooks sensor turns them into runs",
)

webhook_refusals = sa.Table(
    "webhook_refusals",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(16), nullable=False, comment="FORGED, STALE, REPLAYED, MALFORMED, UNKNOWN_CHANNEL"),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("delivery_id", sa.String(200)),
    sa.Column("remote", sa.String(64), comment="the sender's address"),
    sa.Column("received_at", UtcDateTime, nullable=False),
    comment="every delivery answered 401 or 404: logged, nothing landed",
)
