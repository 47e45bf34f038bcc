"""Shopify's stock writes through the GraphQL Admin `inventorySetQuantities` mutation: the pipeline's push
(ShopifyInventory.write, up to 250 quantities a call) against the simulated GraphQL endpoint, and that endpoint on
its own (the 250 limit, all-or-nothing userErrors, the cost extension, THROTTLED). Everything is counted from the
simulator's own records: its ListingStore (each listing's quantity and history, `source` "api" for a write) and its
request log."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import requests

from sync_pipeline.channels.inventory import (
    INVENTORY_NOT_TRACKED,
    NOT_SUPPORTED,
    PRODUCT_NOT_FOUND,
    PUSHED,
    Listing,
    StockUpdate,
)
from sync_pipeline.channels.shopify.client import GRAPHQL_BUCKET, INVENTORY_SET_COST
from sync_pipeline.channels.shopify.inventory import SET_QUANTITIES, ShopifyInventory
from sync_pipeline.simulator.platforms.shopify import LOCATION_ID, OTHER_LOCATION_ID
from sync_pipeline.simulator.scenario import Scenario
from sync_pipeline_tests.conftest import TODAY

NAME = "gql-shop"
ANOMALIES = ("listing_deleted", "listing_not_tracked")


class Shop:
    """A simulated Shopify channel, its push on one connector, and what the simulator recorded."""

    def __init__(self, harness_factory, *, extra=40, anomalies=(), speed=200.0, rate_limits=None):
        document = {
            "seed": 5, "start_date": (TODAY - timedelta(days=1)).isoformat(), "days": 2, "speed": speed,
            "channels": [{"name": NAME, "type": "shopify", "orders_per_day": 1, "extra_listings": extra}],
            "faults": {}, "anomalies": dict.fromkeys(anomalies, 0.1),
        }
        if rate_limits:
            document["rate_limits"] = rate_limits
        self.harness = harness_factory(Scenario.from_dict(document))
        self.sim = self.harness.simulator
        self.platform = self.sim._platform(NAME)
        self.store = self.platform.listings
        self.connector = self.harness.connector(NAME)
        self.push = ShopifyInventory(self.connector)
        self.url = f"{self.sim.url}/{NAME}/admin/api/2025-01/graphql.json"
        self.headers = {"X-Shopify-Access-Token": self.sim.credentials[NAME]["access_token"]}

    def graphql_calls(self) -> list[dict]:
        return [r for r in self.sim.requests if r["channel"] == NAME and r["path"].endswith("/graphql.json")]

    def api_history(self, since: int) -> list[dict]:
        return [h for h in self.store.history()[since:] if h["source"] == "api"]

    def by_item(self) -> dict[str, dict]:
        """The simulator's listings by the pipeline's listing_id (the inventory item id)."""
        return {str(l["inventory_item_id"]): l for l in self.store.all()}

    def post(self, quantities: list[dict], query: str = SET_QUANTITIES, **input_fields) -> requests.Response:
        variables = {"input": {"name": "available", "reason": "correction", "ignoreCompareQuantity": True,
                               "quantities": quantities, **input_fields}}
        return requests.post(self.url, json={"query": query, "variables": variables}, headers=self.headers, timeout=10)


def _quantity(listing: dict, quantity: int, location: int = LOCATION_ID) -> dict:
    return {"inventoryItemId": f"gid://shopify/InventoryItem/{listing['inventory_item_id']}",
            "locationId": f"gid://shopify/Location/{location}", "quantity": quantity}


def _write_all(push: ShopifyInventory, updates: list[StockUpdate]) -> list:
    """What the inventory flow does: batches of batch_size, in order."""
    results = []
    for start in range(0, len(updates), push.batch_size):
        batch = updates[start:start + push.batch_size]
        written = push.write(batch)
        assert [w.listing_id for w in written] == [u.listing.listing_id for u in batch]
        results.extend(written)
    return results


def test_600_listings_are_written_in_three_calls(harness_factory):
    shop = Shop(harness_factory, extra=640)
    listings = [l for l in shop.push.listings() if l.tracked][:600]
    assert len(listings) == 600
    targets = {l.listing_id: (l.quantity or 0) + 3 for l in listings}
    shop.sim.clear_requests()
    before = len(shop.store.history())

    results = _write_all(shop.push, [StockUpdate(l, targets[l.listing_id]) for l in listings])

    assert shop.push.batch_size == 250
    assert [r.status for r in results] == [PUSHED] * 600
    calls = shop.graphql_calls()
    assert len(calls) == 3 and all(c["method"] == "POST" and c["status"] == 200 for c in calls)
    assert [c for c in shop.sim.requests if c["channel"] == NAME] == calls  # nothing but the three mutations
    # every listing written once, at its target, and nothing else written
    sim_ids = {l["listing_id"]: str(l["inventory_item_id"]) for l in shop.store.all()}
    history = shop.api_history(before)
    assert sorted(sim_ids[h["listing_id"]] for h in history) == sorted(targets)
    assert {sim_ids[h["listing_id"]]: h["quantity"] for h in history} == targets
    assert len(shop.store.history()) - before == 600
    by_item = shop.by_item()
    assert all(by_item[i]["quantity"] == q for i, q in targets.items())
    # through the channel's one session: the call log has the three mutations
    logged = [c for c in shop.connector.log.calls if c["endpoint"] == "graphql.json inventorySetQuantities"]
    assert len(logged) == 3 and all(c["status_code"] == 200 for c in logged)


def test_a_batch_with_a_deleted_an_untracked_and_good_listings(harness_factory):
    shop = Shop(harness_factory, extra=60, anomalies=ANOMALIES)
    read = {l.listing_id: l for l in shop.push.listings()}
    deleted = next(l for l in shop.store.all() if l["deleted"])
    gone = Listing(str(deleted["inventory_item_id"]), deleted["sku"], deleted["quantity"], True, True,
                   {"location_id": LOCATION_ID})
    switched_off = next(l for l in shop.store.all() if not l["tracked"] and not l["deleted"])
    untracked = read[str(switched_off["inventory_item_id"])]
    stale = dataclasses.replace(untracked, tracked=True)  # read before its tracking was switched off
    good = [l for l in read.values() if l.tracked][:5]
    shop.sim.clear_requests()
    before = len(shop.store.history())

    updates = [StockUpdate(gone, 3), StockUpdate(good[0], 11), StockUpdate(stale, 4), StockUpdate(untracked, 4),
               *(StockUpdate(l, 20 + n) for n, l in enumerate(good[1:]))]
    results = shop.push.write(updates)

    assert [r.status for r in results] == [PRODUCT_NOT_FOUND, PUSHED, INVENTORY_NOT_TRACKED, INVENTORY_NOT_TRACKED,
                                           PUSHED, PUSHED, PUSHED, PUSHED]
    assert gone.sku in results[0].message and "list it again" in results[0].message
    assert "Track quantity" in results[2].message and "tracking" in results[2].message
    assert results[3].message  # read as untracked: never sent
    # the mutation set nothing of the refused call; the good ones went again, alone, and landed once each
    assert len(shop.graphql_calls()) == 2
    by_item = shop.by_item()
    expected = {by_item[u.listing.listing_id]["listing_id"]: u.quantity for u in updates if u.listing in good}
    history = shop.api_history(before)
    assert len(history) == 5 and {h["listing_id"]: h["quantity"] for h in history} == expected
    assert all(by_item[l.listing_id]["quantity"] == expected[by_item[l.listing_id]["listing_id"]] for l in good)
    assert len(shop.store.history()) - before == 5  # the deleted and the untracked ones untouched


def test_the_simulated_mutation_is_all_or_nothing_with_userErrors_by_quantity(harness_factory):
    shop = Shop(harness_factory, extra=30, anomalies=ANOMALIES)
    deleted = next(l for l in shop.store.all() if l["deleted"])
    untracked = next(l for l in shop.store.all() if not l["tracked"] and not l["deleted"])
    good = [l for l in shop.store.all() if l["tracked"] and not l["deleted"]][:3]
    before = len(shop.store.history())

    answer = shop.post([_quantity(good[0], 9), _quantity(deleted, 1), _quantity(good[1], 9),
                        _quantity(untracked, 2), _quantity(good[2], 9, location=OTHER_LOCATION_ID),
                        _quantity(good[2], 9, location=1)])

    assert answer.status_code == 200
    payload = answer.json()["data"]["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "quantities", "1", "inventoryItemId"], "INVALID_INVENTORY_ITEM"),
        (["input", "quantities", "3", "inventoryItemId"], "NON_MUTABLE_INVENTORY_ITEM"),
        (["input", "quantities", "4", "locationId"], "ITEM_NOT_STOCKED_AT_LOCATION"),
        (["input", "quantities", "5", "locationId"], "INVALID_LOCATION"),
    ]
    assert shop.store.history()[before:] == []  # the good ones were not set either

    answer = shop.post([_quantity(good[0], 9), _quantity(good[1], 8)])
    group = answer.json()["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"]
    assert group["id"].startswith("gid://shopify/InventoryAdjustmentGroup/")
    assert [(h["listing_id"], h["quantity"], h["source"]) for h in shop.store.history()[before:]] == [
        (good[0]["listing_id"], 9, "api"), (good[1]["listing_id"], 8, "api")]

    # the client maps the location refusals too, with their fix
    listing = next(l for l in shop.push.listings() if l.tracked)
    elsewhere = dataclasses.replace(listing, ids={"location_id": OTHER_LOCATION_ID})
    unknown = dataclasses.replace(listing, ids={"location_id": 1})
    [not_stocked] = shop.push.write([StockUpdate(elsewhere, 5)])
    [no_location] = shop.push.write([StockUpdate(unknown, 5)])
    assert not_stocked.status == NOT_SUPPORTED and "not stocked" in not_stocked.message
    assert "fulfillment service" in not_stocked.message
    assert no_location.status == NOT_SUPPORTED and "location_id" in no_location.message


def test_more_than_250_quantities_are_refused_by_the_simulator(harness_factory):
    shop = Shop(harness_factory, extra=260)
    live = [l for l in shop.store.all() if l["tracked"] and not l["deleted"]][:251]
    before = len(shop.store.history())

    answer = shop.post([_quantity(l, 5) for l in live])
    body = answer.json()
    assert answer.status_code == 200 and "data" not in body
    [error] = body["errors"]
    assert error["message"] == "The input array size of 251 is greater than the maximum allowed of 250."
    assert error["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert error["path"] == ["inventorySetQuantities", "input", "quantities"]
    assert body["extensions"]["cost"]["actualQueryCost"] is None
    assert shop.store.history()[before:] == []

    answer = shop.post([_quantity(l, 5) for l in live[:250]])  # 250 is taken
    assert answer.json()["data"]["inventorySetQuantities"]["userErrors"] == []
    assert len(shop.api_history(before)) == 250

    # the client never sends more than 250
    listings = [l for l in shop.push.listings() if l.tracked][:251]
    shop.sim.clear_requests()
    with pytest.raises(ValueError, match="at most 250"):
        shop.push.write([StockUpdate(l, 1) for l in listings])
    assert shop.graphql_calls() == []


def test_a_throttled_reply_is_waited_out_and_the_batch_lands_once(harness_factory):
    shop = Shop(harness_factory, extra=30, speed=1.0, rate_limits={"shopify_graphql": {"burst": 60, "per_second": 20}})
    bucket = shop.platform._buckets["graphql"]
    listings = [l for l in shop.push.listings() if l.tracked][:10]
    targets = {l.listing_id: (l.quantity or 0) + 5 for l in listings}

    # the simulator: short of the requested points, HTTP 200 THROTTLED, nothing runs
    assert bucket.spend(bucket.peek().tokens).allowed  # another job of the app spent the points (0.55 s to 11)
    before = len(shop.store.history())
    answer = shop.post([_quantity(next(l for l in shop.store.all() if l["tracked"]), 1)])
    body = answer.json()
    assert answer.status_code == 200 and "data" not in body
    assert body["errors"][0]["message"] == "Throttled" and body["errors"][0]["extensions"]["code"] == "THROTTLED"
    cost = body["extensions"]["cost"]
    assert cost["actualQueryCost"] is None and cost["requestedQueryCost"] == INVENTORY_SET_COST
    assert cost["throttleStatus"]["currentlyAvailable"] < INVENTORY_SET_COST
    assert cost["throttleStatus"]["maximumAvailable"] == 60 and cost["throttleStatus"]["restoreRate"] == 20
    assert shop.store.history()[before:] == []

    # the push: THROTTLED, the shared throttle waits for the points, then the batch lands, once
    bucket.spend(bucket.peek().tokens)
    shop.sim.clear_requests()
    retries = shop.connector.log.retries
    results = shop.push.write([StockUpdate(l, targets[l.listing_id]) for l in listings])

    assert [r.status for r in results] == [PUSHED] * 10
    assert len(shop.graphql_calls()) == 2  # the THROTTLED one and the one that ran
    assert shop.connector.log.retries == retries + 1
    assert shop.connector.log.throttled_seconds > 0  # waited before the second send, not after a refusal
    sim_ids = {l["listing_id"]: str(l["inventory_item_id"]) for l in shop.store.all()}
    history = shop.api_history(before)
    assert sorted(sim_ids[h["listing_id"]] for h in history) == sorted(targets)  # no listing twice
    assert {sim_ids[h["listing_id"]]: h["quantity"] for h in history} == targets
    # the client's model of the bucket follows the simulator's throttleStatus (in calls of the mutation's cost)
    model = shop.connector.http.buckets[GRAPHQL_BUCKET]
    assert model.capacity == pytest.approx(60 / INVENTORY_SET_COST)
    assert model.per_second == pytest.approx(20 / INVENTORY_SET_COST)


def test_5xx_and_lost_replies_are_retried_harmlessly(harness_factory):
    shop = Shop(harness_factory, extra=300)
    listings = [l for l in shop.push.listings() if l.tracked][:300]
    targets = {l.listing_id: (l.quantity or 0) + 2 for l in listings}
    shop.sim.set_faults({"server_error_5xx": 0.3, "lost_reply": 0.3})
    shop.sim.clear_requests()
    before = len(shop.store.history())

    results = []
    for _ in range(3):  # the same writes again and again: setting is absolute
        results = _write_all(shop.push, [StockUpdate(l, targets[l.listing_id]) for l in listings])
        assert [r.status for r in results] == [PUSHED] * 300

    calls = shop.graphql_calls()
    injected = [c["injected"] for c in calls]
    assert "server_error_5xx" in injected and "lost_reply" in injected
    by_item = shop.by_item()
    assert all(by_item[i]["quantity"] == q for i, q in targets.items())
    sim_ids = {l["listing_id"]: str(l["inventory_item_id"]) for l in shop.store.all()}
    history = shop.api_history(before)
    for entry in history:  # a write repeated after a lost reply sets the same quantity again
        assert entry["quantity"] == targets[sim_ids[entry["listing_id"]]]
    # what ran: every answered call and every lost reply (a 5xx sets nothing), a batch of 250 or 50 each
    sizes, batch, ran = (250, 50), 0, 0
    for call in calls:
        if call["injected"] in (None, "lost_reply"):
            ran += sizes[batch % 2]
        if call["injected"] is None and call["status"] == 200:
            batch += 1
    assert batch == 6 and len(history) == ran == len(shop.store.history()) - before
    assert ran > 3 * 300  # some quantities were set twice: harmless


def test_a_unicode_sku(harness_factory):
    shop = Shop(harness_factory, extra=10, anomalies=("listing_deleted",))
    sku = "ÜBER-größe-漢字-🙂"
    live = next(l for l in shop.store.all() if l["tracked"] and not l["deleted"])
    shop.store.update(live["listing_id"], sku=sku)
    deleted = next(l for l in shop.store.all() if l["deleted"])
    listing = next(l for l in shop.push.listings() if l.sku == sku)
    gone = Listing(str(deleted["inventory_item_id"]), "ÅNGSTRÖM-ø-Ж", deleted["quantity"], True, True,
                   {"location_id": LOCATION_ID})
    before = len(shop.store.history())

    written, refused = shop.push.write([StockUpdate(listing, 13), StockUpdate(gone, 1)])

    assert written.status == PUSHED and refused.status == PRODUCT_NOT_FOUND
    assert "ÅNGSTRÖM-ø-Ж" in refused.message
    assert [(h["listing_id"], h["quantity"]) for h in shop.api_history(before)] == [(live["listing_id"], 13)]
    # the simulator serves it back as sent
    query = ("mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { "
             "inventoryAdjustmentGroup { changes { name delta item { sku } } } userErrors { code } } }")
    answer = shop.post([_quantity(shop.store.get(live["listing_id"]), 14)], query=query)
    changes = answer.json()["data"]["inventorySetQuantities"]["inventoryAdjustmentGroup"]["changes"]
    assert {c["item"]["sku"] for c in changes} == {sku} and {(c["name"], c["delta"]) for c in changes} == {
        ("available", 1), ("on_hand", 1)}


def test_every_answer_carries_the_cost_extension_and_uses_its_own_bucket(harness_factory):
    shop = Shop(harness_factory, extra=10, anomalies=("listing_deleted",), speed=1.0)
    good = next(l for l in shop.store.all() if l["tracked"] and not l["deleted"])
    deleted = next(l for l in shop.store.all() if l["deleted"])
    rest = requests.get(f"{shop.sim.url}/{NAME}/admin/api/2025-01/locations.json", headers=shop.headers, timeout=10)
    rest_used = rest.headers["X-Shopify-Shop-Api-Call-Limit"]

    answers = {
        "set": shop.post([_quantity(good, 4)]),
        "refused": shop.post([_quantity(deleted, 4)]),
        "bad variables": shop.post([{"inventoryItemId": "123", "locationId": "gid://shopify/Location/1",
                                     "quantity": 1}]),
        "other field": requests.post(shop.url, json={"query": "{ shop { name } }"}, headers=shop.headers, timeout=10),
    }
    costs = {}
    for what, answer in answers.items():
        assert answer.status_code == 200, what
        assert "X-Shopify-Shop-Api-Call-Limit" not in answer.headers, what  # GraphQL reports its limit in the body
        cost = answer.json()["extensions"]["cost"]
        assert set(cost) == {"requestedQueryCost", "actualQueryCost", "throttleStatus"}, what
        assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}, what
        assert cost["throttleStatus"]["maximumAvailable"] == 2000, what
        costs[what] = cost
    assert (costs["set"]["requestedQueryCost"], costs["set"]["actualQueryCost"]) == (11, 11)
    assert (costs["refused"]["requestedQueryCost"], costs["refused"]["actualQueryCost"]) == (11, 10)
    assert costs["bad variables"]["actualQueryCost"] is None and costs["other field"]["actualQueryCost"] is None
    assert answers["bad variables"].json()["errors"][0]["extensions"]["problems"][0] == {
        "path": ["quantities", 0, "inventoryItemId"], "explanation": "Invalid global id `123`"}
    assert answers["other field"].json()["errors"][0]["extensions"]["code"] == "undefinedField"
    points = [c["throttleStatus"]["currentlyAvailable"] for c in costs.values()]
    assert points[0] <= 2000 - 11 and points[1] <= points[0] - 10 + 1  # each paid its actual cost, from its bucket
    # the REST bucket did not pay for any of it: two REST calls in all (less what leaked), not six
    rest = requests.get(f"{shop.sim.url}/{NAME}/admin/api/2025-01/locations.json", headers=shop.headers, timeout=10)
    assert rest_used == "1/40" and int(rest.headers["X-Shopify-Shop-Api-Call-Limit"].split("/")[0]) <= 2


def _shape(value):
    """The keys of a JSON value, all the way down (lists by their first item), without the values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def test_the_documented_example_gets_an_answer_of_the_documented_shape(harness_factory):
    """shopify.dev's example request (fixtures/payloads), its ids swapped for one of the simulated shop's."""
    import copy
    import json
    from pathlib import Path

    example = json.loads((Path(__file__).parent / "fixtures" / "payloads" /
                          "shopify_inventory_set_quantities.json").read_text(encoding="utf-8"))
    shop = Shop(harness_factory, extra=5)
    listing = next(l for l in shop.store.all() if l["tracked"] and not l["deleted"])
    body = copy.deepcopy(example["request_body"])
    body["variables"]["input"]["quantities"][0].update(_quantity(listing, 42))
    answer = requests.post(shop.url, json=body, headers=shop.headers, timeout=10)
    assert answer.status_code == 200
    got = answer.json()
    assert _shape(got["data"]) == _shape(example["response_body"]["data"])
    assert _shape(got["extensions"]) == _shape(example["response_body"]["extensions"])
    assert shop.store.get(listing["listing_id"])["quantity"] == 42
