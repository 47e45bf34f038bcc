"""The simulated BigCommerce Orders V2 and eBay Sell Fulfillment APIs over HTTP: filters, paging, auth, headers,
and payloads that keep every key of the real ones."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
import requests

from sync_pipeline.simulator import Simulator
from sync_pipeline_tests.conftest import TODAY, scenario
from sync_pipeline_tests.simulator.test_simulator import keys_missing

PAYLOADS = Path(__file__).resolve().parent.parent / "fixtures" / "payloads"
YESTERDAY = TODAY - timedelta(days=1)
DAY_START = datetime.combine(YESTERDAY, datetime.min.time(), tzinfo=timezone.utc)


@pytest.fixture
def sim():
    simulator = Simulator(scenario([("bc", "bigcommerce", 12), ("eb", "ebay", 12)], anomalies={"status_changes": 0.4})).start()
    yield simulator
    simulator.stop()


def bc_get(sim, path: str, token: str | None = None, **params) -> requests.Response:
    token = token or sim.credentials["bc"]["access_token"]
    return requests.get(f"{sim.url}/bc{path}", params=params, headers={"X-Auth-Token": token, "Accept": "application/json"}, timeout=10)


def ebay_token(sim) -> str:
    keys = sim.credentials["eb"]
    response = requests.post(f"{sim.url}/eb/identity/v1/oauth2/token", auth=(keys["client_id"], keys["client_secret"]),
                             data={"grant_type": "refresh_token", "refresh_token": keys["refresh_token"]}, timeout=10)
    assert response.status_code == 200 and response.json()["expires_in"] == 7200
    return response.json()["access_token"]


def ebay_get(sim, path: str = "", token: str | None = None, **params) -> requests.Response:
    token = token or ebay_token(sim)
    return requests.get(f"{sim.url}/eb/sell/fulfillment/v1/order{path}", params=params,
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def rfc(moment: datetime) -> str:
    return format_datetime(moment)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- BigCommerce -----------------------------------------------------------------------------------------

def test_bigcommerce_date_filters_are_inclusive_and_take_rfc2822_or_iso(sim):
    day = [r for r in sim.orders("bc") if r.placed_at.date() == YESTERDAY]
    first = day[0].placed_at
    response = bc_get(sim, "/v2/orders", min_date_created=rfc(first), max_date_created=rfc(DAY_START + timedelta(days=1, seconds=-1)), limit=250)
    assert response.status_code == 200
    assert [o["id"] for o in response.json()] == sorted(int(r.external_order_id) for r in day)
    iso_response = bc_get(sim, "/v2/orders", min_date_created=first.isoformat(), max_date_created=first.isoformat())
    assert [str(o["id"]) for o in iso_response.json()] == [day[0].external_order_id]
    changed = [r for r in sim.orders("bc") if r.updated_at > r.placed_at]
    assert changed
    since = min(r.updated_at for r in changed)
    modified = bc_get(sim, "/v2/orders", min_date_modified=rfc(since), limit=250).json()
    assert {str(o["id"]) for o in modified} == {r.external_order_id for r in sim.orders("bc") if r.updated_at >= since}
    assert bc_get(sim, "/v2/orders", min_date_created="yesterday").status_code == 400


def test_bigcommerce_pages_end_with_204_and_no_body(sim):
    window = {"min_date_created": rfc(DAY_START), "max_date_created": rfc(DAY_START + timedelta(days=1, seconds=-1))}
    pages = [bc_get(sim, "/v2/orders", page=page, limit=6, sort="id:asc", **window) for page in (1, 2, 3)]
    assert [p.status_code for p in pages] == [200, 200, 204]
    assert pages[2].content == b"" and "Content-Type" not in pages[2].headers
    ids = [o["id"] for p in pages[:2] for o in p.json()]
    assert ids == sorted(ids) and len(ids) == 12
    assert bc_get(sim, "/v2/orders", limit=251).status_code == 400
    assert bc_get(sim, "/v2/orders", sort="price:asc").status_code == 400
    assert [o["id"] for o in bc_get(sim, "/v2/orders", sort="id:desc", limit=3).json()] == sorted(
        (int(r.external_order_id) for r in sim.orders("bc")), reverse=True)[:3]


def test_bigcommerce_sub_resources_auth_and_quota_headers(sim):
    record = sim.orders("bc")[0]
    order_id = record.external_order_id
    assert bc_get(sim, f"/v2/orders/{order_id}").json() == record.payload["order"]
    assert bc_get(sim, f"/v2/orders/{order_id}/products").json() == record.payload["products"]
    assert bc_get(sim, f"/v2/orders/{order_id}/shipping_addresses").json() == record.payload["shipping_addresses"]
    assert bc_get(sim, f"/stores/abc123/v2/orders/{order_id}").status_code == 200, "the /stores/<hash> prefix is accepted"
    assert bc_get(sim, "/v2/orders/1/products").status_code == 404
    refused = bc_get(sim, "/v2/orders", token="wrong")
    assert refused.status_code == 401 and refused.json()[0]["status"] == 401
    headers = bc_get(sim, "/v2/orders").headers
    assert headers["X-Rate-Limit-Requests-Quota"] == "150"
    assert int(headers["X-Rate-Limit-Requests-Left"]) < 150
    assert {"X-Rate-Limit-Time-Reset-Ms", "X-Rate-Limit-Time-Window-Ms"} <= set(headers)


def test_bigcommerce_quota_is_shared_by_every_endpoint_and_refuses_with_429():
    small = scenario([("bc", "bigcommerce", 3)], speed=0.01, rate_limits={"bigcommerce": {"burst": 3, "per_second": 1}})
    with Simulator(small).start() as simulator:
        order_id = simulator.orders("bc")[0].external_order_id
        statuses = [bc_get(simulator, path).status_code for path in
                    ("/v2/orders", f"/v2/orders/{order_id}/products", f"/v2/orders/{order_id}/shipping_addresses", "/v2/orders")]
        assert statuses == [200, 200, 200, 429]
        assert bc_get(simulator, "/v2/orders").headers["X-Rate-Limit-Requests-Left"] == "0"


def test_bigcommerce_payload_keeps_every_key_of_the_real_one(sim):
    order = json.loads((PAYLOADS / "bigcommerce_order.json").read_text())[0]
    sub_resources = json.loads((PAYLOADS / "bigcommerce_order_subresources.json").read_text())
    for record in sim.orders("bc"):
        assert keys_missing(order, record.payload["order"]) == []
        assert keys_missing(sub_resources["GET /orders/{order_id}/products"][0], record.payload["products"][0]) == []
        assert keys_missing(sub_resources["GET /orders/{order_id}/shipping_addresses"][0], record.payload["shipping_addresses"][0]) == []


# --- eBay ------------------------------------------------------------------------------------------------

def test_ebay_token_grant_checks_the_apps_keys_and_the_refresh_token(sim):
    keys = sim.credentials["eb"]
    url = f"{sim.url}/eb/identity/v1/oauth2/token"
    wrong_client = requests.post(url, auth=(keys["client_id"], "nope"), data={"grant_type": "refresh_token", "refresh_token": keys["refresh_token"]}, timeout=10)
    assert (wrong_client.status_code, wrong_client.json()["error"]) == (401, "invalid_client")
    wrong_token = requests.post(url, auth=(keys["client_id"], keys["client_secret"]), data={"grant_type": "refresh_token", "refresh_token": "x"}, timeout=10)
    assert (wrong_token.status_code, wrong_token.json()["error"]) == (400, "invalid_grant")
    refused = ebay_get(sim, token="not-issued")
    assert refused.status_code == 401 and refused.json()["errors"][0]["errorId"] == 1001
    assert "X-Rate-Limit-Requests-Left" not in refused.headers


def test_ebay_creationdate_filter_arrives_decoded_and_wins_over_lastmodifieddate(sim):
    token = ebay_token(sim)
    day = [r for r in sim.orders("eb") if r.placed_at.date() == YESTERDAY]
    created = f"creationdate:[{iso(DAY_START)}..{iso(DAY_START + timedelta(days=1, milliseconds=-1))}]"
    sim.clear_requests()
    body = ebay_get(sim, token=token, filter=created, limit=200).json()
    assert [o["orderId"] for o in body["orders"]] == [r.external_order_id for r in day]
    assert body["total"] == len(day) and "next" not in body
    assert sim.requests[0]["query"]["filter"] == created, "requests percent-encodes the brackets; the server decodes them"
    both = ebay_get(sim, token=token, filter=f"{created},lastmodifieddate:[2000-01-01T00:00:00.000Z..2000-01-02T00:00:00.000Z]").json()
    assert both["total"] == len(day), "only creationdate is used"
    since = min(r.updated_at for r in sim.orders("eb") if r.updated_at > r.placed_at)
    modified = ebay_get(sim, token=token, filter=f"lastmodifieddate:[{iso(since)}..]", limit=200).json()
    assert {o["orderId"] for o in modified["orders"]} == {r.external_order_id for r in sim.orders("eb") if r.updated_at >= since.replace(microsecond=0)}
    assert ebay_get(sim, token=token, filter="creationdate:2026-01-01").status_code == 400


def test_ebay_paging_follows_next_until_it_is_absent(sim):
    token = ebay_token(sim)
    created = f"creationdate:[{iso(DAY_START)}..{iso(DAY_START + timedelta(days=1, milliseconds=-1))}]"
    url, params, seen, pages = f"{sim.url}/eb/sell/fulfillment/v1/order", {"filter": created, "limit": 5}, [], 0
    while url:
        body = requests.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        seen += [o["orderId"] for o in body["orders"]]
        url, params, pages = body.get("next"), None, pages + 1
    assert pages == 3 and len(seen) == len(set(seen)) == 12
    assert ebay_get(sim, token=token, limit=201).status_code == 400
    one = sim.orders("eb")[0]
    assert ebay_get(sim, f"/{one.external_order_id}", token=token).json() == one.payload
    assert ebay_get(sim, "/99-99999-99999", token=token).status_code == 404
    assert [o["orderId"] for o in ebay_get(sim, token=token, orderIds=one.external_order_id).json()["orders"]] == [one.external_order_id]


def test_ebay_payload_keeps_every_key_and_unpaid_orders_are_pending():
    template = json.loads((PAYLOADS / "ebay_order.json").read_text())["orders"][0]
    unpaid = scenario([("eb", "ebay", 10)], anomalies={"unpaid": 1.0})
    simulator = Simulator(unpaid)
    for record in simulator.orders("eb"):
        assert keys_missing(template, record.payload) == []
        assert record.payload["orderPaymentStatus"] == "PENDING"
        step = record.payload["fulfillmentStartInstructions"][0]["shippingStep"]
        assert step["shippingServiceCode"].startswith("UK_") and step["shipTo"]["contactAddress"]["countryCode"]
