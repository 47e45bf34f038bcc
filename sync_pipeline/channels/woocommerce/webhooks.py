"""WooCommerce's order webhooks: order.created, order.updated, order.deleted. The body is the order as the REST API
gives it ({"id"} alone for order.deleted); X-WC-Webhook-Signature is base64 HMAC-SHA256 of the raw body with the
webhook's secret; X-WC-Webhook-Delivery-ID names the delivery. WooCommerce sends no time header: the order's
date_modified_gmt is when the event happened. The ping WooCommerce sends when a webhook is saved
(`webhook_id=<n>`, unsigned) is answered and lands nothing."""

from datetime import datetime, timedelta

from sync_pipeline.channels.webhooks import (
    MALFORMED,
    Delivery,
    WebhookRefused,
    hmac_base64,
    json_body,
    require_equal,
    utc_time,
)


def read_delivery(headers: dict[str, str], body: bytes, secret: str, now: datetime,
                  tolerance: timedelta) -> Delivery | None:
    if body.startswith(b"webhook_id=") and "x-wc-webhook-topic" not in headers:
        return None  # the ping
    require_equal(headers.get("x-wc-webhook-signature"), hmac_base64(secret, body), "X-WC-Webhook-Signature")
    topic = headers.get("x-wc-webhook-topic", "")
    if not topic.startswith("order."):
        return None
    payload = json_body(body)
    delivery_id = headers.get("x-wc-webhook-delivery-id")
    if not delivery_id or "id" not in payload:
        raise WebhookRefused(MALFORMED, "no X-WC-Webhook-Delivery-ID, or no order id in the body")
    placed = utc_time(payload.get("date_created_gmt"), assume_utc=True)
    modified_at = utc_time(payload.get("date_modified_gmt"), assume_utc=True)
    order = payload if topic != "order.deleted" else None  # a deletion's body is {"id"} alone
    return Delivery(delivery_id, topic, str(payload["id"]), placed.date() if placed else None, modified_at, order)
