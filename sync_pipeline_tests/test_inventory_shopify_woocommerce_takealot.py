"""Shopify, WooCommerce and Takealot take stock: the pipeline's pushes (ShopifyInventory, WooCommerceInventory,
TakealotInventory) against the simulator's listing endpoints, asserted from the simulator's own ListingStore
(each listing's stock and history) and its request log."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

import pytest

from sync_pipeline.channels.inventory import INVENTORY_NOT_TRACKED, PRODUCT_NOT_FOUND, PUSHED, Listing, StockUpdate
from sync_pipeline.channels.shopify.inventory import ShopifyInventory
from sync_pipeline.channels.takealot.inventory import TakealotInventory
from sync_pipeline.channels.woocommerce.inventory import WooCommerceInventory
from sync_pipeline.simulator.scenario import Scenario
from sync_pipeline_tests.conftest import TODAY

ANOMALIES = ("listing_sku_case_mismatch", "listing_deleted", "listing_not_tracked", "listing_not_active",
             "listing_drift")
EXTRA = 260  # past Shopify's 250 a page, and WooCommerce's and Takealot's 100


@dataclasses.dataclass(frozen=True)
class Platform:
    type: str
    push: type
    lists: tuple[str, ...]  # path endings of the calls listings() makes
    page: int  # rows per list call

    def sim_id(self, listing: dict) -> str:
        """The pipeline's listing_id for a simulator listing."""
        return str(listing["inventory_item_id"]) if self.type == "shopify" else listing["listing_id"]

    def ids(self, listing: dict) -> dict:
        return ({"location_id": 655441491} if self.type == "shopify"
                else {"merchant_warehouse_id": 4417} if self.type == "takealot" else {})


PLATFORMS = {
    "shopify": Platform("shopify", ShopifyInventory, ("products.json", "inventory_levels.json"), 250),
    "woocommerce": Platform("woocommerce", WooCommerceInventory, ("wc/v3/products",), 100),
    "takealot": Platform("takealot", TakealotInventory, ("v2/offers",), 100),
}


class Setup:
    def __init__(self, harness_factory, platform: Platform, *, extra=EXTRA, share=0.08):
        self.platform, self.name = platform, f"inv-{platform.type}"
        document = {
            "seed": 11, "start_date": (TODAY - timedelta(days=1)).isoformat(), "days": 2, "speed": 200.0,
            "channels": [{"name": self.name, "type": platform.type, "orders_per_day": 1, "extra_listings": extra}],
            "faults": {}, "anomalies": dict.fromkeys(ANOMALIES, share),
        }
        self.harness = harness_factory(Scenario.from_dict(document))
        self.sim = self.harness.simulator
        self.store = self.sim._platform(self.name).listings
        self.push = platform.push(self.harness.connector(self.name))

    def live(self) -> dict[str, dict]:
        return {self.platform.sim_id(l): l for l in self.store.all() if not l["deleted"]}

    def with_anomaly(self, anomaly: str | None) -> list[dict]:
        return [l for l in self.store.all() if l["anomaly"] == anomaly]

    def calls(self) -> list[dict]:
        return [r for r in self.sim.requests if r["channel"] == self.name]

    def api_writes(self) -> list[dict]:
        return [h for h in self.store.history() if h["source"] == "api"]


@pytest.fixture(params=sorted(PLATFORMS))
def setup(request, harness_factory) -> Setup:
    return Setup(harness_factory, PLATFORMS[request.param])


def test_listings_are_the_live_listings_across_pages(setup):
    live = setup.live()
    for anomaly in ANOMALIES:
        assert setup.with_anomaly(anomaly), f"the scenario should give some {anomaly}"
    setup.sim.clear_requests()
    listings = setup.push.listings()

    by_id = {l.listing_id: l for l in listings}
    assert len(by_id) == len(listings) == len(live)
    assert set(by_id) == set(live)
    for listing_id, sim in live.items():
        got = by_id[listing_id]
        assert got.sku == sim["sku"]
        assert got.tracked == sim["tracked"]
        assert got.active == sim["active"]
        assert got.quantity == (sim["quantity"] if sim["tracked"] else None)
    # the anomalies, as the simulator documents them
    assert all(by_id[setup.platform.sim_id(l)].sku == l["warehouse_sku"].lower()
               for l in setup.with_anomaly("listing_sku_case_mismatch"))
    assert not {setup.platform.sim_id(l) for l in setup.with_anomaly("listing_deleted")} & set(by_id)
    assert all(not by_id[setup.platform.sim_id(l)].tracked and by_id[setup.platform.sim_id(l)].quantity is None
               for l in setup.with_anomaly("listing_not_tracked"))
    assert all(not by_id[setup.platform.sim_id(l)].active for l in setup.with_anomaly("listing_not_active"))
    if setup.platform.type == "shopify":
        assert {l.ids["location_id"] for l in listings} == {655441491}  # never the fulfillment service's
    if setup.platform.type == "takealot":
        assert {l.ids["merchant_warehouse_id"] for l in listings if l.tracked} == {4417}

    # every page, and no call more than the paging needs
    pages = math.ceil(len(live) / setup.platform.page)
    calls = setup.calls()
    assert all(c["status"] == 200 for c in calls)
    for ending in setup.platform.lists:
        assert sum(1 for c in calls if c["path"].endswith(ending)) == pages
    extra = 1 if setup.platform.type == "shopify" else 0  # locations.json, once
    assert len(calls) == pages * len(setup.platform.lists) + extra


def test_write_sets_exactly_the_listings_given_in_batches(setup):
    listings = [l for l in setup.push.listings() if l.tracked and l.active]
    count = 150 if setup.platform.type == "woocommerce" else 5  # two batches of WooCommerce's 100
    chosen = listings[:count]
    targets = {l.listing_id: (l.quantity or 0) + 7 for l in chosen}
    setup.sim.clear_requests()
    before = len(setup.store.history())

    written = []
    size = setup.push.batch_size
    for start in range(0, len(chosen), size):
        batch = [StockUpdate(l, targets[l.listing_id]) for l in chosen[start:start + size]]
        result = setup.push.write(batch)
        assert [w.listing_id for w in result] == [u.listing.listing_id for u in batch]
        written.extend(result)

    assert [w.status for w in written] == [PUSHED] * len(chosen)
    sim_ids = {l["listing_id"]: setup.platform.sim_id(l) for l in setup.store.all()}
    history = setup.store.history()[before:]
    assert all(h["source"] == "api" for h in history)
    assert {sim_ids[h["listing_id"]]: h["quantity"] for h in history} == targets
    assert len(history) == len(chosen)
    live = setup.live()
    assert all(live[i]["quantity"] == q for i, q in targets.items())
    # calls per listing written: one PATCH each (Takealot), one batch per 100 (WooCommerce), one mutation per 250
    # (Shopify's inventorySetQuantities)
    calls = setup.calls()
    assert len(calls) == math.ceil(len(chosen) / size)
    assert all(c["status"] == 200 and c["method"] in ("POST", "PATCH") for c in calls)


def test_refused_listings_get_their_status_not_an_exception(setup):
    platform = setup.platform
    listings = {l.listing_id: l for l in setup.push.listings()}
    deleted = setup.with_anomaly("listing_deleted")[0]
    gone = Listing(platform.sim_id(deleted), deleted["sku"], deleted["quantity"], True, True, platform.ids(deleted))
    untracked = listings[platform.sim_id(setup.with_anomaly("listing_not_tracked")[0])]
    stale = dataclasses.replace(untracked, tracked=True, ids=untracked.ids or platform.ids({}))  # read before it changed
    if platform.type == "takealot":
        stale = dataclasses.replace(stale, ids={"merchant_warehouse_id": 4417})
    good = next(l for l in listings.values() if l.tracked)
    setup.sim.clear_requests()
    before = len(setup.store.history())

    # an untracked listing is never sent
    [result] = setup.push.write([StockUpdate(untracked, 5)])
    assert result.status == INVENTORY_NOT_TRACKED and result.message
    assert setup.calls() == []

    if setup.push.batch_size > 1:  # WooCommerce, Shopify: all in one batch, each its own status, in order
        results = setup.push.write([StockUpdate(gone, 3), StockUpdate(stale, 4), StockUpdate(good, 9)])
        assert [r.status for r in results] == [PRODUCT_NOT_FOUND, INVENTORY_NOT_TRACKED, PUSHED]
        # Shopify's mutation sets nothing of a call it refuses part of: the good one goes again, alone
        assert len(setup.calls()) == (2 if platform.type == "shopify" else 1)
    else:
        results = [setup.push.write([StockUpdate(listing, q)])[0] for listing, q in ((gone, 3), (stale, 4), (good, 9))]
        assert [r.status for r in results] == [PRODUCT_NOT_FOUND, INVENTORY_NOT_TRACKED, PUSHED]
        assert len(setup.calls()) == 3
    assert all(r.message for r in results[:2])
    assert [(h["quantity"]) for h in setup.store.history()[before:]] == [9]  # only the good one was written


def test_drift_shows_in_the_next_read(setup):
    platform = setup.platform
    drifting = next(l for l in setup.with_anomaly("listing_drift") if not l["deleted"])
    listing = next(l for l in setup.push.listings() if l.listing_id == platform.sim_id(drifting))
    [result] = setup.push.write([StockUpdate(listing, 20)])
    assert result.status == PUSHED
    again = next(l for l in setup.push.listings() if l.listing_id == listing.listing_id)
    now = setup.store.get(drifting["listing_id"])
    assert again.quantity == now["quantity"] != 20  # the hand change after our write
    assert [h["source"] for h in setup.store.history() if h["listing_id"] == drifting["listing_id"]][-2:] == ["api", "hand"]


def test_not_active_listings_still_take_stock(setup):
    platform = setup.platform
    inactive = next(l for l in setup.with_anomaly("listing_not_active") if l["tracked"])
    listing = next(l for l in setup.push.listings() if l.listing_id == platform.sim_id(inactive))
    assert not listing.active
    [result] = setup.push.write([StockUpdate(listing, 0)])
    assert result.status == PUSHED and setup.store.get(inactive["listing_id"])["quantity"] == 0
