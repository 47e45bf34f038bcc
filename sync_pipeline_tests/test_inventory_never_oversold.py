"""A listing never shows stock the warehouse no longer has free. A platform's daily write cap per listing (eBay: 250
revisions a day) is shared out so a listing can always be brought down: rises are spread over the day and held back
(coalesced into a later write) when they run ahead, the last writes of the day kept for falls; and orders accepted
between a push's stock read and its writes count as promised. Counted from the simulator's own records."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import requests

from sync_pipeline.channels.ebay.inventory import EbayInventory
from sync_pipeline.channels.inventory import Listing
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import inventory_pushes
from sync_pipeline.inventory.push import FALLS_RESERVED, RISES_AT_ONCE, _held_back
from sync_pipeline_tests.conftest import TODAY, scenario
from sync_pipeline_tests.test_inventory_pushes import free_stock, listings, on, rows

YESTERDAY = TODAY - timedelta(days=1)
CAP = EbayInventory.daily_writes_per_listing


def set_stock(harness, sku: str, good: int) -> None:
    requests.post(f"{harness.simulator.url}/_admin/warehouse/items", json={"sku": sku, "good": good},
                  timeout=10).raise_for_status()


def test_with_the_days_writes_nearly_spent_a_fall_is_written_and_a_rise_waits(harness_factory, database_url):
    harness = harness_factory(scenario([("bay", "ebay", 0)], days=1, start=YESTERDAY), overrides_in=on("bay"),
                              database_url=database_url)
    harness.push_stock("bay")
    free = free_stock(harness)
    written = sorted((r for r in rows(harness, "bay").values() if r["status"] in ("PUSHED", "UNCHANGED")),
                     key=lambda r: r["listing_id"])
    falling = next(r for r in written if free[r["warehouse_sku"]] > 0)
    rising = next(r for r in written if r["warehouse_sku"] != falling["warehouse_sku"])
    with get_engine(harness.database_url).begin() as connection:  # both have used all but the writes kept for falls
        connection.execute(inventory_pushes.update().where(
            inventory_pushes.c.listing_id.in_([rising["listing_id"], falling["listing_id"]])).values(
            writes_day=datetime.now(timezone.utc).date(), writes_that_day=CAP - FALLS_RESERVED))
    items = {i["sku"]: i for i in harness.simulator.warehouse.items()}
    set_stock(harness, rising["warehouse_sku"], items[rising["warehouse_sku"]]["good"] + 7)
    set_stock(harness, falling["warehouse_sku"], items[falling["warehouse_sku"]]["good"] - 1)
    shown_before = {l["listing_id"]: l["quantity"] for l in listings(harness, "bay")}
    harness.push_stock("bay")

    after = rows(harness, "bay")
    shown = {l["listing_id"]: l["quantity"] for l in listings(harness, "bay")}
    free = free_stock(harness)
    assert after[falling["listing_id"]]["status"] == "PUSHED"
    assert shown[falling["listing_id"]] == free[falling["warehouse_sku"]] < shown_before[falling["listing_id"]]
    held = after[rising["listing_id"]]
    assert held["status"] == "HELD_BACK" and f"last {FALLS_RESERVED} kept for falls" in held["message"]
    assert shown[rising["listing_id"]] == shown_before[rising["listing_id"]] < free[rising["warehouse_sku"]]


def test_rises_are_spread_over_the_day_and_falls_go_until_the_cap():
    push = SimpleNamespace(daily_writes_per_listing=CAP)
    channel = SimpleNamespace(type="ebay")
    listing = Listing(listing_id="1", sku="SKU-1", quantity=5, tracked=True, active=True)
    noon = datetime.combine(TODAY, datetime.min.time(), timezone.utc) + timedelta(hours=12)
    spread_by_noon = RISES_AT_ONCE + (CAP - FALLS_RESERVED - RISES_AT_ONCE) / 2

    def held(used: int, target: int, now=noon, day=TODAY):
        return _held_back(SimpleNamespace(writes_day=day, writes_that_day=used), push, channel, listing, target, now)

    assert held(int(spread_by_noon) - 1, 9) is None, "a rise within the spread goes out"
    message = held(int(spread_by_noon) + 1, 9)
    assert message and "goes out with the first run after 12:" in message
    assert held(int(spread_by_noon) + 1, 9, now=noon - timedelta(hours=12)) is not None
    assert held(RISES_AT_ONCE - 1, 9, now=noon - timedelta(hours=12)) is None, "the day's first rises go at once"
    assert held(CAP - 1, 4) is None, "a fall goes out until the cap"
    assert "after midnight UTC" in held(CAP, 4)
    assert held(CAP, 9, day=YESTERDAY) is None, "a new day, a new allowance"


def test_orders_the_warehouse_accepts_after_the_stock_was_read_are_not_sold_again(harness_factory, database_url):
    """The race between a push's stock read and its promised units: orders accepted in between are allocated at the
    warehouse but not in the stock read, and no longer waiting here. They count as promised, so the listing never
    shows more than the 3PL's free stock, by the simulator's own records."""
    from sync_pipeline.channels.http import ApiCallLog
    from sync_pipeline.inventory.push import sync_inventory

    harness = harness_factory(scenario([("shop", "shopify", 30)], days=1, start=YESTERDAY), overrides_in=on("shop"),
                              database_url=database_url)
    stock_read_at = datetime.now(timezone.utc)
    harness.push_stock("shop")  # reads the stock: nothing is allocated to these orders yet
    assert harness.materialize("shop", YESTERDAY).success  # the warehouse accepts them and allocates their units
    channel = harness.config.channel("shop")
    sync_inventory(get_engine(harness.database_url), harness.channels.inventory(channel, ApiCallLog("shop")), channel,
                   harness.config, "after-the-read", stock_read_at=stock_read_at)  # works from the earlier read
    free = free_stock(harness)
    shown = {l["warehouse_sku"]: l["quantity"] for l in listings(harness, "shop") if l.get("tracked", True)}
    allocated = {i["sku"] for i in harness.simulator.warehouse.items() if i["allocated"]}
    assert allocated & set(shown), "the orders took units of listed SKUs"
    assert all(shown[sku] <= free[sku] for sku in shown), "never more than the 3PL's free stock"


def test_a_batch_with_no_answer_is_retrying_and_written_by_the_next_run(harness_factory, monkeypatch):
    """WooCommerce takes 100 listings a call: the second call gets no answer after every retry (ChannelUnavailable).
    The first batch is PUSHED, the rest RETRYING with the reason, and the next run, even one that does not read the
    channel, writes them: every listing then shows the free stock, by the simulated channel's records."""
    from sync_pipeline.channels.http import ChannelUnavailable
    from sync_pipeline.channels.woocommerce.inventory import WooCommerceInventory

    harness = harness_factory(scenario([("woo", "woocommerce", 0)], days=1, start=YESTERDAY, extra_listings=150),
                              overrides_in=on("woo"))
    real_write, calls = WooCommerceInventory.write, []

    def second_call_unanswered(self, updates):
        calls.append(len(updates))
        if len(calls) == 2:
            raise ChannelUnavailable("woo", "no answer after 6 attempts (HTTP 503)")
        return real_write(self, updates)

    monkeypatch.setattr(WooCommerceInventory, "write", second_call_unanswered)
    harness.push_stock("woo")
    decided = rows(harness, "woo")
    retrying = {k for k, r in decided.items() if r["status"] == "RETRYING"}
    assert calls[0] == 100 and len(calls) == 2 and len(retrying) == calls[1] > 0, calls
    assert all("HTTP 503" in decided[k]["message"] and "next run" in decided[k]["message"] for k in retrying)
    free = free_stock(harness)
    shown = {l["listing_id"]: l for l in listings(harness, "woo")}
    assert all(shown[k]["quantity"] != free[shown[k]["warehouse_sku"]] for k in retrying), "not written"

    monkeypatch.setattr(WooCommerceInventory, "write", real_write)
    harness.push_stock("woo", read_listings=False)
    assert {r["status"] for k, r in rows(harness, "woo").items() if k in retrying} == {"PUSHED"}
    assert all(l["quantity"] == free[l["warehouse_sku"]] for l in listings(harness, "woo") if l.get("tracked", True))


def _oversold(harness, landed_days: list) -> list[tuple]:
    """Listings showing more than the 3PL's free Good stock less the units of landed channel orders the 3PL does
    not hold (waiting here, HELD): from the simulator's records alone, the warehouse's and the channel's."""
    at_3pl = {o["client_reference"] for o in harness.simulator.warehouse.orders()}
    promised: Counter = Counter()
    for day in landed_days:
        for order in harness.expected("shop", day).values():
            if f"shop:{order.external_order_id}" not in at_3pl and not order.payload.get("cancelled_at"):
                for line in order.payload["line_items"]:
                    promised[line["sku"]] += line["quantity"]
    free = free_stock(harness)
    return [(l["warehouse_sku"], l["quantity"], free[l["warehouse_sku"]], promised[l["warehouse_sku"]])
            for l in listings(harness, "shop") if not l.get("deleted") and l.get("tracked", True)
            and l["quantity"] > max(0, free[l["warehouse_sku"]] - promised[l["warehouse_sku"]])]


def test_over_days_of_orders_receipts_hurt_and_shipments_no_push_leaves_a_listing_oversold(harness_factory,
                                                                                         database_url):
    """The whole history of a channel's stock: orders landing (some HELD, so promised; the rest allocated at the
    3PL), receipts and units turning Hurt at every stock read, the packages shipped and tracked, pushes of both kinds
    (reading the channel, and changes only as the stock sensor runs them). After every push, no listing shows more
    than is free and not promised, by the simulator's own records; and the stock really moved."""
    first = YESTERDAY - timedelta(days=1)
    harness = harness_factory(scenario([("shop", "shopify", 30)], days=2, start=first, anomalies={"unpaid": 0.3},
                                       warehouse={"receipts": 0.3, "hurt": 0.3}),
                              overrides_in=on("shop"), database_url=database_url)
    landed: list = []
    quantities = []

    def push(read_listings: bool) -> None:
        assert harness.push_stock("shop", read_listings=read_listings).success
        assert _oversold(harness, landed) == [], (len(landed), read_listings)
        quantities.append({l["listing_id"]: l["quantity"] for l in listings(harness, "shop")})

    push(True)
    for day in (first, YESTERDAY):
        assert harness.materialize("shop", day).success
        landed.append(day)
        push(False)
        assert harness.track("shop", day).success
        push(True)
    for _ in range(3):  # the stock keeps moving at each read: receipts and Hurt
        push(False)
    assert harness.simulator.warehouse.rounds() >= 7
    changed = sum(1 for before, after in zip(quantities, quantities[1:]) for k in after if after[k] != before.get(k))
    assert changed > 20, "the listings' stock moved over the history"
    sold = {line["sku"] for day in landed for o in harness.expected("shop", day).values() for line in o.payload["line_items"]}
    assert sold & {l["warehouse_sku"] for l in listings(harness, "shop")}, "the orders took units of listed SKUs"
