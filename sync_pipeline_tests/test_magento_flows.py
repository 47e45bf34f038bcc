"""Magento 2's three flows end to end against its simulated store, on SQLite and PostgreSQL: orders to the 3PL once,
tracking as shipments naming the parent items, stock into the configured MSI source (and a source the store lacks
stops the channel). Counted from the simulator's records: the warehouse's orders and shipments, the store's
shipments, source items and request log."""

from __future__ import annotations

import pytest

from sync_pipeline.channels.http import ChannelRequestError
from sync_pipeline_tests.conftest import scenario
from sync_pipeline_tests.test_connectors import YESTERDAY
from sync_pipeline_tests.test_magento import admin_get, calls


def test_orders_reach_the_3pl_once_and_tracking_names_the_parent_items(harness_factory, database_url):
    name = "mage-e2e"
    harness = harness_factory(scenario([(name, "magento", 6)], days=1, start=YESTERDAY, seed=11,
                                       warehouse={"ship_after_hours": [0, 0], "multi_package": 0.5}),
                              database_url=database_url, overrides_in={name: {"import_statuses": ["processing"]}})
    assert harness.materialize(name, YESTERDAY).success
    assert harness.materialize(name, YESTERDAY).success  # a second run sends nothing again
    references = [o["client_reference"] for o in harness.simulator.warehouse.orders() if o["channel"] == name]
    assert references and len(references) == len(set(references))
    harness.track(name)
    harness.track(name)
    shipped = [s for s in harness.simulator.warehouse.shipments() if s["channel"] == name]
    assert shipped
    for order in harness.simulator.orders(name):
        held = admin_get(harness, name, "/shipments", {
            "searchCriteria[filter_groups][0][filters][0][field]": "order_id",
            "searchCriteria[filter_groups][0][filters][0][value]": order.external_order_id,
            "searchCriteria[filter_groups][0][filters][0][condition_type]": "eq"})["items"]
        children = {i["item_id"] for i in order.payload["items"] if i.get("parent_item_id")}
        named = [item["order_item_id"] for shipment in held for item in shipment["items"]]
        assert not children & set(named), "a shipment names the parent of a configurable or bundle line"
        numbers = [t["track_number"] for shipment in held for t in shipment["tracks"]]
        assert len(numbers) == len(set(numbers)), "each package's number once"
    on_channel = harness.simulator.tracking(name)
    assert all(s["tracking_number"] in {n for f in on_channel[s["channel_order_id"]] for n in f["tracking_numbers"]}
               for s in shipped), "every package's number is on its Magento order"
    states = {o.external_order_id: o.payload["state"] for o in harness.simulator.orders(name)}
    assert {states[s["channel_order_id"]] for s in shipped} <= {"processing", "complete"} and "complete" in set(states.values())


def test_stock_reaches_the_source_items_and_an_unknown_source_stops_the_channel(harness_factory, database_url):
    from sync_pipeline.channels.magento.inventory import MagentoInventory

    name = "mage-stock"
    harness = harness_factory(scenario([(name, "magento", 0)], days=1, start=YESTERDAY, extra_listings=12),
                              database_url=database_url, overrides_in={name: {"inventory_sync": True}})
    assert harness.push_stock(name).success
    held = {i["sku"]: i["quantity"] for i in admin_get(harness, name, "/inventory/source-items", {
        "searchCriteria[filter_groups][0][filters][0][field]": "source_code",
        "searchCriteria[filter_groups][0][filters][0][value]": "default",
        "searchCriteria[filter_groups][0][filters][0][condition_type]": "eq"})["items"]}
    free = {i["sku"]: max(0, i["good"] - i["allocated"]) for i in harness.simulator.warehouse.items()}
    live = [listing for listing in harness.simulator.listings(name) if not listing["deleted"]]
    assert len(live) == 24 and held == {listing["sku"]: free[listing["warehouse_sku"]] for listing in live}
    writes = calls(harness, name, "POST", "/V1/inventory/source-items")
    assert len(writes) == 1, "one call sets a whole page of listings"
    assert harness.push_stock(name).success
    assert len(calls(harness, name, "POST", "/V1/inventory/source-items")) == 1, "nothing moved: nothing written"
    wrong = harness_factory(scenario([(name, "magento", 0)], days=1, start=YESTERDAY),
                            overrides_in={name: {"options": {"source_code": "jhb"}}})
    with pytest.raises(ChannelRequestError) as error:
        MagentoInventory(wrong.connector(name)).listings()
    message = str(error.value)
    assert "options.source_code" in message and "'jhb'" in message and "its sources: default" in message
    assert "wrong inventory source configured" in message
    assert not calls(wrong, name, "POST", "/V1/inventory/source-items")

