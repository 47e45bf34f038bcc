"""The simulated Magento 2 store over HTTP, as a person with curl would meet it: searchCriteria paging and filters,
the admin and integration tokens, configurable and bundle items, MSI source items and the listing anomalies."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from sync_pipeline.simulator import Scenario, Simulator
from sync_pipeline.simulator.platforms.base import TEMPLATES

TODAY = datetime.now(timezone.utc).date()


def make(per_day: int = 8, anomalies: dict | None = None, options: dict | None = None, faults: dict | None = None,
         extra_listings: int = 0, speed: float = 200.0) -> Scenario:
    return Scenario.from_dict({
        "seed": 7, "start_date": (TODAY - timedelta(days=2)).isoformat(), "days": 3, "speed": speed,
        "channels": [{"name": "mage", "type": "magento", "orders_per_day": per_day, "extra_listings": extra_listings,
                      **({"options": options} if options else {})}],
        "faults": faults or {}, "anomalies": anomalies or {},
    })


@pytest.fixture
def started():
    sims = []

    def start(scenario: Scenario) -> Simulator:
        sims.append(Simulator(scenario).start())
        return sims[-1]

    yield start
    for sim in sims:
        sim.stop()


class Store:
    """The store's REST API with an admin token."""

    def __init__(self, sim: Simulator, token: str | None = None):
        self.sim, self.root = sim, f"{sim.url}/mage/rest/default/V1"
        self.token = token or self.sign_in().json()

    def sign_in(self, password: str | None = None) -> requests.Response:
        credentials = self.sim.credentials["mage"]
        return requests.post(f"{self.root}/integration/admin/token", timeout=10, json={
            "username": credentials["username"], "password": password or credentials["password"]})

    def get(self, path: str, **params) -> requests.Response:
        return requests.get(f"{self.root}/{path}", params=params, timeout=10,
                            headers={"Authorization": f"Bearer {self.token}"})

    def post(self, path: str, body) -> requests.Response:
        return requests.post(f"{self.root}/{path}", json=body, timeout=10, headers={"Authorization": f"Bearer {self.token}"})


def criteria(*filters: tuple[str, str, str], page_size: int | None = None, page: int | None = None,
             sort: tuple[str, str | None] | None = None) -> dict:
    params = {}
    for group, (field, condition, value) in enumerate(filters):
        prefix = f"searchCriteria[filter_groups][{group}][filters][0]"
        params.update({f"{prefix}[field]": field, f"{prefix}[value]": value, f"{prefix}[condition_type]": condition})
    if page_size is not None:
        params["searchCriteria[pageSize]"] = page_size
    if page is not None:
        params["searchCriteria[currentPage]"] = page
    if sort:
        params["searchCriteria[sortOrders][0][field]"] = sort[0]
        if sort[1]:
            params["searchCriteria[sortOrders][0][direction]"] = sort[1]
    return params


def test_same_seed_same_orders_built_on_the_real_payload_with_parent_and_child_items():
    first, second = Simulator(make(per_day=20)), Simulator(make(per_day=20))
    dump = [json.dumps(r.payload) for r in first.orders("mage")]
    assert dump == [json.dumps(r.payload) for r in second.orders("mage")]
    template = json.loads((TEMPLATES / "magento_order_tutorial_full.json").read_text(encoding="utf-8"))
    kinds = set()
    for record in first.orders("mage"):
        order = record.payload
        assert set(template) <= set(order), "every key of the real payload"
        assert order["created_at"] == record.placed_at.strftime("%Y-%m-%d %H:%M:%S"), "UTC, no offset"
        items = {item["item_id"]: item for item in order["items"]}
        for item in order["items"]:
            kinds.add(item["product_type"])
            if item.get("parent_item_id"):
                parent = items[item["parent_item_id"]]
                assert parent["product_type"] in ("configurable", "bundle") and item["parent_item"] == parent
                if parent["product_type"] == "configurable":
                    assert (item["sku"], item["price"], item["qty_ordered"]) == (parent["sku"], 0, parent["qty_ordered"])
        assignment = order["extension_attributes"]["shipping_assignments"][0]
        assert assignment["items"] == order["items"] and assignment["shipping"]["method"]
    assert kinds == {"simple", "configurable", "bundle"}


def test_paging_past_the_end_answers_the_last_page_and_filters_compare_as_stored(started):
    sim = started(make(per_day=7))
    store = Store(sim)
    every = store.get("orders", **criteria(page_size=5, page=1, sort=("entity_id", "ASC"))).json()
    count = len(sim.orders("mage"))
    assert every["total_count"] == count and count > 10
    pages = math.ceil(count / 5)
    last = store.get("orders", **criteria(page_size=5, page=pages, sort=("entity_id", "ASC"))).json()
    past = store.get("orders", **criteria(page_size=5, page=pages + 3, sort=("entity_id", "ASC"))).json()
    assert past["items"] == last["items"] and len(past["items"]) == count - 5 * (pages - 1), "never an empty page"
    assert past["search_criteria"]["current_page"] == pages + 3
    newest = store.get("orders", **criteria(page_size=1, sort=("entity_id", None))).json()["items"][0]
    assert newest["entity_id"] == max(int(r.external_order_id) for r in sim.orders("mage")), "DESC unless ASC"
    cut = sorted(sim.orders("mage"), key=lambda r: r.updated_at)[10].updated_at
    stored = cut.strftime("%Y-%m-%d %H:%M:%S")
    since = store.get("orders", **criteria(("updated_at", "gteq", stored))).json()
    assert since["total_count"] == sum(1 for r in sim.orders("mage") if r.updated_at >= cut.replace(microsecond=0))
    with_offset = store.get("orders", **criteria(("updated_at", "gteq", cut.strftime("%Y-%m-%dT%H:%M:%S+02:00")))).json()
    assert with_offset["total_count"] == since["total_count"], "an offset is ignored, as MySQL ignores it"
    too_big = store.get("orders", **criteria(page_size=301))
    assert too_big.status_code == 400 and too_big.json() == {"message": "Maximum SearchCriteria pageSize is %max",
                                                            "parameters": {"max": 300}}
    missing = store.get("orders/999999999")
    assert missing.status_code == 404 and "doesn't exist" in missing.json()["message"]


def test_tokens_are_refused_in_magentos_words_and_an_integration_token_only_where_allowed(started):
    sim = started(make(per_day=1, faults={}))
    store = Store(sim)
    assert store.get("orders", **criteria(page_size=1)).status_code == 200
    wrong = store.sign_in(password="nope")
    assert wrong.status_code == 401 and "account sign-in was incorrect" in wrong.json()["message"]
    integration = Store(sim, token=sim.credentials["mage"]["access_token"])
    refused = integration.get("orders", **criteria(page_size=1))
    assert refused.status_code == 401 and refused.json() == {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_Sales::actions_view"}}
    allowed = started(make(per_day=1, options={"integration_as_bearer": True}))
    assert Store(allowed, token=allowed.credentials["mage"]["access_token"]).get("orders").status_code == 200
    expired = started(make(per_day=1, faults={"expired_credentials": ["mage"]}))
    assert Store(expired, token="x").sign_in().status_code == 401


def test_status_is_the_stores_label_and_unmapped_status_is_a_status_of_its_own():
    sim = Simulator(make(per_day=20, anomalies={"unmapped_status": 0.2},
                         options={"status_labels": {"processing": "Ready to Ship"}}))
    pairs = {(r.payload["state"], r.payload["status"]) for r in sim.orders("mage")}
    assert ("processing", "Ready to Ship") in pairs and ("new", "pending_approval") in pairs
    assert ("processing", "processing") not in pairs


def test_source_items_are_validated_whole_and_listing_anomalies_show(started):
    anomalies = {"listing_deleted": 0.15, "listing_not_tracked": 0.15, "listing_not_active": 0.15,
                 "listing_sku_case_mismatch": 0.15, "listing_drift": 0.15}
    sim = started(make(per_day=0, anomalies=anomalies, extra_listings=40))
    store = Store(sim)
    listings = sim.listings("mage")
    products = {p["sku"]: p for p in store.get("products", **criteria(page_size=300)).json()["items"]}
    simples = {sku: p for sku, p in products.items() if p["type_id"] == "simple"}
    assert set(simples) == {l["sku"] for l in listings if not l["deleted"]}
    assert any(p["type_id"] == "configurable" for p in products.values()), "a configurable parent holds no stock"
    for listing in listings:
        if listing["deleted"]:
            continue
        product = simples[listing["sku"]]
        assert product["extension_attributes"]["stock_item"]["manage_stock"] == (listing["anomaly"] != "listing_not_tracked")
        assert product["status"] == (2 if listing["anomaly"] == "listing_not_active" else 1)
        if listing["anomaly"] == "listing_sku_case_mismatch":
            assert listing["sku"] == listing["warehouse_sku"].lower()
    deleted = next(l for l in listings if l["deleted"])
    live = next(l for l in listings if not l["deleted"] and l["anomaly"] is None)
    before = sim.listings("mage")
    refused = store.post("inventory/source-items", {"sourceItems": [
        {"sku": live["sku"], "source_code": "default", "quantity": 7, "status": 1},
        {"sku": deleted["sku"], "source_code": "default", "quantity": 7, "status": 1}]})
    assert refused.status_code == 400
    assert refused.json()["message"] == f'Validation Failed: Product with requested "sku": "{deleted["sku"]}" was was not found.'
    assert refused.json()["errors"] == [{"message": 'Product with requested "%field": "%value" was was not found.',
                                         "parameters": {"field": "sku", "value": deleted["sku"]}}]
    unknown = store.post("inventory/source-items", {"sourceItems": [
        {"sku": live["sku"], "source_code": "jhb", "quantity": 7, "status": 1}]})
    assert (unknown.status_code, unknown.json()) == (400, {"message": "Could not save Source Item"})
    assert sim.listings("mage") == before, "a refused call saves none of its items"
    drift = next(l for l in listings if l["anomaly"] == "listing_drift" and not l["deleted"])
    saved = store.post("inventory/source-items", {"sourceItems": [
        {"sku": live["sku"].lower(), "source_code": "default", "quantity": 7, "status": 1},  # SKUs ignore case
        {"sku": drift["sku"], "source_code": "default", "quantity": 9, "status": 1}]})
    assert (saved.status_code, saved.json()) == (200, [])
    read = {i["sku"]: i["quantity"] for i in store.get("inventory/source-items", **criteria(
        ("source_code", "eq", "default"), page_size=300)).json()["items"]}
    assert read[live["sku"]] == 7 and deleted["sku"] not in read
    assert 9 - 5 <= read[drift["sku"]] < 9, "a person set the drift listing by hand after the first write"
    sources = store.get("inventory/sources").json()
    assert [s["source_code"] for s in sources["items"]] == ["default"] and sources["total_count"] == 1


def test_a_shipment_completes_the_order_and_moves_its_updated_at(started):
    sim = started(make(per_day=6))
    store = Store(sim)
    record = next(r for r in sim.orders("mage") if r.payload["state"] == "processing")
    shipped = store.post(f"order/{record.external_order_id}/ship", {
        "notify": True, "tracks": [{"track_number": "1Y-9876543210", "title": "United Parcel Service", "carrier_code": "ups"}]})
    assert shipped.status_code == 200 and isinstance(shipped.json(), str), "a bare shipment id"
    order = store.get(f"orders/{record.external_order_id}").json()
    assert (order["state"], order["status"]) == ("complete", "complete")
    assert order["updated_at"] > record.payload["updated_at"]
    assert all(i["qty_shipped"] == i["qty_ordered"] for i in order["items"] if not i.get("parent_item_id"))
    since = store.get("orders", **criteria(("updated_at", "gt", record.payload["updated_at"]))).json()["items"]
    assert record.external_order_id in {str(o["entity_id"]) for o in since}, "the next incremental read finds it"
    again = store.post(f"order/{record.external_order_id}/ship", {"tracks": [{"track_number": "2", "carrier_code": "ups"}]})
    assert again.json()["message"] == ("Shipment Document Validation Error(s):\n"
                                       "The order does not allow a shipment to be created.")
    assert date.fromisoformat(order["updated_at"][:10]) == datetime.now(timezone.utc).date()
