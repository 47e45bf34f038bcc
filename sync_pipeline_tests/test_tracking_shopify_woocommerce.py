"""Shopify and WooCommerce take tracking numbers: the simulator's fulfillment endpoints, and the pipeline's pushes
(ShopifyTracking, WooCommerceTracking) against them, asserted from the simulator's own records (its fulfillments
and its request log) and the real payloads in fixtures/payloads/."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from sync_pipeline.channels.http import ChannelRequestError, ChannelUnavailable
from sync_pipeline.channels.shopify.tracking import ShopifyTracking
from sync_pipeline.channels.tracking import (
    ALREADY_FULFILLED,
    ORDER_CANCELLED,
    ORDER_NOT_FOUND,
    PERMISSION_DENIED,
    PUSHED,
    RETRYING,
    Package,
    PackageLine,
)
from sync_pipeline.channels.woocommerce.tracking import WooCommerceTracking
from sync_pipeline_tests.conftest import scenario

PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"
SHOP, WOO = "shop-track", "woo-track"
API = "admin/api/2025-01"
ANOMALIES = ("tracking_order_deleted", "tracking_already_fulfilled", "tracking_order_locked",
             "tracking_order_cancelled", "tracking_permission_denied")
EVERY_ANOMALY = dict.fromkeys(ANOMALIES, 0.18)
REFUSED_AS = {  # the anomalies whose push never succeeds, and the status each gives
    "tracking_order_deleted": ORDER_NOT_FOUND, "tracking_already_fulfilled": ALREADY_FULFILLED,
    "tracking_order_cancelled": ORDER_CANCELLED, "tracking_permission_denied": PERMISSION_DENIED,
}
SHIPPED = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)
UNICODE_CARRIER = "Correos Exprés — 日本郵便 Ü"


def fixture(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


# --- set-up -----------------------------------------------------------------------------------------------
class Setup:
    """A started simulator with one channel, the pipeline's push on that channel's connector, and the bodies
    it sent (read off the connector's session)."""

    def __init__(self, harness, name: str, push_type):
        self.harness, self.name = harness, name
        self.sim = harness.simulator
        self.connector = harness.connector(name)
        self.push = push_type(self.connector)
        self.sent: list[requests.PreparedRequest] = []
        self.connector.http.session.hooks["response"].append(lambda response, **_: self.sent.append(response.request))

    def bodies(self, method: str, ending: str) -> list:
        return [json.loads(r.body) for r in self.sent
                if r.method == method and r.path_url.split("?")[0].endswith(ending)]

    def records(self, order_id: str) -> list[dict]:
        return self.sim.tracking(self.name).get(order_id, [])

    def anomaly(self, order_id: str) -> str | None:
        return self.sim._platform(self.name).tracking_anomaly(order_id)

    def orders(self, anomaly: str | None = None) -> list:
        """The channel's open orders meeting `anomaly` (None: meeting none)."""
        return [o for o in self.sim.orders(self.name)
                if _open(o.payload) and self.anomaly(o.external_order_id) == anomaly]

    def raw(self, method: str, path: str, body=None) -> requests.Response:
        return self.connector.http.session.request(method, f"{self.connector.config.base_url}/{path}", json=body)


def _open(payload: dict) -> bool:
    if "fulfillable_quantity" in payload["line_items"][0]:  # Shopify
        return not payload.get("cancelled_at") and all(li["fulfillable_quantity"] == li["quantity"]
                                                       for li in payload["line_items"])
    return payload["status"] in ("processing", "pending", "on-hold")


def make(harness_factory, channel_type: str, *, anomalies=None, options=None, per_day=8, speed=200.0,
         **overrides) -> Setup:
    name = SHOP if channel_type == "shopify" else WOO
    harness = harness_factory(
        scenario([(name, channel_type, per_day)], days=2, anomalies=anomalies, speed=speed),
        overrides_in={name: {**({"options": options} if options else {}), **overrides}},
    )
    return Setup(harness, name, ShopifyTracking if channel_type == "shopify" else WooCommerceTracking)


def package(record, number: str, lines: list[tuple[int, int]] | None = None, *, carrier="UPS", carrier_name=None,
            other=False, url=None, completes=False, pushed_before=(), package_id=None) -> Package:
    items = record.payload["line_items"]
    lines = lines or [(i + 1, item["quantity"]) for i, item in enumerate(items)]
    return Package(
        external_order_id=record.external_order_id, package_id=package_id or f"PKG-{number}", tracking_number=number,
        carrier_code=carrier, carrier_name=carrier_name or carrier, other_carrier=other, tracking_url=url,
        shipped_at=SHIPPED, lines=tuple(PackageLine(n, q) for n, q in lines), payload=record.payload,
        pushed_before=tuple(PackageLine(n, q) for n, q in pushed_before), completes_order=completes,
    )


def api_records(records: list[dict]) -> list[dict]:
    return [r for r in records if r["source"] == "api"]


# --- Shopify ----------------------------------------------------------------------------------------------
def test_shopify_one_push_is_one_fulfillment_with_the_number_and_its_lines(harness_factory):
    s = make(harness_factory, "shopify")
    order = s.orders()[0]
    pushed = s.push.push(package(order, "1Z999AA10123456784"))
    assert pushed.status == PUSHED and pushed.message is None

    [record] = s.records(order.external_order_id)
    assert record["fulfillment_id"] == pushed.fulfillment_id
    assert record["tracking_numbers"] == ["1Z999AA10123456784"] and record["carrier"] == "UPS"
    assert record["lines"] == [{"line_id": li["id"], "quantity": li["quantity"]} for li in order.payload["line_items"]]
    calls = [(r["method"], r["path"].split("/", 5)[-1], r["status"]) for r in s.sim.requests]
    assert calls == [("GET", f"orders/{order.external_order_id}/fulfillment_orders.json", 200),
                     ("POST", "fulfillments.json", 201)]

    # The body has the documented shape (payloads/shopify_fulfillment_create.json).
    documented = fixture("shopify_fulfillment_create.json")["request_body"]["fulfillment"]
    [body] = s.bodies("POST", "fulfillments.json")
    sent = body["fulfillment"]
    assert set(sent) <= set(documented)
    assert sent["tracking_info"] == {"number": "1Z999AA10123456784", "company": "UPS"}
    [group] = sent["line_items_by_fulfillment_order"]
    assert set(group) == set(documented["line_items_by_fulfillment_order"][0])
    assert all(set(item) == {"id", "quantity"} for item in group["fulfillment_order_line_items"])

    # The simulator's answers have the real ones' shape.
    response = s.raw("GET", f"{API}/orders/{order.external_order_id}/fulfillments.json")
    [fulfillment] = response.json()["fulfillments"]
    real = fixture("shopify_fulfillment_create.json")["response_body"]["fulfillment"]
    assert list(fulfillment) == list(real)
    assert set(fulfillment["line_items"][0]) == set(real["line_items"][0])
    assert fulfillment["tracking_numbers"] == ["1Z999AA10123456784"] and fulfillment["status"] == "success"
    assert fulfillment["tracking_url"].startswith("https://www.ups.com/")
    assert fulfillment["name"] == f"{order.payload['name']}.1"
    fos = s.raw("GET", f"{API}/orders/{order.external_order_id}/fulfillment_orders.json").json()["fulfillment_orders"]
    real_fo = fixture("shopify_fulfillment_orders_list.json")["response_body"]["fulfillment_orders"][0]
    assert list(fos[0]) == list(real_fo) and set(fos[0]["line_items"][0]) == set(real_fo["line_items"][0])
    assert fos[0]["status"] == "closed" and all(li["fulfillable_quantity"] == 0 for li in fos[0]["line_items"])


def test_shopify_two_packages_of_one_order_are_two_fulfillments_the_second_on_what_is_left(harness_factory):
    s = make(harness_factory, "shopify", per_day=12)
    order = next(o for o in s.orders() if sum(li["quantity"] for li in o.payload["line_items"]) >= 2)
    items = order.payload["line_items"]
    first = [(1, 1)]
    rest = [(i + 1, item["quantity"] - (1 if i == 0 else 0)) for i, item in enumerate(items)]
    rest = [(n, q) for n, q in rest if q]

    assert s.push.push(package(order, "FIRST0001", first)).status == PUSHED
    fos = s.raw("GET", f"{API}/orders/{order.external_order_id}/fulfillment_orders.json").json()["fulfillment_orders"]
    assert fos[0]["status"] == "in_progress"
    assert fos[0]["line_items"][0]["fulfillable_quantity"] == items[0]["quantity"] - 1

    second = s.push.push(package(order, "SECOND0002", rest, pushed_before=first))
    assert second.status == PUSHED
    one, two = s.records(order.external_order_id)
    assert one["lines"] == [{"line_id": items[0]["id"], "quantity": 1}]
    assert two["lines"] == [{"line_id": items[n - 1]["id"], "quantity": q} for n, q in rest]
    assert two["fulfillment_id"] == second.fulfillment_id and two["tracking_numbers"] == ["SECOND0002"]
    body = s.bodies("POST", "fulfillments.json")[1]["fulfillment"]["line_items_by_fulfillment_order"][0]
    assert sum(item["quantity"] for item in body["fulfillment_order_line_items"]) == sum(q for _, q in rest)
    # Pushing the first package again finds no units left: Shopify refuses it, and nothing is added.
    again = s.push.push(package(order, "THIRD0003", first))
    assert again.status == ALREADY_FULFILLED and len(s.records(order.external_order_id)) == 2


def test_shopify_find_correct_and_unicode_carriers(harness_factory):
    s = make(harness_factory, "shopify")
    order, other_order = s.orders()[:2]
    first = package(order, "OLD111")
    assert s.push.find(first) is None
    pushed = s.push.push(first)
    assert s.push.find(first) == pushed.fulfillment_id

    corrected = s.push.correct(package(order, "NEW222"), pushed.fulfillment_id, "OLD111")
    assert corrected.status == PUSHED and corrected.fulfillment_id == pushed.fulfillment_id
    assert "OLD111" in corrected.message and "NEW222" in corrected.message
    [record] = s.records(order.external_order_id)  # changed in place, not added
    assert record["tracking_numbers"] == ["NEW222"] and record["previous_numbers"] == ["OLD111"]
    assert s.push.find(package(order, "NEW222")) == pushed.fulfillment_id and s.push.find(first) is None
    documented = fixture("shopify_fulfillment_update_tracking.json")["request_body"]["fulfillment"]
    [update] = s.bodies("POST", "update_tracking.json")
    assert set(update["fulfillment"]) == set(documented)
    assert set(update["fulfillment"]["tracking_info"]) == set(documented["tracking_info"])

    # A carrier Shopify does not know goes as the warehouse wrote it, with the package's URL.
    other = package(other_order, "ÜNI-123", carrier=ShopifyTracking.other_carrier_code, carrier_name=UNICODE_CARRIER,
                    other=True, url="https://track.example/ÜNI-123")
    assert s.push.push(other).status == PUSHED
    [record] = s.records(other_order.external_order_id)
    assert record["carrier"] == UNICODE_CARRIER
    response = s.raw("GET", f"{API}/orders/{other_order.external_order_id}/fulfillments.json")
    [fulfillment] = response.json()["fulfillments"]
    assert fulfillment["tracking_company"] == UNICODE_CARRIER
    assert fulfillment["tracking_urls"] == ["https://track.example/ÜNI-123"]


def test_shopify_every_refusal_is_its_status_and_no_fulfillment(harness_factory):
    s = make(harness_factory, "shopify", anomalies=EVERY_ANOMALY, per_day=20)
    token = s.sim.credentials[SHOP]["access_token"]
    for anomaly, expected in REFUSED_AS.items():
        order = s.orders(anomaly)[0]
        pushed = s.push.push(package(order, f"N-{anomaly}"))
        assert pushed.status == expected, (anomaly, pushed)
        assert pushed.fulfillment_id is None and token not in pushed.message
        assert api_records(s.records(order.external_order_id)) == []
        assert s.push.find(package(order, f"N-{anomaly}")) is None
    hand = s.records(s.orders("tracking_already_fulfilled")[0].external_order_id)
    assert [r["source"] for r in hand] == ["hand"]
    deleted = s.push.push(package(s.orders("tracking_order_deleted")[0], "X"))
    assert "deleted" in deleted.message and "Check the order" in deleted.message
    denied = s.push.push(package(s.orders("tracking_permission_denied")[0], "X"))
    assert "write_merchant_managed_fulfillment_orders" in denied.message and "Re-authorize" in denied.message
    statuses = [r["status"] for r in s.sim.requests if r["method"] == "POST"]
    assert {403, 422} == set(statuses)  # a deleted order's fulfillment orders are 404 already: nothing is posted
    assert 404 in {r["status"] for r in s.sim.requests if r["path"].endswith("fulfillment_orders.json")}

    locked = s.orders("tracking_order_locked")[0]
    answers = [s.push.push(package(locked, "LOCKED1")) for _ in range(3)]
    assert [a.status for a in answers] == [RETRYING, RETRYING, PUSHED]
    assert "locked" in answers[0].message
    [record] = s.records(locked.external_order_id)
    assert record["tracking_numbers"] == ["LOCKED1"]
    creates = [r["status"] for r in s.sim.requests if r["method"] == "POST" and r["path"].endswith("fulfillments.json")]
    assert creates[-3:] == [409, 409, 201]


def test_shopify_refuses_bodies_it_cannot_take(harness_factory):
    s = make(harness_factory, "shopify")
    order = s.orders()[0]
    fo = s.raw("GET", f"{API}/orders/{order.external_order_id}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    item = fo["line_items"][0]

    def create(groups, tracking=None, **extra):
        tracking = tracking or {"number": "R1"}
        body = {"fulfillment": {"line_items_by_fulfillment_order": groups, "tracking_info": tracking, **extra}}
        return s.raw("POST", f"{API}/fulfillments.json", body)

    def group(item_id, quantity, fo_id=fo["id"]):
        items = [{"id": item_id, "quantity": quantity}]
        return [{"fulfillment_order_id": fo_id, "fulfillment_order_line_items": items}]

    refusals = [
        (create(group(item["id"] + 7, 1)), 422, "does not belong"),
        (create(group(item["line_item_id"], 1)), 422, "does not belong"),  # an order's line id is not the FO line's
        (create(group(item["id"], item["fulfillable_quantity"] + 1)), 422, "quantity"),
        (create(group(item["id"], 0)), 422, "quantity"),
        (create(group(item["id"], 1, fo_id=fo["id"] + 10**12)), 404, "Not Found"),
        (create([]), 400, "Required parameter"),
        (create(group(item["id"], 1), {"tracking_number": "R1"}), 400, "unknown"),
        (create(group(item["id"], 1), line_items=[]), 400, "unknown"),
        (s.raw("POST", f"{API}/fulfillments.json", {"number": "R1"}), 400, "Required parameter"),
        (s.raw("POST", f"{API}/fulfillments/999/update_tracking.json",
               {"fulfillment": {"tracking_info": {"number": "R"}}}), 404, "Not Found"),
    ]
    for response, status, words in refusals:
        assert response.status_code == status, response.text
        assert words in response.text, response.text
    assert s.records(order.external_order_id) == []
    # A whole fulfillment order without its line items is taken as what is left of it.
    assert create([{"fulfillment_order_id": fo["id"]}]).status_code == 201
    assert [r["lines"] for r in s.records(order.external_order_id)] == [
        [{"line_id": li["id"], "quantity": li["quantity"]} for li in order.payload["line_items"]]]


def test_shopify_tracking_endpoints_share_the_one_bucket(harness_factory):
    s = make(harness_factory, "shopify", speed=1.0)
    order = s.orders()[0].external_order_id
    used = []
    for path in (f"{API}/orders/{order}.json", f"{API}/orders/{order}/fulfillment_orders.json",
                 f"{API}/orders/{order}/fulfillments.json"):
        used.append(int(s.raw("GET", path).headers["X-Shopify-Shop-Api-Call-Limit"].split("/")[0]))
    assert used == [1, 2, 3]


def test_shopify_lost_answers_propagate_and_429s_on_the_create_are_sent_again(harness_factory):
    # The client's bucket refills as fast as the sped-up simulator's, so a drained bucket costs milliseconds.
    s = make(harness_factory, "shopify", per_day=12, rate_limit={"per_second": 400.0, "burst": 40})
    orders = s.orders()
    s.sim.set_faults({"server_error_5xx": 1.0})
    with pytest.raises(ChannelUnavailable):
        s.push.push(package(orders[0], "LOST1"))
    assert s.records(orders[0].external_order_id) == []

    s.sim.set_faults({"rate_limit_429": 0.5})
    for order in orders[1:7]:
        assert s.push.push(package(order, f"R-{order.external_order_id}")).status == PUSHED
        assert len(s.records(order.external_order_id)) == 1
    creates = [r for r in s.sim.requests if r["method"] == "POST"]
    assert any(r["status"] == 429 for r in creates), "the seeded faults should refuse a create"
    assert len([r for r in creates if r["status"] == 201]) == 6


def test_shopify_a_line_the_channel_does_not_have_is_a_request_error(harness_factory):
    s = make(harness_factory, "shopify")
    order = s.orders()[0]
    with pytest.raises(ChannelRequestError, match="line 9"):
        s.push.push(package(order, "BAD", [(9, 1)]))
    assert [r["method"] for r in s.sim.requests] == ["GET"] and s.records(order.external_order_id) == []


# --- WooCommerce ------------------------------------------------------------------------------------------
EXTENSION = {"shipment_tracking": "true"}


def woo_order(s: Setup, order_id: str) -> dict:
    return next(o for o in s.sim.orders(s.name) if o.external_order_id == order_id).payload


def test_woocommerce_customer_note_without_the_extension(harness_factory):
    s = make(harness_factory, "woocommerce")
    assert s.push.shipment_tracking is False
    order = s.orders()[0]
    first = package(order, "RM123456789GB", carrier="Royal Mail", url="https://www.royalmail.com/track/RM123456789GB")
    assert s.push.find(first) is None
    pushed = s.push.push(first)
    assert pushed.status == PUSHED and pushed.message is None

    [record] = s.records(order.external_order_id)
    assert record["fulfillment_id"] == pushed.fulfillment_id and record["kind"] == "note"
    assert record["tracking_numbers"] == ["RM123456789GB"] and record["carrier"] == "Royal Mail"
    documented = fixture("woocommerce_order_note_create.json")
    [body] = s.bodies("POST", "/notes")
    assert set(body) == set(documented["request_body"]) | {"customer_note"} and body["customer_note"] is True
    assert body["note"] == ("Your order has shipped.\nCarrier: Royal Mail\nTracking number: RM123456789GB\n"
                            "Track it: https://www.royalmail.com/track/RM123456789GB")
    [note] = s.raw("GET", f"wp-json/wc/v3/orders/{order.external_order_id}/notes").json()
    assert list(note) == list(documented["response_body"]) and note["customer_note"] is True
    assert str(note["id"]) == pushed.fulfillment_id
    assert s.push.find(first) == pushed.fulfillment_id
    assert woo_order(s, order.external_order_id)["status"] == "processing"  # not the last package: not completed

    # A correction is one more note; the first stays.
    corrected = s.push.correct(package(order, "RM999999999GB", carrier="Royal Mail"), pushed.fulfillment_id,
                               "RM123456789GB")
    assert corrected.status == PUSHED and corrected.fulfillment_id != pushed.fulfillment_id
    assert "cannot change" in corrected.message and "RM123456789GB" in corrected.message
    assert [r["tracking_numbers"] for r in s.records(order.external_order_id)] == [["RM123456789GB"], ["RM999999999GB"]]

    # An internal note, or a customer note without a number, is no fulfillment.
    s.raw("POST", f"wp-json/wc/v3/orders/{order.external_order_id}/notes", {"note": "Tracking number: X1"})
    s.raw("POST", f"wp-json/wc/v3/orders/{order.external_order_id}/notes", {"note": "Thanks!", "customer_note": True})
    assert len(s.records(order.external_order_id)) == 2


def test_woocommerce_shipment_tracking_extension_and_completing_the_order(harness_factory):
    s = make(harness_factory, "woocommerce", options=EXTENSION)
    assert s.push.shipment_tracking is True
    order = s.orders()[0]
    before = order.updated_at
    first = package(order, "9400111899560000000001", carrier="USPS", completes=True)
    assert s.push.find(first) is None
    pushed = s.push.push(first)
    assert pushed.status == PUSHED and pushed.message is None

    [record] = s.records(order.external_order_id)
    assert record["fulfillment_id"] == pushed.fulfillment_id and record["kind"] == "tracking"
    assert record["tracking_numbers"] == ["9400111899560000000001"] and record["carrier"] == "USPS"
    documented = fixture("woocommerce_shipment_tracking_create.json")
    [body] = s.bodies("POST", "/shipment-trackings")
    assert body == {**documented["request_body"], "tracking_number": "9400111899560000000001",
                    "date_shipped": "2026-03-01"}  # 23:30 UTC is still 1 March in London
    [item] = s.raw("GET", f"wp-json/wc-shipment-tracking/v3/orders/{order.external_order_id}/shipment-trackings").json()
    assert list(item) == list(documented["response_body"]) and item["tracking_id"] == pushed.fulfillment_id
    assert item["tracking_link"] == "https://tools.usps.com/tracking/9400111899560000000001"
    assert s.push.find(first) == pushed.fulfillment_id

    # The package completed the order: PUT status completed, seen in the store and by the order list.
    update = fixture("woocommerce_order_update_status.json")
    assert s.bodies("PUT", f"/orders/{order.external_order_id}") == [update["request_body"]]
    stored = next(o for o in s.sim.orders(s.name) if o.external_order_id == order.external_order_id)
    assert stored.payload["status"] == "completed" and stored.payload["date_completed_gmt"]
    assert stored.updated_at > before and stored.payload["date_modified_gmt"] != order.payload["date_modified_gmt"]
    assert list(stored.payload) == list(update["response_body"])
    now = datetime.now(timezone.utc)
    changed = s.connector.fetch_orders(now - timedelta(days=3), now + timedelta(minutes=1), updated_since=before)
    assert order.external_order_id in {o.external_order_id for o in changed}

    # A carrier outside the extension's list goes as a custom provider; unicode survives.
    other_order = s.orders()[0]
    other = package(other_order, "ÜNI-42", carrier="custom", carrier_name=UNICODE_CARRIER, other=True,
                    url="https://track.example/ÜNI-42")
    assert s.push.push(other).status == PUSHED
    assert s.bodies("POST", "/shipment-trackings")[-1] == {
        "tracking_number": "ÜNI-42", "date_shipped": "2026-03-01", "custom_tracking_provider": UNICODE_CARRIER,
        "custom_tracking_link": "https://track.example/ÜNI-42"}
    [record] = s.records(other_order.external_order_id)
    assert record["carrier"] == UNICODE_CARRIER and record["tracking_link"] == "https://track.example/ÜNI-42"
    assert woo_order(s, other_order.external_order_id)["status"] == "processing"


def test_woocommerce_unicode_carrier_in_a_note(harness_factory):
    s = make(harness_factory, "woocommerce")
    order = s.orders()[0]
    pushed = s.push.push(package(order, "ÜNI-7", carrier="custom", carrier_name=UNICODE_CARRIER, other=True,
                                 completes=True))
    assert pushed.status == PUSHED
    [record] = s.records(order.external_order_id)
    assert record["carrier"] == UNICODE_CARRIER and record["tracking_numbers"] == ["ÜNI-7"]
    assert woo_order(s, order.external_order_id)["status"] == "completed"


@pytest.mark.parametrize("options", [None, EXTENSION], ids=["notes", "extension"])
def test_woocommerce_every_refusal_is_its_status_and_no_fulfillment(harness_factory, options):
    s = make(harness_factory, "woocommerce", anomalies=EVERY_ANOMALY, options=options, per_day=20)
    secret = s.sim.credentials[WOO]["consumer_secret"]
    first = {anomaly: s.orders(anomaly)[0] for anomaly in ANOMALIES}  # before their status shows the anomaly
    for anomaly, expected in REFUSED_AS.items():
        order = first[anomaly]
        pushed = s.push.push(package(order, f"N-{anomaly}", completes=True))
        assert pushed.status == expected, (anomaly, pushed)
        assert pushed.fulfillment_id is None and secret not in pushed.message
        assert api_records(s.records(order.external_order_id)) == []
        assert s.push.find(package(order, f"N-{anomaly}")) is None
    fulfilled = first["tracking_already_fulfilled"].external_order_id
    assert [r["source"] for r in s.records(fulfilled)] == ["hand"]
    assert woo_order(s, fulfilled)["status"] == "completed"
    assert woo_order(s, first["tracking_order_cancelled"].external_order_id)["status"] == "cancelled"
    deleted = s.push.push(package(first["tracking_order_deleted"], "X"))
    assert "deleted" in deleted.message
    denied = s.push.push(package(first["tracking_permission_denied"], "X"))
    assert "Read/Write" in denied.message and "edit_shop_orders" in denied.message
    assert [r["status"] for r in s.sim.requests if r["method"] == "POST"] == [403, 403]
    assert not [r for r in s.sim.requests if r["method"] == "PUT"]

    locked = first["tracking_order_locked"]
    answers = [s.push.push(package(locked, "LOCKED1", completes=True)) for _ in range(3)]
    assert [a.status for a in answers] == [RETRYING, RETRYING, PUSHED]
    [record] = s.records(locked.external_order_id)
    assert record["tracking_numbers"] == ["LOCKED1"]
    assert woo_order(s, locked.external_order_id)["status"] == "completed"


def test_woocommerce_a_refused_completion_leaves_the_tracking_pushed(harness_factory, monkeypatch):
    s = make(harness_factory, "woocommerce")
    order = s.orders()[0]
    platform = s.sim._platform(WOO)
    monkeypatch.setattr(platform, "update_order", lambda request, order_id: platform.error(
        403, "Sorry, you are not allowed to edit this resource.", "woocommerce_rest_cannot_edit"))
    pushed = s.push.push(package(order, "DONE1", completes=True))
    assert pushed.status == PUSHED and pushed.fulfillment_id
    assert "Completed" in pushed.message and "edit_shop_orders" in pushed.message
    assert len(s.records(order.external_order_id)) == 1


def test_woocommerce_refuses_bodies_it_cannot_take(harness_factory):
    s = make(harness_factory, "woocommerce")
    order = s.orders()[0].external_order_id
    trackings = f"wp-json/wc-shipment-tracking/v3/orders/{order}/shipment-trackings"
    notes = f"wp-json/wc/v3/orders/{order}/notes"
    refusals = [
        (s.raw("POST", trackings, {"tracking_number": "A1", "tracking_provider": "Pony Express"}),
         "rest_invalid_param"),
        (s.raw("POST", trackings, {"tracking_provider": "UPS"}), "rest_missing_callback_param"),
        (s.raw("POST", trackings, {"tracking_number": "A1"}), "rest_missing_callback_param"),
        (s.raw("POST", trackings, {"tracking_number": "A1", "tracking_provider": "UPS",
                                   "custom_tracking_provider": "Mine"}), "rest_invalid_param"),
        (s.raw("POST", trackings, {"tracking_number": "A1", "tracking_provider": "UPS", "date_shipped": "1 March"}),
         "rest_invalid_param"),
        (s.raw("POST", trackings, {"tracking_number": "A1", "tracking_provider": "UPS", "carrier": "UPS"}),
         "rest_invalid_param"),
        (s.raw("POST", notes, {"customer_note": True}), "rest_missing_callback_param"),
        (s.raw("POST", notes, {"note": "Tracking number: A1", "customer_note": "yes"}), "rest_invalid_param"),
        (s.raw("POST", notes, ["not", "an", "object"]), "rest_invalid_json"),
        (s.raw("PUT", f"wp-json/wc/v3/orders/{order}", {"status": "shipped"}), "rest_invalid_param"),
    ]
    for response, code in refusals:
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == code and body["data"]["status"] == 400, body
    assert s.records(order) == []
    assert woo_order(s, order)["status"] == "processing"
    missing = s.raw("POST", "wp-json/wc-shipment-tracking/v3/orders/1/shipment-trackings",
                    {"tracking_number": "A1", "tracking_provider": "UPS"})
    assert missing.status_code == 404 and missing.json()["code"] == "woocommerce_rest_shop_order_invalid_id"
