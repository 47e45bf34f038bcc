"""Amazon, eBay and BigCommerce take tracking numbers: each simulated API refuses as the real one does, and each
platform's TrackingPush puts a package there once, finds it again, corrects it, and maps every refusal to its
status. Everything is counted from the simulator's own records (its fulfillments and its request log)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from sync_pipeline.channels.amazon.tracking import AmazonTracking, package_reference
from sync_pipeline.channels.bigcommerce.tracking import BigCommerceTracking
from sync_pipeline.channels.ebay.tracking import EbayTracking
from sync_pipeline.channels.http import ChannelUnavailable
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
from sync_pipeline_tests.conftest import scenario

PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"
SHIPPED_AT = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
ANOMALIES = {  # every order meets one refusal or none (a quarter), drawn per order by the simulator
    "tracking_order_deleted": 0.15, "tracking_already_fulfilled": 0.15, "tracking_order_locked": 0.15,
    "tracking_order_cancelled": 0.15, "tracking_permission_denied": 0.15,
}
LINES_KEY = {"amazon": "OrderItems", "ebay": "lineItems", "bigcommerce": "products"}
QUANTITY_KEY = {"amazon": "QuantityOrdered", "ebay": "quantity", "bigcommerce": "quantity"}
PUSHES = {"amazon": AmazonTracking, "ebay": EbayTracking, "bigcommerce": BigCommerceTracking}


def load(name: str):
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


class Channel:
    """One simulated channel, its connector and its TrackingPush."""

    def __init__(self, harness, name: str, channel_type: str):
        self.harness, self.name, self.type = harness, name, channel_type
        self.sim = harness.simulator
        self.platform = self.sim._platform(name)
        self.connector = harness.connector(name)
        self.push = PUSHES[channel_type](self.connector)

    def orders(self, anomaly: str | None = None, units: int = 1) -> list[str]:
        """Orders meeting `anomaly` (None: no refusal) that are open on the channel and have at least `units` units."""
        found = []
        for record in self.sim.orders(self.name):
            if self.platform.tracking_anomaly(record.external_order_id) != anomaly:
                continue
            lines = self.payload(record.external_order_id)[LINES_KEY[self.type]]
            if sum(int(line[QUANTITY_KEY[self.type]]) for line in lines) >= units:
                found.append(record.external_order_id)
        assert found, f"the scenario should give a {self.type} order with {anomaly or 'no anomaly'} and {units} units"
        return found

    def payload(self, order_id: str):
        """What the pipeline stores for the order: the connector's landed payload."""
        return self.connector.fetch_order(order_id).payload

    def package(self, order_id: str, number: str, carrier: str | None = None, *, lines=None, package_id: str = "7001",
                carrier_name: str | None = None, pushed_before=(), other: bool = False) -> Package:
        payload = self.payload(order_id)
        if lines is None:
            lines = [(n, int(line[QUANTITY_KEY[self.type]])) for n, line in enumerate(payload[LINES_KEY[self.type]], 1)]
        code = self.push.carrier_codes["UPS"] if carrier is None else carrier
        return Package(
            external_order_id=order_id, package_id=package_id, tracking_number=number, carrier_code=code,
            carrier_name="UPS" if carrier_name is None else carrier_name, other_carrier=other, tracking_url=None,
            shipped_at=SHIPPED_AT, lines=tuple(PackageLine(n, q) for n, q in lines), payload=payload,
            pushed_before=tuple(PackageLine(n, q) for n, q in pushed_before),
        )

    def held(self, order_id: str) -> list[dict]:
        """The fulfillments the channel holds for the order, from the simulator's records (and its admin view)."""
        via_admin = requests.get(f"{self.sim.url}/_admin/channels/{self.name}/tracking", timeout=10).json()
        assert via_admin.get(order_id, []) == self.sim.tracking(self.name).get(order_id, [])
        return self.sim.tracking(self.name).get(order_id, [])

    def calls(self, method: str, suffix: str) -> list[dict]:
        return [r for r in self.sim.requests
                if r["channel"] == self.name and r["method"] == method and r["path"].endswith(suffix)]

    def secrets(self) -> list[str]:
        return list(self.sim.credentials[self.name].values())


def line_ids(channel: Channel, order_id: str, numbers) -> list[str]:
    payload = channel.payload(order_id)
    key = {"amazon": "OrderItemId", "ebay": "lineItemId", "bigcommerce": "id"}[channel.type]
    return [str(payload[LINES_KEY[channel.type]][n - 1][key]) for n in numbers]


@pytest.fixture
def channel(harness_factory, request):
    channel_type = request.param
    name = {"amazon": "amzn-track", "ebay": "ebay-track", "bigcommerce": "bc-track"}[channel_type]
    # Enough orders that every refusal meets an open one, whatever day the scenario ends on.
    harness = harness_factory(scenario([(name, channel_type, 30)], days=3, anomalies=ANOMALIES, speed=1000.0))
    return Channel(harness, name, channel_type)


ALL = pytest.mark.parametrize("channel", ["amazon", "ebay", "bigcommerce"], indirect=True)


# --- one push, two packages, find -----------------------------------------------------------------------------

@ALL
def test_one_push_is_one_fulfillment_with_the_number_and_lines(channel):
    order_id = channel.orders()[0]
    package = channel.package(order_id, "1Z999AA10123456784")
    assert channel.push.find(package) is None, "nothing is there before the push"
    pushed = channel.push.push(package)
    assert pushed.status == PUSHED and pushed.fulfillment_id, pushed
    held = channel.held(order_id)
    assert len(held) == 1 and held[0]["source"] == "api"
    assert held[0]["tracking_numbers"] == ["1Z999AA10123456784"]
    ids = line_ids(channel, order_id, [line.line_number for line in package.lines])
    expected_lines = [{"line_id": i, "quantity": line.quantity} for i, line in zip(ids, package.lines, strict=True)]
    assert [{"line_id": str(line["line_id"]), "quantity": line["quantity"]} for line in held[0]["lines"]] == expected_lines
    if channel.type != "amazon":  # Amazon lists no confirmations: its find never claims one (a resend edits)
        assert channel.push.find(package) == pushed.fulfillment_id, "found again after the push, under the same id"
    assert len(channel.held(order_id)) == 1, "looking is not pushing"


@ALL
def test_two_packages_of_an_order_are_two_fulfillments_and_each_is_found(channel):
    order_id = channel.orders(units=2)[0]
    payload = channel.payload(order_id)
    lines = payload[LINES_KEY[channel.type]]
    quantity = QUANTITY_KEY[channel.type]
    if len(lines) >= 2:  # one line per package
        first_lines = [(1, int(lines[0][quantity]))]
        second_lines = [(n, int(line[quantity])) for n, line in enumerate(lines[1:], 2)]
    else:  # one line split across the two
        first_lines, second_lines = [(1, 1)], [(1, int(lines[0][quantity]) - 1)]
    first = channel.package(order_id, "9400111899223334445566", package_id="8001", lines=first_lines)
    second = channel.package(order_id, "9400111899223334445577", package_id="8002", lines=second_lines,
                             pushed_before=first_lines)
    assert channel.push.push(first).status == PUSHED
    assert channel.push.find(second) is None, "the second package is not there yet"
    assert channel.push.push(second).status == PUSHED
    held = channel.held(order_id)
    assert [h["tracking_numbers"] for h in held] == [["9400111899223334445566"], ["9400111899223334445577"]]
    if channel.type != "amazon":
        assert channel.push.find(first) and channel.push.find(second)
        assert channel.push.find(first) != channel.push.find(second)


def test_amazon_find_never_claims_a_package_and_a_resend_edits_the_same_package(harness_factory):
    """Amazon lists no confirmations: QuantityShipped cannot say whose confirmation or which number it holds, so
    find answers None and the flow resends, which under the same packageReferenceId is an edit."""
    harness = harness_factory(scenario([("amzn-find", "amazon", 10)], speed=1000.0))
    amazon = Channel(harness, "amzn-find", "amazon")
    order_id = amazon.orders(units=2)[0]
    items = amazon.payload(order_id)["OrderItems"]
    lines = [(1, 1)] if items[0]["QuantityOrdered"] >= 2 else [(1, items[0]["QuantityOrdered"])]
    package = amazon.package(order_id, "1ZFIND0000000001", package_id="WH-SHIP-17", lines=lines)
    assert amazon.push.push(package).status == PUSHED
    shipped = {i["OrderItemId"]: i["QuantityShipped"] for i in amazon.connector.fetch_order(order_id).payload["OrderItems"]}
    assert shipped[items[0]["OrderItemId"]] == lines[0][1], "getOrderItems reports what the confirmations hold"
    reference = package_reference("WH-SHIP-17")
    assert reference.isdigit() and reference == package_reference("WH-SHIP-17"), "a positive number, the same every run"
    assert amazon.push.find(package) is None
    # The same package again (a resend after a lost reply), with a corrected number: Amazon edits it in place.
    again = amazon.package(order_id, "1ZFIND0000000002", package_id="WH-SHIP-17", lines=lines)
    assert amazon.push.push(again).status == PUSHED
    assert [h["tracking_numbers"] for h in amazon.held(order_id)] == [["1ZFIND0000000002"]]


def test_the_request_bodies_have_the_real_payloads_shapes(harness_factory):
    harness = harness_factory(scenario([("amzn-body", "amazon", 4), ("ebay-body", "ebay", 4), ("bc-body", "bigcommerce", 4)],
                                       speed=1000.0))
    amazon, ebay, bigcommerce = (Channel(harness, n, t) for n, t in (("amzn-body", "amazon"), ("ebay-body", "ebay"),
                                                                     ("bc-body", "bigcommerce")))
    real = load("amazon_confirm_shipment.json")["request_body"]
    body = amazon.push._body(amazon.package(amazon.orders()[0], "1Z1"), "1")
    assert set(body) == set(real) and set(body["packageDetail"]) <= set(real["packageDetail"])
    assert set(body["packageDetail"]["orderItems"][0]) <= set(real["packageDetail"]["orderItems"][0])
    ship_date = body["packageDetail"]["shipDate"]
    assert ship_date.endswith("Z") and len(ship_date) == len(real["packageDetail"]["shipDate"])
    ebay_real = load("ebay_shipping_fulfillment.SCHEMA_DERIVED_NOT_REAL.json")
    body = ebay.push._body(ebay.package(ebay.orders()[0], "1Z2"))
    assert set(body) == set(ebay_real["POST /order/{orderId}/shipping_fulfillment (request)"])
    order_id = bigcommerce.orders()[0]
    body = bigcommerce.push._body(bigcommerce.package(order_id, "1Z3"))
    assert body["order_address_id"] == bigcommerce.payload(order_id)["shipping_addresses"][0]["id"]
    assert set(body) <= {"order_address_id", "tracking_number", "shipping_provider", "tracking_carrier", "shipping_method",
                         "comments", "items", "tracking_link"}
    # What the simulated channels answer keeps the keys of the real examples.
    pushed = bigcommerce.push.push(bigcommerce.package(order_id, "1Z3"))
    shipments = requests.get(f"{harness.simulator.url}/bc-body/v2/orders/{order_id}/shipments", timeout=10,
                             headers={"X-Auth-Token": harness.simulator.credentials["bc-body"]["access_token"]}).json()
    real_shipment = load("bigcommerce_order_shipments.json")["GET /orders/{order_id}/shipments"][0]
    assert [str(s["id"]) for s in shipments] == [pushed.fulfillment_id]
    assert set(shipments[0]) == set(real_shipment)
    assert set(shipments[0]["items"][0]) == set(real_shipment["items"][0])
    assert shipments[0]["generated_tracking_link"].endswith("1Z3")
    ebay_order = ebay.orders()[0]
    assert ebay.push.push(ebay.package(ebay_order, "1Z4")).status == PUSHED
    listed = ebay.connector.request("GET", f"/sell/fulfillment/v1/order/{ebay_order}/shipping_fulfillment", endpoint="x").json()
    real_list = ebay_real["GET /order/{orderId}/shipping_fulfillment"]
    assert set(listed) == set(real_list) and listed["total"] == 1
    assert set(listed["fulfillments"][0]) == set(real_list["fulfillments"][0])
    one = ebay.connector.request("GET", f"/sell/fulfillment/v1/order/{ebay_order}/shipping_fulfillment/1Z4", endpoint="x")
    assert one.json()["shipmentTrackingNumber"] == "1Z4", "the fulfillment id is the tracking number, as eBay's spec says"


@ALL
def test_a_lost_reply_raises_and_the_package_is_found_not_pushed_twice(channel):
    """The channel stores the push and the reply never comes: ChannelUnavailable, so the flow looks before resending.
    eBay and BigCommerce POST once (a resend would be a second fulfillment); Amazon's retries are edits."""
    order_id = channel.orders()[0]
    package = channel.package(order_id, "LOST000001")
    assert channel.push.find(package) is None  # also fetches the OAuth token before the faults start
    channel.sim.set_faults({"lost_reply": 1.0})
    with pytest.raises(ChannelUnavailable):
        channel.push.push(package)
    channel.sim.set_faults({})
    suffix = {"amazon": "/shipmentConfirmation", "ebay": "/shipping_fulfillment", "bigcommerce": "/shipments"}[channel.type]
    posts = channel.calls("POST", suffix)
    assert len(posts) == (channel.connector.http.retry.max_attempts if channel.type == "amazon" else 1)
    assert [h["tracking_numbers"] for h in channel.held(order_id)] == [["LOST000001"]], "stored once"
    if channel.type != "amazon":
        assert channel.push.find(package) is not None


# --- carriers ---------------------------------------------------------------------------------------------------

def test_amazon_other_carrier_goes_with_its_name_and_unknown_codes_are_refused(harness_factory):
    harness = harness_factory(scenario([("amzn-carrier", "amazon", 10)], speed=1000.0))
    amazon = Channel(harness, "amzn-carrier", "amazon")
    first, second, third = amazon.orders()[:3]
    pushed = amazon.push.push(amazon.package(first, "TCG123", "Other", carrier_name="The Courier Guy", other=True))
    assert pushed.status == PUSHED
    assert amazon.held(first)[0]["carrier"] == "The Courier Guy" and amazon.held(first)[0]["carrier_code"] == "Other"
    nameless = amazon.push.push(amazon.package(second, "TCG124", "Other", carrier_name="", other=True))
    assert nameless.status == "CARRIER_NOT_MAPPED" and "carrierName" in nameless.message
    unknown = amazon.push.push(amazon.package(third, "TCG125", "Courier Guy"))
    assert unknown.status == "CARRIER_NOT_MAPPED" and "carrier_map.csv" in unknown.message
    assert amazon.held(second) == [] and amazon.held(third) == []
    assert amazon.push.push(amazon.package(second, "RM1", "Royal Mail")).status == PUSHED


def test_ebay_takes_its_own_codes_only(harness_factory):
    harness = harness_factory(scenario([("ebay-carrier", "ebay", 10)], speed=1000.0))
    ebay = Channel(harness, "ebay-carrier", "ebay")
    first, second = ebay.orders()[:2]
    assert EbayTracking.other_carrier_code is None
    refused = ebay.push.push(ebay.package(first, "RM123456785GB", "Royal Mail"))
    assert refused.status == "CARRIER_NOT_MAPPED" and "'Royal Mail'" in refused.message
    assert ebay.held(first) == []
    assert ebay.calls("POST", "/shipping_fulfillment")[-1]["status"] == 400
    pushed = ebay.push.push(ebay.package(first, "RM123456785GB", EbayTracking.carrier_codes["Royal Mail"]))
    assert pushed.status == PUSHED and ebay.held(first)[0]["carrier"] == "RoyalMail"
    assert ebay.push.push(ebay.package(second, "PF1234", "Parcelforce")).status == PUSHED


def test_bigcommerce_providers_and_tracking_carriers(harness_factory):
    harness = harness_factory(scenario([("bc-carrier", "bigcommerce", 10)], speed=1000.0))
    bc = Channel(harness, "bc-carrier", "bigcommerce")
    usps, dhl, other, bad = bc.orders()[:4]
    assert bc.push.push(bc.package(usps, "9400100000000000000001", "usps")).status == PUSHED
    assert bc.push.push(bc.package(dhl, "JD014600006281230704", BigCommerceTracking.carrier_codes["DHL"])).status == PUSHED
    assert bc.push.push(bc.package(other, "TCG9", "", carrier_name="The Courier Guy", other=True)).status == PUSHED
    token = {"X-Auth-Token": bc.sim.credentials["bc-carrier"]["access_token"]}

    def shipment(order_id):
        return requests.get(f"{bc.sim.url}/bc-carrier/v2/orders/{order_id}/shipments", headers=token, timeout=10).json()[0]

    assert (shipment(usps)["shipping_provider"], shipment(usps)["tracking_carrier"]) == ("usps", "")
    assert (shipment(dhl)["shipping_provider"], shipment(dhl)["tracking_carrier"]) == ("", "dhl")
    assert (shipment(other)["shipping_provider"], shipment(other)["tracking_carrier"]) == ("", "the-courier-guy")
    refused = bc.push.push(bc.package(bad, "X1", "dhl express"))  # not a provider, nor a slug
    assert refused.status == "CARRIER_NOT_MAPPED" and bc.held(bad) == []
    assert bc.calls("POST", f"/{bad}/shipments")[-1]["status"] == 400


# --- corrections ------------------------------------------------------------------------------------------------

@ALL
def test_a_corrected_number(channel):
    order_id = channel.orders()[0]
    first = channel.push.push(channel.package(order_id, "OLD0000001"))
    corrected = channel.push.correct(channel.package(order_id, "NEW0000002"), first.fulfillment_id, "OLD0000001")
    assert corrected.status == PUSHED, corrected
    held = channel.held(order_id)
    if channel.type == "ebay":  # eBay cannot change a number: the corrected one is added beside it
        assert [h["tracking_numbers"] for h in held] == [["OLD0000001"], ["NEW0000002"]]
        assert "cannot change" in corrected.message and "OLD0000001" in corrected.message
    else:  # BigCommerce (PUT) and Amazon (the same packageReferenceId) change it in place
        assert type(channel.push).can_update
        assert [(h["tracking_numbers"], h["previous_numbers"]) for h in held] == [(["NEW0000002"], ["OLD0000001"])]
        assert corrected.fulfillment_id == first.fulfillment_id and "in place" in corrected.message
    if channel.type == "bigcommerce":
        assert len(channel.calls("PUT", f"/shipments/{first.fulfillment_id}")) == 1


# --- refusals ---------------------------------------------------------------------------------------------------

@ALL
def test_every_refusal_has_its_status_and_leaves_no_fulfillment(channel):
    statuses = {
        "tracking_order_deleted": ORDER_NOT_FOUND, "tracking_already_fulfilled": ALREADY_FULFILLED,
        "tracking_order_cancelled": ORDER_CANCELLED, "tracking_permission_denied": PERMISSION_DENIED,
    }
    for anomaly, status in statuses.items():
        order_id = channel.orders(anomaly)[0]
        package = channel.package(order_id, f"T{anomaly[-6:].upper()}1")
        assert channel.push.find(package) is None, anomaly
        pushed = channel.push.push(package)
        assert pushed.status == status, (anomaly, pushed)
        assert pushed.message and not any(secret in pushed.message for secret in channel.secrets())
        held = channel.held(order_id)
        if anomaly == "tracking_already_fulfilled":
            assert [h["source"] for h in held] == ["hand"], "only the fulfillment a person made"
        else:
            assert held == [], anomaly
    deleted = channel.push.push(channel.package(channel.orders("tracking_order_deleted")[0], "T2"))
    assert "deleted" in deleted.message
    denied = channel.push.push(channel.package(channel.orders("tracking_permission_denied")[0], "T3"))
    names = {"amazon": "Inventory and Order Tracking", "ebay": "https://api.ebay.com/oauth/api_scope/sell.fulfillment",
             "bigcommerce": "store_v2_orders"}
    assert names[channel.type] in denied.message
    token = "access_token" if channel.type == "bigcommerce" else "refresh_token"
    assert channel.connector.config.credentials[token] in denied.message, "where the new credential goes"


@ALL
def test_a_locked_order_is_retrying_until_it_is_taken(channel):
    order_id = channel.orders("tracking_order_locked")[0]
    package = channel.package(order_id, "LOCKED0001")
    first, second = channel.push.push(package), channel.push.push(package)
    assert (first.status, second.status) == (RETRYING, RETRYING) and "tried again" in first.message
    assert channel.held(order_id) == []
    third = channel.push.push(package)
    assert third.status == PUSHED
    assert [h["tracking_numbers"] for h in channel.held(order_id)] == [["LOCKED0001"]]
    refused = {"amazon": 503, "ebay": 503, "bigcommerce": 409}[channel.type]
    suffix = {"amazon": "/shipmentConfirmation", "ebay": "/shipping_fulfillment", "bigcommerce": "/shipments"}[channel.type]
    assert [c["status"] for c in channel.calls("POST", suffix)] == [refused, refused, {"amazon": 204}.get(channel.type, 201)]


def test_the_simulators_refuse_in_their_own_words(harness_factory):
    harness = harness_factory(scenario([("amzn-words", "amazon", 4), ("bc-words", "bigcommerce", 4)], speed=1000.0))
    sim = harness.simulator
    amazon = Channel(harness, "amzn-words", "amazon")
    order_id = amazon.orders()[0]
    response = amazon.connector.request(
        "POST", f"/orders/v0/orders/{order_id}/shipmentConfirmation", endpoint="x", bucket="confirmShipment",
        json={"marketplaceId": "ATVPDKIKX0DER", "packageDetail": {"packageReferenceId": "1", "carrierCode": "UPS"}},
        allowed=(400,),
    )
    error = response.json()["errors"][0]
    assert (error["code"], set(error)) == ("InvalidInput", {"code", "message", "details"})
    assert "trackingNumber" in error["message"]
    unknown_item = amazon.connector.request(
        "POST", f"/orders/v0/orders/{order_id}/shipmentConfirmation", endpoint="x", bucket="confirmShipment",
        json={"marketplaceId": "ATVPDKIKX0DER", "packageDetail": {
            "packageReferenceId": "1", "carrierCode": "UPS", "trackingNumber": "1Z", "shipDate": "2022-02-11T01:00:00.000Z",
            "orderItems": [{"orderItemId": "79039765272157", "quantity": 1}]}},
        allowed=(400,),
    )
    assert "79039765272157" in unknown_item.json()["errors"][0]["message"]
    bc = Channel(harness, "bc-words", "bigcommerce")
    token = {"X-Auth-Token": sim.credentials["bc-words"]["access_token"], "Accept": "application/json"}
    bc_order = bc.orders()[0]
    none_yet = requests.get(f"{sim.url}/bc-words/v2/orders/{bc_order}/shipments", headers=token, timeout=10)
    assert (none_yet.status_code, none_yet.content) == (204, b""), "no shipments: 204 and no body, as the spec documents"
    assert bc.push.find(bc.package(bc_order, "NOPE")) is None
    wrong_address = requests.post(f"{sim.url}/bc-words/v2/orders/{bc_order}/shipments", headers=token, timeout=10,
                                  json={"order_address_id": 1, "items": [{"order_product_id": 1, "quantity": 1}]})
    assert wrong_address.status_code == 400 and set(wrong_address.json()[0]) == {"status", "message"}
    assert "order_address_id" in wrong_address.json()[0]["message"]
    missing = requests.put(f"{sim.url}/bc-words/stores/{sim._platform('bc-words').store_hash}/v2/orders/{bc_order}/shipments/5",
                           headers=token, timeout=10, json={"tracking_number": "X"})
    assert missing.status_code == 404


# --- the rate limit ---------------------------------------------------------------------------------------------

def test_amazon_confirm_shipment_bucket_is_honoured_by_the_client(harness_factory):
    """At real speed (2/s, burst 10) a burst of 13 confirmations waits on the client's bucket and meets no 429."""
    harness = harness_factory(scenario([("amzn-rate", "amazon", 6)], speed=1.0))
    amazon = Channel(harness, "amzn-rate", "amazon")
    assert amazon.connector.http.buckets["confirmShipment"].capacity == 10
    order_id = amazon.orders()[0]
    package = amazon.package(order_id, "1ZRATE")
    throttled_before = amazon.connector.log.throttled_seconds
    for _ in range(13):  # the same package each time: every one after the first is an edit
        assert amazon.push.push(package).status == PUSHED
    statuses = [c["status"] for c in amazon.calls("POST", "/shipmentConfirmation")]
    assert statuses == [204] * 13, "no 429 from the server's bucket"
    assert amazon.connector.log.http_429 == 0
    assert amazon.connector.log.throttled_seconds - throttled_before >= 1.0, "the client waited for tokens"
    assert len(amazon.held(order_id)) == 1
