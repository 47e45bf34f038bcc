"""Magento 2 against its simulated store, push by push: what a shipment names for configurable and bundle items, each
refusal with its status, a correction as one more track, and the gates that stop what the store gets wrong before the
warehouse. Counted from the simulator's records (its shipments, orders and tracking), not our tables."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import requests

from sync_pipeline.channels.magento.mapping import shippable_lines
from sync_pipeline_tests.conftest import scenario
from sync_pipeline_tests.test_magento import UTC, admin_get

# Fixed past days, so what each test looks for (a bundle order, one of each refusal, each gate's anomaly) is there
# whatever day the tests run.
START = date(2026, 11, 2)
TRACKING_ANOMALIES = {"tracking_order_deleted": 0.06, "tracking_already_fulfilled": 0.06, "tracking_order_locked": 0.06,
                      "tracking_order_cancelled": 0.06, "tracking_permission_denied": 0.06}


@pytest.fixture
def store(harness_factory):
    """A simulated store with every tracking refusal, and a way to push packages of its orders as the flow does."""
    from sync_pipeline.channels.magento.tracking import MagentoTracking

    name = "mage-track"
    harness = harness_factory(scenario([(name, "magento", 30)], days=2, start=START, anomalies=TRACKING_ANOMALIES,
                                       speed=1000.0))
    return harness, name, MagentoTracking(harness.connector(name))


def orders_with(harness, name: str, anomaly: str | None, kinds=()) -> list[str]:
    """Open orders meeting `anomaly` (None: no refusal) whose items include every product type in `kinds`."""
    platform = harness.simulator._platform(name)
    return [r.external_order_id for r in harness.simulator.orders(name)
            if platform.tracking_anomaly(r.external_order_id) == anomaly and r.payload["state"] in ("new", "processing")
            and set(kinds) <= {i["product_type"] for i in r.payload["items"]}]


def sim_package(harness, name: str, order_id: str, number: str, lines=None, before=()):
    from sync_pipeline.channels.tracking import Package, PackageLine

    payload = harness.simulator._platform(name).store.get(order_id).payload  # as landed
    if lines is None:
        lines = [(n, int(line["qty_ordered"])) for n, line in enumerate(shippable_lines(payload), 1)]
    return Package(external_order_id=order_id, package_id=f"S-{number}", tracking_number=number, carrier_code="ups",
                   carrier_name="UPS", other_carrier=False, tracking_url=None, shipped_at=datetime.now(UTC),
                   lines=tuple(PackageLine(n, q) for n, q in lines), payload=payload,
                   pushed_before=tuple(PackageLine(n, q) for n, q in before))


def shipments_of(harness, name: str, order_id: str) -> list[dict]:
    return admin_get(harness, name, "/shipments", {
        "searchCriteria[filter_groups][0][filters][0][field]": "order_id",
        "searchCriteria[filter_groups][0][filters][0][value]": order_id,
        "searchCriteria[filter_groups][0][filters][0][condition_type]": "eq"})["items"]


def test_a_shipment_names_the_parents_and_a_split_bundle_joins_its_shipment(store):
    harness, name, push = store
    order_id = orders_with(harness, name, None, kinds=("bundle",))[0]
    payload = harness.connector(name).fetch_order(order_id).payload
    lines = shippable_lines(payload)
    components = [n for n, line in enumerate(lines, 1) if line["ship_item_qty_ordered"]]
    others = [n for n in range(1, len(lines) + 1) if n not in components]
    first_lines = [(components[0], int(lines[components[0] - 1]["qty_ordered"]))] + [
        (n, int(lines[n - 1]["qty_ordered"])) for n in others]
    first = push.push(sim_package(harness, name, order_id, "1ZFIRST001", first_lines))
    assert first.status == "PUSHED" and first.fulfillment_id
    rest = [(n, int(lines[n - 1]["qty_ordered"])) for n in components[1:]]
    second = push.push(sim_package(harness, name, order_id, "1ZSECOND02", rest, before=first_lines))
    assert second.status == "PUSHED" and second.fulfillment_id == first.fulfillment_id, "Magento ships a bundle whole"
    (shipment,) = shipments_of(harness, name, order_id)
    parents = {i["item_id"] for i in payload["items"] if i.get("parent_item_id") is None}
    assert {item["order_item_id"] for item in shipment["items"]} == parents, "every parent, no child"
    assert [t["track_number"] for t in shipment["tracks"]] == ["1ZFIRST001", "1ZSECOND02"]
    assert harness.simulator.tracking(name)[order_id][0]["tracking_numbers"] == ["1ZFIRST001", "1ZSECOND02"]
    order = admin_get(harness, name, f"/orders/{order_id}", {})
    assert (order["state"], order["status"]) == ("complete", "complete"), "a full shipment completes an invoiced order"
    assert push.find(sim_package(harness, name, order_id, "1ZSECOND02")) == first.fulfillment_id
    configurable = orders_with(harness, name, None, kinds=("configurable",))[0]
    assert push.push(sim_package(harness, name, configurable, "1ZCONFIG03")).status == "PUSHED"
    (shipment,) = shipments_of(harness, name, configurable)
    items = harness.simulator._platform(name).store.get(configurable).payload["items"]
    parent = next(i["item_id"] for i in items if i["product_type"] == "configurable")
    assert parent in {item["order_item_id"] for item in shipment["items"]}, "the configurable shipped by its parent"
    assert admin_get(harness, name, f"/orders/{configurable}", {})["state"] == "complete"


def test_the_store_passes_a_configurable_child_over_and_refuses_a_bundle_component(store):
    harness, name, _ = store
    def first_child(kind: str) -> tuple[str, dict]:
        order_id = orders_with(harness, name, None, kinds=(kind,))[0]
        items = harness.simulator._platform(name).store.get(order_id).payload["items"]
        return order_id, next(i for i in items if i.get("parent_item_id") and i["parent_item"]["product_type"] == kind)

    credentials = harness.simulator.credentials[name]
    root = f"{harness.simulator.url}/{name}/rest/default/V1"
    token = requests.post(f"{root}/integration/admin/token", timeout=10, json={
        "username": credentials["username"], "password": credentials["password"]}).json()

    def ship(order_id: str, item: dict) -> requests.Response:
        return requests.post(f"{root}/order/{order_id}/ship", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                             json={"items": [{"order_item_id": item["item_id"], "qty": 1}],
                                   "tracks": [{"track_number": "X1", "title": "UPS", "carrier_code": "ups"}]})

    configurable, child = first_child("configurable")
    passed_over = ship(configurable, child)
    assert passed_over.status_code == 400
    assert passed_over.json()["message"] == ("Shipment Document Validation Error(s):\n"
                                             "You can't create a shipment without products.")
    bundle, component = first_child("bundle")
    refused = ship(bundle, component)
    assert refused.status_code == 400 and f'bundle product "{component["parent_item"]["sku"]}" has shipment type ' \
        '"Together". Bundle product itself should be shipped instead.' in refused.json()["message"]
    for order_id in (configurable, bundle):
        assert shipments_of(harness, name, order_id) == [] and order_id not in harness.simulator.tracking(name)


def test_every_refusal_has_its_status_and_a_locked_order_is_taken_once(store):
    from sync_pipeline.channels.http import ChannelUnavailable

    harness, name, push = store
    expected = {"tracking_order_deleted": "ORDER_NOT_FOUND_ON_CHANNEL", "tracking_already_fulfilled": "ALREADY_FULFILLED",
                "tracking_order_cancelled": "ORDER_CANCELLED", "tracking_permission_denied": "PERMISSION_DENIED"}
    for anomaly, status in expected.items():
        order_id = orders_with(harness, name, anomaly)[0]
        pushed = push.push(sim_package(harness, name, order_id, f"T{anomaly[-6:].upper()}"))
        assert pushed.status == status, (anomaly, pushed)
        assert not any(secret in pushed.message for secret in harness.simulator.credentials[name].values())
        held = harness.simulator.tracking(name).get(order_id, [])
        assert [h["source"] for h in held] == (["hand"] if anomaly == "tracking_already_fulfilled" else []), anomaly
    denied = push.push(sim_package(harness, name, orders_with(harness, name, "tracking_permission_denied")[0], "T2"))
    assert "Magento_Sales::ship" in denied.message and "System > Permissions > User Roles" in denied.message
    locked = orders_with(harness, name, "tracking_order_locked")[0]
    package = sim_package(harness, name, locked, "LOCKED0001")
    for _ in range(2):  # a deadlock saves nothing: the flow looks first, then sends again
        with pytest.raises(ChannelUnavailable):
            push.push(package)
        assert push.find(package) is None
    assert push.push(package).status == "PUSHED"
    assert [h["tracking_numbers"] for h in harness.simulator.tracking(name)[locked]] == [["LOCKED0001"]]


def test_a_corrected_number_is_one_more_track_on_the_same_shipment(store):
    harness, name, push = store
    order_id = orders_with(harness, name, None)[0]
    first = push.push(sim_package(harness, name, order_id, "OLD0000001"))
    corrected = push.correct(sim_package(harness, name, order_id, "NEW0000002"), first.fulfillment_id, "OLD0000001")
    assert corrected.status == "PUSHED" and corrected.fulfillment_id == first.fulfillment_id
    assert "cannot change a track" in corrected.message and "OLD0000001" in corrected.message
    assert [t["track_number"] for t in shipments_of(harness, name, order_id)[0]["tracks"]] == ["OLD0000001", "NEW0000002"]
    again = push.push(sim_package(harness, name, order_id, "AGAIN00003"))
    assert again.status == "ALREADY_FULFILLED", "everything shipped: the store allows no second shipment"


# --- the gates: what the simulated store gets wrong stops before the warehouse ------------------------------------

GATES = {"unmapped_status": ("normalize", "STATUS_NOT_MAPPED"), "missing_customer": ("normalize", "CUSTOMER_INFO_MISSING"),
         "malformed_address": ("normalize", "MALFORMED_ADDRESS"), "unknown_country": ("normalize", "ADDRESS_INVALID"),
         "invalid_amount": ("normalize", "INVALID_AMOUNT"), "unknown_sku": ("fulfilment", "SKU_NOT_FOUND"),
         "unmapped_ship_method": ("fulfilment", "SHIP_METHOD_NOT_MAPPED")}


def test_each_anomaly_of_the_store_is_stopped_with_its_code_and_never_reaches_the_3pl(harness_factory):
    import sqlalchemy as sa

    from sync_pipeline.db.engine import get_engine
    from sync_pipeline.db.tables import order_sync_errors
    from sync_pipeline.simulator.orders import generate_orders
    from sync_pipeline.simulator.platforms.magento import Magento

    name = "mage-gates"
    the_scenario = scenario([(name, "magento", 30)], days=1, start=START, anomalies=dict.fromkeys(GATES, 0.08))
    harness = harness_factory(the_scenario)
    assert harness.materialize(name, START).success
    spec = the_scenario.channels[0]
    generated = {str(o.seq): o for o in generate_orders(
        the_scenario.seed, name, spec.tz, the_scenario.start_date, 1, spec.orders_per_day, the_scenario.anomalies,
        Magento.market, harness.simulator.now)}
    with get_engine(harness.database_url).connect() as connection:
        found = {(r.external_order_id, r.stage, r.error_code) for r in connection.execute(
            sa.select(order_sync_errors).where(order_sync_errors.c.channel == name))}
    at_3pl = {o["channel_order_id"] for o in harness.simulator.warehouse.orders() if o["channel"] == name}
    seen = set()
    for external_id, order in generated.items():
        stages = {GATES[a][0] for a in order.anomalies}
        for anomaly in order.anomalies:  # normalize stops an order first: the fulfilment stage never meets it then
            if GATES[anomaly][0] == "normalize" or stages == {"fulfilment"}:
                assert (external_id, *GATES[anomaly]) in found, (external_id, anomaly)
                seen.add(anomaly)
        if order.anomalies:
            assert external_id not in at_3pl, "an order the gates stopped is not at the warehouse"
    assert seen == set(GATES), "the scenario should give each anomaly at least once"
    assert at_3pl, "the clean orders went through"
