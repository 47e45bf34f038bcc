"""What a webhook-triggered order_sync run does with the inbox: the deliveries whose body is the order as the
platform's API gives it (Shopify, WooCommerce) land as that order's version without an API call; a delivery that
only names its order (BigCommerce's thin payload) has it read by id, in full only when its version is new. The
deliveries are then marked landed, so a later run does not land them again; the schedule's runs fetch from the
cursors as ever and land nothing twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timezone

import orjson
import sqlalchemy as sa

from sync_pipeline.channels import ORDER_MAPPINGS
from sync_pipeline.channels.base import ChannelConnector, RawOrder
from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.config import ChannelConfig, ConfigError
from sync_pipeline.db.tables import raw_orders, webhook_inbox
from sync_pipeline.db.writes import insert_new, log_api_calls
from sync_pipeline.operations.attempts import ORDERS, record_attempt
from sync_pipeline.orders.ingest import VERSION_KEY, ChannelIngest, at_home, landed_payloads, payload_row

TRIGGER_TAG = "sync/trigger"  # "webhook" on the runs the order_webhooks sensor asks for
WEBHOOK_SOURCE = "api:webhook"  # raw_orders.source: the API's shape (its field table), delivered by webhook


def _waiting(channel: str, days: list[date]) -> sa.ColumnElement:
    """The channel's deliveries not landed yet that touch `days` (a delivery without its order's day touches all)."""
    return ((webhook_inbox.c.channel == channel) & webhook_inbox.c.landed_at.is_(None)
            & (webhook_inbox.c.placed_on.in_(days) | webhook_inbox.c.placed_on.is_(None)))


def land_deliveries(engine: sa.Engine, channel: ChannelConfig, days: list[date], run_id: str,
                    connector_factory: Callable[[ChannelConfig, ApiCallLog], ChannelConnector]) -> ChannelIngest:
    """The waiting deliveries' orders as raw versions, every waiting delivery then marked landed. Shopify's and
    WooCommerce's carry their order; BigCommerce's only name it, so the run's named orders are read by id
    (`fetch_orders_by_id`: the list filtered by id ranges, then the sub-resources of each version not landed yet),
    never by a list fetch over the cursor's overlap. None lands twice, and an out-of-order
    delivery is an older version, which normalization never takes for the latest. A channel that cannot be read
    fails its days; their deliveries wait for the next run, and the schedule's."""
    started, started_at = time.perf_counter(), datetime.now(timezone.utc)
    result = ChannelIngest(channel.name, days, ApiCallLog(channel.name))
    mapping = ORDER_MAPPINGS[channel.type]["api"]
    failure: Exception | None = None
    with engine.connect() as connection:
        waiting = connection.execute(sa.select(webhook_inbox.c.id, webhook_inbox.c.external_order_id,
                                               webhook_inbox.c.payload).where(_waiting(channel.name, days))).all()
    try:
        orders: list[RawOrder] = []
        for delivery in waiting:
            if delivery.payload is not None:
                payload = orjson.loads(delivery.payload)
                placed_at, updated_at, _ = mapping.times(payload, channel.tz)
                orders.append(RawOrder(delivery.external_order_id, payload, placed_at, updated_at))
        named = sorted({d.external_order_id for d in waiting if d.payload is None})
        if named:
            connector = connector_factory(channel, result.log)
            connector.landed = landed_payloads(engine, channel.name)
            # An order gone from the channel since is not returned: the schedule's fetch settles it.
            orders += connector.fetch_orders_by_id(named)
        rows = [payload_row(channel.name, o, run_id, started_at, WEBHOOK_SOURCE, filed_under=days[0]) for o in orders]
        requested = set(days)
        result.fetched = len(rows)
        with engine.begin() as connection:
            result.landed = insert_new(connection, raw_orders, at_home(
                connection, channel.name, [r for r in rows if r["partition_date"] in requested]), VERSION_KEY)
            connection.execute(webhook_inbox.update().where(webhook_inbox.c.id.in_([d.id for d in waiting] or [-1]))
                               .values(landed_at=started_at))
    except (ChannelError, ConfigError) as exc:
        result.error, result.failed_days, failure = str(exc), list(days), exc
    finally:
        log_api_calls(engine, result.log, run_id)
        result.seconds = time.perf_counter() - started
    record_attempt(engine, channel.name, ORDERS, run_id, started_at, failure)
    return result
