"""The channel simulator over loopback HTTP: generation, each platform's paging, auth and rate limits,
injected faults, the /_admin endpoints and scenario validation."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from sync_pipeline.simulator import Scenario, ScenarioError, Simulator, default_scenario, load_scenario
from sync_pipeline.simulator.platforms.base import decode_token

PAYLOADS = Path(__file__).resolve().parent.parent / "fixtures" / "payloads"
TODAY = datetime.now(timezone.utc).date()
PAST = TODAY - timedelta(days=10)  # a whole past range: nothing is cut at "now"
TYPES = ["shopify", "woocommerce", "amazon", "takealot"]
SHOPIFY_ORDERS = "admin/api/2025-01/orders.json"
MARKETPLACE = "ATVPDKIKX0DER"


def make_scenario(channels, *, days=2, start=PAST, seed=7, faults=None, anomalies=None, speed=1000.0, rate_limits=None, **extra):
    document = {
        "seed": seed, "start_date": start.isoformat(), "days": days, "speed": speed,
        "channels": [{"name": n, "type": t, "orders_per_day": k, **extra.get(n, {})} for n, t, k in channels],
        "faults": faults or {}, "anomalies": anomalies or {},
    }
    if rate_limits:
        document["rate_limits"] = rate_limits
    return Scenario.from_dict(document)


@pytest.fixture
def started():
    """Start simulators and stop them after the test."""
    simulators: list[Simulator] = []

    def start(scenario: Scenario, credentials=None) -> Simulator:
        simulators.append(Simulator(scenario, credentials).start())
        return simulators[-1]

    yield start
    for simulator in simulators:
        simulator.stop()


class Client:
    """Authenticated calls to one simulated channel."""

    def __init__(self, sim: Simulator, channel: str):
        self.sim, self.channel, self.creds = sim, channel, sim.credentials[channel]
        self.base = f"{sim.url}/{channel}"
        self.session = requests.Session()
        self._amazon_token = None

    def shopify(self, path=SHOPIFY_ORDERS, **params):
        return self.session.get(f"{self.base}/{path}", params=params, headers={"X-Shopify-Access-Token": self.creds["access_token"]})

    def woo(self, path="wp-json/wc/v3/orders", **params):
        return self.session.get(f"{self.base}/{path}", params=params, auth=(self.creds["consumer_key"], self.creds["consumer_secret"]))

    def lwa(self, **override):
        form = {"grant_type": "refresh_token", **self.creds, **override}
        return self.session.post(f"{self.base}/auth/o2/token", data=form)

    def amazon(self, path="orders/v0/orders", **params):
        if self._amazon_token is None:
            self._amazon_token = self.lwa().json()["access_token"]
        return self.session.get(f"{self.base}/{path}", params=params, headers={"x-amz-access-token": self._amazon_token})

    def takealot(self, **params):
        return self.session.get(f"{self.base}/v2/sales", params=params, headers={"Authorization": f"Key {self.creds['api_key']}"})

    def list_any(self, channel_type: str):
        """One list request that succeeds on a healthy channel."""
        return {
            "shopify": lambda: self.shopify(status="any", limit=5),
            "woocommerce": lambda: self.woo(per_page=5),
            "amazon": lambda: self.amazon(MarketplaceIds=MARKETPLACE, CreatedAfter=f"{PAST}T00:00:00Z", MaxResultsPerPage=5),
            "takealot": lambda: self.takealot(filters=f"start_date:{PAST}", page_size=5),
        }[channel_type]()


def admin(sim: Simulator, method: str, path: str, body=None):
    return requests.request(method, f"{sim.url}/_admin/{path}", json=body)


def keys_missing(template, payload, where="") -> list[str]:
    """Keys of the real payload (recursively, first element of lists) that the generated one lacks."""
    missing = []
    if isinstance(template, dict) and isinstance(payload, dict):
        for key, value in template.items():
            if key not in payload:
                missing.append(f"{where}.{key}")
            else:
                missing += keys_missing(value, payload[key], f"{where}.{key}")
    elif isinstance(template, list) and isinstance(payload, list) and template and payload:
        missing += keys_missing(template[0], payload[0], f"{where}[0]")
    return missing


# --- generation ---------------------------------------------------------------------------------------

def test_default_scenario_covers_six_platforms_ending_today():
    scenario = default_scenario(days=3, today=date(2026, 11, 20))
    assert [(c.name, c.type) for c in scenario.channels] == [
        ("shopify-demo", "shopify"), ("woo-demo", "woocommerce"), ("amazon-demo", "amazon"), ("takealot-demo", "takealot"),
        ("bigcommerce-demo", "bigcommerce"), ("ebay-demo", "ebay"), ("magento-demo", "magento"),
        ("bobshop-demo", "bobshop"),
    ]
    assert scenario.start_date == date(2026, 11, 18) and scenario.days == 3 and scenario.speed == 50
    assert scenario.faults.rate_limit_429 == 0 and scenario.anomalies.missing_phone > 0


def test_same_seed_same_payloads_byte_for_byte_and_another_seed_differs():
    channels = [(f"{t[:4]}-x", t, 12) for t in TYPES]

    def dump(seed):
        sim = Simulator(make_scenario(channels, seed=seed, anomalies={"status_changes": 0.3, "non_latin_names": 0.3}))
        return {c: json.dumps([(o.external_order_id, o.payload, o.order_items) for o in sim.orders(c)]) for c, _, _ in channels}

    first = dump(7)
    assert dump(7) == first
    other = dump(8)
    assert all(other[c] != first[c] for c in first)


def test_a_days_orders_do_not_depend_on_the_scenarios_window():
    day = PAST + timedelta(days=2)
    narrow = Simulator(make_scenario([("woo", "woocommerce", 9)], start=day, days=1)).orders("woo")
    wide = [o for o in Simulator(make_scenario([("woo", "woocommerce", 9)], days=5)).orders("woo") if o.placed_at.date() == day]
    assert [(o.external_order_id, o.payload) for o in narrow] == [(o.external_order_id, o.payload) for o in wide]


def test_no_order_is_placed_or_updated_after_now_and_repeat_runs_agree():
    scenario = make_scenario([("shop", "shopify", 200)], start=TODAY - timedelta(days=1), anomalies={"status_changes": 1.0})
    sim = Simulator(scenario)
    orders = sim.orders("shop")
    assert orders and all(o.placed_at <= sim.now and o.updated_at <= sim.now for o in orders)
    # Changes are due 2-48 hours after placement: the older ones have happened, the newest not yet.
    assert all(o.updated_at > o.placed_at for o in orders if o.placed_at < sim.now - timedelta(hours=48))
    assert any(o.updated_at > o.placed_at for o in orders)
    assert all(o.payload["fulfillment_status"] is None for o in orders if o.placed_at > sim.now - timedelta(hours=2))
    again = {o.external_order_id: o.payload for o in Simulator(scenario).orders("shop")}
    assert all(again[o.external_order_id] == o.payload for o in orders), "nothing is stamped with the run's own time"
    assert TODAY - timedelta(days=1) in {o.placed_at.date() for o in orders} <= {TODAY - timedelta(days=1), TODAY}


def test_orders_vary_in_currency_lines_skus_and_shipping():
    sim = Simulator(make_scenario([("shop", "shopify", 60), ("woo", "woocommerce", 60), ("amzn", "amazon", 20)]))
    shop = [o.payload for o in sim.orders("shop")]
    assert {"USD", "EUR", "GBP", "JPY"} <= {p["currency"] for p in shop}
    assert {len(p["line_items"]) for p in shop} == {1, 2, 3, 4}
    assert all(line["sku"].startswith("SKU-") and len(line["sku"]) == 9 for p in shop for line in p["line_items"])
    assert {"Standard Shipping", "Express Overnight"} <= {p["shipping_lines"][0]["title"] for p in shop}
    jpy = next(p for p in shop if p["currency"] == "JPY")
    assert "." not in jpy["total_price"], "JPY has no minor unit"
    assert len({p["shipping_lines"][0]["method_id"] for p in (o.payload for o in sim.orders("woo"))}) >= 2
    levels = {(o.payload["ShipServiceLevel"], o.payload["ShipmentServiceLevelCategory"]) for o in sim.orders("amzn")}
    assert ("Std US D2D Dom", "Standard") in levels


def test_anomalies_show_up_in_each_platforms_own_way():
    every = {"missing_phone": 1.0, "missing_shipping_address": 1.0, "cancellations": 1.0}
    channels = [("shop", "shopify", 5), ("woo", "woocommerce", 5), ("amzn", "amazon", 5), ("tkl", "takealot", 5)]
    sim = Simulator(make_scenario(channels, anomalies=every))
    for o in sim.orders("shop"):
        assert o.payload["shipping_address"] is None and o.payload["phone"] is None and o.payload["cancelled_at"]
    for o in sim.orders("woo"):
        assert o.payload["shipping"]["address_1"] == "" and o.payload["billing"]["phone"] == "" and o.payload["status"] == "cancelled"
    for o in sim.orders("amzn"):
        assert "ShippingAddress" not in o.payload and o.payload["OrderStatus"] == "Canceled"
    for o in sim.orders("tkl"):
        assert all(sale["sale_status"].startswith("Cancelled by") for sale in o.payload)
    unpaid = Simulator(make_scenario(channels, anomalies={"unpaid": 1.0, "fba": 1.0, "non_latin_names": 1.0}))
    assert {o.payload["financial_status"] for o in unpaid.orders("shop")} == {"pending"}
    assert {o.payload["status"] for o in unpaid.orders("woo")} == {"pending"}
    assert {(o.payload["OrderStatus"], o.payload["FulfillmentChannel"]) for o in unpaid.orders("amzn")} == {("Pending", "AFN")}
    names = [o.payload["customer"]["first_name"] + o.payload["customer"]["last_name"] for o in unpaid.orders("shop")]
    assert all(any(ord(ch) > 127 for ch in name) for name in names)


@pytest.mark.parametrize("channel_type, zone", [("shopify", "America/New_York"), ("woocommerce", "Europe/London"),
                                                ("takealot", "Africa/Johannesburg"), ("amazon", "UTC")])
def test_near_midnight_orders_sit_at_local_midnight_and_print_local_time(channel_type, zone):
    sim = Simulator(make_scenario([("ch", channel_type, 20)], days=3, anomalies={"near_midnight": 1.0}))
    tz = ZoneInfo(zone)
    first_day = datetime.combine(PAST, datetime.min.time(), tzinfo=timezone.utc)
    for order in sim.orders("ch"):
        local = order.placed_at.astimezone(tz)
        minutes = local.hour * 60 + local.minute
        assert min(minutes, 24 * 60 - minutes) <= 15
        assert first_day <= order.placed_at < first_day + timedelta(days=3), "orders stay within the scenario's UTC days"
        payload = order.payload
        if channel_type == "shopify":
            assert datetime.fromisoformat(payload["created_at"]) == order.placed_at
            assert payload["created_at"].endswith(local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:])
        elif channel_type == "woocommerce":
            assert payload["date_created"] == local.strftime("%Y-%m-%dT%H:%M:%S")
            assert payload["date_created_gmt"] == order.placed_at.strftime("%Y-%m-%dT%H:%M:%S")
        elif channel_type == "takealot":
            assert {s["order_date"] for s in payload} == {local.strftime("%Y-%m-%d %H:%M:%S")}
        else:
            assert payload["PurchaseDate"] == order.placed_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_generated_payloads_keep_every_key_of_the_real_payloads():
    channels = [("shop", "shopify", 30), ("woo", "woocommerce", 30), ("amzn", "amazon", 30), ("tkl", "takealot", 30)]
    sim = Simulator(make_scenario(channels, anomalies={"status_changes": 0.5}))
    shopify = json.loads((PAYLOADS / "shopify_order.json").read_text())["orders"][0]
    woo = json.loads((PAYLOADS / "woocommerce_order.json").read_text())
    amazon = json.loads((PAYLOADS / "amazon_order.json").read_text())["payload"]["Orders"][0]
    amazon_pii = json.loads((PAYLOADS / "amazon_getOrders_doc_example.json").read_text())["payload"]["Orders"][0]
    item = json.loads((PAYLOADS / "amazon_order_items.json").read_text())["payload"]["OrderItems"][0]
    sale = json.loads((PAYLOADS / "takealot_order.SCHEMA_DERIVED_NOT_REAL.json").read_text())["sales"][0]
    for order in sim.orders("shop"):
        assert keys_missing(shopify, order.payload) == []
    assert any(o.payload["fulfillments"] for o in sim.orders("shop")), "shipped orders carry a fulfillment"
    for order in sim.orders("woo"):
        assert keys_missing(woo, order.payload) == []
    for order in sim.orders("amzn"):
        assert keys_missing(amazon, order.payload) == []
        assert {"ShippingAddress", "BuyerInfo"} <= set(order.payload)
        assert set(amazon_pii["ShippingAddress"]) <= set(order.payload["ShippingAddress"])
        assert all(keys_missing(item, i) == [] for i in order.order_items)
    for order in sim.orders("tkl"):
        assert all(set(s) == set(sale) for s in order.payload)
        assert len({s["order_item_id"] for s in order.payload}) == len(order.payload)


# --- Shopify ------------------------------------------------------------------------------------------

def test_shopify_cursor_pages_cover_every_order_once(started):
    sim = started(make_scenario([("shop", "shopify", 23)], anomalies={"cancellations": 0.3, "status_changes": 0.3}))
    client = Client(sim, "shop")
    response = client.shopify(status="any", limit=10)
    seen, pages = [], 0
    while True:
        pages += 1
        assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
        seen += [o["id"] for o in response.json()["orders"]]
        if pages > 1:
            assert 'rel="previous"' in response.headers["Link"]
        if "next" not in response.links:
            break
        response = client.session.get(response.links["next"]["url"], headers={"X-Shopify-Access-Token": client.creds["access_token"]})
    assert pages == 5 and len(seen) == 46
    assert seen == [int(o.external_order_id) for o in sim.orders("shop")], "created_at then id, ascending"
    # The previous link of page 2 is page 1 again.
    first = client.shopify(status="any", limit=10)
    second = client.session.get(first.links["next"]["url"], headers={"X-Shopify-Access-Token": client.creds["access_token"]})
    back = client.session.get(second.links["previous"]["url"], headers={"X-Shopify-Access-Token": client.creds["access_token"]})
    assert back.json() == first.json()
    assert "Link" not in client.shopify(status="any", limit=250).headers


def test_shopify_refuses_filters_beside_page_info_and_bad_limits(started):
    sim = started(make_scenario([("shop", "shopify", 10)]))
    client = Client(sim, "shop")
    next_url = client.shopify(status="any", limit=3).links["next"]["url"]
    page_info = next_url.split("page_info=")[1]
    refused = client.shopify(page_info=page_info, created_at_min="2020-01-01T00:00:00Z")
    assert refused.status_code == 400
    assert refused.json() == {"errors": {"page_info": "created_at_min cannot be passed when page_info is present"}}
    assert client.shopify(page_info=page_info, limit=3, fields="id").status_code == 200
    assert decode_token(page_info)["filters"]["status"] == "any"
    assert client.shopify(limit=251).status_code == 400
    assert client.shopify(page_info="not-a-token").status_code == 400


def test_shopify_filters_status_and_times_with_any_offset(started):
    anomalies = {"cancellations": 0.3, "status_changes": 0.3}
    sim = started(make_scenario([("shop", "shopify", 30)], anomalies=anomalies))
    client = Client(sim, "shop")
    orders = sim.orders("shop")
    every = client.shopify(status="any", limit=250).json()["orders"]
    default = client.shopify(limit=250).json()["orders"]
    assert len(every) == 60
    assert [o["id"] for o in default] == [o["id"] for o in every if not o["cancelled_at"] and not o["closed_at"]]
    assert len(default) < len(every)
    assert all(o["cancelled_at"] for o in client.shopify(status="cancelled", limit=250).json()["orders"])
    # Inclusive bounds, given with different offsets for the same instants.
    low, high = orders[10].placed_at, orders[20].placed_at
    window = client.shopify(
        status="any", limit=250,
        created_at_min=low.astimezone(ZoneInfo("Asia/Tokyo")).isoformat(), created_at_max=high.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ).json()["orders"]
    assert [o["id"] for o in window] == [int(o.external_order_id) for o in orders[10:21]]
    changed = [o for o in orders if o.updated_at > o.placed_at]
    since = min(o.updated_at for o in changed)
    updated = client.shopify(status="any", limit=250, updated_at_min=since.isoformat()).json()["orders"]
    assert {o["id"] for o in updated} == {int(o.external_order_id) for o in orders if o.updated_at >= since}


def test_shopify_single_order_and_not_found(started):
    sim = started(make_scenario([("shop", "shopify", 3)]))
    client = Client(sim, "shop")
    order = sim.orders("shop")[0]
    assert client.shopify(f"admin/api/2024-10/orders/{order.external_order_id}.json").json() == {"order": order.payload}
    missing = client.shopify("admin/api/2024-10/orders/999999999.json")
    assert missing.status_code == 404 and missing.json() == {"errors": "Not Found"}


# --- WooCommerce --------------------------------------------------------------------------------------

def test_woocommerce_pages_with_total_headers_and_links(started):
    sim = started(make_scenario([("woo", "woocommerce", 12)]))
    client = Client(sim, "woo")
    first = client.woo(per_page=10, orderby="id", order="asc")
    assert first.headers["X-WP-Total"] == "24" and first.headers["X-WP-TotalPages"] == "3"
    assert 'rel="next"' in first.headers["Link"] and "consumer" not in first.headers["Link"]
    ids = []
    for page in (1, 2, 3):
        ids += [o["id"] for o in client.woo(per_page=10, orderby="id", order="asc", page=page).json()]
    assert ids == sorted(int(o.external_order_id) for o in sim.orders("woo"))
    last = client.woo(per_page=10, page=3)
    assert "next" not in last.links and "prev" in last.links
    past_end = client.woo(per_page=10, page=4)
    assert past_end.status_code == 200 and past_end.json() == [] and past_end.headers["X-WP-Total"] == "24"
    newest_first = client.woo(per_page=100).json()
    assert [o["id"] for o in newest_first] == [int(o.external_order_id) for o in reversed(sim.orders("woo"))]
    bad = client.woo(per_page=101)
    assert bad.status_code == 400 and bad.json()["code"] == "rest_invalid_param"


def test_woocommerce_date_filters_gmt_or_site_local(started):
    sim = started(make_scenario([("woo", "woocommerce", 20)], start=date(2025, 7, 1)))  # London is GMT+1 in July
    client = Client(sim, "woo")
    orders = sim.orders("woo")
    pivot = orders[15].placed_at
    gmt = pivot.strftime("%Y-%m-%dT%H:%M:%S")
    local = pivot.astimezone(ZoneInfo("Europe/London")).strftime("%Y-%m-%dT%H:%M:%S")
    expected = [int(o.external_order_id) for o in orders if o.placed_at > pivot]
    by_gmt = client.woo(after=gmt, dates_are_gmt="true", per_page=100, order="asc").json()
    by_local = client.woo(after=local, per_page=100, order="asc").json()
    assert [o["id"] for o in by_gmt] == [o["id"] for o in by_local] == expected, "after is exclusive"
    assert [o["id"] for o in client.woo(before=gmt, dates_are_gmt="true", per_page=100, order="asc").json()] == [
        int(o.external_order_id) for o in orders if o.placed_at < pivot
    ]


def test_woocommerce_auth_by_query_string_and_not_found(started):
    sim = started(make_scenario([("woo", "woocommerce", 3)]))
    creds = sim.credentials["woo"]
    url = f"{sim.url}/woo/wp-json/wc/v3/orders"
    assert requests.get(url, params={k: creds[k] for k in ("consumer_key", "consumer_secret")}).status_code == 200
    refused = requests.get(url, auth=(creds["consumer_key"], "cs_wrong"))
    assert refused.status_code == 401
    assert refused.json() == {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}}
    assert sim.requests[0]["query"] == {"consumer_key": "***", "consumer_secret": "***"}, "secrets are not logged"
    missing = Client(sim, "woo").woo("wp-json/wc/v3/orders/999999999")
    assert missing.status_code == 404 and missing.json()["code"] == "woocommerce_rest_shop_order_invalid_id"


# --- Amazon -------------------------------------------------------------------------------------------

def test_amazon_lwa_issues_tokens_and_refuses_wrong_grants(started):
    sim = started(make_scenario([("amzn", "amazon", 3)]))
    client = Client(sim, "amzn")
    issued = client.lwa().json()
    assert issued["access_token"].startswith("Atza|") and issued["token_type"] == "bearer" and issued["expires_in"] == 3600
    assert client.lwa().json()["access_token"] != issued["access_token"]
    wrong = client.lwa(client_secret="nope")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    params = {"MarketplaceIds": MARKETPLACE, "CreatedAfter": f"{PAST}T00:00:00Z"}
    refused = requests.get(f"{client.base}/orders/v0/orders", params=params, headers={"x-amz-access-token": "Atza|forged"})
    assert refused.status_code == 403 and refused.json() == {"errors": [{
        "code": "Unauthorized", "message": "Access to requested resource is denied.",
        "details": "The access token you provided has expired.",
    }]}
    ok = requests.get(f"{client.base}/orders/v0/orders", params=params, headers={"x-amz-access-token": issued["access_token"]})
    assert ok.status_code == 200


def test_amazon_next_token_pages_and_parameter_rules(started):
    sim = started(make_scenario([("amzn", "amazon", 13)], anomalies={"fba": 0.3}))
    client = Client(sim, "amzn")
    params = {"MarketplaceIds": MARKETPLACE, "CreatedAfter": f"{PAST}T00:00:00Z", "MaxResultsPerPage": 5}
    seen, pages = [], 0
    response = client.amazon(**params)
    while True:
        pages += 1
        payload = response.json()["payload"]
        assert response.headers["x-amzn-RateLimit-Limit"] == "16.7"  # 0.0167/s x speed 1000
        seen += [o["AmazonOrderId"] for o in payload["Orders"]]
        assert payload["CreatedBefore"].endswith("Z")
        if "NextToken" not in payload:
            break
        # Filters sent beside NextToken are ignored.
        response = client.amazon(**{**params, "CreatedAfter": "2000-01-01T00:00:00Z", "NextToken": payload["NextToken"]})
    assert pages == 6 and seen == [o.external_order_id for o in sim.orders("amzn")]
    mfn = client.amazon(MarketplaceIds=MARKETPLACE, CreatedAfter=f"{PAST}T00:00:00Z", FulfillmentChannels="MFN").json()
    assert {o["FulfillmentChannel"] for o in mfn["payload"]["Orders"]} == {"MFN"}
    now = datetime.now(timezone.utc)
    for bad in (
        {"CreatedAfter": f"{PAST}T00:00:00Z"},  # no MarketplaceIds
        {"MarketplaceIds": MARKETPLACE},
        {"MarketplaceIds": MARKETPLACE, "CreatedAfter": f"{PAST}T00:00:00Z", "LastUpdatedAfter": f"{PAST}T00:00:00Z"},
        {"MarketplaceIds": MARKETPLACE, "CreatedAfter": f"{PAST}T00:00:00Z", "CreatedBefore": (now - timedelta(seconds=30)).isoformat()},
        {"MarketplaceIds": MARKETPLACE, "CreatedAfter": f"{PAST}T00:00:00Z", "MaxResultsPerPage": 101},
        {"MarketplaceIds": MARKETPLACE, "NextToken": "bogus"},
    ):
        refused = client.amazon(**bad)
        assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "InvalidInput", bad
    by_update = client.amazon(MarketplaceIds=MARKETPLACE, LastUpdatedAfter=f"{PAST}T00:00:00Z").json()["payload"]
    assert len(by_update["Orders"]) == 26 and "LastUpdatedBefore" in by_update


def test_amazon_order_and_items_endpoints_page_items_by_ten(started):
    sim = started(make_scenario([("amzn", "amazon", 3)]))
    client = Client(sim, "amzn")
    order = sim.orders("amzn")[0]
    assert client.amazon(f"orders/v0/orders/{order.external_order_id}").json() == {"payload": order.payload}
    items = client.amazon(f"orders/v0/orders/{order.external_order_id}/orderItems").json()["payload"]
    assert items == {"AmazonOrderId": order.external_order_id, "OrderItems": order.order_items}
    big = dict(json.loads((PAYLOADS / "amazon_order.json").read_text())["payload"]["Orders"][0])
    template_item = json.loads((PAYLOADS / "amazon_order_items.json").read_text())["payload"]["OrderItems"][0]
    big["OrderItems"] = [{**template_item, "OrderItemId": str(n)} for n in range(23)]
    assert admin(sim, "POST", "channels/amzn/orders", big).status_code == 201
    path = f"orders/v0/orders/{big['AmazonOrderId']}/orderItems"
    collected, token, calls = [], None, 0
    while True:
        payload = client.amazon(path, **({"NextToken": token} if token else {})).json()["payload"]
        calls += 1
        collected += [i["OrderItemId"] for i in payload["OrderItems"]]
        token = payload.get("NextToken")
        if not token:
            break
    assert calls == 3 and collected == [str(n) for n in range(23)]
    missing = client.amazon("orders/v0/orders/999-0000000-0000000")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "NotFound"


# --- Takealot -----------------------------------------------------------------------------------------

def test_takealot_sales_pages_one_row_per_line_in_local_dates(started):
    sim = started(make_scenario([("tkl", "takealot", 15)]))
    client = Client(sim, "tkl")
    day = PAST + timedelta(days=1)
    tz = ZoneInfo("Africa/Johannesburg")
    expected = [s for o in sim.orders("tkl") if o.placed_at.astimezone(tz).date() == day for s in o.payload]
    rows, page = [], 1
    while True:
        body = client.takealot(filters=f"start_date:{day};end_date:{day}", page_size=4, page_number=page).json()
        assert body["page_summary"] == {"page_size": 4, "page_number": page, "total": len(expected)}
        rows += body["sales"]
        if page * 4 >= body["page_summary"]["total"]:
            break
        page += 1
    assert rows == sorted(expected, key=lambda s: (s["order_date"], s["order_item_id"]))
    beyond = client.takealot(filters=f"start_date:{day};end_date:{day}", page_size=4, page_number=page + 1).json()
    assert beyond["sales"] == []
    one = sim.orders("tkl")[0]
    assert client.takealot(filters=f"order_id:{one.external_order_id}").json()["sales"] == one.payload
    assert client.takealot(page_size=101).status_code == 400


def test_takealot_refuses_history_older_than_30_days(started):
    sim = started(make_scenario([("tkl", "takealot", 2)]))
    client = Client(sim, "tkl")
    local_today = datetime.now(ZoneInfo("Africa/Johannesburg")).date()
    old = client.takealot(filters=f"start_date:{local_today - timedelta(days=31)}")
    assert old.status_code == 400 and old.json() == {"message": "start_date may not be more than 30 days in the past"}
    assert client.takealot(filters=f"start_date:{local_today - timedelta(days=30)}").status_code == 200


# --- auth, rate limits and faults ---------------------------------------------------------------------

@pytest.mark.parametrize("channel_type", TYPES)
def test_wrong_and_expired_credentials_are_refused_in_the_platforms_words(started, channel_type):
    sim = started(make_scenario([("good", channel_type, 2), ("gone", channel_type, 2)], faults={"expired_credentials": ["gone"]}))
    bodies = {
        "shopify": (401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        "woocommerce": (401, {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}}),
        "amazon": (400, {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"}),
        "takealot": (401, {"message": "Unauthorized"}),
    }
    expired = Client(sim, "gone")
    response = expired.lwa() if channel_type == "amazon" else expired.list_any(channel_type)
    assert (response.status_code, response.json()) == bodies[channel_type]
    wrong = Client(sim, "good")
    wrong.creds = {k: v + "x" for k, v in wrong.creds.items()}
    response = wrong.lwa() if channel_type == "amazon" else wrong.list_any(channel_type)
    assert (response.status_code, response.json()) == bodies[channel_type]
    assert Client(sim, "good").list_any(channel_type).status_code == 200


def test_shopify_leaky_bucket_counts_calls_and_refuses_with_retry_after(started):
    sim = started(make_scenario([("shop", "shopify", 2)], speed=1, rate_limits={"shopify": {"bucket": 3, "per_second": 0.5}}))
    client = Client(sim, "shop")
    limits = [client.shopify(status="any").headers["X-Shopify-Shop-Api-Call-Limit"] for _ in range(3)]
    assert limits == ["1/3", "2/3", "3/3"]
    refused = client.shopify(status="any")
    assert refused.status_code == 429 and refused.json()["errors"].startswith("Exceeded 2 calls per second")
    assert refused.headers["X-Shopify-Shop-Api-Call-Limit"] == "3/3"
    assert 0 < float(refused.headers["Retry-After"]) <= 2.0
    assert [r["status"] for r in sim.requests] == [200, 200, 200, 429]


def test_amazon_token_bucket_per_operation_and_takealot_headers(started):
    limits = {"amazon_getOrder": {"burst": 2, "per_second": 0.1}, "takealot": {"burst": 2, "per_second": 0.1}}
    sim = started(make_scenario([("amzn", "amazon", 2), ("tkl", "takealot", 2)], speed=1, rate_limits=limits))
    amazon = Client(sim, "amzn")
    order_path = f"orders/v0/orders/{sim.orders('amzn')[0].external_order_id}"
    statuses = [amazon.amazon(order_path).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = amazon.amazon(order_path)
    assert refused.json() == {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]}
    assert "Retry-After" not in refused.headers and refused.headers["x-amzn-RateLimit-Limit"] == "0.1"
    assert amazon.amazon(f"{order_path}/orderItems").status_code == 200, "another operation has its own bucket"
    takealot = Client(sim, "tkl")
    first, second, third = (takealot.takealot() for _ in range(3))
    assert (first.headers["x-RateLimit-Limit"], first.headers["x-RateLimit-Remaining"]) == ("2", "1")
    assert second.headers["x-RateLimit-Remaining"] == "0" and 0 < float(second.headers["x-RateLimit-Reset"]) <= 10
    assert third.status_code == 429 and third.json() == {"message": "Too Many Requests"}
    assert third.headers["x-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("channel_type", TYPES)
def test_injected_faults_are_logged_and_429s_come_with_and_without_retry_after(started, channel_type):
    faults = {"rate_limit_429": 0.3, "server_error_5xx": 0.2, "connection_reset": 0.1, "timeout": 0.1, "timeout_delay_s": 0.05}
    sim = started(make_scenario([("ch", channel_type, 3)], faults=faults, speed=1,
                                rate_limits={"shopify": {"bucket": 200}, "takealot": {"burst": 200}, "amazon_getOrders": {"burst": 200}}))
    client = Client(sim, "ch")
    if channel_type == "amazon":  # get a token through the faults first
        for _ in range(20):
            try:
                token = client.lwa()
            except requests.ConnectionError:
                continue
            if token.status_code == 200:
                client._amazon_token = token.json()["access_token"]
                break
    outcomes = []
    for _ in range(60):
        try:
            outcomes.append(client.list_any(channel_type))
        except requests.ConnectionError:
            outcomes.append(None)
    log = [r for r in sim.requests if r["path"].endswith(("orders.json", "/orders", "/sales"))]
    kinds = {r["injected"] for r in log}
    assert {"rate_limit_429", "server_error_5xx", "connection_reset", "timeout", None} <= kinds
    by_seq = dict(zip([r["seq"] for r in log], outcomes))
    for entry in log:
        response = by_seq[entry["seq"]]
        if entry["injected"] == "connection_reset":
            assert response is None and entry["status"] is None
        elif entry["injected"] == "server_error_5xx":
            assert response.status_code in (500, 503) and response.json()
        elif entry["injected"] == "rate_limit_429":
            assert response.status_code == 429
        else:
            assert response.status_code == 200
    retry_after = [by_seq[r["seq"]].headers.get("Retry-After") for r in log if r["injected"] == "rate_limit_429"]
    assert "0.05" in retry_after and None in retry_after
    if channel_type == "shopify":  # injected 429s do not use the bucket
        served = sum(1 for r in log if r["injected"] in (None, "timeout"))
        last = [r for r in outcomes if r is not None and r.status_code == 200][-1]
        assert int(last.headers["X-Shopify-Shop-Api-Call-Limit"].split("/")[0]) <= served
    assert admin(sim, "DELETE", "requests").status_code == 200 and sim.requests == []


def test_timeouts_stall_until_the_client_gives_up(started):
    sim = started(make_scenario([("shop", "shopify", 2)], faults={"timeout": 1.0, "timeout_delay_s": 0.5}))
    client = Client(sim, "shop")
    began = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        client.session.get(f"{client.base}/{SHOPIFY_ORDERS}", headers={"X-Shopify-Access-Token": client.creds["access_token"]}, timeout=0.1)
    assert time.monotonic() - began < 0.4
    assert sim.requests[0]["injected"] == "timeout"


@pytest.mark.parametrize("channel_type, narrow, wide", [
    ("shopify", {"created_at_min": f"{PAST}T00:00:00Z", "created_at_max": f"{PAST}T11:00:00Z"},
     {"created_at_min": f"{PAST}T00:00:00Z", "created_at_max": f"{PAST}T13:00:00Z"}),
    ("woocommerce", {"after": f"{PAST}T00:00:00", "before": f"{PAST}T12:00:00", "dates_are_gmt": "true"},
     {"after": f"{PAST}T00:00:00", "before": f"{PAST}T12:00:01", "dates_are_gmt": "true"}),
    ("amazon", {"CreatedAfter": f"{PAST}T00:00:00Z", "CreatedBefore": f"{PAST}T12:00:00Z"},
     {"CreatedAfter": f"{PAST}T00:00:00Z"}),
    ("takealot", {"filters": f"start_date:{PAST};end_date:{PAST}"},
     {"filters": f"start_date:{PAST};end_date:{PAST + timedelta(days=1)}"}),
])
def test_wide_created_windows_always_stall(started, channel_type, narrow, wide):
    hours = 24 if channel_type == "takealot" else 12
    sim = started(make_scenario([("ch", channel_type, 4)], faults={"timeout_window_hours": hours, "timeout_delay_s": 0.3}))
    client = Client(sim, "ch")
    call = {"shopify": client.shopify, "woocommerce": client.woo, "amazon": client.amazon, "takealot": client.takealot}[channel_type]
    extra = {"amazon": {"MarketplaceIds": MARKETPLACE}, "shopify": {"status": "any"}}.get(channel_type, {})
    assert call(**extra, **narrow).status_code == 200
    assert sim.requests[-1]["injected"] is None
    began = time.monotonic()
    assert call(**extra, **wide).status_code == 200
    assert time.monotonic() - began >= 0.3 and sim.requests[-1]["injected"] == "timeout"


def test_faults_can_be_replaced_at_runtime_and_are_validated(started):
    sim = started(make_scenario([("tkl", "takealot", 2)]))
    client = Client(sim, "tkl")
    assert client.takealot().status_code == 200
    set_ = admin(sim, "POST", "faults", {"expired_credentials": ["tkl"]})
    assert set_.status_code == 200 and set_.json()["faults"]["expired_credentials"] == ["tkl"]
    assert client.takealot().status_code == 401
    bad = admin(sim, "POST", "faults", {"rate_limit_429": 2})
    assert bad.status_code == 400 and "faults.rate_limit_429" in bad.json()["error"]
    assert admin(sim, "POST", "faults", {"expired_credentials": ["nobody"]}).status_code == 400
    sim.set_faults({})
    assert client.takealot().status_code == 200


# --- admin ----------------------------------------------------------------------------------------------

def test_admin_adds_and_replaces_real_reference_payloads(started):
    channels = [("shop", "shopify", 1), ("woo", "woocommerce", 1), ("amzn", "amazon", 1), ("tkl", "takealot", 1)]
    sim = started(make_scenario(channels))
    shopify = json.loads((PAYLOADS / "shopify_order.json").read_text())
    assert admin(sim, "POST", "channels/shop/orders", shopify).json() == {"external_order_id": "450789469"}
    single = Client(sim, "shop").shopify("admin/api/2025-10/orders/450789469.json").json()["order"]
    assert single == shopify["orders"][0], "served verbatim"
    replaced = {"order": {**shopify["orders"][0], "updated_at": "2008-01-11T09:00:00-05:00", "note": "changed"}}
    assert admin(sim, "POST", "channels/shop/orders", replaced).status_code == 201
    listed = {o["external_order_id"]: o for o in admin(sim, "GET", "channels/shop/orders").json()}
    assert listed["450789469"] == {"external_order_id": "450789469", "placed_at": "2008-01-10T16:00:00Z", "updated_at": "2008-01-11T14:00:00Z"}
    old = Client(sim, "shop").shopify(status="any", created_at_max="2008-12-31T00:00:00Z").json()["orders"]
    assert [o["note"] for o in old] == ["changed"]

    woo = json.loads((PAYLOADS / "woocommerce_order.json").read_text())
    assert admin(sim, "POST", "channels/woo/orders", woo).json() == {"external_order_id": "727"}
    assert Client(sim, "woo").woo("wp-json/wc/v3/orders/727").json() == woo
    woo_record = next(o for o in sim.orders("woo") if o.external_order_id == "727")
    assert woo_record.placed_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=timezone.utc)

    envelope = json.loads((PAYLOADS / "amazon_getOrders_doc_example.json").read_text())
    assert admin(sim, "POST", "channels/amzn/orders", envelope).json() == {"external_order_id": "902-3159896-1390916"}
    amazon = json.loads((PAYLOADS / "amazon_order.json").read_text())
    items = json.loads((PAYLOADS / "amazon_order_items.json").read_text())["payload"]["OrderItems"]
    first = {**amazon["payload"]["Orders"][0], "OrderItems": items}
    assert admin(sim, "POST", "channels/amzn/orders", first).json() == {"external_order_id": "902-1845936-5435065"}
    client = Client(sim, "amzn")
    assert client.amazon("orders/v0/orders/902-1845936-5435065").json()["payload"] == amazon["payload"]["Orders"][0]
    assert client.amazon("orders/v0/orders/902-1845936-5435065/orderItems").json()["payload"]["OrderItems"] == items
    both = admin(sim, "POST", "channels/amzn/orders", amazon).json()
    assert both == {"external_order_id": ["902-1845936-5435065", "902-8745147-1934268"]}

    takealot = json.loads((PAYLOADS / "takealot_order.SCHEMA_DERIVED_NOT_REAL.json").read_text())
    bad = admin(sim, "POST", "channels/tkl/orders", takealot)
    assert bad.status_code == 400 and "order_date" in bad.json()["error"], "the template's placeholder date is refused"
    day = TODAY - timedelta(days=2)
    sales = [{**takealot["sales"][0], "order_date": f"{day} 00:30:00"},
             {**takealot["sales"][0], "order_item_id": 444555667, "order_date": f"{day} 00:30:00"}]
    assert admin(sim, "POST", "channels/tkl/orders", sales).json() == {"external_order_id": "111222333"}
    served = Client(sim, "tkl").takealot(filters=f"start_date:{day};end_date:{day}").json()["sales"]
    assert [s["order_item_id"] for s in served if s["order_id"] == 111222333] == [444555666, 444555667]
    record = next(o for o in sim.orders("tkl") if o.external_order_id == "111222333")
    assert record.placed_at == datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc) - timedelta(hours=1, minutes=30)

    assert admin(sim, "POST", "channels/woo/orders", {"id": "x"}).status_code == 400
    assert requests.post(f"{sim.url}/_admin/channels/woo/orders", data=b"{not json").status_code == 400
    assert admin(sim, "POST", "channels/nobody/orders", woo).status_code == 404


def test_unknown_channel_and_unknown_path_are_json_404s(started):
    sim = started(make_scenario([("shop", "shopify", 1)]))
    unknown = requests.get(f"{sim.url}/nobody/admin/api/2025-01/orders.json")
    assert unknown.status_code == 404 and "nobody" in unknown.json()["error"]
    assert Client(sim, "shop").shopify("admin/api/2025-01/customers.json").status_code == 404


def test_credentials_given_are_used_and_the_rest_generated(started):
    scenario = make_scenario([("shop", "shopify", 1), ("amzn", "amazon", 1)])
    sim = started(scenario, credentials={"shop": {"access_token": "shpat_given_0123"}})
    assert sim.credentials["shop"]["access_token"] == "shpat_given_0123"
    assert set(sim.credentials["shop"]) == {"access_token", "webhook_secret"}, "the webhook secret generated"
    assert set(sim.credentials["amzn"]) == {"refresh_token", "client_id", "client_secret"}
    assert Simulator(scenario).credentials["amzn"] != Simulator(scenario).credentials["amzn"]
    assert Client(sim, "shop").shopify(status="any").status_code == 200
    with pytest.raises(ValueError, match="nobody"):
        Simulator(scenario, credentials={"nobody": {"api_key": "x"}})


# --- scenario validation --------------------------------------------------------------------------------

GOOD = {"seed": 1, "start_date": "2026-11-01", "days": 2, "speed": 5, "channels": [{"name": "a", "type": "shopify"}]}


@pytest.mark.parametrize("change, message", [
    ({"channels": [{"name": "a", "type": "shopify"}, {"name": "b", "type": "woocommerce"}, {"name": "c", "type": "shopfy"}]},
     "scenario channels[2].type: 'shopfy' is not one of amazon, bigcommerce, bobshop, ebay, magento, shopify, takealot, woocommerce"),
    ({"channels": [{"name": "Shop A", "type": "shopify"}]}, "scenario channels[0].name: 'Shop A' must match"),
    ({"channels": [{"name": "a", "type": "shopify"}, {"name": "a", "type": "amazon"}]}, "scenario channels[1].name: 'a' is already used by channels[0]"),
    ({"channels": [{"name": "a", "type": "shopify", "orders_per_day": -1}]}, "scenario channels[0].orders_per_day: must be >= 0"),
    ({"channels": [{"name": "a", "type": "shopify", "timezone": "Mars/Olympus"}]}, "scenario channels[0].timezone"),
    ({"channels": [{"name": "a", "type": "shopify", "colour": "red"}]}, "scenario channels[0]: unknown key 'colour'"),
    ({"channels": [{"name": "a", "type": "shopify", "orders_per_day": 10_001}]}, "scenario channels[0].orders_per_day: must be <= 10000"),
    ({"start_date": "1999-12-31"}, "scenario.start_date: must be 2000-01-01 or later"),
    ({"speed": -1}, "scenario.speed: must be > 0"),
    ({"days": "two"}, "scenario.days: must be an integer"),
    ({"start_date": "yesterday"}, "scenario.start_date"),
    ({"extra": 1}, "scenario: unknown key 'extra'"),
    ({"faults": {"timeout": 1.5}}, "scenario.faults.timeout: must be a share between 0 and 1"),
    ({"faults": {"rate_limit_429": 0.6, "server_error_5xx": 0.6}}, "scenario.faults: the shares"),
    ({"faults": {"expired_credentials": ["b"]}}, "scenario.faults.expired_credentials[0]: 'b' is not a channel"),
    ({"anomalies": {"missing_phone": True}}, "scenario.anomalies.missing_phone: must be a number"),
    ({"rate_limits": {"shopify": {"bucket": 40, "per_second": -2}}}, "scenario.rate_limits.shopify.per_second: must be > 0"),
    ({"rate_limits": {"amazon_getOrders": {"bucket": 3}}}, "scenario.rate_limits.amazon_getOrders: unknown key 'bucket'"),
    ({"channels": [{"name": "w", "type": "woocommerce", "options": {"variations_per_product": -2}}]},
     "options.variations_per_product: must be a whole number >= 0, got -2"),
    ({"channels": [{"name": "w", "type": "woocommerce", "options": {"variations_per_product": True}}]},
     "options.variations_per_product: must be a whole number >= 0, got True"),
    ({"channels": [{"name": "a", "type": "shopify", "options": {"variations_per_product": 3}}]},
     "unknown key 'variations_per_product'"),
])
def test_scenario_errors_name_the_field(change, message):
    with pytest.raises(ScenarioError) as error:
        Scenario.from_dict({**GOOD, **change})
    assert message in str(error.value)


def test_load_scenario_reads_yaml_and_names_the_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "seed: 3\nstart_date: 2026-11-01\ndays: 1\nchannels:\n  - {name: tkl, type: takealot, orders_per_day: 2}\n"
        "rate_limits:\n  takealot: {burst: 4, per_second: 2}\n"
    )
    scenario = load_scenario(path)
    assert scenario.channels[0].timezone == "Africa/Johannesburg" and scenario.speed == 1.0
    assert scenario.rate_limits["takealot"].burst == 4 and scenario.rate_limits["shopify"].burst == 40
    path.write_text("seed: 3\nchannels: [")
    with pytest.raises(ScenarioError, match="s.yaml: not valid YAML"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="missing.yaml"):
        load_scenario(tmp_path / "missing.yaml")
    assert isinstance(ScenarioError("x"), ValueError)
