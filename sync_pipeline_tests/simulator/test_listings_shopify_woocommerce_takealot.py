"""Product listings with stock on the simulated Shopify, WooCommerce and Takealot, read and written over their real
APIs: counted from each platform's `listings` store and the request log, never from what the API answers alone."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from sync_pipeline.simulator import Simulator
from sync_pipeline.simulator.platforms.shopify import LOCATION_ID, OTHER_LOCATION_ID
from sync_pipeline.simulator.platforms.takealot import MERCHANT_WAREHOUSE
from sync_pipeline.simulator.scenario import Scenario
from sync_pipeline_tests.conftest import TODAY

ANOMALIES = {name: 0.12 for name in ("listing_sku_case_mismatch", "listing_deleted", "listing_not_tracked",
                                     "listing_not_active", "listing_drift")}
V = "admin/api/2025-10"


def make(extra: int = 28, seed: int = 7, anomalies: dict | None = None) -> Scenario:
    return Scenario.from_dict({
        "seed": seed, "start_date": TODAY.isoformat(), "days": 1, "speed": 200.0,
        "channels": [{"name": n, "type": t, "orders_per_day": 1, "extra_listings": extra}
                     for n, t in (("sh", "shopify"), ("woo", "woocommerce"), ("tkl", "takealot"))],
        "anomalies": ANOMALIES if anomalies is None else anomalies,
        # These tests read and write listings back to back: Takealot's burst of 10 would answer some with 429.
        "rate_limits": {"takealot": {"burst": 1000}},
    })


@pytest.fixture
def sim():
    simulator = Simulator(make()).start()
    yield simulator
    simulator.stop()


def shop(sim, method: str, path: str, body=None, raw: bytes | None = None, **params) -> requests.Response:
    headers = {"X-Shopify-Access-Token": sim.credentials["sh"]["access_token"], "Content-Type": "application/json"}
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return requests.request(method, f"{sim.url}/sh/{V}/{path}", params=params, data=data, headers=headers, timeout=10)


def woo(sim, method: str, path: str, body=None, raw: bytes | None = None, **params) -> requests.Response:
    keys = sim.credentials["woo"]
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return requests.request(method, f"{sim.url}/woo/wp-json/wc/v3/{path}", params=params, data=data,
                            auth=(keys["consumer_key"], keys["consumer_secret"]), timeout=10)


def tkl(sim, method: str, path: str, body=None, raw: bytes | None = None, **params) -> requests.Response:
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return requests.request(method, f"{sim.url}/tkl/v2/{path}", params=params, data=data,
                            headers={"Authorization": f"Key {sim.credentials['tkl']['api_key']}"}, timeout=10)


def store(sim, channel: str):
    return sim._platform(channel).listings


def live(sim, channel: str) -> list[dict]:
    return [l for l in store(sim, channel).all() if not l["deleted"]]


def one(sim, channel: str, anomaly: str | None) -> dict:
    found = [l for l in store(sim, channel).all() if l["anomaly"] == anomaly]
    assert found, f"seed 7 gives {channel} no {anomaly} listing"
    return found[0]


def history_of(sim, channel: str, listing_id: str) -> list[tuple[int, str]]:
    return [(h["quantity"], h["source"]) for h in store(sim, channel).history() if h["listing_id"] == listing_id]


def shopify_all(sim, limit: int) -> tuple[list[dict], int]:
    """Every product over the Link pages, and how many pages it took."""
    response = shop(sim, "GET", "products.json", limit=limit)
    products, pages = [], 0
    while True:
        assert response.status_code == 200, response.text
        pages += 1
        products += response.json()["products"]
        nxt = response.links.get("next")
        if not nxt:
            return products, pages
        response = requests.get(nxt["url"], headers={"X-Shopify-Access-Token": sim.credentials["sh"]["access_token"]},
                                timeout=10)


def woo_all(sim, per_page: int) -> tuple[list[dict], list[requests.Response]]:
    first = woo(sim, "GET", "products", per_page=per_page, page=1)
    responses = [first] + [woo(sim, "GET", "products", per_page=per_page, page=p)
                           for p in range(2, int(first.headers["X-WP-TotalPages"]) + 1)]
    assert all(r.status_code == 200 for r in responses)
    return [p for r in responses for p in r.json()], responses


def takealot_all(sim, size: int) -> tuple[list[dict], int]:
    first = tkl(sim, "GET", "offers", page_size=size).json()
    offers, number = list(first["offers"]), 1
    while len(offers) < first["total_results"]:
        number += 1
        offers += tkl(sim, "GET", "offers", page_size=size, page_number=number).json()["offers"]
    return offers, number


# --- construction ---------------------------------------------------------------------------------------

def test_same_seed_same_listings_and_anomalies_and_every_anomaly_drawn():
    def snapshot(scenario):
        sim = Simulator(scenario)
        return {c: [(l["listing_id"], l["sku"], l["quantity"], l["anomaly"]) for l in sim._platform(c).listings.all()]
                for c in ("sh", "woo", "tkl")}
    first, again, other = snapshot(make()), snapshot(make()), snapshot(make(seed=8))
    assert first == again and first != other
    for channel, rows in first.items():
        assert len(rows) == 12 + 28
        assert all(0 <= q <= 50 for _, _, q, _ in rows)
        assert {a for *_, a in rows} == {None, *ANOMALIES}, channel
    plain = snapshot(make(anomalies={}))
    assert all(a is None for rows in plain.values() for *_, a in rows)


# --- Shopify --------------------------------------------------------------------------------------------

def test_shopify_products_pages_carry_every_live_listing(sim):
    products, pages = shopify_all(sim, limit=7)
    expected = live(sim, "sh")
    assert pages == -(-len(expected) // 7)
    variants = [p["variants"][0] | {"status": p["status"]} for p in products]
    assert [v["inventory_item_id"] for v in variants] == sorted(l["inventory_item_id"] for l in expected)
    by_item = {l["inventory_item_id"]: l for l in expected}
    for v in variants:
        listing = by_item[v["inventory_item_id"]]
        assert (v["sku"], v["inventory_quantity"], v["id"]) == (listing["sku"], listing["quantity"], listing["variant_id"])
        assert v["inventory_management"] == ("shopify" if listing["tracked"] else None)
    # a previous link leads back; page_info refuses other filters; limit is bounded
    second = requests.get(shop(sim, "GET", "products.json", limit=7).links["next"]["url"],
                          headers={"X-Shopify-Access-Token": sim.credentials["sh"]["access_token"]}, timeout=10)
    back = requests.get(second.links["previous"]["url"],
                        headers={"X-Shopify-Access-Token": sim.credentials["sh"]["access_token"]}, timeout=10)
    assert [p["id"] for p in back.json()["products"]] == [p["id"] for p in products[:7]]
    token = parse_qs(urlparse(second.links["previous"]["url"]).query)["page_info"][0]
    assert shop(sim, "GET", "products.json", page_info=token, status="active").status_code == 400
    assert shop(sim, "GET", "products.json", limit=251).status_code == 400
    assert "X-Shopify-Shop-Api-Call-Limit" in second.headers
    active = shop(sim, "GET", "products.json", status="active", limit=250).json()["products"]
    assert {p["status"] for p in active} == {"active"} and len(active) == sum(l["active"] for l in expected)


def test_shopify_locations_and_levels(sim):
    locations = shop(sim, "GET", "locations.json").json()["locations"]
    assert [l["id"] for l in locations] == [LOCATION_ID, OTHER_LOCATION_ID]
    listings = live(sim, "sh")[:3]
    ids = ",".join(str(l["inventory_item_id"]) for l in listings)
    levels = shop(sim, "GET", "inventory_levels.json", inventory_item_ids=ids, location_ids=str(LOCATION_ID)).json()
    assert [(x["inventory_item_id"], x["location_id"], x["available"]) for x in levels["inventory_levels"]] == [
        (l["inventory_item_id"], LOCATION_ID, l["quantity"] if l["tracked"] else None) for l in listings]
    other = shop(sim, "GET", "inventory_levels.json", inventory_item_ids=ids, location_ids=str(OTHER_LOCATION_ID))
    assert other.json()["inventory_levels"] == []
    too_many = ",".join(str(i) for i in range(1, 52))
    assert shop(sim, "GET", "inventory_levels.json", inventory_item_ids=too_many).status_code == 422
    assert shop(sim, "GET", "inventory_levels.json").status_code == 422


def test_shopify_set_writes_exactly_that_listing(sim):
    target = one(sim, "sh", None)
    before = {l["listing_id"]: l["quantity"] for l in store(sim, "sh").all()}
    body = {"location_id": LOCATION_ID, "inventory_item_id": target["inventory_item_id"], "available": 37}
    response = shop(sim, "POST", "inventory_levels/set.json", body)
    assert response.status_code == 200
    level = response.json()["inventory_level"]
    assert set(level) == {"inventory_item_id", "location_id", "available", "updated_at", "admin_graphql_api_id"}
    assert (level["inventory_item_id"], level["location_id"], level["available"]) == (target["inventory_item_id"], LOCATION_ID, 37)
    after = {l["listing_id"]: l["quantity"] for l in store(sim, "sh").all()}
    assert {k for k in after if after[k] != before[k]} <= {target["listing_id"]} and after[target["listing_id"]] == 37
    assert history_of(sim, "sh", target["listing_id"]) == [(target["quantity"], "initial"), (37, "api")]
    assert sum(1 for h in store(sim, "sh").history() if h["source"] != "initial") == 1
    assert [(r["method"], r["status"]) for r in sim.requests if r["path"].endswith("set.json")] == [("POST", 200)]


def test_shopify_listing_anomalies(sim):
    def set_level(listing, available=20):
        return shop(sim, "POST", "inventory_levels/set.json", {
            "location_id": LOCATION_ID, "inventory_item_id": listing["inventory_item_id"], "available": available})

    products = {p["variants"][0]["inventory_item_id"]: p for p in shopify_all(sim, 250)[0]}
    case = one(sim, "sh", "listing_sku_case_mismatch")
    assert products[case["inventory_item_id"]]["variants"][0]["sku"] == case["warehouse_sku"].lower() != case["warehouse_sku"]
    deleted = one(sim, "sh", "listing_deleted")
    assert deleted["inventory_item_id"] not in products
    assert set_level(deleted).status_code == 404
    levels = shop(sim, "GET", "inventory_levels.json", inventory_item_ids=str(deleted["inventory_item_id"]))
    assert levels.json()["inventory_levels"] == []
    untracked = one(sim, "sh", "listing_not_tracked")
    assert products[untracked["inventory_item_id"]]["variants"][0]["inventory_management"] is None
    refused = set_level(untracked)
    assert refused.status_code == 422 and refused.json() == {"errors": ["Inventory item does not have inventory tracking enabled"]}
    inactive = one(sim, "sh", "listing_not_active")
    assert products[inactive["inventory_item_id"]]["status"] in ("draft", "archived")
    assert set_level(inactive).status_code == 200  # Shopify keeps stock for drafts too
    for listing in (deleted, untracked):
        assert history_of(sim, "sh", listing["listing_id"]) == [(listing["quantity"], "initial")]

    drift = one(sim, "sh", "listing_drift")
    assert set_level(drift).status_code == 200
    assert history_of(sim, "sh", drift["listing_id"])[1:] == [(20, "api")]
    read = shop(sim, "GET", "inventory_levels.json", inventory_item_ids=str(drift["inventory_item_id"])).json()
    hand = history_of(sim, "sh", drift["listing_id"])[2:]
    assert len(hand) == 1 and hand[0][1] == "hand" and 15 <= hand[0][0] <= 19
    assert read["inventory_levels"][0]["available"] == hand[0][0] == store(sim, "sh").get(drift["listing_id"])["quantity"]
    shopify_all(sim, 250)
    assert set_level(drift, 30).status_code == 200
    shopify_all(sim, 250)
    assert [s for _, s in history_of(sim, "sh", drift["listing_id"])] == ["initial", "api", "hand", "api"]


def test_shopify_bad_bodies_refused(sim):
    target = one(sim, "sh", None)
    good = {"location_id": LOCATION_ID, "inventory_item_id": target["inventory_item_id"], "available": 5}
    cases = [
        (None, b"{not json", 400), ([1, 2], None, 400), ({k: v for k, v in good.items() if k != "available"}, None, 400),
        ({**good, "available": "5"}, None, 422), ({**good, "inventory_item_id": "abc"}, None, 422),
        ({**good, "location_id": OTHER_LOCATION_ID}, None, 422), ({**good, "location_id": 1}, None, 404),
        ({**good, "inventory_item_id": 1}, None, 404),
    ]
    for body, raw, status in cases:
        response = shop(sim, "POST", "inventory_levels/set.json", body, raw=raw)
        assert response.status_code == status, (body, raw, response.text)
        assert "errors" in response.json()
    assert all(h["source"] == "initial" for h in store(sim, "sh").history())


# --- WooCommerce ----------------------------------------------------------------------------------------

def test_woocommerce_products_pages_carry_every_live_listing(sim):
    products, responses = woo_all(sim, per_page=9)
    expected = live(sim, "woo")
    assert responses[0].headers["X-WP-Total"] == str(len(expected)) and len(responses) == -(-len(expected) // 9)
    assert 'rel="next"' in responses[0].headers["Link"] and 'rel="next"' not in responses[-1].headers["Link"]
    assert [p["id"] for p in products] == sorted((l["product_id"] for l in expected), reverse=True)
    by_id = {l["product_id"]: l for l in expected}
    for p in products:
        listing = by_id[p["id"]]
        assert (p["sku"], p["type"], p["manage_stock"]) == (listing["sku"], "simple", listing["tracked"])
        assert p["stock_quantity"] == (listing["quantity"] if listing["tracked"] else None)
        assert p["status"] == ("publish" if listing["active"] else "draft")
    assert woo(sim, "GET", "products", page=len(responses) + 1, per_page=9).json() == []
    assert woo(sim, "GET", "products", per_page=101).status_code == 400
    target = one(sim, "woo", None)
    assert [p["id"] for p in woo(sim, "GET", "products", sku=target["sku"]).json()] == [target["product_id"]]


def test_woocommerce_batch_writes_exactly_those_listings(sim):
    plain = [l for l in store(sim, "woo").all() if l["anomaly"] is None][:2]
    before = {l["listing_id"]: l["quantity"] for l in store(sim, "woo").all()}
    response = woo(sim, "POST", "products/batch", {"update": [{"id": plain[0]["product_id"], "stock_quantity": 11},
                                                               {"id": plain[1]["product_id"], "stock_quantity": 0}]})
    assert response.status_code == 200
    assert [(p["id"], p["stock_quantity"], p["stock_status"]) for p in response.json()["update"]] == [
        (plain[0]["product_id"], 11, "instock"), (plain[1]["product_id"], 0, "outofstock")]
    after = {l["listing_id"]: l["quantity"] for l in store(sim, "woo").all()}
    assert {k for k in after if after[k] != before[k]} <= {plain[0]["listing_id"], plain[1]["listing_id"]}
    assert history_of(sim, "woo", plain[0]["listing_id"]) == [(plain[0]["quantity"], "initial"), (11, "api")]
    assert history_of(sim, "woo", plain[1]["listing_id"]) == [(plain[1]["quantity"], "initial"), (0, "api")]


def test_woocommerce_listing_anomalies(sim):
    products = {p["id"]: p for p in woo_all(sim, 100)[0]}
    case = one(sim, "woo", "listing_sku_case_mismatch")
    assert products[case["product_id"]]["sku"] == case["warehouse_sku"].lower()
    # the sku filter ignores case, as MySQL's collation does
    assert [p["id"] for p in woo(sim, "GET", "products", sku=case["warehouse_sku"]).json()] == [case["product_id"]]
    deleted, untracked = one(sim, "woo", "listing_deleted"), one(sim, "woo", "listing_not_tracked")
    inactive, drift = one(sim, "woo", "listing_not_active"), one(sim, "woo", "listing_drift")
    assert deleted["product_id"] not in products
    assert woo(sim, "GET", f"products/{deleted['product_id']}").status_code == 404
    assert products[untracked["product_id"]]["manage_stock"] is False
    assert products[untracked["product_id"]]["stock_quantity"] is None
    assert products[inactive["product_id"]]["status"] == "draft"
    items = woo(sim, "POST", "products/batch", {"update": [
        {"id": deleted["product_id"], "stock_quantity": 9}, {"id": untracked["product_id"], "stock_quantity": 9},
        {"id": inactive["product_id"], "stock_quantity": 9}, {"id": drift["product_id"], "stock_quantity": 20},
    ]}).json()["update"]
    assert items[0] == {"id": deleted["product_id"], "error": {
        "code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}}
    assert "error" not in items[1] and items[1]["manage_stock"] is False and items[1]["stock_quantity"] is None
    assert items[2]["stock_quantity"] == 9 and items[3]["stock_quantity"] == 20
    for listing in (deleted, untracked):
        assert history_of(sim, "woo", listing["listing_id"]) == [(listing["quantity"], "initial")]
    assert history_of(sim, "woo", inactive["listing_id"])[1:] == [(9, "api")]
    read = woo(sim, "GET", f"products/{drift['product_id']}").json()
    hand = history_of(sim, "woo", drift["listing_id"])[1:]
    assert hand[0] == (20, "api") and hand[1][1] == "hand" and 15 <= hand[1][0] <= 19 and len(hand) == 2
    assert read["stock_quantity"] == hand[1][0]
    woo_all(sim, 100)
    assert len(history_of(sim, "woo", drift["listing_id"])) == 3
    # turning stock management on with the same item sets the quantity
    turned = woo(sim, "POST", "products/batch", {"update": [
        {"id": untracked["product_id"], "manage_stock": True, "stock_quantity": 4}]}).json()["update"][0]
    assert (turned["manage_stock"], turned["stock_quantity"]) == (True, 4)
    assert history_of(sim, "woo", untracked["listing_id"])[-1] == (4, "api")


def test_woocommerce_bad_batches_refused(sim):
    target = one(sim, "woo", None)
    assert woo(sim, "POST", "products/batch", raw=b"{nope").status_code == 400
    assert woo(sim, "POST", "products/batch", {"create": [{}]}).status_code == 400
    assert woo(sim, "POST", "products/batch", {"update": []}).status_code == 400
    too_many = woo(sim, "POST", "products/batch", {"update": [{"id": target["product_id"], "stock_quantity": 1}] * 101})
    assert too_many.status_code == 413 and too_many.json()["code"] == "woocommerce_rest_request_entity_too_large"
    items = woo(sim, "POST", "products/batch", {"update": [
        {"id": target["product_id"], "stock_quantity": "lots"}, {"stock_quantity": 3},
        {"id": target["product_id"], "price": "1.00"}, "x",
    ]}).json()["update"]
    assert [i["error"]["code"] for i in items] == [
        "rest_invalid_param", "woocommerce_rest_product_invalid_id", "rest_invalid_param", "woocommerce_rest_product_invalid_id"]
    assert all(h["source"] == "initial" for h in store(sim, "woo").history())


# --- Takealot -------------------------------------------------------------------------------------------

def test_takealot_offers_pages_carry_every_live_listing(sim):
    offers, pages = takealot_all(sim, size=15)
    expected = live(sim, "tkl")
    assert pages == -(-len(expected) // 15)
    assert [o["offer_id"] for o in offers] == sorted(l["offer_id"] for l in expected)
    by_id = {l["offer_id"]: l for l in expected}
    for o in offers:
        listing = by_id[o["offer_id"]]
        assert o["sku"] == listing["sku"]
        if listing["tracked"]:
            assert o["leadtime_stock"] == [{"merchant_warehouse": MERCHANT_WAREHOUSE, "quantity_available": listing["quantity"]}]
    first = tkl(sim, "GET", "offers", page_size=15)
    assert set(first.json()) == {"total_results", "page_size", "page_number", "offers"}
    assert "x-RateLimit-Limit" in first.headers
    assert tkl(sim, "GET", "offers", page_size=15, page_number=pages + 1).json()["offers"] == []
    assert tkl(sim, "GET", "offers", page_size=101).status_code == 400


def test_takealot_patch_writes_exactly_that_offer(sim):
    plain = [l for l in store(sim, "tkl").all() if l["anomaly"] is None][:2]
    body = {"leadtime_stock": [{"merchant_warehouse_id": MERCHANT_WAREHOUSE["warehouse_id"], "quantity": 0}]}
    by_sku = tkl(sim, "PATCH", f"offers/offer/SKU{plain[0]['sku']}", body)
    assert by_sku.status_code == 200 and by_sku.json()["leadtime_stock"][0]["quantity_available"] == 0
    assert by_sku.json()["status"] == "Not Buyable"
    body["leadtime_stock"][0]["quantity"] = 8
    by_id = tkl(sim, "PATCH", f"offers/offer/ID{plain[1]['offer_id']}", body)
    assert by_id.status_code == 200 and by_id.json()["status"] == "Buyable"
    changed = [h for h in store(sim, "tkl").history() if h["source"] != "initial"]
    assert [(h["listing_id"], h["quantity"], h["source"]) for h in changed] == [
        (plain[0]["listing_id"], 0, "api"), (plain[1]["listing_id"], 8, "api")]


def test_takealot_listing_anomalies_and_bad_bodies(sim):
    def patch(identifier, quantity=20, warehouse=MERCHANT_WAREHOUSE["warehouse_id"]):
        return tkl(sim, "PATCH", f"offers/offer/{identifier}",
                   {"leadtime_stock": [{"merchant_warehouse_id": warehouse, "quantity": quantity}]})

    offers = {o["offer_id"]: o for o in takealot_all(sim, 100)[0]}
    case = one(sim, "tkl", "listing_sku_case_mismatch")
    assert offers[case["offer_id"]]["sku"] == case["warehouse_sku"].lower()
    assert patch(f"SKU{case['warehouse_sku']}").status_code == 404
    assert patch(f"SKU{case['sku']}", 3).status_code == 200
    deleted = one(sim, "tkl", "listing_deleted")
    assert deleted["offer_id"] not in offers and patch(f"ID{deleted['offer_id']}").status_code == 404
    untracked = one(sim, "tkl", "listing_not_tracked")
    assert offers[untracked["offer_id"]]["leadtime_stock"] == [] and patch(f"ID{untracked['offer_id']}").status_code == 400
    inactive = one(sim, "tkl", "listing_not_active")
    assert offers[inactive["offer_id"]]["status"] in ("Disabled by Seller", "Disabled by Takealot")
    target = one(sim, "tkl", None)
    assert patch(f"ID{target['offer_id']}", warehouse=999).status_code == 400
    assert patch(f"ID{target['offer_id']}", quantity=-1).status_code == 400
    assert patch(f"ID{target['offer_id']}", quantity="2").status_code == 400
    assert tkl(sim, "PATCH", f"offers/offer/ID{target['offer_id']}", raw=b"nope").status_code == 400
    assert tkl(sim, "PATCH", f"offers/offer/ID{target['offer_id']}", {"selling_price": 10}).status_code == 400
    assert patch("BARCODE123").status_code == 404 and patch("ID1").status_code == 404
    for listing in (deleted, untracked, target):
        assert history_of(sim, "tkl", listing["listing_id"]) == [(listing["quantity"], "initial")]

    drift = one(sim, "tkl", "listing_drift")
    assert patch(f"ID{drift['offer_id']}").status_code == 200
    read = {o["offer_id"]: o for o in takealot_all(sim, 100)[0]}[drift["offer_id"]]
    steps = history_of(sim, "tkl", drift["listing_id"])[1:]
    assert steps[0] == (20, "api") and steps[1][1] == "hand" and 15 <= steps[1][0] <= 19 and len(steps) == 2
    assert read["leadtime_stock"][0]["quantity_available"] == steps[1][0]
    takealot_all(sim, 100)
    assert len(history_of(sim, "tkl", drift["listing_id"])) == 3


# --- a real shop's catalogue ----------------------------------------------------------------------------

def test_three_hundred_extra_listings_are_read_in_full():
    sim = Simulator(make(extra=300, anomalies={})).start()
    try:
        for channel in ("sh", "woo", "tkl"):
            assert len(live(sim, channel)) == 312
        expected = {c: sorted((l["sku"], l["quantity"]) for l in live(sim, c)) for c in ("sh", "woo", "tkl")}
        assert ("SKU-L0000300", store(sim, "sh").get("40000001300")["quantity"]) in expected["sh"]
        products, pages = shopify_all(sim, 250)
        assert pages == 2 and sorted((p["variants"][0]["sku"], p["variants"][0]["inventory_quantity"]) for p in products) == expected["sh"]
        woo_products, responses = woo_all(sim, 100)
        assert len(responses) == 4 and sorted((p["sku"], p["stock_quantity"]) for p in woo_products) == expected["woo"]
        offers, tkl_pages = takealot_all(sim, 100)
        assert tkl_pages == 4 and sorted((o["sku"], o["leadtime_stock"][0]["quantity_available"]) for o in offers) == expected["tkl"]
    finally:
        sim.stop()
