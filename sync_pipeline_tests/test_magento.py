"""Magento 2: its real order payloads mapped to exact values (configurable and bundle rows as warehouse lines), its
settings, and its connector against the simulated store (paging by total_count past the end, the admin token's
renewal, the integration token refused as a bearer). The flows end to end: test_magento_flows.py; push by push
against the store: test_magento_tracking.py."""

from __future__ import annotations

import copy
import json
import math
import time
from datetime import datetime, timezone

import pytest
import requests

from sync_pipeline.channels import ORDER_MAPPINGS
from sync_pipeline.channels.http import ChannelAuthError
from sync_pipeline.channels.magento.mapping import shippable_lines
from sync_pipeline.config import ConfigError, parse_config
from sync_pipeline_tests.conftest import scenario
from sync_pipeline_tests.test_connectors import YESTERDAY, day_window, fetch_day
from sync_pipeline_tests.test_normalize import errors_of, load, run

UTC = timezone.utc
DEFAULT_LABELS = {"pending": "placed", "processing": "paid", "complete": "shipped", "canceled": "cancelled"}


def tutorial_order() -> dict:
    """The docs' order 3 in full: a simple, a downloadable, a bundle of four and a configurable."""
    return load("magento_order_tutorial_full.json")


# --- mapping of the real payloads ----------------------------------------------------------------------

def test_magento_real_payload_maps_exactly():
    result = run("magento", ("3", load("magento_order.json")), status_map=DEFAULT_LABELS)
    order = result.orders.iloc[0]
    assert (order["order_number"], order["channel_status"], order["canonical_status"]) == ("000000003", "pending", "placed")
    assert (order["customer_name"], order["customer_email"], order["customer_phone"]) == ("Jane Doe", "jdoe@example.com", "+15125551111")
    assert (order["ship_name"], order["ship_company"], order["ship_address1"], order["ship_address2"]) == (
        "Jane Doe", None, "123 Oak Ave", None)
    assert (order["ship_city"], order["ship_region"], order["ship_postal_code"], order["ship_country"]) == ("Purchase", "NY", "10577", "US")
    assert order["ship_phone"] == "+15125551111"
    assert (order["bill_name"], order["bill_address1"], order["bill_city"], order["bill_postal_code"], order["bill_country"]) == (
        "Jane Doe", "123 Oak Ave", "Purchase", "10577", "US")
    assert (order["currency"], order["total_amount"], order["shipping_amount"], order["tax_amount"]) == ("USD", 165.0, 5.0, 0.0)
    assert order["ship_method"] == "tablerate_bestway", "the carrier_method code ship_maps.csv keys on, not its label"
    fields = json.loads(order["channel_fields"])
    assert (fields["entity_id"], fields["state"], fields["shipping_description"], fields["payment_method"]) == (
        3, "new", "Best Way - Table Rate", "banktransfer")
    lines = result.lines
    assert list(zip(lines["channel_sku"], lines["variant_id"], lines["quantity"], lines["unit_price"], lines["title"])) == [
        ("WS12-M-Orange", "1553", 1, 22.0, "Radiant Tee-M-Orange")]


def test_configurable_and_bundle_rows_become_one_line_per_shippable_item():
    order = tutorial_order()
    result = run("magento", ("3", order), status_map=DEFAULT_LABELS)
    lines = result.lines
    # The downloadable (item 4) ships nothing; the bundle (5) ships as its four components; the configurable (10)
    # as its child's sku (11) at the parent's price.
    assert list(zip(lines["line_number"], lines["channel_sku"], lines["variant_id"], lines["quantity"], lines["unit_price"])) == [
        (1, "WS12-M-Orange", "1553", 1, 22.0),
        (2, "24-WG082-blue", "29", 1, 27.0), (3, "24-WG084", "21", 1, 5.0), (4, "24-WG086", "34", 1, 17.0),
        (5, "24-WG088", "22", 1, 19.0),
        (6, "MH01-S-Gray", "56", 1, 52.0),
    ]
    assert list(lines["title"])[-1] == "Chaz Kangeroo Hoodie-S-Gray"
    # What a shipment names for each line: the PARENT item for bundle components and a configurable's child.
    assert [(line["item_id"], line["ship_item_id"]) for line in shippable_lines(order)] == [
        (3, 3), (6, 5), (7, 5), (8, 5), (9, 5), (11, 10)]


def test_a_configurable_child_takes_the_parents_quantity_and_a_bundle_component_its_own():
    order = tutorial_order()
    for item in order["items"]:
        if item["item_id"] in (10, 11):
            item["qty_ordered"] = 3 if item["item_id"] == 10 else 1  # Magento writes the child's as the parent's
        if item["item_id"] == 5:
            item["qty_ordered"] = 2
        if item["item_id"] == 7:
            item["qty_ordered"] = 4  # two bricks a bundle, two bundles
    lines = {line["item_id"]: line for line in shippable_lines(order)}
    assert (lines[11]["qty_ordered"], lines[11]["price"]) == (3, 52)
    assert (lines[7]["qty_ordered"], lines[7]["ship_item_qty_ordered"]) == (4, 2)


def test_magento_times_are_utc_without_an_offset():
    times = ORDER_MAPPINGS["magento"]["api"].times(load("magento_order.json"), UTC)
    assert times.placed_at == datetime(2017, 8, 21, 22, 22, 19, tzinfo=UTC)
    assert times.updated_at == datetime(2017, 8, 21, 22, 22, 20, tzinfo=UTC)


def test_a_renamed_status_label_maps_and_an_unknown_one_is_reported():
    order = load("magento_order.json")
    order["status"] = "Ready to Ship"  # the store's own label for state processing
    renamed = run("magento", ("3", order), status_map={**DEFAULT_LABELS, "Ready to Ship": "paid"})
    assert renamed.normalized == 1 and renamed.orders.iloc[0]["canonical_status"] == "paid"
    order["status"] = "Awaiting Courier"
    unknown = run("magento", ("3", order), status_map=DEFAULT_LABELS)
    assert errors_of(unknown) == [("STATUS_NOT_MAPPED", "channel_status")]
    message = unknown.errors.iloc[0]["message"]
    assert "'Awaiting Courier' is not mapped" in message and "types.magento" in message
    assert "data/status_map.yaml" in message


def test_the_shipped_status_map_has_magentos_default_labels():
    from sync_pipeline.orders.status_map import read_status_map, status_map_file

    sections, problems = read_status_map(status_map_file())
    assert not [p for p in problems if p.scope in (None, "magento")]
    assert set(sections["types"]["magento"]) == {
        "pending", "processing", "complete", "closed", "canceled", "holded", "fraud", "payment_review", "pending_payment"}


def test_a_guest_order_is_named_from_its_billing_address():
    order = copy.deepcopy(load("magento_order.json"))
    order.update(customer_firstname=None, customer_lastname=None, customer_is_guest=1)
    order["billing_address"]["firstname"] = "Janet"
    result = run("magento", ("3", order), status_map=DEFAULT_LABELS)
    assert result.orders.iloc[0]["customer_name"] == "Janet Doe"



def test_the_csv_export_maps_one_row_per_item_with_the_order_on_every_row():
    order = {"Order Id": "7", "Order Number": "000000007", "Purchase Date": "2026-01-05 10:15:00", "Status": "processing",
             "Customer Name": "Jane Doe", "Customer Email": "jdoe@example.com", "Shipping Name": "Jane Doe",
             "Shipping Company": "", "Shipping Street 1": "123 Oak Ave", "Shipping Street 2": "Suite 4",
             "Shipping City": "Purchase", "Shipping Region": "NY", "Shipping Postcode": "10577", "Shipping Country": "US",
             "Shipping Phone": "512-555-1111", "Billing Name": "Jane Doe", "Billing Street 1": "123 Oak Ave",
             "Billing City": "Purchase", "Billing Postcode": "10577", "Billing Country": "US", "Currency": "USD",
             "Grand Total": "79.00", "Shipping Amount": "5.00", "Tax Amount": "0.00", "Shipping Method": "flatrate_flatrate",
             "Payment Method": "checkmo"}
    rows = [{**order, "Item SKU": "WS12-M-Orange", "Item Product Id": "1553", "Item Qty": "1", "Item Price": "22.00",
             "Item Name": "Radiant Tee-M-Orange"},
            {**order, "Item SKU": "MH01-S-Gray", "Item Product Id": "56", "Item Qty": "1", "Item Price": "52.00",
             "Item Name": "Chaz Kangeroo Hoodie-S-Gray"}]
    result = run("magento", ("7", rows), status_map=DEFAULT_LABELS, source="csv:orders.csv")
    kept = result.orders.iloc[0]
    assert (kept["order_number"], kept["canonical_status"], kept["ship_address2"], kept["ship_method"]) == (
        "000000007", "paid", "Suite 4", "flatrate_flatrate")
    assert list(zip(result.lines["channel_sku"], result.lines["quantity"], result.lines["unit_price"])) == [
        ("WS12-M-Orange", 1, 22.0), ("MH01-S-Gray", 1, 52.0)]

# --- settings ------------------------------------------------------------------------------------------

def magento_channel(**entry):
    return parse_config({"channels": [{"name": "mage-1", "type": "magento", "base_url": "https://m.example",
                                       **entry}]}, "test.yaml").channels[0]


def test_an_unknown_auth_mode_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match=r"options.auth: 'oauth1' is not a Magento sign-in; use admin .* or integration"):
        magento_channel(credentials={}, options={"auth": "oauth1"})


@pytest.mark.parametrize("auth, needs, missing", [("admin", "username", "access_token"), ("integration", "access_token", "username")])
def test_each_auth_mode_reads_its_own_credentials(monkeypatch, auth, needs, missing):
    from sync_pipeline.channels.magento import MagentoConnector

    channel = magento_channel(credentials={missing: "MAGE_X"}, options={"auth": auth})
    with pytest.raises(ConfigError) as error:
        MagentoConnector(channel)
    assert f"credentials.{needs} is missing" in str(error.value)
    assert f"options.auth {auth}" in str(error.value)


# --- the items a package ships -----------------------------------------------------------------------------

def tracking_push(monkeypatch):
    from sync_pipeline.channels.magento import MagentoConnector
    from sync_pipeline.channels.magento.tracking import MagentoTracking

    monkeypatch.setenv("MAGE_USER", "admin")
    monkeypatch.setenv("MAGE_PASSWORD", "pw")
    channel = magento_channel(credentials={"username": "MAGE_USER", "password": "MAGE_PASSWORD"})
    return MagentoTracking(MagentoConnector(channel))  # nothing is sent until a call is made


def package(lines, before=()):
    from sync_pipeline.channels.tracking import Package, PackageLine

    return Package(
        external_order_id="3", package_id="P1", tracking_number="1Z1", carrier_code="ups", carrier_name="UPS",
        other_carrier=False, tracking_url=None, shipped_at=datetime(2026, 1, 5, tzinfo=UTC),
        lines=tuple(PackageLine(n, q) for n, q in lines), payload=tutorial_order(),
        pushed_before=tuple(PackageLine(n, q) for n, q in before),
    )


def test_a_package_names_parent_items_and_each_bundle_once(monkeypatch):
    push = tracking_push(monkeypatch)
    everything = [(n, 1) for n in range(1, 7)]
    assert push._items(package(everything)) == ({3: 1, 5: 1, 10: 1}, set())
    # The bundle's components over two packages: the first names the bundle, the second only the configurable.
    first = [(1, 1), (2, 1), (3, 1)]
    assert push._items(package(first)) == ({3: 1, 5: 1}, set())
    assert push._items(package([(4, 1), (5, 1), (6, 1)], before=first)) == ({10: 1}, {5})
    # Only components of a bundle already shipped: nothing to name, the number joins that bundle's shipment.
    assert push._items(package([(4, 1), (5, 1)], before=first)) == ({}, {5})


# --- against the simulated Magento (simulator/platforms/magento.py) --------------------------------------------
# Everything below is read from the simulator's own records: its request log and what its API serves (shipments,
# source items), never from our tables.

def calls(harness, name: str, method: str, suffix: str) -> list[dict]:
    return [r for r in harness.simulator.requests
            if r["channel"] == name and r["method"] == method and r["path"].endswith(suffix)]


def admin_get(harness, name: str, path: str, params: dict) -> dict:
    """The simulated store's own answer, read with a fresh admin token (as a person with curl would)."""
    credentials = harness.simulator.credentials[name]
    root = f"{harness.simulator.url}/{name}/rest/default/V1"
    token = requests.post(f"{root}/integration/admin/token", timeout=10,
                          json={"username": credentials["username"], "password": credentials["password"]}).json()
    response = requests.get(f"{root}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize("page_size", [1, 3, 4])
def test_paging_stops_by_total_count_never_past_the_last_page(harness_factory, page_size):
    name = "mage-paging"
    harness = harness_factory(scenario([(name, "magento", 12)]), overrides_in={name: {"page_size": page_size}})
    connector, fetched = fetch_day(harness, name, YESTERDAY)
    expected = harness.expected(name, YESTERDAY)
    assert set(fetched) == set(expected) and len(expected) >= 4
    pages = math.ceil(len(expected) / page_size)
    asked = [int(r["query"]["searchCriteria[currentPage]"]) for r in calls(harness, name, "GET", "/V1/orders")]
    assert asked == list(range(1, pages + 1)), "past the last page Magento repeats it: total_count says when to stop"
    assert connector.log.pages == pages
    assert connector.count_orders(*day_window(YESTERDAY)) == len(expected)
    assert calls(harness, name, "GET", "/V1/orders")[-1]["query"]["searchCriteria[pageSize]"] == "1"


def test_the_admin_token_is_renewed_when_the_store_expires_it_and_before_it_is_due(harness_factory):
    name = "mage-token"
    # 4 simulated hours pass in 2 real seconds.
    harness = harness_factory(scenario([(name, "magento", 4)], speed=7200.0))
    connector, first = fetch_day(harness, name, YESTERDAY)
    assert len(calls(harness, name, "POST", "/integration/admin/token")) == 1
    time.sleep(2.5)
    again = connector.fetch_orders(*day_window(YESTERDAY))
    assert {o.external_order_id for o in again} == set(first)
    assert len(calls(harness, name, "POST", "/integration/admin/token")) == 2, "the expired token was renewed once"
    assert [r["status"] for r in calls(harness, name, "GET", "/V1/orders")].count(401) == 1
    # 3h50m after it was issued by the connector's own clock, the token is renewed before the store refuses it.
    issued = connector._issued
    connector.clock = lambda: issued + 4 * 3600
    connector.fetch_orders(*day_window(YESTERDAY))
    assert len(calls(harness, name, "POST", "/integration/admin/token")) == 3
    assert [r["status"] for r in calls(harness, name, "GET", "/V1/orders")].count(401) == 1, "no refusal first"


def integration_scenario(name: str, as_bearer: bool):
    from sync_pipeline.simulator import Scenario

    return Scenario.from_dict({
        "seed": 7, "start_date": YESTERDAY.isoformat(), "days": 2, "speed": 200.0,
        "channels": [{"name": name, "type": "magento", "orders_per_day": 3,
                      "options": {"integration_as_bearer": as_bearer}}],
        "faults": {}, "anomalies": {},
    })


def test_an_integration_token_refused_as_a_bearer_says_which_setting_to_change(harness_factory):
    name = "mage-bearer"
    settings = {name: {"options": {"auth": "integration"}, "credentials": {"access_token": "MAGE_BEARER_ACCESS_TOKEN"}}}
    refused = harness_factory(integration_scenario(name, as_bearer=False), overrides_in=settings)
    with pytest.raises(ChannelAuthError) as error:
        fetch_day(refused, name, YESTERDAY)
    message = str(error.value)
    assert "Allow OAuth Access Tokens to be used as standalone Bearer tokens" in message
    assert "oauth/consumer/enable_integration_as_bearer" in message and "options.auth: admin" in message
    assert "MAGE_BEARER_ACCESS_TOKEN" in message
    assert refused.simulator.credentials[name]["access_token"] not in message
    assert not calls(refused, name, "POST", "/integration/admin/token"), "no admin sign-in in this mode"
    accepted = harness_factory(integration_scenario(name, as_bearer=True), overrides_in=settings)
    _, fetched = fetch_day(accepted, name, YESTERDAY)
    assert set(fetched) == set(accepted.expected(name, YESTERDAY))
