"""Shopify's order webhooks: orders/create, orders/updated, orders/cancelled (and the other orders/* topics). The
body is the order as the REST API gives it; X-Shopify-Hmac-Sha256 is base64 HMAC-SHA256 of the raw body with the
app's client secret; X-Shopify-Event-Id (else X-Shopify-Webhook-Id) is the same on every duplicate of the event;
X-Shopify-Triggered-At says when it happened. The body lands as the order's version without an API call."""

from datetime import datetime, timedelta

from sync_pipeline.channels.webhooks import (
    MALFORMED,
    Delivery,
    WebhookRefused,
    hmac_base64,
    json_body,
    require_equal,
    require_fresh,
    utc_time,
)


def read_delivery(headers: dict[str, str], body: bytes, secret: str, now: datetime,
                  tolerance: timedelta) -> Delivery | None:
    require_equal(headers.get("x-shopify-hmac-sha256"), hmac_base64(secret, body), "X-Shopify-Hmac-Sha256")
    triggered_at = utc_time(headers.get("x-shopify-triggered-at"))
    require_fresh(triggered_at, now, tolerance)
    topic = headers.get("x-shopify-topic", "")
    if not topic.startswith("orders/"):
        return None
    delivery_id = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id")
    payload = json_body(body)
    if not delivery_id or "id" not in payload:
        raise WebhookRefused(MALFORMED, "no X-Shopify-Event-Id or X-Shopify-Webhook-Id, or no order id in the body")
    placed = utc_time(payload.get("created_at"))
    return Delivery(delivery_id, topic, str(payload["id"]), placed.date() if placed else None, triggered_at, payload)
