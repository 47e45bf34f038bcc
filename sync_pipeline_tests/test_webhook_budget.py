"""BigCommerce's thin webhooks within the schedule's API budget: a run reads the orders its deliveries name with the
V2 list filtered by id ranges (not one GET each), and reads products and shipping addresses only for a version not
landed yet, so a repeated delivery, one for an order already landed and the schedule's safety net cost no
sub-resource calls, while an order really changed is read in full. Counted from the simulator's request log and the
simulated 3PL's orders."""

import json
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import requests

from sync_pipeline.channels.bigcommerce.webhooks import SECRET_HEADER, read_delivery
from sync_pipeline.channels.webhooks import MALFORMED, WebhookRefused
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.simulator.platforms.bigcommerce import rfc2822
from sync_pipeline_tests.conftest import TODAY, scenario
from sync_pipeline_tests.test_webhooks import Receiver

LIST = re.compile(r"/v2/orders$")
BY_ID = re.compile(r"/v2/orders/(\d+)$")
SUB_RESOURCE = re.compile(r"/v2/orders/(\d+)/(products|shipping_addresses)$")
AWAITING_FULFILLMENT = 11  # the status the 3PL gets orders in


def order_reads(sim) -> dict:
    """The order flow's GETs on the channel, from the simulator's log: list calls (their queries), reads by id, and
    sub-resource reads per (order id, sub-resource)."""
    found = {"list": [], "by_id": 0, "sub": Counter()}
    for request in sim.requests:
        if request["channel"] != "bc" or request["method"] != "GET":
            continue
        if LIST.search(request["path"]):
            found["list"].append(request["query"])
        elif BY_ID.search(request["path"]):
            found["by_id"] += 1
        elif match := SUB_RESOURCE.search(request["path"]):
            found["sub"][match.groups()] += 1
    return found


def in_full(ids) -> Counter:
    """Each order's two sub-resources read once."""
    return Counter({(i, name): 1 for i in ids for name in ("products", "shipping_addresses")})


class WebhookRuns:
    """The order_webhooks sensor evaluated as the daemon does (its cursor kept), and the runs it asks for."""

    def __init__(self, harness):
        self.harness, self.cursor = harness, None

    def tick(self) -> int:
        self.harness.simulator.webhooks.wait()
        definitions = self.harness.definitions()
        context = dg.build_sensor_context(instance=self.harness.instance, cursor=self.cursor, resources={
            "database": DatabaseResource(url=self.harness.database_url), "channels": self.harness.channels})
        result = definitions.resolve_sensor_def("order_webhooks")(context)
        self.cursor = context.cursor
        asked = [] if isinstance(result, dg.SkipReason) else list(result)
        for request in asked:
            assert definitions.resolve_job_def("order_sync").execute_in_process(
                instance=self.harness.instance, partition_key=request.partition_key, tags=request.tags).success
        return len(asked)


@pytest.fixture
def bigcommerce(harness_factory, database_url):
    """A BigCommerce channel with today's orders, taking webhooks at a receiver; its open orders by id, oldest first."""
    receivers = []

    def make(page_size: int | None = None, **scenario_keys):
        overrides = {"webhooks": True, **({"page_size": page_size} if page_size else {})}
        harness = harness_factory(scenario([("bc", "bigcommerce", 40)], days=1, **scenario_keys),
                                  database_url=database_url, overrides_in={"bc": overrides})
        receivers.append(Receiver(harness))
        harness.simulator.subscribe_webhooks("bc", receivers[-1].url("bc"))
        open_orders = [r.external_order_id for r in harness.simulator.orders("bc")
                       if r.payload["order"]["status_id"] == AWAITING_FULFILLMENT]
        return harness, WebhookRuns(harness), sorted(open_orders, key=int)

    yield make
    for receiver in receivers:
        receiver.stop()


def at_3pl(sim) -> Counter:
    return Counter(o["client_reference"] for o in sim.warehouse.orders())


def test_deliveries_naming_k_orders_cost_their_id_ranges_and_two_sub_resource_calls_per_order(bigcommerce):
    # A page of 4: each id range spans at most 3 ids, so the page is short and one call answers it.
    harness, runs, open_orders = bigcommerce(page_size=4, webhooks={"duplicate": 1.0, "max_delay_s": 0.2})
    sim = harness.simulator
    first = int(open_orders[0])
    named = [str(first + offset) for offset in (0, 2, 5, 6, 11)]  # ranges 0..2, 5..6, 11: three list calls
    assert set(named) <= {r.external_order_id for r in sim.orders("bc")}
    for external_id in named:
        sim.emit_webhook("bc", external_id, "created")
    sim.emit_webhook("bc", named[0], "updated")  # a second event for an order: still read once
    sim.clear_requests()
    assert runs.tick() == 1
    reads = order_reads(sim)
    assert sorted((q["min_id"], q["max_id"]) for q in reads["list"]) == [
        (str(first), str(first + 2)), (str(first + 5), str(first + 6)), (str(first + 11), str(first + 11))]
    assert reads["by_id"] == 0, "no order read one by one"
    assert reads["sub"] == in_full(named), "2 sub-resource calls per named order, none for the orders in between"
    assert {r.external_order_id for r in harness.raw_rows("bc")} == set(named), \
        "the order read only because it lay in a range (first + 1) is dropped"
    references = at_3pl(sim)
    meant = [i for i in named if i in open_orders]
    assert meant and all(references[f"bc:{i}"] == 1 for i in meant), references


def test_a_repeated_delivery_one_for_a_landed_order_and_the_safety_net_cost_no_sub_resource_calls(bigcommerce):
    harness, runs, open_orders = bigcommerce()
    sim = harness.simulator
    delivered, dropped = open_orders[:5], open_orders[5:8]
    assert len(dropped) == 3
    for external_id in delivered:
        sim.emit_webhook("bc", external_id, "created")
    sim.clear_requests()
    assert runs.tick() == 1
    assert order_reads(sim)["sub"] == in_full(delivered)
    landed = len(harness.raw_rows("bc"))

    # The platform's retry of the same events, and new events for orders whose version is landed already.
    for external_id in delivered[:3]:
        sim.emit_webhook("bc", external_id, "updated")
    sim.clear_requests()
    assert runs.tick() == 1
    reads = order_reads(sim)
    assert len(reads["list"]) == 1 and reads["by_id"] == 0 and reads["sub"] == Counter(), reads
    assert len(harness.raw_rows("bc")) == landed, "nothing new landed"

    # The schedule's run: the day in full (no cursor yet), the dropped webhooks' orders read in full, none other.
    sim.clear_requests()
    assert harness.materialize("bc", TODAY).success
    reads = order_reads(sim)
    assert len(reads["list"]) == 1 and reads["sub"] == in_full(
        {r.external_order_id for r in sim.orders("bc")} - set(delivered)), "only versions not landed yet in full"
    references = at_3pl(sim)
    assert all(references[f"bc:{i}"] == 1 for i in delivered + dropped), "every order at the 3PL once"


def test_an_order_changed_after_landing_is_read_again_in_full_and_its_new_version_lands(bigcommerce):
    harness, runs, open_orders = bigcommerce(anomalies={"silent_status_changes": 0.5})
    sim = harness.simulator
    platform = sim._platform("bc")
    to_change = platform.silent_changes()
    silent = next(i for i in open_orders if i in to_change)
    edited, untouched = [i for i in open_orders if i not in to_change][:2]
    for external_id in (edited, silent, untouched):
        sim.emit_webhook("bc", external_id, "created")
    assert runs.tick() == 1
    versions = Counter(r.external_order_id for r in harness.raw_rows("bc"))

    # A product line edited in the control panel: BigCommerce saves the order, so date_modified and its totals move.
    payload = json.loads(json.dumps(platform.store.get(edited).payload))
    payload["products"][0]["quantity"] += 1
    payload["order"].update(items_total=payload["order"]["items_total"] + 1,
                            date_modified=rfc2822(datetime.now(timezone.utc)))
    assert requests.post(f"{sim.url}/_admin/channels/bc/orders", json=payload, timeout=10).status_code == 201
    # S42: a status written without moving date_modified; the row's status_id still tells the new version.
    modified_before = platform.store.get(silent).payload["order"]["date_modified"]
    assert silent in platform.apply_silent_changes()
    assert platform.store.get(silent).payload["order"]["date_modified"] == modified_before
    for external_id in (edited, silent, untouched):
        sim.emit_webhook("bc", external_id, "updated")
    sim.clear_requests()
    assert runs.tick() == 1
    assert order_reads(sim)["sub"] == in_full([edited, silent]), "the changed orders in full, the other not"
    now = Counter(r.external_order_id for r in harness.raw_rows("bc"))
    assert (now - versions) == Counter([edited, silent]), "one new version each"
    latest = {r.external_order_id: json.loads(r.payload) for r in harness.raw_rows("bc")}
    assert latest[edited]["products"][0]["quantity"] == payload["products"][0]["quantity"]
    assert latest[silent]["order"]["status_id"] == platform.store.get(silent).payload["order"]["status_id"]
    references = at_3pl(sim)
    assert all(references[f"bc:{i}"] == 1 for i in (edited, silent, untouched)), "still one 3PL order each"


def test_a_delivery_naming_no_whole_number_order_id_is_refused_as_malformed():
    """BigCommerce order ids are whole numbers: the id ranges could not name anything else."""
    now = datetime.now(timezone.utc)
    for data in ({"type": "order", "id": "12; DROP"}, {"type": "order"}, ["not", "an", "object"]):
        body = json.dumps({"scope": "store/order/created", "data": data, "hash": "h",
                           "created_at": int(now.timestamp())}).encode()
        with pytest.raises(WebhookRefused) as refused:
            read_delivery({SECRET_HEADER: "s"}, body, "s", now, timedelta(minutes=5))
        assert refused.value.reason == MALFORMED
    body = json.dumps({"scope": "store/order/created", "data": {"type": "order", "id": 105}, "hash": "h",
                       "created_at": int(now.timestamp())}).encode()
    assert read_delivery({SECRET_HEADER: "s"}, body, "s", now, timedelta(minutes=5)).external_order_id == "105"
