"""The webhook receiver: an ASGI app (Starlette, served by uvicorn) at POST /webhooks/<channel>. Each delivery is
checked by its platform's reader (signature, age), stored once in `webhook_inbox` (deduplicated on the platform's
event id) and answered at once; the sync itself runs from the order_webhooks sensor. A forged, stale or replayed
delivery is answered 401, logged with its reason in `webhook_refusals`, and lands nothing.

A delivery whose event id is already in the inbox with the same body is the platform's at-least-once retry
(it did not see our 200): it is answered 200 and lands nothing again. Answering it 401 would make the platform
retry for hours and then drop the subscription. A captured delivery replayed later is refused as STALE."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sync_pipeline.channels import WEBHOOK_READERS
from sync_pipeline.channels.webhooks import REPLAYED, SECRET, Delivery, WebhookRefused
from sync_pipeline.config import ConfigError, PipelineConfig
from sync_pipeline.db.tables import webhook_inbox, webhook_refusals

log = logging.getLogger(__name__)
TOLERANCE = timedelta(minutes=5)  # how old an event may be when it arrives
MAX_BODY_BYTES = 2_000_000


def build_app(config: PipelineConfig, engine: sa.Engine, tolerance: timedelta = TOLERANCE,
              now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> Starlette:
    channels = {c.name: c for c in config.channels if c.webhooks}

    async def receive(request: Request) -> JSONResponse:
        name = request.path_params["channel"]
        remote = request.client.host if request.client else None
        body = await request.body()
        channel = channels.get(name)
        if channel is None:
            await run_in_threadpool(_refuse, engine, name, "UNKNOWN_CHANNEL",
                                    "no channel of that name takes webhooks (webhooks: true in channels.yaml)", None,
                                    remote, now())
            return JSONResponse({"error": "UNKNOWN_CHANNEL"}, status_code=404)
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": "TOO_LARGE"}, status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            secret = channel.secret(SECRET)
        except ConfigError as error:  # our setup, not the sender's fault: the platform retries later
            log.error(str(error))
            return JSONResponse({"error": "NOT_CONFIGURED"}, status_code=503)
        try:
            delivery = WEBHOOK_READERS[channel.type](headers, body, secret, now(), tolerance)
            if delivery is None:
                return JSONResponse({"ignored": "not an order topic"})
            duplicate = await run_in_threadpool(_store, engine, name, delivery, body, now())
        except WebhookRefused as refused:
            delivery_id = headers.get("x-shopify-event-id") or headers.get("x-wc-webhook-delivery-id")
            await run_in_threadpool(_refuse, engine, name, refused.reason, str(refused), delivery_id, remote, now())
            return JSONResponse({"error": refused.reason}, status_code=401)
        return JSONResponse({"duplicate": duplicate})

    async def healthy(_request: Request) -> JSONResponse:
        return JSONResponse({"channels": sorted(channels)})

    return Starlette(routes=[Route("/webhooks/{channel}", receive, methods=["POST"]),
                             Route("/healthz", healthy, methods=["GET"])])


def _store(engine: sa.Engine, channel: str, delivery: Delivery, body: bytes, received_at: datetime) -> bool:
    """The delivery in the inbox once; True when it was there already (a duplicate, counted). REPLAYED when its
    event id is there with another body."""
    digest = hashlib.sha256(body).hexdigest()
    row = {"channel": channel, "delivery_id": delivery.delivery_id, "topic": delivery.topic,
           "external_order_id": delivery.external_order_id, "placed_on": delivery.placed_on,
           "sent_at": delivery.sent_at, "body_sha256": digest, "received_at": received_at,
           "payload": body.decode("utf-8") if delivery.order is not None else None}
    same = (webhook_inbox.c.channel == channel) & (webhook_inbox.c.delivery_id == delivery.delivery_id)
    with engine.begin() as connection:
        try:
            with connection.begin_nested():
                connection.execute(webhook_inbox.insert(), [row])
            return False
        except sa.exc.IntegrityError:
            held = connection.execute(sa.select(webhook_inbox.c.body_sha256).where(same)).scalar_one()
            if held != digest:
                raise WebhookRefused(REPLAYED, f"event {delivery.delivery_id} was received before with another "
                                               "body: refused") from None
            connection.execute(webhook_inbox.update().where(same).values(duplicates=webhook_inbox.c.duplicates + 1))
            return True


def _refuse(engine: sa.Engine, channel: str, reason: str, message: str, delivery_id: str | None, remote: str | None,
            received_at: datetime) -> None:
    log.warning(f"webhook for {channel} refused ({reason}) from {remote}: {message}")
    with engine.begin() as connection:
        connection.execute(webhook_refusals.insert(), [{
            "channel": channel[:64], "reason": reason, "message": message, "delivery_id": delivery_id,
            "remote": remote, "received_at": received_at}])
