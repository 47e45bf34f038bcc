"""The order anomalies the pipeline must stop (normalize gate and fulfilment stage): each one, on each platform
it applies to, as the simulator serves it over HTTP; rendered normally where it does not apply; and every other
order byte-identical to a scenario without them."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import pytest
import requests
import yaml

from sync_pipeline.simulator import Simulator
from sync_pipeline.simulator.orders import ORDER_ANOMALIES, catalogue, generate_orders
from sync_pipeline.simulator.platforms import PLATFORMS
from sync_pipeline.simulator.scenario import DEFAULT_SCENARIO_FILE
from sync_pipeline_tests.conftest import TODAY, scenario
from sync_pipeline_tests.simulator.test_simulator import keys_missing

START = TODAY - timedelta(days=2)  # two whole past days: nothing is cut at "now", all inside Takealot's 30 days
STATUS_MAP = Path(__file__).resolve().parents[2] / "data" / "status_map.yaml"
PAYLOADS = Path(__file__).resolve().parent.parent / "fixtures" / "payloads"
CHANNELS = [("shop", "shopify", 10), ("woo", "woocommerce", 10), ("amzn", "amazon", 10), ("tkl", "takealot", 10)]
KIND = {name: kind for name, kind, _ in CHANNELS}
SHIPS_TO_CUSTOMER = ["shop", "woo", "amzn"]  # Takealot ships to its own DC
GENEROUS = {"amazon_getOrders": {"burst": 200, "per_second": 50}, "amazon_getOrderItems": {"burst": 200, "per_second": 50},
            "takealot": {"burst": 200, "per_second": 50}, "shopify": {"bucket": 200, "per_second": 50}}
ZERO_DATE = "0000-00-00 00:00:00"
MARKETPLACE = "ATVPDKIKX0DER"


def make(anomalies=None, *, per_day=10, seed=7):
    return scenario([(n, k, per_day) for n, k, _ in CHANNELS], start=START, days=2, seed=seed,
                    anomalies=anomalies, rate_limits=GENEROUS)


@pytest.fixture
def serve():
    """Start a simulator for a scenario; stopped after the test."""
    simulators: list[Simulator] = []

    def start(the_scenario) -> Simulator:
        simulators.append(Simulator(the_scenario).start())
        return simulators[-1]

    yield start
    for simulator in simulators:
        simulator.stop()


class Fetch:
    """Every order of a started simulator's channel over its own HTTP API, by external id. An Amazon order is
    {"order": Order, "items": OrderItems}; a Takealot order is its list of Sale rows."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.session = requests.Session()
        self._amazon_tokens: dict[str, str] = {}

    def get(self, channel: str, path: str, **params) -> requests.Response:
        creds, kind = self.sim.credentials[channel], KIND[channel]
        headers, auth = {}, None
        if kind == "shopify":
            headers["X-Shopify-Access-Token"] = creds["access_token"]
        elif kind == "woocommerce":
            auth = (creds["consumer_key"], creds["consumer_secret"])
        elif kind == "amazon":
            if channel not in self._amazon_tokens:
                token = self.session.post(f"{self.sim.url}/{channel}/auth/o2/token", data={"grant_type": "refresh_token", **creds})
                self._amazon_tokens[channel] = token.json()["access_token"]
            headers["x-amz-access-token"] = self._amazon_tokens[channel]
        else:
            headers["Authorization"] = f"Key {creds['api_key']}"
        response = self.session.get(f"{self.sim.url}/{channel}/{path}", params=params, headers=headers, auth=auth)
        assert response.status_code == 200, response.text
        return response

    def ids(self, channel: str, **filters) -> list[str]:
        """The external ids a list request with these filters answers (every order without filters)."""
        kind = KIND[channel]
        if kind == "shopify":
            orders = self.get(channel, "admin/api/2025-01/orders.json", **{"status": "any", "limit": 250, **filters}).json()["orders"]
            return [str(o["id"]) for o in orders]
        if kind == "woocommerce":
            return [str(o["id"]) for o in self.get(channel, "wp-json/wc/v3/orders", per_page=100, **filters).json()]
        if kind == "amazon":
            filters = filters or {"CreatedAfter": f"{START}T00:00:00Z"}
            payload = self.get(channel, "orders/v0/orders", MarketplaceIds=MARKETPLACE, MaxResultsPerPage=100, **filters).json()
            return [o["AmazonOrderId"] for o in payload["payload"]["Orders"]]
        filters = filters or {"filters": f"start_date:{START - timedelta(days=1)}"}
        sales = self.get(channel, "v2/sales", page_size=100, **filters).json()["sales"]
        return list(dict.fromkeys(str(s["order_id"]) for s in sales))

    def orders(self, channel: str) -> dict:
        kind = KIND[channel]
        if kind == "shopify":
            orders = self.get(channel, "admin/api/2025-01/orders.json", status="any", limit=250).json()["orders"]
            return {str(o["id"]): o for o in orders}
        if kind == "woocommerce":
            return {str(o["id"]): o for o in self.get(channel, "wp-json/wc/v3/orders", per_page=100).json()}
        if kind == "amazon":
            payload = self.get(channel, "orders/v0/orders", MarketplaceIds=MARKETPLACE, MaxResultsPerPage=100,
                               CreatedAfter=f"{START}T00:00:00Z").json()["payload"]
            return {
                o["AmazonOrderId"]: {
                    "order": o,
                    "items": self.get(channel, f"orders/v0/orders/{o['AmazonOrderId']}/orderItems").json()["payload"]["OrderItems"],
                }
                for o in payload["Orders"]
            }
        sales = self.get(channel, "v2/sales", page_size=100, filters=f"start_date:{START - timedelta(days=1)}").json()["sales"]
        grouped: dict[str, list] = {}
        for sale in sales:
            grouped.setdefault(str(sale["order_id"]), []).append(sale)
        return grouped


def reference(sim: Simulator, channel: str) -> dict:
    """The simulator's own orders of a channel, by external id, in Fetch's shape."""
    return {
        r.external_order_id: {"order": r.payload, "items": r.order_items} if KIND[channel] == "amazon" else r.payload
        for r in sim.orders(channel)
    }


def clean(seed=7, per_day=10) -> Simulator:
    """The same scenario without any anomaly: what each order would be without its anomalies."""
    return Simulator(make(seed=seed, per_day=per_day))


def lines(channel: str, order) -> list[tuple[str, tuple, str]]:
    """(SKU, platform ids, title) of each line."""
    kind = KIND[channel]
    if kind == "shopify":
        return [(li["sku"], (li["variant_id"], li["product_id"]), li["title"]) for li in order["line_items"]]
    if kind == "woocommerce":
        return [(li["sku"], (li["product_id"], li["variation_id"]), li["name"]) for li in order["line_items"]]
    if kind == "amazon":
        return [(i["SellerSKU"], (i["ASIN"],), i["Title"]) for i in order["items"]]
    return [(s["sku"], (s["offer_id"], s["tsin"]), s["product_title"]) for s in order]


def ship_to(channel: str, order) -> dict | None:
    """The shipping address as {address1, address2, postcode, country}, None when the order has none."""
    kind = KIND[channel]
    if kind == "shopify":
        a = order["shipping_address"]
        return a and {"address1": a["address1"], "address2": a["address2"], "postcode": a["zip"], "country": a["country_code"]}
    if kind == "woocommerce":
        a = order["shipping"]
        return a["address_1"] and {"address1": a["address_1"], "address2": a["address_2"], "postcode": a["postcode"], "country": a["country"]}
    a = order["order"].get("ShippingAddress")
    return a and {"address1": a["AddressLine1"], "address2": a.get("AddressLine2", ""), "postcode": a["PostalCode"], "country": a["CountryCode"]}


@lru_cache(maxsize=None)
def catalogue_ids(channel: str) -> dict[str, tuple[tuple, str]]:
    """Each catalogue SKU's platform ids and title, as a clean channel with many orders serves them."""
    sim = Simulator(make(per_day=150))
    seen = {}
    for order in reference(sim, channel).values():
        for sku, ids, title in lines(channel, order):
            seen[sku] = (ids, title)
    assert set(seen) == {p.sku for p in catalogue(7, channel)}, "every catalogue product is sold"
    return seen


def status_map() -> dict:
    return yaml.safe_load(STATUS_MAP.read_text(encoding="utf-8"))["types"]


# --- all new shares 0: nothing changes ------------------------------------------------------------------

def test_orders_without_the_new_anomalies_are_byte_identical_to_a_scenario_without_them():
    """Only the orders that draw a new anomaly change; every other order, id and time is what it was."""
    old = {"missing_phone": 0.2, "non_latin_names": 0.2, "status_changes": 0.3, "cancellations": 0.1, "unpaid": 0.1, "fba": 0.1}
    plain = make(dict(old), per_day=20)
    zeros = make({**old, **dict.fromkeys(ORDER_ANOMALIES, 0.0)}, per_day=20)
    some = make({**old, **dict.fromkeys(ORDER_ANOMALIES, 0.15)}, per_day=20)
    dump = lambda sim, ch: [(r.external_order_id, r.placed_at, r.updated_at, json.dumps(r.payload), r.order_items) for r in sim.orders(ch)]
    with_zeros, with_some, without = Simulator(zeros), Simulator(some), Simulator(plain)
    for spec in plain.channels:
        assert dump(with_zeros, spec.name) == dump(without, spec.name)
    for spec in plain.channels:
        platform = PLATFORMS[spec.type](spec, {}, plain)
        base = generate_orders(plain.seed, spec.name, spec.tz, plain.start_date, plain.days, spec.orders_per_day,
                               plain.anomalies, platform.market, without.now)
        drawn = generate_orders(some.seed, spec.name, spec.tz, some.start_date, some.days, spec.orders_per_day,
                                some.anomalies, platform.market, without.now)
        assert [(o.seq, o.uid, o.placed_at) for o in drawn] == [(o.seq, o.uid, o.placed_at) for o in base]
        assert all(not o.anomalies for o in base)
        changed = [o for o in drawn if o.anomalies]
        assert 0 < len(changed) < len(drawn)
        for before, after in zip(base, drawn):
            if not after.anomalies:
                assert platform.render(after) == platform.render(before)
            else:
                assert platform.render(after) != platform.render(before)
        # The same orders are served over HTTP-facing records, with the same ids.
        assert [r.external_order_id for r in with_some.orders(spec.name)] == [r.external_order_id for r in without.orders(spec.name)]


def test_default_scenario_declares_every_new_anomaly_with_a_small_share_and_no_invalid_dates():
    declared = yaml.safe_load(DEFAULT_SCENARIO_FILE.read_text(encoding="utf-8"))["anomalies"]
    assert set(ORDER_ANOMALIES) <= set(declared)
    assert declared["invalid_date"] == 0.0
    assert all(0 < declared[name] <= 0.05 for name in ORDER_ANOMALIES if name != "invalid_date")


# --- normalize-stage anomalies --------------------------------------------------------------------------

def test_unmapped_status_is_a_real_status_the_status_map_lacks(serve):
    sim = serve(make({"unmapped_status": 1.0, "status_changes": 0.5, "cancellations": 0.3}))
    fetch, mapped = Fetch(sim), status_map()
    shop = fetch.orders("shop")
    assert len(shop) == 20
    for order in shop.values():
        assert (order["financial_status"], order["fulfillment_status"], order["cancelled_at"]) == ("expired", None, None)
    assert "expired" not in mapped["shopify"]
    assert set(fetch.ids("shop", status="open")) == set(shop), "nothing cancelled or closed"
    woo = fetch.orders("woo")
    assert {o["status"] for o in woo.values()} == {"checkout-draft"} and "checkout-draft" not in mapped["woocommerce"]
    assert set(fetch.ids("woo", status="checkout-draft")) == set(woo)
    tkl = fetch.orders("tkl")
    assert {s["sale_status"] for sales in tkl.values() for s in sales} == {"Customer Received"}
    assert "Customer Received" not in mapped["takealot"]
    assert all(s["shipment_id"] for sales in tkl.values() for s in sales)
    # Every Amazon status is mapped: its orders are rendered as without the anomaly.
    assert fetch.orders("amzn") == reference(Simulator(make({"status_changes": 0.5, "cancellations": 0.3})), "amzn")
    assert {o["order"]["OrderStatus"] for o in fetch.orders("amzn").values()} <= set(mapped["amazon"])


def test_missing_customer_blanks_name_email_and_phone_but_keeps_the_address(serve):
    sim = serve(make({"missing_customer": 1.0}))
    fetch, plain = Fetch(sim), clean()
    shop, shop_clean = fetch.orders("shop"), reference(plain, "shop")
    assert set(shop) == set(shop_clean)
    for order_id, order in shop.items():
        assert order["customer"] is None
        assert (order["email"], order["contact_email"], order["phone"]) == (None, None, None)
        for which in ("shipping_address", "billing_address"):
            address = order[which]
            assert (address["first_name"], address["last_name"], address["name"], address["phone"]) == ("", "", "", None)
            kept = shop_clean[order_id][which]
            assert (address["address1"], address["city"], address["zip"]) == (kept["address1"], kept["city"], kept["zip"])
    woo, woo_clean = fetch.orders("woo"), reference(plain, "woo")
    for order_id, order in woo.items():
        billing = order["billing"]
        assert (billing["first_name"], billing["last_name"], billing["email"], billing["phone"]) == ("", "", "", "")
        assert (order["shipping"]["first_name"], order["shipping"]["last_name"]) == ("", "")
        assert order["shipping"]["address_1"] == woo_clean[order_id]["shipping"]["address_1"] != ""
    amzn, amzn_clean = fetch.orders("amzn"), reference(plain, "amzn")
    for order_id, entry in amzn.items():
        buyer, address = entry["order"]["BuyerInfo"], entry["order"]["ShippingAddress"]
        assert "BuyerEmail" not in buyer and "BuyerName" not in buyer
        assert address["Name"] == "" and "Phone" not in address
        assert address["AddressLine1"] == amzn_clean[order_id]["order"]["ShippingAddress"]["AddressLine1"]
    assert {s["customer"] for sales in fetch.orders("tkl").values() for s in sales} == {""}
    assert {s["customer"] for sales in reference(plain, "tkl").values() for s in sales} != {""}


def test_malformed_address_breaks_one_character_of_the_shipping_line(serve):
    sim = serve(make({"malformed_address": 1.0, "non_latin_names": 0.5}))
    fetch, plain = Fetch(sim), Simulator(make({"non_latin_names": 0.5}))
    kinds = set()
    for channel in SHIPS_TO_CUSTOMER:
        served, before = fetch.orders(channel), reference(plain, channel)
        for order_id, order in served.items():
            line, was = ship_to(channel, order)["address1"], ship_to(channel, before[order_id])["address1"]
            assert len(line) == len(was)
            diff = [(a, b) for a, b in zip(line, was) if a != b]
            assert len(diff) == 1, (line, was)
            broken, original = diff[0]
            assert broken == "\ufffd" and not original.isascii() or unicodedata.category(broken) == "Cc" and original == " "
            kinds.add("replacement" if broken == "\ufffd" else "control")
            assert ship_to(channel, order)["postcode"] == ship_to(channel, before[order_id])["postcode"]
    assert kinds == {"replacement", "control"}
    assert fetch.orders("tkl") == reference(plain, "tkl"), "Takealot ships to its DC: not applicable"


def test_unknown_country_writes_uk_instead_of_gb(serve):
    sim = serve(make({"unknown_country": 1.0}))
    fetch = Fetch(sim)
    for order in fetch.orders("shop").values():
        address = order["shipping_address"]
        assert (address["country_code"], address["country"]) == ("UK", "UK") and address["address1"] and address["city"]
    assert {o["shipping"]["country"] for o in fetch.orders("woo").values()} == {"UK"}
    assert {o["order"]["ShippingAddress"]["CountryCode"] for o in fetch.orders("amzn").values()} == {"UK"}
    assert fetch.orders("tkl") == reference(clean(), "tkl")


def test_invalid_amount_is_a_negative_total(serve):
    sim = serve(make({"invalid_amount": 1.0}))
    fetch, plain = Fetch(sim), clean()
    shop, shop_clean = fetch.orders("shop"), reference(plain, "shop")
    for order_id, order in shop.items():
        expected = "-" + shop_clean[order_id]["total_price"]
        assert order["total_price"] == expected and re.fullmatch(r"-\d+(\.\d+)?", expected)
        assert order["total_price_set"]["shop_money"]["amount"] == expected == order["current_total_price"]
    woo, woo_clean = fetch.orders("woo"), reference(plain, "woo")
    assert all(woo[i]["total"] == "-" + woo_clean[i]["total"] for i in woo)
    amzn, amzn_clean = fetch.orders("amzn"), reference(plain, "amzn")
    assert all(amzn[i]["order"]["OrderTotal"]["Amount"] == "-" + amzn_clean[i]["order"]["OrderTotal"]["Amount"] for i in amzn)
    tkl, tkl_clean = fetch.orders("tkl"), reference(plain, "tkl")
    for order_id, sales in tkl.items():
        prices, was = [s["selling_price"] for s in sales], [s["selling_price"] for s in tkl_clean[order_id]]
        assert prices == [-was[0], *was[1:]] and prices[0] < 0


def test_invalid_date_zeroes_the_creation_time_but_the_order_stays_in_its_real_window(serve):
    sim = serve(make({"invalid_date": 1.0}))
    fetch, plain = Fetch(sim), clean()
    for channel in KIND:
        records, real = sim.orders(channel), {r.external_order_id: r for r in plain.orders(channel)}
        assert len(records) == 20 and all(r.placed_at == real[r.external_order_id].placed_at for r in records)
    shop = fetch.orders("shop")
    assert {o["created_at"] for o in shop.values()} == {ZERO_DATE}
    assert all(o["processed_at"] != ZERO_DATE and o["updated_at"] != ZERO_DATE for o in shop.values())
    woo = fetch.orders("woo")
    assert {(o["date_created"], o["date_created_gmt"]) for o in woo.values()} == {(ZERO_DATE, ZERO_DATE)}
    amzn = fetch.orders("amzn")
    assert {o["order"]["PurchaseDate"] for o in amzn.values()} == {ZERO_DATE}
    assert {s["order_date"] for sales in fetch.orders("tkl").values() for s in sales} == {ZERO_DATE}
    # Each platform's created-time filter still finds the order around its real time.
    for record in sim.orders("shop")[::5]:
        low, high = record.placed_at - timedelta(seconds=1), record.placed_at + timedelta(seconds=1)
        assert record.external_order_id in fetch.ids("shop", created_at_min=low.isoformat(), created_at_max=high.isoformat())
    for record in sim.orders("woo")[::5]:
        low, high = record.placed_at - timedelta(seconds=1), record.placed_at + timedelta(seconds=1)
        found = fetch.ids("woo", after=low.strftime("%Y-%m-%dT%H:%M:%S"), before=high.strftime("%Y-%m-%dT%H:%M:%S"), dates_are_gmt="true")
        assert record.external_order_id in found
    for record in sim.orders("amzn")[::5]:
        low, high = record.placed_at - timedelta(seconds=1), record.placed_at + timedelta(seconds=1)
        found = fetch.ids("amzn", CreatedAfter=low.strftime("%Y-%m-%dT%H:%M:%SZ"), CreatedBefore=high.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert record.external_order_id in found
    tz = sim.scenario.channels[3].tz
    for record in sim.orders("tkl")[::5]:
        day = record.placed_at.astimezone(tz).date()
        assert record.external_order_id in fetch.ids("tkl", filters=f"start_date:{day};end_date:{day}")


# --- fulfilment-stage anomalies ------------------------------------------------------------------------

@pytest.mark.parametrize("channel", list(KIND))
def test_unknown_sku_is_a_discontinued_predecessor_no_catalogue_has(serve, channel):
    sim = serve(make({"unknown_sku": 1.0}))
    known = catalogue_ids(channel)
    known_ids = {i for ids, _ in known.values() for i in ids if i}
    orders = Fetch(sim).orders(channel)
    assert len(orders) == 20
    for order in orders.values():
        unknown = [(sku, ids) for sku, ids, _ in lines(channel, order) if sku not in known]
        assert len(unknown) == 1
        sku, ids = unknown[0]
        assert re.fullmatch(r"DISC-\d{5}", sku) and "SKU-" + sku[5:] in known
        assert not set(ids) & known_ids, "its own ids, not a catalogue product's"


@pytest.mark.parametrize("channel", list(KIND))
def test_sku_case_mismatch_is_the_catalogue_sku_in_lower_case(serve, channel):
    sim = serve(make({"sku_case_mismatch": 1.0}))
    known = catalogue_ids(channel)
    for order in Fetch(sim).orders(channel).values():
        odd = [(sku, ids) for sku, ids, _ in lines(channel, order) if sku not in known]
        assert len(odd) == 1
        sku, ids = odd[0]
        assert sku == sku.lower() and re.fullmatch(r"sku-\d{5}", sku)
        assert ids == known[sku.upper()][0], "the catalogue product itself, its SKU typed in lower case"


@pytest.mark.parametrize("channel", list(KIND))
def test_duplicate_sku_is_a_stable_twin_sharing_a_catalogue_sku(serve, channel):
    sim = serve(make({"duplicate_sku": 1.0}))
    known = catalogue_ids(channel)
    known_ids = {i for ids, _ in known.values() for i in ids if i}
    twins: dict[str, set] = {}
    orders_with: dict[str, int] = {}
    for order in Fetch(sim).orders(channel).values():
        assert all(sku in known for sku, _, _ in lines(channel, order)), "every SKU is a catalogue SKU"
        twin_lines = [(sku, ids, title) for sku, ids, title in lines(channel, order) if ids != known[sku][0]]
        assert len(twin_lines) == 1
        sku, ids, title = twin_lines[0]
        assert not set(i for i in ids if i) & known_ids, "a variant id no catalogue product has"
        assert title != known[sku][1]
        twins.setdefault(sku, set()).add((ids, title))
        orders_with[sku] = orders_with.get(sku, 0) + 1
    assert all(len(seen) == 1 for seen in twins.values()), "the same twin every time"
    assert max(orders_with.values()) >= 2, "some twin is on two orders"


def test_unmapped_ship_method_is_same_day_or_scheduled(serve):
    sim = serve(make({"unmapped_ship_method": 1.0}))
    fetch = Fetch(sim)
    for order in fetch.orders("shop").values():
        line = order["shipping_lines"][0]
        assert (line["title"], line["code"]) == ("Same Day Courier", "Same Day Courier")
        assert float(order["total_shipping_price_set"]["shop_money"]["amount"]) > 0
    assert {(o["shipping_lines"][0]["method_id"], o["shipping_lines"][0]["method_title"]) for o in fetch.orders("woo").values()} == {
        ("local_pickup_plus", "Same Day Courier")
    }
    assert {(o["order"]["ShipServiceLevel"], o["order"]["ShipmentServiceLevelCategory"]) for o in fetch.orders("amzn").values()} == {
        ("Scheduled Delivery", "Scheduled")
    }
    assert fetch.orders("tkl") == reference(clean(), "tkl")


def test_po_box_replaces_the_shipping_street(serve):
    sim = serve(make({"po_box": 1.0}))
    fetch, plain = Fetch(sim), clean()
    forms = set()
    for channel in SHIPS_TO_CUSTOMER:
        served, before = fetch.orders(channel), reference(plain, channel)
        for order_id, order in served.items():
            address, was = ship_to(channel, order), ship_to(channel, before[order_id])
            match = re.fullmatch(r"(PO Box|P\.O\. Box) \d+", address["address1"])
            assert match and address["address2"] == ""
            forms.add(match.group(1))
            assert (address["postcode"], address["country"]) == (was["postcode"], was["country"])
        if channel == "amzn":
            assert all("AddressLine2" not in o["order"]["ShippingAddress"] for o in served.values())
    assert forms == {"PO Box", "P.O. Box"}
    assert fetch.orders("tkl") == reference(plain, "tkl")


def test_bad_postal_code_does_not_fit_the_country(serve):
    sim = serve(make({"bad_postal_code": 1.0}))
    fetch, plain = Fetch(sim), clean()
    expected = {"US": "ABCDE", "GB": "12345", "CA": "1234", "ZA": "ABC"}
    countries = set()
    for channel in SHIPS_TO_CUSTOMER:
        served, before = fetch.orders(channel), reference(plain, channel)
        for order_id, order in served.items():
            address, was = ship_to(channel, order), ship_to(channel, before[order_id])
            assert address["postcode"] == expected.get(was["country"], "???") != was["postcode"]
            assert address["address1"] == was["address1"]
            countries.add(address["country"])
    assert {"US", "GB"} <= countries and countries - set(expected), "both a known and an other country's format"
    assert fetch.orders("tkl") == reference(plain, "tkl")


# --- together -----------------------------------------------------------------------------------------

def test_every_anomaly_at_once_keeps_every_key_of_the_real_payloads(serve):
    sim = serve(make(dict.fromkeys(ORDER_ANOMALIES, 1.0)))
    fetch = Fetch(sim)
    shopify = json.loads((PAYLOADS / "shopify_order.json").read_text())["orders"][0]
    woo = json.loads((PAYLOADS / "woocommerce_order.json").read_text())
    amazon = json.loads((PAYLOADS / "amazon_order.json").read_text())["payload"]["Orders"][0]
    item = json.loads((PAYLOADS / "amazon_order_items.json").read_text())["payload"]["OrderItems"][0]
    sale = json.loads((PAYLOADS / "takealot_order.SCHEMA_DERIVED_NOT_REAL.json").read_text())["sales"][0]
    # Shopify's customer is null here, as a guest checkout leaves it; every other key is kept.
    assert all(keys_missing(shopify, o) == [] for o in fetch.orders("shop").values())
    assert all(keys_missing(woo, o) == [] for o in fetch.orders("woo").values())
    for entry in fetch.orders("amzn").values():
        assert keys_missing(amazon, entry["order"]) == [] and all(keys_missing(item, i) == [] for i in entry["items"])
    assert all(set(s) == set(sale) for sales in fetch.orders("tkl").values() for s in sales)
    for channel in KIND:
        for order in fetch.orders(channel).values():
            skus = [sku for sku, _, _ in lines(channel, order)]
            assert sum(s.startswith("DISC-") for s in skus) == 1 and sum(s.startswith("sku-") for s in skus) == 1
            assert len(skus) >= 3, "each SKU anomaly has a line of its own"
    for order in fetch.orders("shop").values():
        address = order["shipping_address"]
        assert address["country_code"] == "UK" and address["zip"] == "???" and order["created_at"] == ZERO_DATE
        assert re.fullmatch(r"(PO Box|P\.O\. Box)[\x08\x0b\x1a]\d+", address["address1"]), "the PO box line, broken"
        assert order["financial_status"] == "expired" and order["total_price"].startswith("-") and order["customer"] is None


def test_ship_to_anomalies_skip_orders_without_a_shipping_address():
    sim = Simulator(make({"missing_shipping_address": 1.0, "po_box": 1.0, "bad_postal_code": 1.0, "unknown_country": 1.0,
                          "malformed_address": 1.0}))
    plain = Simulator(make({"missing_shipping_address": 1.0}))
    for channel in KIND:
        assert reference(sim, channel) == reference(plain, channel)


