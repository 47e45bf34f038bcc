"""The simulated Amazon, eBay and BigCommerce listings with their stock: read and written through the real APIs'
shapes, anomalies, limits. Counts come from the platform's ListingStore, never from the answers alone."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from sync_pipeline.simulator import Simulator
from sync_pipeline.simulator.scenario import Scenario
from sync_pipeline_tests.conftest import TODAY

PAYLOADS = Path(__file__).resolve().parent.parent / "fixtures" / "payloads"
ANOMALY_SHARES = {
    "listing_sku_case_mismatch": 0.12, "listing_deleted": 0.12, "listing_not_tracked": 0.12,
    "listing_not_active": 0.12, "listing_drift": 0.12,
}
MARKET = "ATVPDKIKX0DER"


# These tests read and write listings back to back: Amazon's Listings bucket (burst 5) would answer some with 429 on a
# loaded machine. The test of that bucket passes the real limits.
GENEROUS = {"amazon_listings": {"burst": 1000}}


def make(extra: int = 0, anomalies: dict | None = None, seed: int = 7, speed: float = 200.0,
         rate_limits: dict | None = None) -> Simulator:
    return Simulator(Scenario.from_dict({
        "rate_limits": GENEROUS if rate_limits is None else rate_limits,
        "seed": seed, "start_date": TODAY.isoformat(), "days": 1, "speed": speed,
        "channels": [{"name": n, "type": t, "orders_per_day": 2, "extra_listings": extra}
                     for n, t in (("az", "amazon"), ("eb", "ebay"), ("bc", "bigcommerce"))],
        "anomalies": anomalies or {},
    }))


@pytest.fixture
def sim():
    simulator = make().start()
    yield simulator
    simulator.stop()


@pytest.fixture
def odd():
    """Every listing anomaly present (40 extra listings per channel)."""
    simulator = make(extra=40, anomalies=ANOMALY_SHARES).start()
    yield simulator
    simulator.stop()


class Client:
    def __init__(self, sim: Simulator):
        self.sim = sim
        self.session = requests.Session()
        self._az = self._eb = None

    # Amazon
    def az(self, method: str, path: str = "", body=None, raw: bytes | None = None, **params) -> requests.Response:
        if self._az is None:
            keys = self.sim.credentials["az"]
            self._az = self.session.post(f"{self.sim.url}/az/auth/o2/token", data={"grant_type": "refresh_token", **keys},
                                         timeout=10).json()["access_token"]
        seller = self.sim._platform("az").seller_id
        params.setdefault("marketplaceIds", MARKET)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.session.request(method, f"{self.sim.url}/az/listings/2021-08-01/items/{seller}{path}", params=params,
                                    data=data, headers={"x-amz-access-token": self._az}, timeout=10)

    def az_patch(self, sku: str, quantity, code: str = "DEFAULT") -> requests.Response:
        return self.az("PATCH", f"/{sku}", {"productType": "PRODUCT", "patches": [{
            "op": "replace", "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": code, "quantity": quantity}]}]})

    def az_all(self, page_size: int = 20) -> list[dict]:
        items, token = [], None
        while True:
            params = {"pageSize": page_size, "includedData": "summaries,fulfillmentAvailability"}
            if token:
                params["pageToken"] = token
            body = self.az("GET", **params).json()
            items += body["items"]
            token = body.get("pagination", {}).get("nextToken")
            if not token:
                return items

    # eBay
    def eb(self, method: str, path: str, body=None, **params) -> requests.Response:
        if self._eb is None:
            keys = self.sim.credentials["eb"]
            self._eb = self.session.post(f"{self.sim.url}/eb/identity/v1/oauth2/token",
                                         auth=(keys["client_id"], keys["client_secret"]),
                                         data={"grant_type": "refresh_token", "refresh_token": keys["refresh_token"]},
                                         timeout=10).json()["access_token"]
        url = path if path.startswith("http") else f"{self.sim.url}/eb/sell/inventory/v1/{path}"
        return self.session.request(method, url, params=params, json=body,
                                    headers={"Authorization": f"Bearer {self._eb}"}, timeout=10)

    def eb_all(self, limit: int = 5) -> list[dict]:
        items, url = [], "inventory_item"
        response = self.eb("GET", url, limit=limit)
        while True:
            body = response.json()
            items += body["inventoryItems"]
            if "next" not in body:
                return items
            response = self.eb("GET", body["next"])

    # BigCommerce
    def bc(self, method: str, path: str, body=None, **params) -> requests.Response:
        store = self.sim._platform("bc").store_hash
        return self.session.request(method, f"{self.sim.url}/bc/stores/{store}/v3/{path}", params=params, json=body,
                                    headers={"X-Auth-Token": self.sim.credentials["bc"]["access_token"]}, timeout=10)

    def bc_all(self, limit: int = 5) -> list[dict]:
        products, page = [], 1
        while True:
            body = self.bc("GET", "catalog/products", include="variants", page=page, limit=limit).json()
            products += body["data"]
            if page >= body["meta"]["pagination"]["total_pages"]:
                return products
            page += 1

    def bc_set(self, *items: dict) -> requests.Response:
        return self.bc("PUT", "inventory/adjustments/absolute", {"reason": "sync", "items": list(items)})


def live(sim: Simulator, channel: str) -> list[dict]:
    return [l for l in sim._platform(channel).listings.all() if not l["deleted"]]


def api_history(sim: Simulator, channel: str) -> list[dict]:
    return [h for h in sim._platform(channel).listings.history() if h["source"] != "initial"]


def by(sim: Simulator, channel: str, anomaly: str | None) -> list[dict]:
    found = [l for l in sim._platform(channel).listings.all() if l["anomaly"] == anomaly]
    assert found, f"no {anomaly} listing on {channel}"
    return found


# --- construction ------------------------------------------------------------------------------------------

def test_one_listing_per_listed_product_with_stock_0_to_50_the_same_for_the_same_seed():
    first, again, other = make(extra=5, anomalies=ANOMALY_SHARES), make(extra=5, anomalies=ANOMALY_SHARES), \
        make(extra=5, anomalies=ANOMALY_SHARES, seed=8)
    for channel in ("az", "eb", "bc"):
        listings = first._platform(channel).listings.all()
        assert len(listings) == 17 and all(0 <= l["quantity"] <= 50 for l in listings)
        assert listings == again._platform(channel).listings.all()
        assert [(l["quantity"], l["anomaly"]) for l in listings] != \
            [(l["quantity"], l["anomaly"]) for l in other._platform(channel).listings.all()]
        assert {h["source"] for h in first._platform(channel).listings.history()} == {"initial"}
    assert [l["quantity"] for l in first._platform("az").listings.all()] != \
        [l["quantity"] for l in first._platform("eb").listings.all()]  # seeded per channel


def test_extra_listings_300_gives_312_listings_read_in_full_on_every_platform():
    sim = make(extra=300).start()
    try:
        client = Client(sim)
        az = client.az_all()
        assert len(az) == 312 == len(sim._platform("az").listings.all())
        assert {i["sku"]: i["fulfillmentAvailability"][0]["quantity"] for i in az} == \
            {l["sku"]: l["quantity"] for l in live(sim, "az")}
        eb = client.eb_all(limit=200)
        assert len(eb) == 312 and {i["sku"] for i in eb} == {l["sku"] for l in live(sim, "eb")}
        bc = client.bc_all(limit=250)
        assert len(bc) == 312 and {p["variants"][0]["sku"]: p["inventory_level"] for p in bc} == \
            {l["sku"]: l["quantity"] for l in live(sim, "bc")}
    finally:
        sim.stop()


# --- Amazon ------------------------------------------------------------------------------------------------

def test_amazon_search_pages_through_every_listing_and_get_reads_one(sim):
    client = Client(sim)
    for size in (5, 6, 12, 20):  # a partial last page, exact multiples, one page
        items = client.az_all(page_size=size)
        assert [i["sku"] for i in items] == sorted(l["sku"] for l in live(sim, "az"))
    first = client.az("GET", pageSize=6).json()
    assert first["numberOfResults"] == 12 and "previousToken" not in first["pagination"]
    last = client.az("GET", pageSize=6, pageToken=first["pagination"]["nextToken"]).json()
    assert "nextToken" not in last["pagination"] and last["pagination"]["previousToken"]
    listing = live(sim, "az")[0]
    one = client.az("GET", f"/{listing['sku']}", includedData="summaries,fulfillmentAvailability").json()
    assert one["fulfillmentAvailability"] == [{"fulfillmentChannelCode": "DEFAULT", "quantity": listing["quantity"]}]
    assert one["summaries"][0]["status"] == ["BUYABLE", "DISCOVERABLE"] and one["summaries"][0]["asin"] == listing["asin"]
    assert "fulfillmentAvailability" not in client.az("GET", f"/{listing['sku']}").json()  # summaries by default
    assert client.az("GET", "/NO-SUCH-SKU").status_code == 404
    assert client.az("GET", pageSize=21).status_code == 400
    assert client.az("GET", marketplaceIds="A1F83G8C2ARO7P").status_code == 400
    assert client.az("GET", pageToken="junk").status_code == 400


def test_amazon_patch_sets_exactly_that_listing(sim):
    client = Client(sim)
    target, other = live(sim, "az")[:2]
    response = client.az_patch(target["sku"], 33)
    assert response.status_code == 200
    body = response.json()
    assert body["sku"] == target["sku"] and body["status"] == "ACCEPTED" and body["issues"] == [] and body["submissionId"]
    assert api_history(sim, "az") == [{**api_history(sim, "az")[0], "listing_id": target["listing_id"], "quantity": 33,
                                       "source": "api"}]
    assert sim._platform("az").listings.get(other["listing_id"]) == other
    again = client.az("GET", f"/{target['sku']}", includedData="fulfillmentAvailability").json()
    assert again["fulfillmentAvailability"][0]["quantity"] == 33
    preview = client.az("PATCH", f"/{target['sku']}", {"productType": "PRODUCT", "patches": [{
        "op": "replace", "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}]}]}, mode="VALIDATION_PREVIEW")
    assert preview.json()["status"] == "VALID" and len(api_history(sim, "az")) == 1
    assert [r["path"].endswith(target["sku"]) for r in sim.requests if r["method"] == "PATCH"] == [True, True]


def test_amazon_bad_bodies_are_refused_and_store_nothing(sim):
    client = Client(sim)
    sku = live(sim, "az")[0]["sku"]
    assert client.az("PATCH", f"/{sku}", raw=b"{not json").status_code == 400
    assert client.az("PATCH", f"/{sku}", {"patches": []}).json()["errors"][0]["code"] == "InvalidInput"
    assert client.az("PATCH", f"/{sku}", {"productType": "PRODUCT"}).status_code == 400
    for quantity, code in ((-1, "DEFAULT"), ("7", "DEFAULT"), (True, "DEFAULT"), (3, "AMAZON_NA")):
        response = client.az_patch(sku, quantity, code)
        assert response.status_code == 200 and response.json()["status"] == "INVALID"
        assert response.json()["issues"][0]["severity"] == "ERROR"
    assert client.az_patch("NO-SUCH-SKU", 3).status_code == 404
    assert api_history(sim, "az") == []


def test_amazon_anomalies(odd):
    client = Client(odd)
    items = {i["sku"]: i for i in client.az_all()}
    assert len(items) == len(live(odd, "az"))
    for listing in by(odd, "az", "listing_sku_case_mismatch"):
        assert listing["sku"] == listing["warehouse_sku"].lower() and listing["sku"] in items
        assert client.az("GET", f"/{listing['warehouse_sku']}").status_code == 404
        assert client.az_patch(listing["warehouse_sku"], 1).status_code == 404
    for listing in by(odd, "az", "listing_deleted"):
        assert listing["sku"] not in items
        assert client.az("GET", f"/{listing['sku']}").status_code == 404
        assert client.az_patch(listing["sku"], 1).status_code == 404
    for listing in by(odd, "az", "listing_not_tracked"):
        assert items[listing["sku"]]["fulfillmentAvailability"][0]["fulfillmentChannelCode"] == "AMAZON_NA"
        refused = client.az_patch(listing["sku"], 1).json()
        assert refused["status"] == "INVALID" and "fulfilled by Amazon" in refused["issues"][0]["message"]
    for listing in by(odd, "az", "listing_not_active"):
        assert items[listing["sku"]]["summaries"][0]["status"] == []
        assert client.az_patch(listing["sku"], 4).json()["status"] == "ACCEPTED"
    assert all(items[l["sku"]]["summaries"][0]["status"] == ["BUYABLE", "DISCOVERABLE"] for l in by(odd, "az", None))
    assert {h["listing_id"] for h in api_history(odd, "az")} == {l["listing_id"] for l in by(odd, "az", "listing_not_active")}
    drifting = by(odd, "az", "listing_drift")[0]
    assert client.az_patch(drifting["sku"], 3).json()["status"] == "ACCEPTED"
    read = [client.az("GET", f"/{drifting['sku']}", includedData="fulfillmentAvailability").json()
            ["fulfillmentAvailability"][0]["quantity"] for _ in range(2)]
    mine = [h for h in odd._platform("az").listings.history() if h["listing_id"] == drifting["listing_id"]]
    assert [h["source"] for h in mine] == ["initial", "api", "hand"]
    assert 0 <= mine[2]["quantity"] < 3 and read == [mine[2]["quantity"]] * 2


def test_amazon_listings_bucket_is_5_per_second_burst_5():
    sim = make(speed=1.0, rate_limits={}).start()
    try:
        client = Client(sim)
        sku = live(sim, "az")[0]["sku"]
        responses = [client.az("GET", f"/{sku}") for _ in range(8)]
        assert [r.status_code for r in responses[:5]] == [200] * 5
        limited = next(r for r in responses[5:] if r.status_code == 429)
        assert float(limited.headers["x-amzn-RateLimit-Limit"]) == 5.0
        assert limited.json()["errors"][0]["code"] == "QuotaExceeded"
        time.sleep(1.05)
        assert [client.az("GET", f"/{sku}").status_code for _ in range(5)] == [200] * 5
    finally:
        sim.stop()


# --- eBay --------------------------------------------------------------------------------------------------

def test_ebay_inventory_items_and_offers_read_every_listing(sim):
    client = Client(sim)
    for limit in (5, 6, 12, 200):
        items = client.eb_all(limit=limit)
        assert [i["sku"] for i in items] == sorted(l["sku"] for l in live(sim, "eb"))
        assert all(i["availability"]["shipToLocationAvailability"]["quantity"] ==
                   sim._platform("eb").listings.get(i["sku"])["quantity"] for i in items)
    page = client.eb("GET", "inventory_item", limit=6, offset=6).json()
    assert page["total"] == 12 and page["size"] == 6 and "next" not in page and "prev" in page
    listing = live(sim, "eb")[0]
    offers = client.eb("GET", "offer", sku=listing["sku"]).json()["offers"]
    assert [(o["offerId"], o["status"], o["availableQuantity"]) for o in offers] == \
        [(listing["offer_id"], "PUBLISHED", listing["quantity"])]
    assert client.eb("GET", "offer", sku="NO-SUCH-SKU").json()["errors"][0]["errorId"] == 25702
    assert client.eb("GET", "offer").status_code == 400
    assert client.eb("GET", "inventory_item", limit=201).status_code == 400


def test_ebay_bulk_update_sets_exactly_those_listings(sim):
    client = Client(sim)
    first, second, untouched = live(sim, "eb")[:3]
    response = client.eb("POST", "bulk_update_price_quantity", {"requests": [
        {"sku": first["sku"], "shipToLocationAvailability": {"quantity": 9},
         "offers": [{"offerId": first["offer_id"], "availableQuantity": 9}]},
        {"sku": second["sku"], "shipToLocationAvailability": {"quantity": 0}},
    ]})
    assert response.status_code == 200
    assert response.json() == {"responses": [
        {"statusCode": 200, "sku": first["sku"], "offerId": first["offer_id"]}, {"statusCode": 200, "sku": second["sku"]},
    ]}
    assert [(h["listing_id"], h["quantity"], h["source"]) for h in api_history(sim, "eb")] == \
        [(first["listing_id"], 9, "api"), (second["listing_id"], 0, "api")]
    assert sim._platform("eb").listings.get(untouched["listing_id"]) == untouched
    mixed = client.eb("POST", "bulk_update_price_quantity", {"requests": [
        {"sku": first["sku"], "offers": [{"offerId": "999", "availableQuantity": 1}]},
        {"sku": "NO-SUCH-SKU", "shipToLocationAvailability": {"quantity": 1}},
        {"sku": second["sku"], "shipToLocationAvailability": {"quantity": -2}},
        {"sku": second["sku"]},
        {"sku": untouched["sku"], "shipToLocationAvailability": {"quantity": 4}},
    ]})
    assert mixed.status_code == 207
    codes = [(r["statusCode"], r.get("errors", [{}])[0].get("errorId")) for r in mixed.json()["responses"]]
    assert codes == [(400, 25901), (404, 25702), (400, 25900), (400, 25900), (200, None)]
    assert [(h["listing_id"], h["quantity"]) for h in api_history(sim, "eb")][2:] == [(untouched["listing_id"], 4)]


def test_ebay_refuses_26_requests_and_the_251st_revision_in_a_day(sim):
    client = Client(sim)
    listing, other = live(sim, "eb")[:2]
    item = {"sku": listing["sku"], "shipToLocationAvailability": {"quantity": 5}}
    too_many = client.eb("POST", "bulk_update_price_quantity", {"requests": [item] * 26})
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["errorId"] == 2004
    assert api_history(sim, "eb") == []
    for _ in range(10):
        assert client.eb("POST", "bulk_update_price_quantity", {"requests": [item] * 25}).status_code == 200
    assert len(api_history(sim, "eb")) == 250
    over = client.eb("POST", "bulk_update_price_quantity", {"requests": [
        {"sku": listing["sku"], "shipToLocationAvailability": {"quantity": 6}},
        {"sku": other["sku"], "shipToLocationAvailability": {"quantity": 6}},
    ]})
    assert over.status_code == 207
    assert [(r["statusCode"], r.get("errors", [{}])[0].get("errorId")) for r in over.json()["responses"]] == \
        [(400, 25902), (200, None)]
    assert len(api_history(sim, "eb")) == 251 and api_history(sim, "eb")[-1]["listing_id"] == other["listing_id"]
    assert sim._platform("eb").listings.get(listing["listing_id"])["quantity"] == 5
    for body in (None, {}, {"requests": []}, {"requests": "x"}):
        assert client.eb("POST", "bulk_update_price_quantity", body).status_code == 400


def test_ebay_anomalies(odd):
    client = Client(odd)
    skus = {i["sku"] for i in client.eb_all()}
    platform = odd._platform("eb")
    assert skus == {l["sku"] for l in platform.listings.all() if not l["deleted"] and l["tracked"]}

    def write(sku: str, quantity: int = 2) -> dict:
        return client.eb("POST", "bulk_update_price_quantity", {"requests": [
            {"sku": sku, "shipToLocationAvailability": {"quantity": quantity}}]}).json()["responses"][0]

    for listing in by(odd, "eb", "listing_sku_case_mismatch"):
        assert listing["sku"] == listing["warehouse_sku"].lower() and listing["sku"] in skus
        assert write(listing["warehouse_sku"])["errors"][0]["errorId"] == 25702
    for anomaly in ("listing_deleted", "listing_not_tracked"):
        for listing in by(odd, "eb", anomaly):
            assert listing["sku"] not in skus
            assert client.eb("GET", "offer", sku=listing["sku"]).status_code == 404
            assert client.eb("GET", f"inventory_item/{listing['sku']}").status_code == 404
            assert write(listing["sku"])["errors"][0]["errorId"] == 25702
    for listing in by(odd, "eb", "listing_not_active"):
        offer = client.eb("GET", "offer", sku=listing["sku"]).json()["offers"][0]
        assert offer["status"] == "UNPUBLISHED" and "listing" not in offer
        assert write(listing["sku"])["statusCode"] == 200
    assert {h["listing_id"] for h in api_history(odd, "eb")} == {l["listing_id"] for l in by(odd, "eb", "listing_not_active")}
    drifting = by(odd, "eb", "listing_drift")[0]
    assert write(drifting["sku"], 4)["statusCode"] == 200
    read = [client.eb("GET", f"inventory_item/{drifting['sku']}").json()["availability"]["shipToLocationAvailability"]
            ["quantity"] for _ in range(2)]
    mine = [h for h in platform.listings.history() if h["listing_id"] == drifting["listing_id"]]
    assert [h["source"] for h in mine] == ["initial", "api", "hand"] and 0 <= mine[2]["quantity"] < 4
    assert read == [mine[2]["quantity"]] * 2


# --- BigCommerce -------------------------------------------------------------------------------------------

def test_bigcommerce_products_page_through_every_listing(sim):
    client = Client(sim)
    for limit in (5, 6, 12, 250):
        products = client.bc_all(limit=limit)
        assert [p["id"] for p in products] == sorted(l["product_id"] for l in live(sim, "bc"))
    page = client.bc("GET", "catalog/products", include="variants", page=2, limit=5).json()
    assert page["meta"]["pagination"] == {"total": 12, "count": 5, "per_page": 5, "current_page": 2, "total_pages": 3,
                                          "links": {"current": "?page=2&limit=5", "previous": "?page=1&limit=5",
                                                    "next": "?page=3&limit=5"}}
    assert client.bc("GET", "catalog/products", page=4, limit=5).json()["data"] == []
    assert "variants" not in client.bc("GET", "catalog/products").json()["data"][0]
    assert client.bc("GET", "catalog/products", limit=251).status_code == 422
    for product in client.bc_all():
        listing = sim._platform("bc").listings.get(str(product["id"]))
        assert product["inventory_tracking"] == listing["inventory_tracking"] in ("product", "variant")
        assert product["inventory_level"] == product["variants"][0]["inventory_level"] == listing["quantity"]
        assert product["variants"][0]["sku"] == listing["sku"]
        assert product["sku"] == ("" if listing["inventory_tracking"] == "variant" else listing["sku"])
        assert product["is_visible"] is True


def test_bigcommerce_absolute_adjustment_sets_exactly_those_items(sim):
    client = Client(sim)
    listings = live(sim, "bc")
    by_product = [l for l in listings if l["inventory_tracking"] == "product"]
    by_variant = [l for l in listings if l["inventory_tracking"] == "variant"]
    assert by_product and by_variant
    response = client.bc_set(
        {"location_id": 1, "product_id": by_product[0]["product_id"], "quantity": 7},
        {"location_id": 1, "variant_id": by_variant[0]["variant_id"], "quantity": 8},
        {"location_id": 1, "sku": by_product[-1]["sku"], "quantity": 0},
    )
    assert response.status_code == 200 and set(response.json()) == {"transaction_id"}
    assert [(h["listing_id"], h["quantity"], h["source"]) for h in api_history(sim, "bc")] == [
        (by_product[0]["listing_id"], 7, "api"), (by_variant[0]["listing_id"], 8, "api"),
        (by_product[-1]["listing_id"], 0, "api")]
    changed = {h["listing_id"] for h in api_history(sim, "bc")}
    assert all(sim._platform("bc").listings.get(l["listing_id"]) == l for l in listings if l["listing_id"] not in changed)


def test_bigcommerce_refuses_the_whole_call_for_one_bad_item(sim):
    client = Client(sim)
    listings = live(sim, "bc")
    product = next(l for l in listings if l["inventory_tracking"] == "product")
    variant = next(l for l in listings if l["inventory_tracking"] == "variant")
    good = {"location_id": 1, "sku": product["sku"], "quantity": 3}
    wrong_level = client.bc_set(good, {"location_id": 1, "variant_id": product["variant_id"], "quantity": 1})
    assert wrong_level.status_code == 422 and "application/problem+json" in wrong_level.headers["Content-Type"]
    assert wrong_level.json()["title"] == (f"[Item with variant_id {product['variant_id']} is tracked by product, please "
                                           "update stock by product id]")
    assert set(wrong_level.json()) == set(json.loads((PAYLOADS / "bigcommerce_inventory_absolute_adjustment.json")
                                                     .read_text())["response_422_example"])
    several = client.bc_set(good, {"location_id": 1, "product_id": variant["product_id"], "quantity": 1},
                            {"location_id": 1, "sku": "NO-SUCH-SKU", "quantity": 1})
    assert several.status_code == 422 and "tracked by variant" in several.json()["title"] and "NO-SUCH-SKU" in several.json()["title"]
    for item in ({"location_id": 2, "sku": product["sku"], "quantity": 1}, {"sku": product["sku"], "quantity": 1},
                 {"location_id": 1, "sku": product["sku"], "quantity": -1},
                 {"location_id": 1, "sku": product["sku"], "product_id": product["product_id"], "quantity": 1}):
        assert client.bc_set(good, item).status_code == 422
    for body in ({}, {"items": []}, {"reason": 5, "items": [good]}):
        assert client.bc("PUT", "inventory/adjustments/absolute", body).status_code == 422
    assert api_history(sim, "bc") == []


def test_bigcommerce_anomalies(odd):
    client = Client(odd)
    products = {p["id"]: p for p in client.bc_all(limit=50)}
    platform = odd._platform("bc")
    assert set(products) == {l["product_id"] for l in live(odd, "bc")}

    def write(**item) -> requests.Response:
        return client.bc_set({"location_id": 1, "quantity": 2, **item})

    for listing in by(odd, "bc", "listing_sku_case_mismatch"):
        assert products[listing["product_id"]]["variants"][0]["sku"] == listing["warehouse_sku"].lower()
        assert "does not exist" in write(sku=listing["warehouse_sku"]).json()["title"]
    for listing in by(odd, "bc", "listing_deleted"):
        assert listing["product_id"] not in products
        assert write(sku=listing["sku"]).status_code == 422
        assert write(product_id=listing["product_id"]).status_code == 422
    for listing in by(odd, "bc", "listing_not_tracked"):
        assert products[listing["product_id"]]["inventory_tracking"] == "none"
        assert "not tracked" in write(sku=listing["sku"]).json()["title"]
    for listing in by(odd, "bc", "listing_not_active"):
        product = products[listing["product_id"]]
        assert product["is_visible"] is False and product["availability"] == "disabled"
        assert write(sku=listing["sku"]).status_code == 200
    assert all(products[l["product_id"]]["is_visible"] for l in by(odd, "bc", None))
    assert {h["listing_id"] for h in api_history(odd, "bc")} == {l["listing_id"] for l in by(odd, "bc", "listing_not_active")}
    drifting = by(odd, "bc", "listing_drift")[0]
    assert write(sku=drifting["sku"], quantity=5).status_code == 200
    levels = [{p["id"]: p["inventory_level"] for p in client.bc_all(limit=250)}[drifting["product_id"]] for _ in range(2)]
    mine = [h for h in platform.listings.history() if h["listing_id"] == drifting["listing_id"]]
    assert [h["source"] for h in mine] == ["initial", "api", "hand"] and 0 <= mine[2]["quantity"] < 5
    assert levels == [mine[2]["quantity"]] * 2
