"""The simulated warehouse's moving stock (simulator/warehouse.py): extra listings stocked, items' updated_at,
stock rounds (receipts, Good turning Hurt), impossible records (S39) and the cursor form of GET items."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from sync_pipeline.simulator import Scenario, Simulator
from sync_pipeline.simulator.orders import listed_products

PAST = datetime.now(timezone.utc).date() - timedelta(days=10)


def make_scenario(warehouse=None, seed=11, extra=3):
    return Scenario.from_dict({
        "seed": seed, "start_date": PAST.isoformat(), "days": 1, "speed": 1000,
        "channels": [{"name": "shop", "type": "shopify", "orders_per_day": 2, "extra_listings": extra},
                     {"name": "tkl", "type": "takealot", "orders_per_day": 1}],
        "warehouse": warehouse or {},
    })


@pytest.fixture
def started():
    simulators: list[Simulator] = []

    def start(scenario: Scenario | None = None) -> Simulator:
        simulators.append(Simulator(scenario or make_scenario()).start())
        return simulators[-1]

    yield start
    for simulator in simulators:
        simulator.stop()


class Wh:
    def __init__(self, sim: Simulator):
        self.sim = sim
        self.base = f"{sim.warehouse_url}/api/v1"
        self.session = requests.Session()
        self.session.headers["X-Api-Key"] = sim.credentials[sim.warehouse.name]["api_key"]

    def get(self, path, **params):
        return self.session.get(f"{self.base}/{path}", params=params, timeout=10)

    def post(self, path, body=None):
        return self.session.post(f"{self.base}/{path}", json=body, timeout=10)

    def by_cursor(self, **params):
        """Every page of the cursor form; (items in order, pages read)."""
        found, pages, cursor = [], 0, None
        while True:
            answer = self.get("items", **params, **({"cursor": cursor} if cursor else {}))
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert set(body) == {"items", "next_cursor"}
            found += body["items"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                return found, pages


def admin(sim, method, path, body=None):
    return requests.request(method, f"{sim.url}/_admin/{path}", json=body, timeout=10)


def order_body(sku, reference="shop:1001", quantity=2):
    return {
        "client_reference": reference, "order_number": "#1001", "channel": "shop", "channel_order_id": "1001",
        "ship_method": "UPS-GND",
        "ship_to": {"name": "Mary Smith", "address1": "969 Market St", "city": "San Francisco", "region": "CA",
                    "postal_code": "94103", "country": "US"},
        "customer": {"name": "Mary Smith"},
        "lines": [{"line_number": 1, "sku": sku, "quantity": quantity}],
    }


def stamps(sim):
    return {i["sku"]: i["updated_at"] for i in sim.warehouse.items(updated_at=True)}


def free_sku(sim, at_least=3):
    return next(i["sku"] for i in sim.warehouse.items() if i["good"] - i["allocated"] >= at_least)


def without_times(items):
    return [{k: v for k, v in i.items() if k != "updated_at"} for i in items]


# --- catalogue ---------------------------------------------------------------------------------------------

def test_extra_listings_are_stocked_and_orderable(started):
    scenario = make_scenario(extra=4)
    sim = started(scenario)
    skus = {i["sku"] for i in sim.warehouse.items()}
    listed = {p.sku for c in scenario.channels for p in listed_products(scenario.seed, c)}
    assert skus == listed and {f"SKU-L{n:07d}" for n in range(1, 5)} <= skus
    plain = Simulator(make_scenario(extra=0)).warehouse.items()  # the catalogue SKUs' draws are unchanged
    assert [i for i in sim.warehouse.items() if not i["sku"].startswith("SKU-L")] == plain
    extra = next(i for i in sim.warehouse.items() if i["sku"] == "SKU-L0000001")
    assert 5 <= extra["good"] <= 200 and 0 <= extra["allocated"] <= extra["good"]
    if extra["good"] - extra["allocated"] >= 2:
        assert Wh(sim).post("orders", order_body("SKU-L0000001")).status_code == 201


# --- updated_at ----------------------------------------------------------------------------------------------

def test_updated_at_is_set_and_bumped_by_every_change(started):
    sim = started(make_scenario({"receipts": 1.0}))
    client = Wh(sim)
    first = stamps(sim)
    assert len(set(first.values())) == len(first)  # strictly increasing: no two alike
    sku = free_sku(sim)
    answer = client.post("orders", order_body(sku)).json()
    after_accept = stamps(sim)
    assert after_accept[sku] > first[sku] and all(after_accept[k] == first[k] for k in first if k != sku)
    assert client.post(f"orders/{answer['order_id']}/cancel").status_code == 200
    after_cancel = stamps(sim)
    assert after_cancel[sku] > after_accept[sku]
    shipped = client.post("orders", order_body(sku, reference="shop:1002")).json()
    assert admin(sim, "POST", f"warehouse/orders/{shipped['order_id']}/ship").status_code == 200
    after_ship = stamps(sim)
    assert after_ship[sku] > after_cancel[sku] > max(first.values())
    shipment = sim.warehouse.shipments()[-1]
    assert shipment["updated_at"] > after_ship[sku]  # one clock: the stock moves, then the package is stamped
    assert admin(sim, "POST", "warehouse/items", {"sku": sku, "hurt": 1}).status_code == 200
    after_put = stamps(sim)
    assert after_put[sku] > after_ship[sku]
    ticked = admin(sim, "POST", "warehouse/tick").json()
    assert ticked["round"] == 1 and {i["sku"] for i in ticked["items"]} == set(after_put)  # receipts: 1.0
    assert all(i["updated_at"] > max(after_put.values()) for i in ticked["items"])
    # Answers that always had five keys keep them.
    assert set(client.get("items").json()["items"][0]) == {"sku", "description", "good", "hurt", "allocated"}
    assert set(sim.warehouse.items()[0]) == {"sku", "description", "good", "hurt", "allocated"}


def test_an_order_allocating_nothing_leaves_updated_at(started):
    sim = started()
    assert admin(sim, "POST", "warehouse/items", {"sku": "SKU-EMPTY", "good": 0}).status_code == 201
    before = stamps(sim)["SKU-EMPTY"]
    assert Wh(sim).post("orders", order_body("SKU-EMPTY")).json()["status"] == "backorder"
    assert stamps(sim)["SKU-EMPTY"] == before


# --- GET items, cursor form ------------------------------------------------------------------------------------

def test_updated_since_returns_exactly_what_moved_inclusive(started):
    sim = started()
    client = Wh(sim)
    everything, _ = client.by_cursor(limit=500)
    assert sorted(without_times(everything), key=lambda i: i["sku"]) == sim.warehouse.items()
    last = max(i["updated_at"] for i in everything)
    last_sku = max(everything, key=lambda i: i["updated_at"])["sku"]
    a, b = [i["sku"] for i in sim.warehouse.items() if i["good"] - i["allocated"] >= 3 and i["sku"] != last_sku][:2]
    assert client.post("orders", order_body(a)).status_code == 201
    admin(sim, "POST", "warehouse/items", {"sku": b, "good": 50})
    moved = client.get("items", updated_since=last).json()
    assert [i["sku"] for i in moved["items"]] == [last_sku, a, b] and moved["next_cursor"] is None  # inclusive
    edge = moved["items"][1]["updated_at"]
    assert [i["sku"] for i in client.get("items", updated_since=edge).json()["items"]] == [a, b]
    later = (datetime.fromisoformat(moved["items"][-1]["updated_at"].replace("Z", "+00:00")) + timedelta(microseconds=1))
    assert client.get("items", updated_since=later.isoformat()).json() == {"items": [], "next_cursor": None}
    with_offset = client.get("items", updated_since=edge.replace("Z", "+00:00")).json()
    assert [i["sku"] for i in with_offset["items"]] == [a, b]


def test_cursor_paging_returns_each_item_once(started):
    sim = started()
    client = Wh(sim)
    skus = [i["sku"] for i in sim.warehouse.items()]
    one_by_one, pages = client.by_cursor(limit=1)
    assert sorted(i["sku"] for i in one_by_one) == skus and pages == len(skus)
    keys = [(i["updated_at"], i["sku"]) for i in one_by_one]
    assert keys == sorted(keys)
    # An exact multiple: the last full page already says there is no more.
    per = next(n for n in range(2, len(skus)) if len(skus) % n == 0)
    paged, pages = client.by_cursor(limit=per)
    assert [i["sku"] for i in paged] == [i["sku"] for i in one_by_one] and pages == len(skus) // per
    whole = client.get("items", limit=len(skus)).json()
    assert len(whole["items"]) == len(skus) and whole["next_cursor"] is None
    # The cursor keeps the updated_since filter.
    cutoff = one_by_one[len(skus) // 2]["updated_at"]
    since, _ = client.by_cursor(limit=2, updated_since=cutoff)
    assert since == [i for i in one_by_one if i["updated_at"] >= cutoff]


def test_page_and_page_size_unchanged(started):
    sim = started()
    client = Wh(sim)
    items = sim.warehouse.items()
    answer = client.get("items", page=2, page_size=5).json()
    assert answer == {"items": items[5:10], "page": 2, "page_size": 5, "total": len(items)}
    assert client.get("items").json() == {"items": items, "page": 1, "page_size": 100, "total": len(items)}


@pytest.mark.parametrize("params, named", [
    ({"updated_since": "yesterday"}, ["updated_since"]),
    ({"limit": "0"}, ["limit"]),
    ({"limit": "501"}, ["limit"]),
    ({"limit": "x", "updated_since": "2026-01-01T00:00:00Z"}, ["limit"]),
    ({"cursor": "not-a-cursor"}, ["cursor"]),
    ({"page": "1", "updated_since": "2026-01-01T00:00:00Z"}, ["page", "updated_since"]),
    ({"page_size": "10", "cursor": "abc"}, ["page_size", "cursor"]),
    ({"page": "0"}, ["page"]),
])
def test_bad_parameters_are_400(started, params, named):
    sim = started()
    client = Wh(sim)
    client.get("items")  # the first listing: later ones would run a round, bad ones must not
    answer = client.get("items", **params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "Invalid parameter" and all(name in body["detail"] for name in named), body
    assert sim.warehouse.rounds() == 0


# --- rounds ---------------------------------------------------------------------------------------------------

def test_rounds_run_at_each_listing_after_the_first(started):
    sim = started(make_scenario({"receipts": 0.5, "hurt": 0.5}))
    client = Wh(sim)
    client.get("items", page_size=3)
    assert sim.warehouse.rounds() == 0  # the first listing sees the stock as drawn
    client.get("items", page=2, page_size=3)
    assert sim.warehouse.rounds() == 0  # a later page of the same listing: no round
    before = sim.warehouse.items()
    moved_at = max(stamps(sim).values())
    client.get("items", page_size=3)
    assert sim.warehouse.rounds() == 1 and sim.warehouse.items() != before
    first_page = client.get("items", limit=2, updated_since=moved_at).json()
    assert sim.warehouse.rounds() == 2
    client.get("items", limit=2, cursor=first_page["next_cursor"])
    assert sim.warehouse.rounds() == 2  # continuing with a cursor: no round


def test_rounds_are_deterministic_per_seed(started):
    scenario = make_scenario({"receipts": 0.4, "hurt": 0.6})
    one, two = started(scenario), started(scenario)
    for _ in range(4):
        a, b = one.warehouse.tick(), two.warehouse.tick()
        assert without_times(a) == without_times(b)
        assert one.warehouse.items() == two.warehouse.items()
    other = started(make_scenario({"receipts": 0.4, "hurt": 0.6}, seed=12))
    assert other.warehouse.items() != one.warehouse.items()


def test_receipts_and_hurt_move_stock_as_documented():
    receipts = Simulator(make_scenario({"receipts": 1.0})).warehouse
    before = {i["sku"]: i for i in receipts.items()}
    changed = receipts.tick()
    assert {i["sku"] for i in changed} == set(before)
    for item in changed:
        assert 10 <= item["good"] - before[item["sku"]]["good"] <= 100
        assert (item["hurt"], item["allocated"]) == (before[item["sku"]]["hurt"], before[item["sku"]]["allocated"])
    hurt = Simulator(make_scenario({"hurt": 1.0})).warehouse
    before = {i["sku"]: i for i in hurt.items()}
    changed = {i["sku"]: i for i in hurt.tick()}
    assert set(changed) == {s for s, i in before.items() if i["good"] - i["allocated"] > 0}
    for sku, item in changed.items():
        turned = before[sku]["good"] - item["good"]
        assert 1 <= turned <= 2 and item["hurt"] - before[sku]["hurt"] == turned
        assert item["good"] >= item["allocated"]


def test_shares_zero_rounds_change_nothing(started):
    sim = started()
    client = Wh(sim)
    times = stamps(sim)
    for _ in range(3):
        client.get("items")
    assert admin(sim, "POST", "warehouse/tick").json() == {"round": 3, "items": []}
    assert sim.warehouse.rounds() == 3 and stamps(sim) == times
    assert sim.warehouse.items() == Simulator(make_scenario()).warehouse.items()


# --- impossible records (S39) -----------------------------------------------------------------------------------

def test_stock_anomalies_are_impossible_stay_so_and_orders_are_answered(started):
    sim = started(make_scenario({"stock_anomalies": 0.6, "receipts": 1.0, "hurt": 1.0}, extra=30))
    anomalies = sim.warehouse.stock_anomalies()
    assert set(anomalies.values()) == {"negative_good", "allocated_above_good", "negative_hurt"}
    items = {i["sku"]: i for i in sim.warehouse.items()}

    def impossible(item, kind):
        return {"negative_good": item["good"] < 0, "allocated_above_good": item["allocated"] > item["good"],
                "negative_hurt": item["hurt"] < 0}[kind]

    assert all(impossible(items[sku], kind) for sku, kind in anomalies.items())
    assert all(i["good"] >= i["allocated"] >= 0 and i["hurt"] >= 0 for s, i in items.items() if s not in anomalies)
    client = Wh(sim)
    for n, (sku, kind) in enumerate(sorted(anomalies.items())[:9]):
        answer = client.post("orders", order_body(sku, reference=f"shop:odd{n}", quantity=1))
        assert answer.status_code == 201, answer.text
        body = answer.json()
        if kind in ("negative_good", "allocated_above_good"):
            assert body["status"] == "backorder" and body["backordered"] == [{"sku": sku, "quantity": 1}]
            assert client.post(f"orders/{body['order_id']}/cancel").status_code == 200
    for _ in range(3):
        changed = {i["sku"] for i in sim.warehouse.tick()}
        assert not changed & set(anomalies)
    after = {i["sku"]: i for i in sim.warehouse.items()}
    assert all(impossible(after[sku], kind) for sku, kind in anomalies.items())
    assert Simulator(make_scenario({"stock_anomalies": 0.6}, extra=30)).warehouse.stock_anomalies() == anomalies
    # An admin put making the record possible takes the SKU off the list.
    sku = next(iter(anomalies))
    admin(sim, "POST", "warehouse/items", {"sku": sku, "good": 10, "hurt": 0, "allocated": 0})
    assert sku not in sim.warehouse.stock_anomalies()
