"""Order webhooks: the simulated platforms deliver them as the real ones do; the receiver checks each one, keeps it
once, and refuses forged, stale and replayed ones (401, logged, nothing landed); the order_webhooks sensor turns the
inbox into order_sync runs for exactly the days touched, and the orders reach the 3PL (its own records)."""

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import requests
import sqlalchemy as sa
import uvicorn

from sync_pipeline.config import ConfigError, default_channel, parse_config
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import fulfilment_orders, webhook_inbox, webhook_refusals
from sync_pipeline.partitions import RANGE_END_TAG, RANGE_START_TAG
from sync_pipeline.webhooks.receiver import build_app
from sync_pipeline_tests.conftest import TODAY, scenario

CHANNELS = [("shop", "shopify", 6), ("woo", "woocommerce", 6), ("bc", "bigcommerce", 6)]


class Receiver:
    """`sync-pipeline webhooks`' app under uvicorn on a free loopback port, for one test."""

    def __init__(self, harness):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        app = build_app(harness.config, get_engine(harness.database_url))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.02)

    def url(self, channel: str) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/{channel}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def receiving(harness_factory, database_url):
    """A harness whose three webhook channels take webhooks, the receiver serving them, subscriptions made."""
    receivers = []

    def make(**scenario_keys):
        harness = harness_factory(scenario(CHANNELS, **scenario_keys), database_url=database_url,
                                  overrides_in={name: {"webhooks": True} for name, _, _ in CHANNELS})
        receiver = Receiver(harness)
        receivers.append(receiver)
        for name, _, _ in CHANNELS:
            harness.simulator.subscribe_webhooks(name, receiver.url(name))
        return harness, receiver

    yield make
    for receiver in receivers:
        receiver.stop()


def inbox(harness) -> list:
    with get_engine(harness.database_url).connect() as connection:
        return connection.execute(sa.select(webhook_inbox).order_by(webhook_inbox.c.id)).all()


def refusals(harness) -> list:
    with get_engine(harness.database_url).connect() as connection:
        return connection.execute(sa.select(webhook_refusals).order_by(webhook_refusals.c.id)).all()


def test_each_platforms_deliveries_land_once_with_their_order_and_day_though_sent_twice_and_out_of_order(receiving):
    harness, _ = receiving(webhooks={"duplicate": 1.0, "max_delay_s": 0.3})
    sim = harness.simulator
    sent = {}
    for name, _, _ in CHANNELS:
        for record in sim.orders(name)[:4]:
            sent[(name, sim.emit_webhook(name, record.external_order_id, "created"))] = record
    sim.webhooks.wait()
    decided = sim.webhooks.decided()
    assert len(decided) == len(sent) and all(d["copies"] == 2 and not d["dropped"] for d in decided)
    attempts = [e for e in sim.webhooks.log if "attempt" in e]
    assert len(attempts) == 2 * len(sent) and all(e["status"] == 200 for e in attempts), "every copy answered 200"
    rows = inbox(harness)
    assert {(r.channel, r.delivery_id) for r in rows} == set(sent), "each event once, whatever the copies"
    assert all(r.duplicates == 1 for r in rows)
    for row in rows:
        record = sent[(row.channel, row.delivery_id)]
        assert row.external_order_id == record.external_order_id
        # BigCommerce's thin payload has no day; the others' is the order's UTC day of placement.
        assert row.placed_on == (None if row.channel == "bc" else record.placed_at.astimezone(timezone.utc).date())
    assert refusals(harness) == []


def shopify_post(receiver, body: bytes, secret: str, *, triggered_at: datetime | None = None, event_id="evt-1",
                 topic="orders/create") -> requests.Response:
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Event-Id": event_id, "Content-Type": "application/json",
               "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode(),
               "X-Shopify-Triggered-At": (triggered_at or datetime.now(timezone.utc)).isoformat()}
    return requests.post(receiver.url("shop"), data=body, headers=headers, timeout=10)


def test_forged_stale_and_replayed_deliveries_are_refused_logged_and_land_nothing(receiving):
    harness, receiver = receiving()
    secret = harness.simulator.credentials["shop"]["webhook_secret"]
    body = json.dumps(harness.simulator.orders("shop")[0].payload).encode()

    forged = shopify_post(receiver, body, "not-the-secret")
    unsigned = requests.post(receiver.url("shop"), data=body, headers={"X-Shopify-Topic": "orders/create"}, timeout=10)
    stale = shopify_post(receiver, body, secret, triggered_at=datetime.now(timezone.utc) - timedelta(minutes=6))
    woo_forged = requests.post(receiver.url("woo"), data=body, timeout=10, headers={
        "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Delivery-ID": "9", "X-WC-Webhook-Signature": "AAAA"})
    bc_wrong_secret = requests.post(receiver.url("bc"), timeout=10, headers={"X-Sync-Webhook-Secret": "guess"}, data=json.dumps(
        {"scope": "store/order/created", "data": {"type": "order", "id": 1}, "hash": "h", "created_at": int(time.time())}))
    bc_stale = requests.post(receiver.url("bc"), timeout=10, headers={
        "X-Sync-Webhook-Secret": harness.simulator.credentials["bc"]["webhook_secret"]}, data=json.dumps(
        {"scope": "store/order/created", "data": {"type": "order", "id": 1}, "hash": "h", "created_at": int(time.time()) - 3600}))
    assert [r.status_code for r in (forged, unsigned, stale, woo_forged, bc_wrong_secret, bc_stale)] == [401] * 6
    assert inbox(harness) == [], "nothing refused lands"

    first = shopify_post(receiver, body, secret, event_id="evt-7")
    again = shopify_post(receiver, body, secret, event_id="evt-7")  # the platform's retry: the same delivery
    changed = json.loads(body) | {"note": "changed in flight"}
    replayed = shopify_post(receiver, json.dumps(changed).encode(), secret, event_id="evt-7")
    assert (first.status_code, first.json(), again.status_code, again.json()) == (200, {"duplicate": False}, 200,
                                                                                   {"duplicate": True})
    assert replayed.status_code == 401 and replayed.json() == {"error": "REPLAYED"}
    assert len(inbox(harness)) == 1

    other_topic = shopify_post(receiver, b"{}", secret, topic="products/update", event_id="evt-8")
    unknown = requests.post(receiver.url("nobody"), data=body, timeout=10)
    assert other_topic.json() == {"ignored": "not an order topic"} and unknown.status_code == 404
    assert len(inbox(harness)) == 1
    assert [r.reason for r in refusals(harness)] == ["FORGED", "FORGED", "STALE", "FORGED", "FORGED", "STALE",
                                                     "REPLAYED", "UNKNOWN_CHANNEL"]
    assert all(secret not in r.message for r in refusals(harness))


def test_the_sensor_turns_deliveries_into_one_run_per_channel_and_day_and_the_orders_reach_the_3pl(receiving):
    harness, _ = receiving(days=2)
    sim = harness.simulator
    emitted = {}
    for name, _, _ in CHANNELS:
        for record in sim.orders(name):
            if record.placed_at.astimezone(timezone.utc).date() == TODAY:
                emitted.setdefault(name, []).append(record.external_order_id)
                sim.emit_webhook(name, record.external_order_id, "created")
    sim.webhooks.wait()
    definitions = harness.definitions()
    sensor = definitions.resolve_sensor_def("order_webhooks")
    context = dg.build_sensor_context(instance=harness.instance, resources={
        "database": DatabaseResource(url=harness.database_url)})
    result = sensor(context)
    by_channel = {r.tags["sync/channel"]: r for r in result}
    assert set(by_channel) == set(emitted)
    with get_engine(harness.database_url).connect() as connection:
        received_on = {r.received_at.date() for r in connection.execute(
            sa.select(webhook_inbox.c.received_at).where(webhook_inbox.c.channel == "bc"))}
    for channel, request in by_channel.items():
        days = [request.partition_key] if request.partition_key else [request.tags[RANGE_START_TAG],
                                                                       request.tags[RANGE_END_TAG]]
        # Not the test's own clock: a run across midnight receives today's orders on the next day.
        expected_days = {str(TODAY)} if channel != "bc" else {str(d - timedelta(days=n)) for d in received_on for n in (0, 1)}
        assert {d.split("|")[1] for d in days} == expected_days, "the order's day; BigCommerce: around the delivery"
    assert isinstance(sensor(dg.build_sensor_context(instance=harness.instance, cursor=context.cursor, resources={
        "database": DatabaseResource(url=harness.database_url)})), dg.SkipReason), "nothing new: nothing asked"

    job = definitions.resolve_job_def("order_sync")
    sim.clear_requests()
    for request in by_channel.values():
        assert job.execute_in_process(instance=harness.instance, partition_key=request.partition_key,
                                      tags=request.tags).success
    order_reads = {name: sum(1 for r in sim.requests if r["channel"] == name and r["method"] == "GET")
                   for name, _, _ in CHANNELS}
    # Shopify's and WooCommerce's deliveries carry the order: it lands without an API call; BigCommerce's do not.
    assert order_reads["shop"] == order_reads["woo"] == 0 and order_reads["bc"] > 0, order_reads
    with get_engine(harness.database_url).connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).where(webhook_inbox.c.landed_at.is_(None))).scalar() == 0
    with get_engine(harness.database_url).connect() as connection:
        accepted = {(r.channel, r.external_order_id) for r in connection.execute(
            sa.select(fulfilment_orders).where(fulfilment_orders.c.status == "ACCEPTED"))}
    at_3pl = {(o["channel"], o["client_reference"].split(":", 1)[1]) for o in sim.warehouse.orders()}
    for channel, ids in emitted.items():
        # Every emitted order is at the 3PL or was stopped with its reason by the pipeline (our tables say which).
        assert {(channel, i) for i in ids} & accepted <= at_3pl
        assert {(channel, i) for i in ids} & at_3pl, channel


def test_webhooks_need_a_platform_that_sends_them_and_a_secret():
    amazon = {**default_channel("amz", "amazon", "https://a.example.com"), "webhooks": True}
    with pytest.raises(ConfigError, match="amazon sends no order webhooks"):
        parse_config({"channels": [amazon]}, "channels.yaml")
    shop = {**default_channel("shop", "shopify", "https://s.example.com"), "webhooks": True}
    shop["credentials"] = {"access_token": "SHOP_ACCESS_TOKEN"}
    with pytest.raises(ConfigError, match="needs credentials.webhook_secret"):
        parse_config({"channels": [shop]}, "channels.yaml")


def test_live_orders_go_from_webhook_to_the_3pl_and_their_tracking_back_in_one_sensor_tick_each(harness_factory,
                                                                                                 sqlite_url):
    """Live mode end to end, in process (the daemon's figure is `bench latency`'s): orders placed now reach the 3PL
    through webhook, inbox, sensor and run; the 3PL ships them when due by the wall clock; the tracking sensor's run
    puts their numbers on the channel. Counted from the simulator's records."""
    harness = harness_factory(scenario([("shop", "shopify", 0)], days=1, warehouse={"ship_after_hours": [0.0, 0.0003]}),
                              database_url=sqlite_url, overrides_in={"shop": {"webhooks": True}}, live=True)
    sim = harness.simulator
    receiver = Receiver(harness)
    try:
        sim.subscribe_webhooks("shop", receiver.url("shop"))
        placed = [sim.place_order("shop") for _ in range(3)]
        assert {r.external_order_id for r in sim.orders("shop")} == {r.external_order_id for r in placed}
        sim.webhooks.wait()
        definitions = harness.definitions()
        resources = {"database": DatabaseResource(url=harness.database_url), "channels": harness.channels}
        (request,) = definitions.resolve_sensor_def("order_webhooks")(
            dg.build_sensor_context(instance=harness.instance, resources=resources))
        assert definitions.resolve_job_def("order_sync").execute_in_process(
            instance=harness.instance, partition_key=request.partition_key, tags=request.tags).success
        at_3pl = {o["client_reference"]: o for o in sim.warehouse.orders()}
        assert {f"shop:{r.external_order_id}" for r in placed} <= set(at_3pl), "every live order at the 3PL"
        time.sleep(1.2)  # due by the wall clock (at most ~1.1 s after placement)
        assert harness.track("shop").success
        held = sim.tracking("shop")
        shipped = [s for s in sim.warehouse.shipments() if s["channel"] == "shop"]
        assert shipped and all(s["tracking_number"] in [n for f in held.get(s["channel_order_id"], [])
                                                        for n in f["tracking_numbers"]] for s in shipped)
    finally:
        receiver.stop()
