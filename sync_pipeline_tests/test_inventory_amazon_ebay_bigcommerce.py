"""Amazon, eBay and BigCommerce take stock: each platform's InventoryPush lists exactly the simulator's live
listings with their quantities across page edges, sets exactly the listings it is given in batches of batch_size,
and shows every listing anomaly as its status. Everything is counted from the simulator's own records (its
ListingStore and its request log)."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

import pytest

from sync_pipeline.channels.amazon.inventory import AmazonInventory
from sync_pipeline.channels.bigcommerce.inventory import BigCommerceInventory
from sync_pipeline.channels.ebay.inventory import EbayInventory
from sync_pipeline.channels.http import ChannelRequestError
from sync_pipeline.channels.inventory import (
    HELD_BACK,
    INVENTORY_NOT_TRACKED,
    PRODUCT_NOT_FOUND,
    PUSHED,
    Listing,
    StockUpdate,
)
from sync_pipeline.simulator import Scenario
from sync_pipeline_tests.conftest import TODAY, scenario

ANOMALIES = {
    "listing_sku_case_mismatch": 0.08, "listing_deleted": 0.08, "listing_not_tracked": 0.08,
    "listing_not_active": 0.08, "listing_drift": 0.08,
}
PUSHES = {"amazon": AmazonInventory, "ebay": EbayInventory, "bigcommerce": BigCommerceInventory}
NAMES = {"amazon": "amzn-stock", "ebay": "ebay-stock", "bigcommerce": "bc-stock"}
WRITE_PATHS = {"amazon": ("PATCH", "/listings/2021-08-01/items/"), "ebay": ("POST", "bulk_update_price_quantity"),
               "bigcommerce": ("PUT", "inventory/adjustments/absolute")}


def listing_scenario(name: str, channel_type: str, extra: int, anomalies=None, speed: float = 1000.0) -> Scenario:
    return Scenario.from_dict({
        "seed": 7, "start_date": (TODAY - timedelta(days=1)).isoformat(), "days": 2, "speed": speed,
        "channels": [{"name": name, "type": channel_type, "orders_per_day": 2, "extra_listings": extra}],
        "faults": {}, "anomalies": anomalies if anomalies is not None else ANOMALIES,
    })


def amazon_seller(name: str) -> str:
    """The simulator's seller id for a channel: what a person puts in the channel's seller_id option."""
    return "A" + hashlib.sha256(f"{name}:seller".encode()).hexdigest()[:13].upper()


class Channel:
    def __init__(self, harness_factory, channel_type: str, extra: int = 0, anomalies=None, speed: float = 1000.0):
        self.type, self.name = channel_type, NAMES[channel_type]
        overrides = {self.name: {"options": {"seller_id": amazon_seller(self.name)}}} if channel_type == "amazon" else None
        self.harness = harness_factory(listing_scenario(self.name, channel_type, extra, anomalies, speed), overrides_in=overrides)
        self.sim = self.harness.simulator
        self.store = self.sim._platform(self.name).listings
        self.connector = self.harness.connector(self.name)
        self.push = PUSHES[channel_type](self.connector)

    def sim_listings(self, anomaly: str | None = "any") -> list[dict]:
        return [l for l in self.store.all() if anomaly == "any" or l["anomaly"] == anomaly]

    def our_id(self, sim: dict) -> str:
        """The push's listing_id for a simulator listing."""
        if self.type != "bigcommerce":
            return sim["sku"]
        return f"variant:{sim['variant_id']}" if sim["inventory_tracking"] == "variant" else f"product:{sim['product_id']}"

    def sim_id(self, listing_id: str) -> str:
        """The simulator's listing id for one of ours."""
        if self.type != "bigcommerce":
            return listing_id
        level, number = listing_id.split(":")
        return str(int(number) // 10) if level == "variant" else number

    def as_listing(self, sim: dict) -> Listing:
        """A Listing for a simulator listing the reads do not show (deleted, or made outside the API)."""
        ids = {"amazon": {"product_type": "PRODUCT"}, "ebay": {"offer_id": sim.get("offer_id")},
               "bigcommerce": {"variant_id": sim.get("variant_id")} if sim.get("inventory_tracking") == "variant"
               else {"product_id": sim.get("product_id")}}[self.type]
        return Listing(self.our_id(sim), sim["sku"], sim["quantity"], sim["tracked"], sim["active"], ids)

    def writes(self) -> list[dict]:
        method, part = WRITE_PATHS[self.type]
        return [r for r in self.sim.requests if r["channel"] == self.name and r["method"] == method and part in r["path"]]

    def api_history(self) -> list[tuple[str, int]]:
        return [(h["listing_id"], h["quantity"]) for h in self.store.history() if h["source"] == "api"]

    def write_all(self, updates: list[StockUpdate]):
        size = self.push.batch_size
        return [w for i in range(0, len(updates), size) for w in self.push.write(updates[i : i + size])]


@pytest.fixture(params=["amazon", "ebay", "bigcommerce"])
def channel_type(request):
    return request.param


def shown(channel: Channel, sim: dict) -> bool:
    """Whether the channel's reads show a simulator listing (eBay does not show one made outside the Inventory API)."""
    return not sim["deleted"] and (sim["tracked"] or channel.type != "ebay")


# --- listings ---------------------------------------------------------------------------------------------------

def test_listings_are_exactly_the_live_ones_across_page_edges(harness_factory, channel_type):
    extra = {"amazon": 250, "ebay": 420, "bigcommerce": 520}[channel_type]  # past 12 pages of 20 / 2 of 200 / 2 of 250
    channel = Channel(harness_factory, channel_type, extra)
    listings = channel.push.listings()
    expected = {channel.our_id(l): l for l in channel.sim_listings() if shown(channel, l)}
    assert len(expected) > {"amazon": 200, "ebay": 200, "bigcommerce": 250}[channel_type]  # more than one page
    assert len(listings) == len({l.listing_id for l in listings}) == len(expected)
    for listing in listings:
        sim = expected[listing.listing_id]
        assert listing.sku == sim["sku"]
        assert listing.tracked == sim["tracked"]
        assert listing.active == sim["active"]
        if channel_type == "bigcommerce" and not sim["tracked"]:
            assert listing.quantity is None
        else:
            assert listing.quantity == sim["quantity"]
    if channel_type == "ebay":
        assert {l.ids["offer_id"] for l in listings} == {expected[l.listing_id]["offer_id"] for l in listings}
        reads = [r for r in channel.sim.requests if r["channel"] == channel.name and r["method"] == "GET"
                 and "inventory" in r["path"]]
        assert len(reads) == math.ceil(len(expected) / 200) + len(expected)  # pages + one getOffers per SKU
    assert not [r for r in channel.sim.requests if r["status"] == 429]


# --- write ------------------------------------------------------------------------------------------------------

def test_write_sets_exactly_the_listings_given_in_batches(harness_factory, channel_type):
    channel = Channel(harness_factory, channel_type, extra=60, anomalies={})
    listings = channel.push.listings()
    chosen = listings[:{"amazon": 12, "ebay": 30, "bigcommerce": 40}[channel_type]]
    updates = [StockUpdate(l, (l.quantity or 0) + 7 + i) for i, l in enumerate(chosen)]
    written = channel.write_all(updates)
    assert [(w.listing_id, w.status) for w in written] == [(l.listing_id, PUSHED) for l in chosen]
    assert channel.api_history() == [(channel.sim_id(u.listing.listing_id), u.quantity) for u in updates]
    assert len(channel.writes()) == math.ceil(len(updates) / channel.push.batch_size)
    for update in updates:
        assert channel.store.get(channel.sim_id(update.listing.listing_id))["quantity"] == update.quantity
    assert not [r for r in channel.sim.requests if r["status"] == 429]  # Amazon: the 5/s bucket is kept to
    assert channel.connector.log.http_429 == 0 and channel.connector.log.retries == 0


def test_amazon_keeps_to_the_listings_bucket_of_5_per_second(harness_factory):
    """At real speed (the simulator scales its buckets by the scenario's speed): 3 pages and 12 PATCHes on a
    bucket of 5 at 5/s, so the client waits before Amazon would refuse, and Amazon never answers 429."""
    channel = Channel(harness_factory, "amazon", extra=40, anomalies={}, speed=1.0)
    listings = channel.push.listings()[:12]
    written = channel.write_all([StockUpdate(l, 2) for l in listings])
    assert {w.status for w in written} == {PUSHED}
    assert not [r for r in channel.sim.requests if r["status"] == 429]
    assert channel.connector.log.http_429 == 0
    assert channel.connector.log.throttled_seconds > 1.0


def test_api_calls_per_written_listing(harness_factory, channel_type):
    channel = Channel(harness_factory, channel_type, extra=60, anomalies={})
    listings = channel.push.listings()[:50]
    before = len(channel.sim.requests)
    channel.write_all([StockUpdate(l, 3) for l in listings])
    calls = [r for r in channel.sim.requests[before:] if r["channel"] == channel.name and "token" not in r["path"]]
    per_listing = len(calls) / len(listings)
    assert per_listing == {"amazon": 1.0, "ebay": 2 / 50, "bigcommerce": 1 / 50}[channel_type]


# --- anomalies --------------------------------------------------------------------------------------------------

def test_each_listing_anomaly_shows_as_documented(harness_factory, channel_type):
    channel = Channel(harness_factory, channel_type, extra=150)
    by_id = {l.listing_id: l for l in channel.push.listings()}

    case = channel.sim_listings("listing_sku_case_mismatch")[0]
    assert by_id[channel.our_id(case)].sku == case["warehouse_sku"].lower() != case["warehouse_sku"]

    deleted = channel.sim_listings("listing_deleted")[0]
    assert channel.our_id(deleted) not in by_id
    [gone] = channel.push.write([StockUpdate(channel.as_listing(deleted), 5)])
    assert gone.status == PRODUCT_NOT_FOUND and gone.message

    untracked = channel.sim_listings("listing_not_tracked")[0]
    if channel_type == "ebay":  # made outside the Inventory API: not in the reads, unknown to its writes
        assert channel.our_id(untracked) not in by_id
        [refused] = channel.push.write([StockUpdate(channel.as_listing(untracked), 5)])
        assert refused.status == PRODUCT_NOT_FOUND
    else:
        assert by_id[channel.our_id(untracked)].tracked is False
        [refused] = channel.push.write([StockUpdate(by_id[channel.our_id(untracked)], 5)])
        assert refused.status == INVENTORY_NOT_TRACKED and refused.message

    inactive = channel.sim_listings("listing_not_active")[0]
    assert by_id[channel.our_id(inactive)].active is False
    [taken] = channel.push.write([StockUpdate(by_id[channel.our_id(inactive)], 4)])
    assert taken.status == PUSHED

    drift = channel.sim_listings("listing_drift")[0]
    [pushed] = channel.push.write([StockUpdate(by_id[channel.our_id(drift)], 9)])
    assert pushed.status == PUSHED
    again = {l.listing_id: l for l in channel.push.listings()}[channel.our_id(drift)]
    assert again.quantity == max(0, 9 - drift["drift_by"])  # the hand change, seen by the next read
    assert {l.listing_id: l for l in channel.push.listings()}[channel.our_id(drift)].quantity == again.quantity

    # nothing refused reached the store
    written_ids = {i for i, _ in channel.api_history()}
    assert written_ids == {channel.sim_id(channel.our_id(l)) for l in (inactive, drift)}


def test_bigcommerce_one_bad_item_does_not_stop_the_others(harness_factory):
    channel = Channel(harness_factory, "bigcommerce", extra=80)
    listings = channel.push.listings()
    good = [l for l in listings if l.tracked][:20]
    untracked = next(l for l in listings if not l.tracked)
    deleted = channel.as_listing(channel.sim_listings("listing_deleted")[0])
    batch = good[:7] + [deleted] + good[7:15] + [untracked] + good[15:]
    updates = [StockUpdate(l, 11) for l in batch]
    written = channel.push.write(updates)
    statuses = {w.listing_id: w.status for w in written}
    assert [w.listing_id for w in written] == [l.listing_id for l in batch]
    assert statuses[deleted.listing_id] == PRODUCT_NOT_FOUND
    assert statuses[untracked.listing_id] == INVENTORY_NOT_TRACKED
    assert all(statuses[l.listing_id] == PUSHED for l in good)
    assert sorted(channel.api_history()) == sorted((channel.sim_id(l.listing_id), 11) for l in good)
    assert [r["status"] for r in channel.writes()] == [422, 200]  # refused whole, then the good ones again


def test_ebay_the_251st_write_of_a_listing_in_a_day_is_held_back(harness_factory):
    channel = Channel(harness_factory, "ebay", extra=5, anomalies={})
    listing, other = channel.push.listings()[:2]
    for round_ in range(10):
        written = channel.push.write([StockUpdate(listing, q) for q in range(round_ * 25, round_ * 25 + 25)])
        assert {w.status for w in written} == {PUSHED}
    held, fine = channel.push.write([StockUpdate(listing, 999), StockUpdate(other, 3)])
    assert held.status == HELD_BACK and "250" in held.message
    assert fine.status == PUSHED
    assert channel.store.get(listing.listing_id)["quantity"] == 249
    assert len(channel.writes()) == 11
    assert EbayInventory.daily_writes_per_listing == 250


def test_amazon_needs_the_seller_id_option(harness_factory):
    channel = Channel(harness_factory, "amazon", extra=0, anomalies={})
    channel.connector.config.options.pop("seller_id")
    with pytest.raises(ChannelRequestError, match="seller_id"):
        channel.push.listings()


def test_amazon_listings_past_its_search_cap_are_read_by_sku_and_synced(harness_factory):
    harness = harness_factory(scenario([("amz", "amazon", 0)], days=1, start=TODAY - timedelta(days=1),
                                       extra_listings=1_050, speed=1000.0),
                              overrides_in={"amz": {"inventory_sync": True}})
    harness.push_stock("amz")
    free = {i["sku"]: max(0, i["good"] - i["allocated"]) for i in harness.simulator.warehouse.items()}
    live = harness.simulator.listings("amz")
    assert len(live) > 1_000
    assert all(l["quantity"] == free[l["warehouse_sku"]] for l in live)  # from the simulator's records
    narrowed = [r for r in harness.simulator.requests if r["channel"] == "amz" and "identifiers" in r["query"]]
    assert len(narrowed) == -(-(len(live) - 1_000) // 20)  # 20 SKUs a call, only for those past the cap
    assert all(len(r["query"]["identifiers"].split(",")) <= 20 for r in narrowed)
