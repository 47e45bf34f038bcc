"""The simulated fulfilment warehouse (simulator/warehouse.py) over loopback HTTP: catalogue and stock,
ship methods, order validation in the documented order with the real rejection texts, duplicates (also
under concurrency), backorders, cancel and ship, paging, auth, injected faults and orders already there."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests

from sync_pipeline.simulator import Scenario, ScenarioError, Simulator
from sync_pipeline.simulator.orders import ADDRESSES, UNUSUAL_CUSTOMERS, catalogue
from sync_pipeline.simulator.warehouse import SHIP_METHODS, SHIP_METHODS_BY_CODE, check_address

PAST = datetime.now(timezone.utc).date() - timedelta(days=10)  # whole past days: nothing is cut at "now"
CHANNELS = [("shop", "shopify", 3), ("tkl", "takealot", 2)]


def make_scenario(warehouse=None, channels=CHANNELS, seed=11, days=2):
    return Scenario.from_dict({
        "seed": seed, "start_date": PAST.isoformat(), "days": days, "speed": 1000,
        "channels": [{"name": n, "type": t, "orders_per_day": k} for n, t, k in channels],
        "warehouse": warehouse or {},
    })


@pytest.fixture
def started():
    simulators: list[Simulator] = []

    def start(scenario: Scenario | None = None, credentials=None) -> Simulator:
        simulators.append(Simulator(scenario or make_scenario(), credentials).start())
        return simulators[-1]

    yield start
    for simulator in simulators:
        simulator.stop()


class Wh:
    """Authenticated calls to the simulated warehouse."""

    def __init__(self, sim: Simulator, timeout: float = 10):
        self.sim, self.timeout = sim, timeout
        self.base = f"{sim.warehouse_url}/api/v1"
        self.session = requests.Session()
        self.session.headers["X-Api-Key"] = sim.credentials[sim.warehouse.name]["api_key"]

    def get(self, path, **params):
        return self.session.get(f"{self.base}/{path}", params=params, timeout=self.timeout)

    def post(self, path, body=None, **kwargs):
        return self.session.post(f"{self.base}/{path}", json=body, timeout=kwargs.get("timeout", self.timeout))

    def items(self):
        return {i["sku"]: i for i in self.get("items", page_size=500).json()["items"]}

    def find(self, reference):
        return self.get("orders", client_reference=reference).json()["orders"]


def admin(sim, method, path, body=None):
    return requests.request(method, f"{sim.url}/_admin/{path}", json=body, timeout=10)


def order_body(sku, reference="shop:1001", **override):
    body = {
        "client_reference": reference, "order_number": "#1001", "channel": "shop", "channel_order_id": "1001",
        "ship_method": "UPS-GND",
        "ship_to": {"name": "Mary Smith", "company": None, "address1": "969 Market St", "address2": "",
                    "city": "San Francisco", "region": "CA", "postal_code": "94103", "country": "US",
                    "phone": "+1 415-555-0100"},
        "customer": {"name": "Mary Smith", "email": "mary@example.com", "phone": "+1 415-555-0100"},
        "lines": [{"line_number": 1, "sku": sku, "quantity": 2}],
    }
    body.update(override)
    return body


def a_sku(sim, free_at_least=0):
    for item in Wh(sim).items().values():
        if item["good"] - item["allocated"] >= free_at_least:
            return item["sku"]
    raise AssertionError("no SKU with that much free stock")


# --- catalogue, ship methods, auth ----------------------------------------------------------------------

def test_catalogue_is_every_channels_skus_with_seeded_stock(started):
    sim = started()
    items = Wh(sim).get("items", page_size=500).json()
    expected = {}
    for channel in ("shop", "tkl"):
        for product in catalogue(11, channel):
            expected.setdefault(product.sku, f"{product.title} - {product.variant}")
    assert [i["sku"] for i in items["items"]] == sorted(expected) and items["total"] == len(expected)
    for item in items["items"]:
        assert item["description"] == expected[item["sku"]]
        assert 5 <= item["good"] <= 200 and 0 <= item["hurt"] <= 5 and 0 <= item["allocated"] <= min(10, item["good"])
    assert Simulator(make_scenario()).warehouse.items() == items["items"]  # seeded: the same every run


def test_ship_methods_are_the_fixed_table(started):
    methods = Wh(started()).get("ship-methods").json()["ship_methods"]
    assert [m["code"] for m in methods] == [
        "USPS-PRI", "USPS-GA", "UPS-GND", "FDX-2DAY", "FDX-ON", "RM-T48", "RM-2ND", "DPD-NEXT", "DPD-NEXT12", "DHL-INTL", "TKL-DC",
    ]
    assert {m["code"]: m["po_box"] for m in methods}["USPS-PRI"] is True
    assert methods[9] == {"code": "DHL-INTL", "carrier": "DHL", "service": "Express Worldwide", "po_box": False}


def test_a_wrong_or_missing_api_key_is_401_and_credentials_can_be_given(started):
    sim = started(credentials={"warehouse": {"api_key": "wh_given"}})
    assert sim.credentials["warehouse"] == {"api_key": "wh_given"}
    assert re.fullmatch(r"wh_[0-9a-f]{32}", Simulator(make_scenario()).credentials["warehouse"]["api_key"])
    for headers in ({}, {"X-Api-Key": "wh_wrong"}):
        response = requests.get(f"{sim.warehouse_url}/api/v1/items", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "Unauthorized", "message": "invalid API key"}
    body = order_body(a_sku(sim))
    assert requests.post(f"{sim.warehouse_url}/api/v1/orders", json=body).status_code == 401
    assert sim.warehouse.orders() == []
    assert Wh(sim).get("items").status_code == 200
    with pytest.raises(ValueError, match="has no credential 'token'"):
        Simulator(make_scenario(), credentials={"warehouse": {"token": "x"}})
    with pytest.raises(ValueError, match="must be a non-empty string"):
        Simulator(make_scenario(), credentials={"warehouse": {"api_key": ""}})


def test_a_renamed_warehouse_is_served_under_its_name_and_logged(started):
    sim = started(make_scenario({"name": "fcp"}))
    assert sim.warehouse_url == f"{sim.url}/fcp" and "api_key" in sim.credentials["fcp"]
    client = Wh(sim)
    assert client.get("items").status_code == 200
    assert client.get("nothing").json() == {"error": "Not found"}
    assert requests.get(f"{sim.url}/warehouse/api/v1/items").status_code == 404
    assert [(e["channel"], e["path"], e["status"]) for e in sim.requests] == [
        ("fcp", "/fcp/api/v1/items", 200), ("fcp", "/fcp/api/v1/nothing", 404),
    ]


# --- creating orders --------------------------------------------------------------------------------------

def test_an_accepted_order_is_found_by_reference_and_allocates_stock(started):
    sim = started()
    client = Wh(sim)
    sku = a_sku(sim, free_at_least=3)
    before = client.items()[sku]
    created = client.post("orders", order_body(sku, lines=[{"line_number": 1, "sku": sku, "quantity": 3}]))
    assert created.status_code == 201
    answer = created.json()
    assert answer["order_id"] == "W0000001" and answer["status"] == "accepted" and answer["backordered"] == []
    assert answer["client_reference"] == "shop:1001" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", answer["created_at"])
    [order] = client.find("shop:1001")
    assert order == client.get("orders/W0000001").json() == sim.warehouse.orders()[0]
    assert order["channel"] == "shop" and order["channel_order_id"] == "1001" and order["order_number"] == "#1001"
    assert order["lines"] == [{"line_number": 1, "sku": sku, "quantity": 3}]
    assert order["ship_to"]["postal_code"] == "94103" and order["customer"]["email"] == "mary@example.com"
    assert order["cancelled_at"] is None and order["shipments"] == []
    assert client.items()[sku]["allocated"] == before["allocated"] + 3
    assert client.find("shop:nope") == []
    assert client.get("orders/W9999999").json() == {"error": "Not found"}
    [post] = [e for e in sim.requests if e["method"] == "POST"]
    assert post["channel"] == "warehouse" and post["path"] == "/warehouse/api/v1/orders" and post["status"] == 201


def test_a_duplicate_reference_is_409_with_the_existing_order_id(started):
    sim = started()
    client = Wh(sim)
    sku = a_sku(sim)
    first = client.post("orders", order_body(sku)).json()["order_id"]
    again = client.post("orders", order_body(sku, ship_method="NOPE", order_number="#other"))  # 1 beats 2
    assert again.status_code == 409
    assert again.json()["status"] == "rejected" and again.json()["error"] == "Duplicate order number"
    assert again.json()["order_id"] == first and first in again.json()["detail"]
    assert len(sim.warehouse.orders()) == 1
    assert sim.warehouse.references()["shop:1001"] == {"orders": [first], "posts": 2, "duplicate_posts": 0}


def test_a_warehouse_that_accepts_duplicates_stores_a_second_order_and_keeps_count(started):
    sim = started(make_scenario({"duplicate_references": "accept", "preexisting_orders": 1.0}))
    client = Wh(sim)
    sku = a_sku(sim)
    first, second = (client.post("orders", order_body(sku)) for _ in range(2))
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["order_id"] != second.json()["order_id"]
    assert [o["order_id"] for o in client.find("shop:1001")] == [first.json()["order_id"], second.json()["order_id"]]
    records = sim.warehouse.references()
    assert records["shop:1001"] == {"orders": [first.json()["order_id"], second.json()["order_id"]], "posts": 2,
                                    "duplicate_posts": 1}
    # An order keyed in by hand is the first of its reference: posting it creates a second, counted as such.
    typed_in = next(r for r, record in records.items() if record["posts"] == 0)
    assert client.post("orders", order_body(sku, reference=typed_in)).status_code == 201
    assert admin(sim, "GET", "warehouse/references").json()[typed_in]["duplicate_posts"] == 1


def test_duplicate_references_is_reject_or_accept():
    assert make_scenario().warehouse.duplicate_references == "reject"
    with pytest.raises(ScenarioError, match="duplicate_references: 'twice' is not one of reject, accept"):
        make_scenario({"duplicate_references": "twice"})


def test_concurrent_posts_of_one_reference_store_exactly_one(started):
    sim = started()
    sku = a_sku(sim)
    barrier = threading.Barrier(8)

    def post(_):
        client = Wh(sim)
        barrier.wait()
        return client.post("orders", order_body(sku, reference="shop:race"))

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7
    stored = [o for o in sim.warehouse.orders() if o["client_reference"] == "shop:race"]
    assert len(stored) == 1
    assert {r.json()["order_id"] for r in responses} == {stored[0]["order_id"]}


SHIP_TO = order_body("x")["ship_to"]


@pytest.mark.parametrize("change, error, detail", [
    ({"ship_method": "UPS-GROUND"}, "Ship method not mapped", "'UPS-GROUND'"),
    ({"ship_method": None}, "Ship method not mapped", "None"),
    ({"lines": [{"line_number": 1, "sku": "SKU-99999", "quantity": 1}]}, "Invalid SKU", "'SKU-99999'"),
    ({"lines": "lower"}, "Invalid SKU", "'sku-"),  # case-sensitive: a lowercased catalogue SKU
    ({"ship_to": {**SHIP_TO, "city": " "}}, "Address validation failed", "missing field: ship_to.city"),
    ({"ship_to": {**SHIP_TO, "name": None}}, "Address validation failed", "missing field: ship_to.name"),
    ({"ship_to": {k: v for k, v in SHIP_TO.items() if k != "address1"}}, "Address validation failed", "missing field: ship_to.address1"),
    ({"ship_to": {**SHIP_TO, "country": ""}}, "Address validation failed", "missing field: ship_to.country"),
    ({"ship_to": None}, "Address validation failed", "missing field: ship_to"),
    ({"ship_to": {**SHIP_TO, "postal_code": "9410"}}, "Address validation failed", "postal_code: '9410'"),
    ({"ship_to": {**SHIP_TO, "postal_code": "SW1A 1AA"}}, "Address validation failed", "postal_code: 'SW1A 1AA'"),
    ({"ship_to": {**SHIP_TO, "postal_code": None}}, "Address validation failed", "postal_code: required"),
    ({"ship_to": {**SHIP_TO, "country": "XX"}}, "Address validation failed", "country: 'XX'"),
    ({"ship_to": {**SHIP_TO, "address1": "PO Box 123"}}, "Address validation failed", "po_box: ship_to.address1"),
    ({"ship_to": {**SHIP_TO, "address2": "p.o. box 9"}}, "Address validation failed", "po_box: ship_to.address2"),
    ({"ship_to": {**SHIP_TO, "address1": "Post Office Box 7"}, "ship_method": "FDX-ON"}, "Address validation failed", "po_box"),
    ({"customer": {"name": "  ", "email": "x@example.com"}}, "Customer information missing", "customer.name"),
    ({"customer": None}, "Customer information missing", "customer.name"),
    ({"lines": []}, "Invalid order", "at least one line"),
    ({"lines": None}, "Invalid order", "at least one line"),
    ({"lines": "zero"}, "Invalid order", "lines[0].quantity: 0"),
    ({"lines": "negative"}, "Invalid order", "lines[0].quantity: -1"),
    ({"lines": "fraction"}, "Invalid order", "lines[0].quantity: 1.5"),
    ({"lines": "text"}, "Invalid order", "lines[0].quantity: '2'"),
    ({"client_reference": ""}, "Invalid order", "client_reference"),
    ({"client_reference": "x" * 201}, "Invalid order", "longer than 200"),
])
def test_each_rejection_has_the_warehouses_text(started, change, error, detail):
    sim = started()
    sku = a_sku(sim)
    lines = {
        "lower": [{"line_number": 1, "sku": sku.lower(), "quantity": 1}],
        "zero": [{"line_number": 1, "sku": sku, "quantity": 0}],
        "negative": [{"line_number": 1, "sku": sku, "quantity": -1}],
        "fraction": [{"line_number": 1, "sku": sku, "quantity": 1.5}],
        "text": [{"line_number": 1, "sku": sku, "quantity": "2"}],
    }
    if isinstance(change.get("lines"), str):
        change = {**change, "lines": lines[change["lines"]]}
    response = Wh(sim).post("orders", order_body(sku, **change))
    assert response.status_code == 422, response.text
    assert response.json()["status"] == "rejected" and response.json()["error"] == error
    assert detail in response.json()["detail"]
    assert sim.warehouse.orders() == []


def test_the_first_broken_rule_wins(started):
    sim = started()
    client = Wh(sim)
    bad_everything = order_body(
        "SKU-NONE", ship_method="NOPE", ship_to={**SHIP_TO, "city": ""}, customer={"name": ""},
        lines=[{"line_number": 1, "sku": "SKU-NONE", "quantity": 0}],
    )
    errors = []
    for fix in ({}, {"ship_method": "UPS-GND"}, {"lines": [{"line_number": 1, "sku": a_sku(sim), "quantity": 0}]},
                {"ship_to": SHIP_TO}, {"customer": {"name": "Mary"}}):
        bad_everything.update(fix)
        errors.append(client.post("orders", bad_everything).json()["error"])
    assert errors == ["Ship method not mapped", "Invalid SKU", "Address validation failed",
                      "Customer information missing", "Invalid order"]
    bad_everything["lines"][0]["quantity"] = 1
    assert client.post("orders", bad_everything).status_code == 201


def test_po_boxes_go_by_ship_methods_that_deliver_there_and_generated_addresses_pass():
    po_box = {**SHIP_TO, "address1": "P.O. Box 55"}
    for method in SHIP_METHODS:
        assert (check_address(po_box, method) is None) == method.po_box
    assert check_address({**SHIP_TO, "address1": "12 Boxwood Lane", "address2": "Shop Box Hill"}, SHIP_METHODS_BY_CODE["UPS-GND"]) is None
    addresses = [a for group in ADDRESSES.values() for a in group] + [c[2] for c in UNUSUAL_CUSTOMERS if c[2]]
    for address1, address2, city, _, region, postcode, _, country in addresses:
        ship_to = {"name": "N", "address1": address1, "address2": address2, "city": city, "region": region,
                   "postal_code": postcode, "country": country}
        assert check_address(ship_to, SHIP_METHODS_BY_CODE["DHL-INTL"]) is None, ship_to
    # Lower-case country codes are read as upper case; a country without postal codes needs none.
    assert check_address({**SHIP_TO, "country": "us"}, SHIP_METHODS_BY_CODE["UPS-GND"]) is None
    assert check_address({**SHIP_TO, "country": "AE", "postal_code": None}, SHIP_METHODS_BY_CODE["DHL-INTL"]) is None


def test_out_of_stock_skus_are_backordered(started):
    sim = started(make_scenario({"out_of_stock": 1.0}))
    client = Wh(sim)
    items = client.items()
    assert all(i["good"] == 0 and i["allocated"] == 0 for i in items.values())
    sku = next(iter(items))
    answer = client.post("orders", order_body(sku)).json()
    assert answer["status"] == "backorder" and answer["backordered"] == [{"sku": sku, "quantity": 2}]
    assert client.find("shop:1001")[0]["status"] == "backorder"
    assert client.items()[sku]["allocated"] == 0


def test_a_line_beyond_free_stock_is_partly_backordered(started):
    sim = started()
    client = Wh(sim)
    assert admin(sim, "POST", "warehouse/items", {"sku": "SKU-LOW", "good": 5, "allocated": 3}).status_code == 201
    lines = [{"line_number": 1, "sku": "SKU-LOW", "quantity": 4}, {"line_number": 2, "sku": a_sku(sim, 1), "quantity": 1}]
    answer = client.post("orders", order_body("SKU-LOW", lines=lines)).json()
    assert answer["status"] == "backorder" and answer["backordered"] == [{"sku": "SKU-LOW", "quantity": 2}]
    assert client.items()["SKU-LOW"] == {"sku": "SKU-LOW", "description": "SKU-LOW", "good": 5, "hurt": 0, "allocated": 5}


def test_admin_items_make_a_missing_sku_appear(started):
    sim = started()
    client = Wh(sim)
    assert client.post("orders", order_body("SKU-NEW")).json()["error"] == "Invalid SKU"
    added = admin(sim, "POST", "warehouse/items", {"sku": "SKU-NEW", "description": "New thing", "good": 9})
    assert added.status_code == 201 and added.json()["good"] == 9
    updated = admin(sim, "POST", "warehouse/items", {"sku": "SKU-NEW", "hurt": 2})
    assert updated.status_code == 200 and updated.json() == {"sku": "SKU-NEW", "description": "New thing", "good": 9, "hurt": 2, "allocated": 0}
    assert client.post("orders", order_body("SKU-NEW")).status_code == 201
    assert admin(sim, "GET", "warehouse/items").json() == sim.warehouse.items()
    assert admin(sim, "POST", "warehouse/items", {"sku": "SKU-NEW", "good": -1}).status_code == 400
    assert admin(sim, "POST", "warehouse/items", {"good": 1}).status_code == 400


# --- cancel and ship ------------------------------------------------------------------------------------------

def test_cancel_is_idempotent_releases_stock_and_is_refused_after_shipping(started):
    sim = started()
    client = Wh(sim)
    sku = a_sku(sim, free_at_least=2)
    allocated = client.items()[sku]["allocated"]
    order_id = client.post("orders", order_body(sku)).json()["order_id"]
    for _ in range(2):
        cancelled = client.post(f"orders/{order_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json() == {"order_id": order_id, "status": "cancelled"}
    order = client.get(f"orders/{order_id}").json()
    assert order["status"] == "cancelled" and order["cancelled_at"].endswith("Z")
    assert client.items()[sku]["allocated"] == allocated
    assert admin(sim, "POST", f"warehouse/orders/{order_id}/ship").status_code == 409
    assert client.post("orders/W0999999/cancel").status_code == 404

    shipped_id = client.post("orders", order_body(sku, reference="shop:2")).json()["order_id"]
    assert admin(sim, "POST", f"warehouse/orders/{shipped_id}/ship").status_code == 200
    refused = client.post(f"orders/{shipped_id}/cancel")
    assert refused.status_code == 409 and refused.json() == {"status": "rejected", "error": "Order already shipped"}
    assert client.get(f"orders/{shipped_id}").json()["status"] == "shipped"


def test_admin_ship_adds_a_package_per_call(started):
    sim = started()
    client = Wh(sim)
    first, second = (a_sku(sim, 3), [s for s in client.items() if s != a_sku(sim, 3)][0])
    lines = [{"line_number": 1, "sku": first, "quantity": 2}, {"line_number": 2, "sku": second, "quantity": 1}]
    order_id = client.post("orders", order_body(first, lines=lines, ship_method="USPS-PRI")).json()["order_id"]
    good = client.items()[first]["good"]
    one = admin(sim, "POST", f"warehouse/orders/{order_id}/ship", {"lines": [{"sku": first, "quantity": 2}]})
    assert one.status_code == 200
    [package] = one.json()["shipments"]
    assert package["carrier"] == "USPS" and re.fullmatch(r"9400\d{18}", package["tracking_number"])
    assert package["lines"] == [{"line_number": 1, "sku": first, "quantity": 2}] and package["shipped_at"].endswith("Z")
    assert client.items()[first]["good"] == good - 2
    two = admin(sim, "POST", f"warehouse/orders/{order_id}/ship", {"tracking_number": "TRK1", "carrier": "UPS"})
    assert [p["tracking_number"] for p in two.json()["shipments"]] == [package["tracking_number"], "TRK1"]
    assert two.json()["shipments"][1]["lines"] == [{"line_number": 1, "sku": first, "quantity": 2},
                                                   {"line_number": 2, "sku": second, "quantity": 1}]
    order = client.get(f"orders/{order_id}").json()
    assert order["status"] == "shipped" and len(order["shipments"]) == 2
    assert admin(sim, "POST", "warehouse/orders/W0999999/ship").status_code == 404
    assert admin(sim, "POST", f"warehouse/orders/{order_id}/ship", {"lines": [{"sku": "SKU-X", "quantity": 1}]}).status_code == 400
    assert admin(sim, "GET", "warehouse/orders").json() == sim.warehouse.orders()


# --- paging ----------------------------------------------------------------------------------------------------

def test_items_pages_edges(started):
    sim = started()
    client = Wh(sim)
    total = client.get("items").json()["total"]
    everything = [i["sku"] for i in client.get("items", page_size=500).json()["items"]]
    assert len(everything) == total and total > 7
    whole = client.get("items", page_size=total).json()
    assert len(whole["items"]) == total and client.get("items", page=2, page_size=total).json()["items"] == []
    size = 7 if total % 7 else 6
    pages, page = [], 1
    while True:
        answer = client.get("items", page=page, page_size=size).json()
        assert answer["page"] == page and answer["page_size"] == size and answer["total"] == total
        if not answer["items"]:
            break
        pages.append([i["sku"] for i in answer["items"]])
        page += 1
    assert [len(p) for p in pages] == [size] * (total // size) + [total % size]
    assert [sku for p in pages for sku in p] == everything
    assert client.get("items").json()["page_size"] == 100
    for bad in ({"page": 0}, {"page_size": 501}, {"page_size": 0}, {"page": "two"}):
        assert client.get("items", **bad).status_code == 400


def test_orders_page_by_id_and_filter_by_channel(started):
    sim = started()
    client = Wh(sim)
    sku = a_sku(sim, 10)
    for n in range(5):
        channel = "shop" if n % 2 == 0 else "tkl"
        body = order_body(sku, reference=f"{channel}:{n}", channel=channel, lines=[{"line_number": 1, "sku": sku, "quantity": 1}])
        assert client.post("orders", body).status_code == 201
    first = client.get("orders", page_size=2).json()
    assert [o["order_id"] for o in first["orders"]] == ["W0000001", "W0000002"] and first["total"] == 5
    assert [o["order_id"] for o in client.get("orders", page=3, page_size=2).json()["orders"]] == ["W0000005"]
    assert client.get("orders", page=4, page_size=2).json()["orders"] == []
    shop = client.get("orders", channel="shop", page_size=3).json()
    assert shop["total"] == 3 and [o["client_reference"] for o in shop["orders"]] == ["shop:0", "shop:2", "shop:4"]
    assert client.get("orders", channel="tkl", page=2, page_size=2).json()["orders"] == []
    assert client.get("orders", channel="nobody").json() == {"orders": [], "page": 1, "page_size": 100, "total": 0}
    assert client.get("orders", page_size=501).status_code == 400


# --- orders already there ----------------------------------------------------------------------------------------

def test_preexisting_orders_are_there_and_meet_the_pipeline_as_duplicates(started):
    sim = started(make_scenario({"preexisting_orders": 1.0}))
    client = Wh(sim)
    references = {f"{c}:{r.external_order_id}" for c in ("shop", "tkl") for r in sim.orders(c)}
    stored = sim.warehouse.orders()
    assert {o["client_reference"] for o in stored} == references and len(stored) == len(references) == 10
    for order in stored:
        channel, _, external_id = order["client_reference"].partition(":")
        assert order["channel"] == channel and order["channel_order_id"] == external_id
        assert order["status"] == "accepted" and order["lines"] and order["ship_method"] in SHIP_METHODS_BY_CODE
        assert order["created_at"] <= sim.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {o["ship_method"] for o in stored if o["channel"] == "tkl"} == {"TKL-DC"}
    reference = sorted(references)[0]
    [found] = client.find(reference)
    duplicate = client.post("orders", order_body(a_sku(sim), reference=reference))
    assert duplicate.status_code == 409 and duplicate.json()["order_id"] == found["order_id"]
    assert duplicate.json()["error"] == "Duplicate order number"


def test_a_share_of_preexisting_orders_is_drawn_the_same_every_run():
    scenario = make_scenario({"preexisting_orders": 0.5}, channels=[("shop", "shopify", 20)])
    picked = [o["client_reference"] for o in Simulator(scenario).warehouse.orders()]
    assert picked == [o["client_reference"] for o in Simulator(scenario).warehouse.orders()]
    assert 5 < len(picked) < 35
    assert Simulator(make_scenario()).warehouse.orders() == []


# --- faults ----------------------------------------------------------------------------------------------------------

def test_timeout_after_commit_stores_the_order_but_the_client_never_hears(started):
    sim = started(make_scenario({"faults": {"timeout_after_commit": 1.0, "timeout_delay_s": 0.2}}))
    client = Wh(sim)
    sku = a_sku(sim)
    with pytest.raises(requests.exceptions.Timeout):
        client.post("orders", order_body(sku), timeout=0.1)
    [order] = Wh(sim).find("shop:1001")  # other requests drawing the fault are answered normally
    assert order["client_reference"] == "shop:1001"
    retry = Wh(sim).post("orders", order_body(sku))  # the client's retry meets its own order
    assert retry.status_code == 409 and retry.json()["order_id"] == order["order_id"]
    # a_sku's GET, the dropped POST, the lookup and the retry: only the POST that stored met the fault.
    assert [(e["method"], e["status"], e["injected"]) for e in sim.requests] == [
        ("GET", 200, None), ("POST", None, "timeout_after_commit"), ("GET", 200, None), ("POST", 409, None),
    ]
    assert len(sim.warehouse.orders()) == 1


@pytest.mark.parametrize("fault", ["server_error_5xx", "connection_reset"])
def test_5xx_and_resets_store_nothing(started, fault):
    sim = started(make_scenario({"faults": {fault: 1.0}}))
    sku = sim.warehouse.items()[0]["sku"]
    for _ in range(4):
        if fault == "connection_reset":
            with pytest.raises(requests.exceptions.ConnectionError):
                Wh(sim).post("orders", order_body(sku))
        else:
            response = Wh(sim).post("orders", order_body(sku))
            assert response.status_code in (500, 503) and response.json() == {"error": "Internal Server Error"}
    assert sim.warehouse.orders() == [] and admin(sim, "GET", "warehouse/orders").json() == []
    assert [(e["channel"], e["injected"]) for e in sim.requests] == [("warehouse", fault)] * 4
    if fault == "server_error_5xx":
        assert {e["status"] for e in sim.requests} <= {500, 503}
        # The draw comes before anything else, the API key included.
        assert requests.get(f"{sim.warehouse_url}/api/v1/items").status_code in (500, 503)


def test_faults_can_be_replaced_at_runtime_and_are_validated(started):
    sim = started(make_scenario({"faults": {"server_error_5xx": 1.0}}))
    client = Wh(sim)
    assert client.get("items").status_code in (500, 503)
    refused = admin(sim, "POST", "warehouse/faults", {"server_error_5xx": 1.5})
    assert refused.status_code == 400 and "warehouse.faults.server_error_5xx" in refused.json()["error"]
    assert admin(sim, "POST", "warehouse/faults", {"timeout": 0.1}).status_code == 400
    cleared = admin(sim, "POST", "warehouse/faults", {})
    assert cleared.status_code == 200 and cleared.json()["faults"]["server_error_5xx"] == 0.0
    assert client.get("items").status_code == 200
    with pytest.raises(ScenarioError):
        sim.set_warehouse_faults({"connection_reset": 0.7, "server_error_5xx": 0.7})
    sim.warehouse.set_faults({"server_error_5xx": 0.5})
    statuses = [client.get("items").status_code for _ in range(40)]
    assert 5 < sum(s != 200 for s in statuses) < 35


def test_the_fault_draws_are_seeded(started):
    def statuses():
        sim = started(make_scenario({"faults": {"server_error_5xx": 0.4}}))
        return [Wh(sim).get("items").status_code for _ in range(20)]

    assert statuses() == statuses()


def test_the_warehouse_name_must_not_be_a_channels():
    with pytest.raises(ScenarioError, match="warehouse.name"):
        make_scenario({"name": "shop"})
    assert make_scenario().warehouse.name == "warehouse"
