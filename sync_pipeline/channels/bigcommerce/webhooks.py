"""BigCommerce's order webhooks: store/order/created, store/order/updated, store/order/statusUpdated, ... A thin
payload ({"scope", "store_id", "data": {"type": "order", "id"}, "hash", "created_at", "producer"}) with no
signature: the hook is created with a header of our own (`headers: {"X-Sync-Webhook-Secret": <secret>}`) that every
delivery carries. `hash` (SHA-1 of the data) with `created_at` names the event; `created_at` (UNIX time) is when it
happened. The order's day is not in the payload: the sync reads the days around the delivery."""

from datetime import datetime, timedelta, timezone

from sync_pipeline.channels.webhooks import MALFORMED, Delivery, WebhookRefused, json_body, require_equal, require_fresh

SECRET_HEADER = "x-sync-webhook-secret"


def read_delivery(headers: dict[str, str], body: bytes, secret: str, now: datetime,
                  tolerance: timedelta) -> Delivery | None:
    require_equal(headers.get(SECRET_HEADER), secret, "X-Sync-Webhook-Secret header")
    payload = json_body(body)
    scope, data = payload.get("scope", ""), payload.get("data") or {}
    try:
        sent_at = datetime.fromtimestamp(int(payload["created_at"]), timezone.utc)
    except (KeyError, TypeError, ValueError):
        raise WebhookRefused(MALFORMED, "no readable created_at (UNIX time) in the body") from None
    require_fresh(sent_at, now, tolerance)
    if not scope.startswith("store/order/"):
        return None
    if not isinstance(data, dict) or not str(data.get("id", "")).isdigit() or not payload.get("hash"):
        raise WebhookRefused(MALFORMED, "no data.id (a BigCommerce order id: a whole number) or hash in the body")
    return Delivery(f"{payload['created_at']}:{payload['hash']}", scope, str(data["id"]), None, sent_at)
