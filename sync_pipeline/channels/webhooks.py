"""Order webhooks, as the platforms that have them send them (Shopify, WooCommerce, BigCommerce): what every
platform's delivery reader gives (a Delivery) or refuses (WebhookRefused, answered 401), and the checks they share.
Each platform's own reader is `channels/<platform>/webhooks.py`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

import orjson
from dateutil import parser as dateparser

SECRET = "webhook_secret"  # the credential (channels.yaml `credentials.webhook_secret`) deliveries are checked with
FORGED, STALE, REPLAYED, MALFORMED = "FORGED", "STALE", "REPLAYED", "MALFORMED"


class WebhookRefused(Exception):
    """A delivery that lands nothing: `reason` is FORGED, STALE, REPLAYED or MALFORMED; the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    """One order event, as a platform's delivery says it."""

    delivery_id: str  # the platform's id of the event, the same on every retry and duplicate of it
    topic: str  # as the platform names it: orders/create, order.updated, store/order/created, ...
    external_order_id: str | None
    placed_on: date | None  # the order's UTC day of placement, where the payload carries it (BigCommerce's does not)
    sent_at: datetime | None  # when the platform says the event happened
    order: dict | None = None  # the order itself, when the body is the order as the platform's API gives it


class DeliveryReader(Protocol):
    def __call__(self, headers: dict[str, str], body: bytes, secret: str, now: datetime,
                 tolerance: timedelta) -> Delivery | None:
        """The delivery, None for a topic that is not about orders (answered 200, landing nothing), or WebhookRefused.
        `headers` are lower-cased."""


def hmac_base64(secret: str, body: bytes) -> str:
    """Base64 of HMAC-SHA256 of the raw body: Shopify's X-Shopify-Hmac-Sha256 and WooCommerce's signature."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def require_equal(given: str | None, expected: str, what: str) -> None:
    """Constant-time comparison; FORGED when the header is missing or differs."""
    if not given:
        raise WebhookRefused(FORGED, f"no {what}: not sent by the platform, or sent with another secret")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise WebhookRefused(FORGED, f"{what} does not match: the delivery was not signed with this channel's "
                                     "webhook secret (check credentials.webhook_secret)")


def require_fresh(sent_at: datetime | None, now: datetime, tolerance: timedelta) -> None:
    """STALE when the event is older than the tolerance: a captured delivery replayed later lands nothing."""
    if sent_at is not None and now - sent_at > tolerance:
        raise WebhookRefused(STALE, f"sent at {sent_at.isoformat()}, more than {tolerance} ago: a replay, or a "
                                    "delivery held up; the schedule's sync catches a real change")


def json_body(body: bytes) -> dict:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookRefused(MALFORMED, "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRefused(MALFORMED, "the body is not a JSON object")
    return payload


def utc_time(text: str | None, assume_utc: bool = False) -> datetime | None:
    """A platform's time text as an aware UTC datetime; `assume_utc` for texts without an offset (WooCommerce's
    *_gmt fields). None when absent; MALFORMED when unreadable."""
    if not text:
        return None
    try:
        moment = dateparser.isoparse(text)
    except ValueError:
        raise WebhookRefused(MALFORMED, f"unreadable time {text!r}") from None
    if moment.tzinfo is None:
        if not assume_utc:
            raise WebhookRefused(MALFORMED, f"time {text!r} carries no offset")
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
