"""The simulated warehouse ships orders on its own in simulated time and serves its packages (shipments):
lazy shipping on the next request when due (never when due after the simulator's construction), only allocated
quantities, partially_shipped, packages and their splits, carriers as 3PLs write them, GET shipments with its
cursor and filters, tracking corrections (S34), the admin ship and correct endpoints, and determinism."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import requests

from sync_pipeline.simulator import Simulator
from sync_pipeline.simulator.warehouse import CARRIER_FORMS, SHIP_METHODS, SHIP_METHODS_BY_CODE, UNKNOWN_CARRIERS
from sync_pipeline_tests.conftest import TODAY, scenario

PAST = TODAY - timedelta(days=10)  # every order placed days before the simulator is built
SOON = [1, 48]  # hours: due for every order placed in PAST's window
NEVER = [10_000, 20_000]  # hours: due long after the simulator is built
US = {"name": "Mary Smith", "company": None, "address1": "969 Market St", "address2": "", "city": "San Francisco",
      "region": "CA", "postal_code": "94103", "country": "US", "phone": "+1 415-555-0100"}
TRACKING = {  # the carrier's format, by the carrier a form stands for
    "USPS": r"9400\d{18}", "UPS": r"1Z[0-9A-Z]{16}", "FedEx": r"\d{12}", "Royal Mail": r"[A-Z]{2}\d{9}GB",
    "DPD": r"\d{14}", "DHL": r"\d{10}", "Takealot": r"MDX\d{9}",
    "Aramex": r"\d{11}", "The Courier Guy": r"TCG\d{8}", "Fastway": r"[A-Z]{2}\d{10}",
}
SHIPMENT_KEYS = {"shipment_id", "order_id", "client_reference", "channel", "channel_order_id", "tracking_number", "carrier",
                 "service", "shipped_at", "updated_at", "lines", "corrected_from"}
MICROS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def make(warehouse=None, channels=(("shop", "shopify", 6), ("tkl", "takealot", 3)), start=PAST, days=2, seed=5):
    return scenario(list(channels), days=days, start=start, seed=seed, warehouse=warehouse)


@pytest.fixture
def started():
    simulators: list[Simulator] = []

    def start(the_scenario) -> Simulator:
        simulators.append(Simulator(the_scenario).start())
        return simulators[-1]

    yield start
    for simulator in simulators:
        simulator.stop()


class Wh:
    """Authenticated calls to the simulated warehouse, and orders posted for the channels' own orders."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.base = f"{sim.warehouse_url}/api/v1"
        self.session = requests.Session()
        self.session.headers["X-Api-Key"] = sim.credentials[sim.warehouse.name]["api_key"]
        self.posted = 0

    def get(self, path, **params):
        return self.session.get(f"{self.base}/{path}", params=params, timeout=10)

    def post(self, path, body=None):
        return self.session.post(f"{self.base}/{path}", json=body, timeout=10)

    def shipments(self, **params):
        response = self.get("shipments", **params)
        assert response.status_code == 200, response.text
        return response.json()

    def every_page(self, **params) -> tuple[list[dict], list[dict]]:
        """Every shipment over the cursor's pages, and each page's answer."""
        pages = [self.shipments(**params)]
        while pages[-1]["next_cursor"]:
            pages.append(self.shipments(**params, cursor=pages[-1]["next_cursor"]))
        return [s for page in pages for s in page["shipments"]], pages

    def order(self, lines, channel="shop", ship_method="UPS-GND", index=0) -> str:
        """POST an order for one of the channel's own orders (so its placed_at is known); its warehouse order id."""
        record = self.sim.orders(channel)[index]
        self.posted += 1
        body = {
            "client_reference": f"{channel}:{record.external_order_id}:{self.posted}", "order_number": record.external_order_id,
            "channel": channel, "channel_order_id": record.external_order_id, "ship_method": ship_method,
            "ship_to": US, "customer": {"name": "Mary Smith", "email": "mary@example.com", "phone": None},
            "lines": [{"line_number": n, "sku": sku, "quantity": q} for n, (sku, q) in enumerate(lines, start=1)],
        }
        response = self.post("orders", body)
        assert response.status_code == 201, response.text
        return response.json()["order_id"]


def admin(sim, method, path, body=None):
    return requests.request(method, f"{sim.url}/_admin/{path}", json=body, timeout=10)


def skus(sim, free_at_least=20) -> list[str]:
    return [i["sku"] for i in sim.warehouse.items() if i["good"] - i["allocated"] >= free_at_least]


def carrier_of(form: str) -> str:
    return next((c for c, forms in CARRIER_FORMS.items() if form in forms), form)


def shipped_quantities(shipments) -> Counter:
    total = Counter()
    for shipment in shipments:
        for line in shipment["lines"]:
            total[(shipment["order_id"], line["line_number"], line["sku"])] += line["quantity"]
    return total


# --- when orders ship ------------------------------------------------------------------------------------------

def test_a_due_order_ships_on_the_next_request_not_the_post(started):
    sim = started(make({"ship_after_hours": SOON}))
    client = Wh(sim)
    sku = skus(sim)[0]
    before = {i["sku"]: i for i in sim.warehouse.items()}[sku]
    answer = client.post("orders", {**_body(sim, sku, 3), "client_reference": "shop:A"})
    assert answer.status_code == 201 and answer.json()["status"] == "accepted"
    order_id = answer.json()["order_id"]
    assert sim.warehouse.order(order_id)["status"] == "accepted" and sim.warehouse.shipments() == []
    assert admin(sim, "GET", "warehouse/shipments").json() == []  # the admin view ships nothing

    order = client.get(f"orders/{order_id}").json()  # the next request of any kind ships it, before answering
    assert order["status"] == "shipped"
    [shipment] = order["shipments"]
    assert set(shipment) == SHIPMENT_KEYS
    record = sim.orders("shop")[0]
    assert shipment | {"tracking_number": None, "carrier": None, "shipped_at": None, "updated_at": None} == {
        "shipment_id": "S0000001", "order_id": order_id, "client_reference": "shop:A", "channel": "shop",
        "channel_order_id": record.external_order_id, "tracking_number": None, "carrier": None, "service": "Ground",
        "shipped_at": None, "updated_at": None, "lines": [{"line_number": 1, "sku": sku, "quantity": 3}], "corrected_from": None,
    }
    assert shipment["carrier"] in CARRIER_FORMS["UPS"] and re.fullmatch(TRACKING["UPS"], shipment["tracking_number"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", shipment["shipped_at"]) and MICROS.fullmatch(shipment["updated_at"])
    assert shipment["shipped_at"] >= sim.now.strftime("%Y-%m-%dT%H:%M:%SZ")  # real time, not simulated
    after = {i["sku"]: i for i in sim.warehouse.items()}[sku]
    assert (after["good"], after["allocated"]) == (before["good"] - 3, before["allocated"])  # allocated 3, shipped 3
    assert client.get(f"orders/{order_id}/shipments").json() == {"shipments": [shipment]}
    assert sim.warehouse.shipments() == [shipment] == admin(sim, "GET", "warehouse/shipments").json()
    refused = client.post(f"orders/{order_id}/cancel")
    assert refused.status_code == 409 and refused.json() == {"status": "rejected", "error": "Order already shipped"}


def test_orders_due_after_the_construction_never_ship_and_the_default_ships_nothing(started):
    for warehouse in ({"ship_after_hours": NEVER, "preexisting_orders": 1.0}, {"preexisting_orders": 1.0}):
        sim = started(make(warehouse))
        client = Wh(sim)
        order_id = client.order([(skus(sim)[0], 1)])
        for _ in range(3):
            client.get("items")
        assert client.shipments() == {"shipments": [], "next_cursor": None}
        assert sim.warehouse.shipments() == []
        statuses = {o["order_id"]: o["status"] for o in sim.warehouse.orders()}
        assert statuses[order_id] == "accepted" and set(statuses.values()) == {"accepted"} and len(statuses) > 5


def test_hand_entered_orders_ship_when_placed_at_plus_the_delay_is_before_the_construction(started):
    # Orders over the last 3 days, each shipping exactly 30 hours after it was placed: the older ones are due.
    sim = started(make({"ship_after_hours": 30, "preexisting_orders": 1.0}, start=TODAY - timedelta(days=2), days=3))
    placed = {f"{c}:{r.external_order_id}": r.placed_at for c in ("shop", "tkl") for r in sim.orders(c)}
    Wh(sim).get("ship-methods")
    orders = sim.warehouse.orders()
    assert {o["client_reference"] for o in orders} == set(placed)
    due = {o["client_reference"] for o in orders if o["status"] == "shipped"}
    assert due == {ref for ref, at in placed.items() if at + timedelta(hours=30) <= sim.now}
    assert 0 < len(due) < len(placed)
    assert {o["status"] for o in orders} == {"shipped", "accepted"}
    for order in orders:  # hand-entered orders count as wholly allocated: they ship in full
        if order["status"] == "shipped":
            assert shipped_quantities(order["shipments"]) == Counter(
                {(order["order_id"], line["line_number"], line["sku"]): line["quantity"] for line in order["lines"]}
            )
            method = SHIP_METHODS_BY_CODE[order["ship_method"]]
            assert {carrier_of(s["carrier"]) for s in order["shipments"]} == {method.carrier}
            assert {s["service"] for s in order["shipments"]} == {method.service}


def test_an_order_for_a_channel_order_the_simulator_does_not_know_never_ships(started):
    sim = started(make({"ship_after_hours": SOON}))
    client = Wh(sim)
    body = {**_body(sim, skus(sim)[0], 1), "client_reference": "shop:ghost", "channel_order_id": "no-such-order"}
    order_id = client.post("orders", body).json()["order_id"]
    client.get("items")
    assert client.get(f"orders/{order_id}").json()["status"] == "accepted"


def test_unauthorized_and_faulted_requests_ship_nothing(started):
    sim = started(make({"ship_after_hours": SOON, "preexisting_orders": 1.0, "faults": {"server_error_5xx": 1.0}}))
    assert requests.get(f"{sim.warehouse_url}/api/v1/items", timeout=5).status_code in (500, 503)
    assert Wh(sim).get("shipments").status_code in (500, 503)
    sim.warehouse.set_faults({})
    assert requests.get(f"{sim.warehouse_url}/api/v1/items", timeout=5).status_code == 401
    assert sim.warehouse.shipments() == []
    assert Wh(sim).shipments()["shipments"]  # the first answered request ships them
    assert [(e["channel"], e["path"], e["status"]) for e in sim.requests][-1] == ("warehouse", "/warehouse/api/v1/shipments", 200)


def test_concurrent_requests_ship_each_due_order_once(started):
    sim = started(make({"ship_after_hours": SOON, "preexisting_orders": 1.0}, channels=[("shop", "shopify", 15)]))
    clients = [Wh(sim) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda client: client.get("ship-methods").status_code, clients * 3))
    orders = sim.warehouse.orders()
    shipments = sim.warehouse.shipments()
    assert len(orders) == 30 and {o["status"] for o in orders} == {"shipped"}
    assert sorted(s["order_id"] for s in shipments) == sorted(o["order_id"] for o in orders)  # one package each
    assert [s["shipment_id"] for s in shipments] == [f"S{n:07d}" for n in range(1, 31)]


# --- what ships -------------------------------------------------------------------------------------------------

def test_backorders_ship_what_was_allocated_and_are_partially_shipped(started):
    sim = started(make({"ship_after_hours": SOON}))
    client = Wh(sim)
    for sku, good, allocated in (("SKU-LOW", 5, 3), ("SKU-NONE", 0, 0)):
        assert admin(sim, "POST", "warehouse/items", {"sku": sku, "good": good, "allocated": allocated}).status_code == 201
    plenty = skus(sim)[0]
    partial = client.order([("SKU-LOW", 4), (plenty, 1), ("SKU-NONE", 2)])
    nothing = client.order([("SKU-NONE", 1)])
    client.get("items")
    order = sim.warehouse.order(partial)
    assert order["status"] == "partially_shipped"
    assert order["backordered"] == [{"sku": "SKU-LOW", "quantity": 2}, {"sku": "SKU-NONE", "quantity": 2}]
    [shipment] = order["shipments"]
    assert shipment["lines"] == [{"line_number": 1, "sku": "SKU-LOW", "quantity": 2}, {"line_number": 2, "sku": plenty, "quantity": 1}]
    low = {i["sku"]: i for i in sim.warehouse.items()}["SKU-LOW"]
    assert (low["good"], low["allocated"]) == (3, 3)  # 2 shipped out of good and out of allocated
    refused = client.post(f"orders/{partial}/cancel")
    assert refused.status_code == 409 and refused.json()["error"] == "Order already shipped"
    assert sim.warehouse.order(nothing)["status"] == "backorder" and sim.warehouse.order(nothing)["shipments"] == []
    assert client.post(f"orders/{nothing}/cancel").status_code == 200


def test_multi_package_splits_add_up_to_what_shipped(started):
    sim = started(make({"ship_after_hours": SOON, "multi_package": 1.0}))
    client = Wh(sim)
    a, b, c, d = skus(sim)[:4]
    shapes = [[(a, 1)], [(a, 2)], [(b, 5)], [(a, 1), (b, 1)], [(a, 2), (c, 3), (d, 1)], [(a, 1), (b, 2), (c, 1), (d, 4)]] * 3
    ordered = {client.order(lines): lines for lines in shapes}
    shipments = client.every_page()[0]
    assert shipped_quantities(shipments) == Counter(
        {(order_id, n, sku): q for order_id, lines in ordered.items() for n, (sku, q) in enumerate(lines, start=1)}
    )
    by_order = defaultdict(list)
    for shipment in shipments:
        by_order[shipment["order_id"]].append(shipment)
        assert shipment["lines"] and all(line["quantity"] >= 1 for line in shipment["lines"])
        numbers = [line["line_number"] for line in shipment["lines"]]
        assert numbers == sorted(set(numbers))  # in line order, a line at most once per package
    counts = Counter()
    for order_id, lines in ordered.items():
        units = sum(q for _, q in lines)
        packages = len(by_order[order_id])
        assert packages == 1 if units == 1 else 2 <= packages <= min(3, units)
        counts[packages] += 1
        assert sim.warehouse.order(order_id)["status"] == "shipped"
    assert counts[2] and counts[3]
    assert [s["shipment_id"] for s in sim.warehouse.shipments()] == [f"S{n:07d}" for n in range(1, len(shipments) + 1)]


def test_carriers_come_in_the_forms_3pls_write_and_unknown_ones_on_request(started):
    sim = started(make({"ship_after_hours": SOON}))
    client = Wh(sim)
    sku = skus(sim, 100)[0]
    for method in SHIP_METHODS:
        for _ in range(12):
            client.order([(sku, 1)], ship_method=method.code)
    seen = defaultdict(set)
    for shipment in client.every_page(limit=500)[0]:
        method = SHIP_METHODS_BY_CODE[sim.warehouse.order(shipment["order_id"])["ship_method"]]
        assert shipment["carrier"] in CARRIER_FORMS[method.carrier] and shipment["service"] == method.service
        assert re.fullmatch(TRACKING[method.carrier], shipment["tracking_number"]), shipment
        seen[method.carrier].add(shipment["carrier"])
    assert seen == {carrier: set(forms) for carrier, forms in CARRIER_FORMS.items()}

    sim = started(make({"ship_after_hours": SOON, "unknown_carrier": 1.0}))
    client = Wh(sim)
    for method in SHIP_METHODS[:6]:
        for _ in range(3):
            client.order([(sku, 1)], ship_method=method.code)
    unknown = Counter()
    for shipment in client.every_page()[0]:
        assert shipment["carrier"] in UNKNOWN_CARRIERS
        assert re.fullmatch(TRACKING[shipment["carrier"]], shipment["tracking_number"])
        assert shipment["service"] == SHIP_METHODS_BY_CODE[sim.warehouse.order(shipment["order_id"])["ship_method"]].service
        unknown[shipment["carrier"]] += 1
    assert set(unknown) == set(UNKNOWN_CARRIERS)


# --- GET shipments ----------------------------------------------------------------------------------------------------

def test_the_cursor_pages_every_shipment_exactly_once(started):
    sim = started(make({"ship_after_hours": SOON}))
    client = Wh(sim)
    sku = skus(sim)[0]
    for _ in range(6):
        client.order([(sku, 1)])
    assert len(sim.warehouse.shipments()) == 5  # the last POST's order ships on the next request
    client.get("items")
    everything = sim.warehouse.shipments()
    assert len(everything) == 6
    order = sorted(everything, key=lambda s: (s["updated_at"], s["shipment_id"]))
    for limit in (1, 2, 3, 4, 6, 7, 500):
        found, pages = client.every_page(limit=limit)
        assert found == order, limit
        assert [len(p["shipments"]) for p in pages] == [limit] * (6 // limit) + ([6 % limit] if 6 % limit else [])
        assert pages[-1]["next_cursor"] is None and all(p["next_cursor"] for p in pages[:-1])
    assert len(client.shipments()["shipments"]) == 6  # limit defaults to 100


def test_updated_since_is_inclusive_and_channel_filters(started):
    sim = started(make({"ship_after_hours": SOON}))
    client = Wh(sim)
    sku = skus(sim)[0]
    for channel in ("shop", "tkl", "shop", "tkl", "shop"):
        client.order([(sku, 1)], channel=channel, ship_method="TKL-DC" if channel == "tkl" else "UPS-GND")
    everything = client.shipments()["shipments"]
    times = [s["updated_at"] for s in everything]
    assert times == sorted(times) and len(set(times)) == 5
    third = everything[2]["updated_at"]
    assert client.shipments(updated_since=third)["shipments"] == everything[2:]
    as_offset = datetime.fromisoformat(third).isoformat(timespec="microseconds")  # "+00:00", as the pipeline sends
    assert client.shipments(updated_since=as_offset)["shipments"] == everything[2:]
    later = (datetime.fromisoformat(third) + timedelta(microseconds=1)).isoformat()
    assert client.shipments(updated_since=later)["shipments"] == everything[3:]
    unescaped = requests.get(f"{client.base}/shipments?updated_since={as_offset}", headers=client.session.headers, timeout=5)
    assert unescaped.json()["shipments"] == everything[2:]  # the "+" read as a space is taken as "+"
    tkl = client.shipments(channel="tkl")["shipments"]
    assert [s["channel"] for s in tkl] == ["tkl", "tkl"] and tkl == [s for s in everything if s["channel"] == "tkl"]
    assert {s["carrier"] for s in tkl} == {"Takealot"}
    assert client.shipments(channel="tkl", updated_since=third)["shipments"] == [everything[3]]
    found, pages = client.every_page(channel="shop", limit=2)
    assert found == [s for s in everything if s["channel"] == "shop"] and len(pages) == 2
    assert client.shipments(channel="nobody") == {"shipments": [], "next_cursor": None}


def test_bad_parameters_are_400(started):
    sim = started(make({"ship_after_hours": SOON}))
    client = Wh(sim)
    for bad in ({"updated_since": "yesterday"}, {"updated_since": "2026-13-01T00:00:00Z"}, {"limit": 0}, {"limit": 501},
                {"limit": "ten"}, {"cursor": "garbage"}, {"cursor": "!!"}, {"cursor": "WzFd"}):
        response = client.get("shipments", **bad)
        assert response.status_code == 400 and response.json()["error"] == "Invalid parameter", bad
        assert response.json()["detail"]
    assert client.post("shipments").status_code == 405
    assert client.get("orders/W0999999/shipments").status_code == 404
    assert client.post(f"orders/{client.order([(skus(sim)[0], 1)])}/shipments").status_code == 405


# --- corrections ------------------------------------------------------------------------------------------------------

def test_a_correction_shows_up_once_and_reappears_after_the_cursor(started):
    sim = started(make({"ship_after_hours": SOON, "tracking_corrections": 1.0}))
    client = Wh(sim)
    sku = skus(sim)[0]
    for method in ("UPS-GND", "RM-T48", "DHL-INTL"):
        client.order([(sku, 1)], ship_method=method)
    found, _ = client.every_page(limit=1)
    # Each page corrects what the page before served, which moves it to the end: every shipment twice.
    assert [s["shipment_id"] for s in found] == ["S0000001", "S0000002", "S0000003"] * 2
    first, again = found[:3], found[3:]
    assert all(s["corrected_from"] is None for s in first)
    for old, new in zip(first, again):
        assert new["corrected_from"] == old["tracking_number"] != new["tracking_number"]
        carrier = carrier_of(new["carrier"])
        assert re.fullmatch(TRACKING[carrier], new["tracking_number"]) and new["updated_at"] > old["updated_at"]
        assert {k: v for k, v in new.items() if k not in ("tracking_number", "corrected_from", "updated_at")} == \
            {k: v for k, v in old.items() if k not in ("tracking_number", "corrected_from", "updated_at")}
    assert client.shipments()["shipments"] == again  # at most one correction each
    assert sim.warehouse.order(again[0]["order_id"])["shipments"] == [again[0]]  # the order shows the corrected package
    assert client.shipments(updated_since=again[0]["updated_at"])["shipments"] == again


def test_a_correction_is_met_when_asking_again_from_the_newest_time(started):
    sim = started(make({"ship_after_hours": SOON, "tracking_corrections": 0.5}))
    client = Wh(sim)
    sku = skus(sim)[0]
    for _ in range(12):
        client.order([(sku, 1)])
    first = client.shipments()["shipments"]
    assert all(s["corrected_from"] is None for s in first)
    newest = first[-1]["updated_at"]
    again = client.shipments(updated_since=newest)["shipments"]
    corrected = [s for s in again if s["corrected_from"] is not None]
    assert 0 < len(corrected) < 12
    assert {s["shipment_id"] for s in corrected} == {s["shipment_id"] for s in sim.warehouse.shipments() if s["corrected_from"]}
    unchanged = [first[-1]] if first[-1]["shipment_id"] not in {s["shipment_id"] for s in corrected} else []
    assert again == unchanged + corrected  # the newest as it was (inclusive), then every correction, in order
    assert [s["corrected_from"] for s in corrected] == [
        s["tracking_number"] for s in first if s["shipment_id"] in {c["shipment_id"] for c in corrected}
    ]
    assert client.shipments(updated_since=newest)["shipments"] == again  # nothing corrected twice


def test_admin_correct(started):
    sim = started(make({"ship_after_hours": SOON}))
    client = Wh(sim)
    client.order([(skus(sim)[0], 1)], ship_method="FDX-2DAY")
    [shipment] = client.shipments()["shipments"]
    corrected = admin(sim, "POST", f"warehouse/shipments/{shipment['shipment_id']}/correct")
    assert corrected.status_code == 200
    body = corrected.json()
    assert body["corrected_from"] == shipment["tracking_number"] and re.fullmatch(TRACKING["FedEx"], body["tracking_number"])
    assert body["updated_at"] > shipment["updated_at"] and body["tracking_number"] != shipment["tracking_number"]
    given = admin(sim, "POST", f"warehouse/shipments/{shipment['shipment_id']}/correct", {"tracking_number": "NEW123"}).json()
    assert given["tracking_number"] == "NEW123" and given["corrected_from"] == body["tracking_number"]
    assert client.shipments(updated_since=shipment["updated_at"])["shipments"] == [given]
    assert admin(sim, "POST", "warehouse/shipments/S9999999/correct").status_code == 404
    for bad in ([], {"tracking_number": 5}, {"tracking_number": ""}, {"carrier": "UPS"}):
        assert admin(sim, "POST", f"warehouse/shipments/{shipment['shipment_id']}/correct", bad).status_code == 400


# --- admin ship -------------------------------------------------------------------------------------------------------

def test_admin_ship_makes_full_shipments_and_a_null_tracking_number(started):
    sim = started(make())  # nothing ships on its own
    client = Wh(sim)
    a, b = skus(sim)[:2]
    order_id = client.order([(a, 2), (b, 1)], ship_method="RM-T48")
    client.get("items")
    assert sim.warehouse.order(order_id)["status"] == "accepted"
    one = admin(sim, "POST", f"warehouse/orders/{order_id}/ship", {"lines": [{"sku": a, "quantity": 2}], "tracking_number": None})
    assert one.status_code == 200 and one.json()["status"] == "partially_shipped"
    [package] = one.json()["shipments"]
    assert set(package) == SHIPMENT_KEYS and package["tracking_number"] is None
    assert package["carrier"] == "Royal Mail" and package["service"] == "Tracked 48"
    assert package["lines"] == [{"line_number": 1, "sku": a, "quantity": 2}]
    assert client.post(f"orders/{order_id}/cancel").status_code == 409
    two = admin(sim, "POST", f"warehouse/orders/{order_id}/ship", {"lines": [{"sku": b, "quantity": 1}]}).json()
    assert two["status"] == "shipped" and re.fullmatch(TRACKING["Royal Mail"], two["shipments"][1]["tracking_number"])
    assert [s["shipment_id"] for s in client.shipments()["shipments"]] == ["S0000001", "S0000002"]
    assert client.get(f"orders/{order_id}/shipments").json()["shipments"] == two["shipments"]
    assert admin(sim, "POST", f"warehouse/orders/{order_id}/ship", {"tracking_number": 7}).status_code == 400


# --- determinism ----------------------------------------------------------------------------------------------------

def test_one_seed_gives_the_same_shipments_apart_from_times():
    # Orders placed 192..240 hours before the simulator is built, due 150..300 hours after: some due, some not.
    # Enough packages (about 15) that every kind is drawn whatever day the test runs on (each day draws anew).
    warehouse = {"ship_after_hours": [150, 300], "preexisting_orders": 0.7, "multi_package": 0.5, "unknown_carrier": 0.5,
                 "tracking_corrections": 0.5}

    def run(seed):
        with Simulator(make(warehouse, channels=(("shop", "shopify", 20), ("tkl", "takealot", 10)), seed=seed)).start() as sim:
            client = Wh(sim)
            client.order([(skus(sim)[0], 3), (skus(sim)[1], 2)])
            client.shipments(limit=3)
            client.every_page(limit=3)
            return [{k: v for k, v in s.items() if k not in ("shipped_at", "updated_at")} for s in sim.warehouse.shipments()], \
                [o["status"] for o in sim.warehouse.orders()]

    first, statuses = run(5)
    assert {"shipped", "accepted"} <= set(statuses)
    assert first and any(s["corrected_from"] for s in first) and any(s["carrier"] in UNKNOWN_CARRIERS for s in first)
    assert len({s["order_id"] for s in first}) < len(first)  # some orders went in several packages
    assert run(5) == (first, statuses)
    assert run(6)[0] != first


def _body(sim, sku, quantity):
    record = sim.orders("shop")[0]
    return {
        "client_reference": f"shop:{record.external_order_id}", "order_number": record.external_order_id, "channel": "shop",
        "channel_order_id": record.external_order_id, "ship_method": "UPS-GND", "ship_to": US,
        "customer": {"name": "Mary Smith", "email": "mary@example.com", "phone": None},
        "lines": [{"line_number": 1, "sku": sku, "quantity": quantity}],
    }
