"""tracking_updates end to end: the simulated warehouse ships, the pipeline pushes every package to its channel once,
counted from the simulated channels' own records (never from our tables), under lost replies, killed runs,
overlapping runs, corrections, unknown carriers and every refusal the channels make (S27-S34)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import requests
import sqlalchemy as sa

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import fulfilment_orders, order_sync_errors, tracking_updates
from sync_pipeline.demo import channel_tracking_figures
from sync_pipeline.orders.why import explain
from sync_pipeline.partitions import partition_key
from sync_pipeline_tests.conftest import TODAY, scenario

YESTERDAY = TODAY - timedelta(days=1)
SHIP_NOW = {"ship_after_hours": [0, 0]}
TRACKING_PATHS = ("fulfillments.json", "update_tracking", "shipment-trackings", "/notes", "shipmentConfirmation",
                  "shipping_fulfillment", "/shipments")


def rows(harness, channel: str) -> dict[str, dict]:
    with get_engine(harness.database_url).connect() as connection:
        query = sa.select(tracking_updates).where(tracking_updates.c.channel == channel)
        return {row["package_id"]: dict(row) for row in connection.execute(query).mappings()}


def pushes(harness, channel: str) -> list[dict]:
    """Every write the simulated channel received on a tracking endpoint."""
    return [r for r in harness.simulator.requests if r["channel"] == channel and r["method"] in ("POST", "PUT")
            and any(p in r["path"] for p in TRACKING_PATHS)]


def shipped_days(harness, channel: str) -> list[str]:
    """The UTC days the simulated warehouse shipped the channel's packages on (today, unless midnight passed)."""
    return sorted({s["shipped_at"][:10] for s in harness.simulator.warehouse.shipments() if s["channel"] == channel})


def synced(harness, channel: str) -> None:
    """Orders from the channel to the warehouse (the warehouse ships them on its next request)."""
    harness.materialize(channel, YESTERDAY)


def assert_once_each(harness, channel: str) -> dict:
    figures = channel_tracking_figures(harness.simulator, channel)
    assert figures["shipped_packages"] > 0
    assert figures["duplicate_tracking"] == figures["extra_fulfillments"] == 0
    return figures


@pytest.mark.parametrize("channel_type", ["shopify", "woocommerce", "amazon", "ebay", "bigcommerce"])
def test_every_package_reaches_its_channel_once_and_orders_complete(harness_factory, database_url, channel_type):
    # Every order that ships two units or more goes in several packages; some SKUs are out of stock (backorders).
    harness = harness_factory(scenario([("shop", channel_type, 10)], days=1, start=YESTERDAY, seed=11,
                                       warehouse={**SHIP_NOW, "multi_package": 1.0, "out_of_stock": 0.2}),
                              database_url=database_url)
    synced(harness, "shop")
    result = harness.track("shop")
    figures = assert_once_each(harness, "shop")
    assert figures["tracking_on_channel"] == figures["shipped_packages"]  # S27: every package, several per order too
    packages = rows(harness, "shop")
    assert {r["status"] for r in packages.values()} == {"PUSHED"}
    assert len(pushes(harness, "shop")) >= len(packages)
    by_order = Counter(r["order_id"] for r in packages.values())
    assert max(by_order.values()) > 1, "the scenario should ship some orders in several packages"
    with get_engine(harness.database_url).connect() as connection:
        states = dict(connection.execute(sa.select(fulfilment_orders.c.order_id, fulfilment_orders.c.status)).all())
    at_warehouse = {o["client_reference"]: o["status"] for o in harness.simulator.warehouse.orders()}
    shipped_whole = {ref for ref, status in at_warehouse.items() if status == "shipped"}
    assert shipped_whole and all(states[ref] == "COMPLETED" for ref in shipped_whole)
    # Backorders ship in part (or not at all): their tracking is pushed, and they wait for the rest.
    assert {states[ref] for ref, status in at_warehouse.items() if status != "shipped"} <= {"ACCEPTED"}
    with get_engine(harness.database_url).connect() as connection:
        partial = dict(connection.execute(sa.select(fulfilment_orders.c.order_id, fulfilment_orders.c.warehouse_status)
                                          .where(fulfilment_orders.c.status == "ACCEPTED")).all())
    assert {partial[ref] for ref, status in at_warehouse.items() if status == "partially_shipped"} <= {"partially_shipped"}
    event = next(e for e in result.get_asset_materialization_events())
    metadata = event.materialization.metadata
    assert metadata["status_PUSHED"].value == len(packages) and "seconds" in metadata and "channel_api_calls" in metadata

    before = len(pushes(harness, "shop"))
    harness.track("shop")  # a re-materialization pushes nothing again
    assert len(pushes(harness, "shop")) == before
    assert_once_each(harness, "shop")


def test_takealot_takes_no_tracking_and_says_so(harness_factory):
    harness = harness_factory(scenario([("tkl", "takealot", 4)], days=1, start=YESTERDAY, warehouse=SHIP_NOW))
    synced(harness, "tkl")
    harness.track("tkl")
    packages = rows(harness, "tkl")
    assert packages and {r["status"] for r in packages.values()} == {"NOT_APPLICABLE"}
    assert all("delivers to its customers itself" in r["message"] for r in packages.values())
    assert not pushes(harness, "tkl")
    with get_engine(harness.database_url).connect() as connection:
        states = dict(connection.execute(sa.select(fulfilment_orders.c.order_id, fulfilment_orders.c.status)).all())
    shipped_whole = {o["client_reference"] for o in harness.simulator.warehouse.orders() if o["status"] == "shipped"}
    assert shipped_whole and all(states[ref] == "COMPLETED" for ref in shipped_whole)  # nothing to wait for


@pytest.mark.parametrize("channel_type", ["shopify", "ebay", "amazon"])
def test_lost_replies_never_duplicate_a_fulfillment(harness_factory, database_url, channel_type):
    harness = harness_factory(scenario([("shop", channel_type, 8)], days=1, start=YESTERDAY,
                                       warehouse={**SHIP_NOW, "multi_package": 0.4}), database_url=database_url)
    synced(harness, "shop")
    # Replies lost after the channel took the push, and requests refused (5xx) or dropped before it did.
    harness.simulator.set_faults({"lost_reply": 0.3, "server_error_5xx": 0.1, "connection_reset": 0.1})
    for _ in range(3):
        harness.track("shop", raise_on_error=False)
    harness.simulator.set_faults({})
    harness.track("shop")
    figures = assert_once_each(harness, "shop")
    assert figures["tracking_on_channel"] == figures["shipped_packages"]
    # Not mistaken for someone else's fulfillment either (Shopify refuses a second one for the same units).
    assert {r["status"] for r in rows(harness, "shop").values()} == {"PUSHED"}
    lost = [r for r in harness.simulator.requests if r["channel"] == "shop" and r["injected"] == "lost_reply"
            and any(p in r["path"] for p in TRACKING_PATHS) and r["method"] == "POST"]
    assert lost, "some pushes should have lost their replies"


def test_a_killed_run_is_looked_up_on_the_channel_before_any_resend(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 3)], days=1, start=YESTERDAY, warehouse=SHIP_NOW),
                              database_url=database_url)
    synced(harness, "shop")
    harness.track("shop")
    engine = get_engine(harness.database_url)
    packages = rows(harness, "shop")
    pushed_id, unpushed_id = sorted(packages)[:2]
    # As a run killed after its push went out (pushed_id) and one killed before it did (unpushed_id) leave them.
    harness.simulator.tracking("shop")  # (the first is on the channel already)
    channel_order = packages[unpushed_id]["external_order_id"]
    number = packages[unpushed_id]["tracking_number"]
    with engine.begin() as connection:
        for package_id in (pushed_id, unpushed_id):
            connection.execute(tracking_updates.update().where(tracking_updates.c.package_id == package_id).values(
                status="PENDING", pushed_number=None, in_doubt_since=datetime.now(timezone.utc) - timedelta(hours=1),
                claimed_by="dead-run", claimed_at=datetime.now(timezone.utc) - timedelta(hours=1)))
    # Take the second package's fulfillment off the channel, as if that push never arrived.
    platform = harness.simulator._platform("shop")
    with platform.tracking._lock:
        platform.tracking._by_order[channel_order] = [
            f for f in platform.tracking._by_order[channel_order] if number not in f["tracking_numbers"]]
    before = len(pushes(harness, "shop"))
    result = harness.track("shop")
    after = rows(harness, "shop")
    assert after[pushed_id]["status"] == after[unpushed_id]["status"] == "PUSHED"
    assert after[pushed_id]["in_doubt_since"] is None and after[pushed_id]["claimed_by"] is None
    assert len(pushes(harness, "shop")) == before + 1  # only the one the channel did not hold
    assert_once_each(harness, "shop")
    metadata = next(e for e in result.get_asset_materialization_events()).materialization.metadata
    assert metadata["in_doubt_found"].value == 1 and metadata["in_doubt_not_there"].value == 1


def test_overlapping_runs_push_each_package_once(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "bigcommerce", 10)], days=1, start=YESTERDAY,
                                       warehouse={**SHIP_NOW, "multi_package": 0.3}), database_url=database_url)
    synced(harness, "shop")
    errors = []

    def run():
        try:
            harness.track("shop")
        except Exception as exc:  # a crashed run fails the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    figures = assert_once_each(harness, "shop")
    assert figures["tracking_on_channel"] == figures["shipped_packages"]
    assert len(pushes(harness, "shop")) == figures["shipped_packages"]


def test_corrections_update_in_place_or_are_added_and_say_so(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 3), ("bay", "ebay", 3)], days=1, start=YESTERDAY,
                                       warehouse={**SHIP_NOW, "tracking_corrections": 1.0}), database_url=database_url)
    for channel in ("shop", "bay"):
        synced(harness, channel)
        harness.track(channel)
    for channel in ("shop", "bay"):
        harness.track(channel)  # the warehouse corrected every number after the first read (S34)
    shipments = {s["shipment_id"]: s for s in harness.simulator.warehouse.shipments()}
    for channel, in_place in (("shop", True), ("bay", False)):
        packages = rows(harness, channel)
        held = harness.simulator.tracking(channel)
        for package_id, row in packages.items():
            current = shipments[row["shipment_id"]]
            assert row["tracking_number"] == current["tracking_number"] == row["pushed_number"]
            assert row["corrected_from"] == current["corrected_from"] is not None
            numbers = [n for f in held[row["external_order_id"]] for n in f["tracking_numbers"]]
            assert current["tracking_number"] in numbers
            if in_place:
                assert current["corrected_from"] not in numbers
            else:
                assert current["corrected_from"] in numbers and "cannot change a pushed number" in row["message"]


def test_carrier_names_are_matched_and_unknown_ones_wait_for_the_map(harness_factory, tmp_path, monkeypatch,
                                                                     database_url):
    carrier_map = tmp_path / "carrier_map.csv"
    monkeypatch.setenv("SYNC_CARRIER_MAP_FILE", str(carrier_map))
    harness = harness_factory(scenario([("bay", "ebay", 4), ("amzn", "amazon", 4)], days=1, start=YESTERDAY,
                                       warehouse={**SHIP_NOW, "unknown_carrier": 1.0}), database_url=database_url)
    for channel in ("bay", "amzn"):
        synced(harness, channel)
        harness.track(channel)
    amazon = rows(harness, "amzn")
    assert {r["status"] for r in amazon.values()} == {"PUSHED"} and {r["carrier_code"] for r in amazon.values()} == {"Other"}
    ebay = rows(harness, "bay")
    assert {r["status"] for r in ebay.values()} == {"CARRIER_NOT_MAPPED"}
    row = next(iter(ebay.values()))
    assert row["carrier_as_sent"] in row["message"] and str(carrier_map) in row["message"]
    with get_engine(harness.database_url).connect() as connection:
        errors = connection.execute(sa.select(order_sync_errors).where(
            order_sync_errors.c.stage == "tracking", order_sync_errors.c.resolved_at.is_(None))).all()
    assert {e.error_code for e in errors} == {"CARRIER_NOT_MAPPED"}

    sensor = harness.definitions().resolve_sensor_def("tracking_carrier_map_change")
    database = DatabaseResource(url=harness.database_url)
    first = sensor(dg.build_sensor_context(resources={"database": database}))
    texts = sorted({r["carrier_as_sent"] for r in ebay.values()})
    # Rows keyed by the text in another case and spacing: matching ignores both. One is an eBay code eBay does not
    # list, which eBay refuses (so it stays CARRIER_NOT_MAPPED, now with eBay's words); the others are pushed.
    codes = {text: ("Parcelforce", "Hermes", "Yodel")[i] for i, text in enumerate(texts)}
    refused = texts[0] if len(texts) > 1 else None
    if refused:
        codes[refused] = "NotAnEbayCode"
    carrier_map.write_text("channel,warehouse_carrier,channel_carrier_code\n"
                           + "".join(f"ebay,  {text.upper()} ,{codes[text]}\n" for text in texts))
    second = sensor(dg.build_sensor_context(cursor=first.cursor, resources={"database": database}))
    assert [r.partition_key for r in second.run_requests] == [partition_key("bay", d) for d in shipped_days(harness, "bay")]
    harness.track("bay")
    after = rows(harness, "bay").values()
    assert {r["carrier_code"] for r in after} == {codes[r["carrier_as_sent"]] for r in after}
    for row in after:
        expected = "CARRIER_NOT_MAPPED" if row["carrier_as_sent"] == refused else "PUSHED"
        assert row["status"] == expected, (row["carrier_as_sent"], row["message"])
    held = harness.simulator.tracking("bay")
    pushed = {r["tracking_number"] for r in after if r["status"] == "PUSHED"}
    assert pushed and pushed <= {n for f in sum(held.values(), []) for n in f["tracking_numbers"]}


def test_carrier_spellings_find_their_carrier():
    from sync_pipeline.tracking.carriers import known_carrier

    for text, carrier in [("FedEx", "FedEx"), ("FEDEX", "FedEx"), ("FedEx Ground", "FedEx"), ("Federal Express", "FedEx"),
                          ("UPS", "UPS"), ("United Parcel Service", "UPS"), ("u.p.s.", "UPS"), ("U.S.P.S.", "USPS"),
                          ("Royal Mail Tracked 48", "Royal Mail"), ("DHL Express", "DHL"), ("dpd uk", "DPD"),
                          ("Aramex", None), ("", None)]:
        assert known_carrier(text) == carrier, text


def test_a_malformed_carrier_map_fails_the_run_naming_the_file_and_line(harness_factory, tmp_path, monkeypatch):
    carrier_map = tmp_path / "carrier_map.csv"
    carrier_map.write_text("channel,warehouse_carrier,channel_carrier_code\nebay,Aramex,\n")
    monkeypatch.setenv("SYNC_CARRIER_MAP_FILE", str(carrier_map))
    harness = harness_factory(scenario([("bay", "ebay", 2)], days=1, start=YESTERDAY, warehouse=SHIP_NOW))
    synced(harness, "bay")
    result = harness.track("bay", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert str(carrier_map) in failure.step_failure_data.error.message
    assert "carrier_map.csv:2: no channel_carrier_code" in failure.step_failure_data.error.message
    assert not pushes(harness, "bay")


ANOMALIES = {
    None: "PUSHED",
    "tracking_order_deleted": "ORDER_NOT_FOUND_ON_CHANNEL",  # S30
    "tracking_already_fulfilled": "ALREADY_FULFILLED",  # S29
    "tracking_order_cancelled": "ORDER_CANCELLED",  # S32
    "tracking_permission_denied": "PERMISSION_DENIED",  # S33
    "tracking_order_locked": "PUSHED",  # S31: refused twice, then taken within the run's retries
}
PUSHING_TYPES = ["shopify", "woocommerce", "amazon", "ebay", "bigcommerce"]


def test_each_channel_refusal_is_recorded_with_its_reason(harness_factory, database_url):
    channels = [(f"{t[:4]}-x", t, 12) for t in PUSHING_TYPES]
    harness = harness_factory(scenario(channels, days=1, start=YESTERDAY, warehouse=SHIP_NOW,
                                       anomalies={a: 0.16 for a in ANOMALIES if a}), database_url=database_url)
    seen = Counter()
    for name, _, _ in channels:
        synced(harness, name)
        result = harness.track(name)
        platform = harness.simulator._platform(name)
        held = harness.simulator.tracking(name)
        for row in rows(harness, name).values():
            anomaly = platform.tracking_anomaly(row["external_order_id"])
            seen[anomaly] += 1
            assert row["status"] == ANOMALIES[anomaly], (name, anomaly, row["message"])
            numbers = [n for f in held.get(row["external_order_id"], []) if f["source"] == "api"
                       for n in f["tracking_numbers"]]
            assert numbers.count(row["tracking_number"]) == (1 if row["status"] == "PUSHED" else 0), (name, anomaly)
            if row["status"] != "PUSHED":
                assert row["message"], (name, anomaly)
        metadata = next(e for e in result.get_asset_materialization_events()).materialization.metadata
        locked = sum(1 for r in rows(harness, name).values()
                     if platform.tracking_anomaly(r["external_order_id"]) == "tracking_order_locked")
        assert metadata.get("locked_retries", dg.IntMetadataValue(0)).value >= locked
        assert_once_each(harness, name)
    assert all(seen[a] for a in ANOMALIES), seen  # every refusal met at least once
    with get_engine(harness.database_url).connect() as connection:
        errors = {e.error_code for e in connection.execute(sa.select(order_sync_errors).where(
            order_sync_errors.c.stage == "tracking", order_sync_errors.c.resolved_at.is_(None)))}
    assert errors == {"ORDER_NOT_FOUND_ON_CHANNEL", "PERMISSION_DENIED"}  # S29 and S32 are outcomes, not errors


def test_bad_shipments_are_recorded_and_never_crash_the_run(harness_factory):
    harness = harness_factory(scenario([("shop", "shopify", 2)], days=1, start=YESTERDAY))
    synced(harness, "shop")
    sim = harness.simulator
    order = next(o for o in sim.warehouse.orders() if o["channel"] == "shop" and o["status"] == "accepted")
    requests.post(f"{sim.url}/_admin/warehouse/orders/{order['order_id']}/ship", json={"tracking_number": None},
                  timeout=10).raise_for_status()
    # An order the pipeline never sent, keyed in at the warehouse by hand, then shipped.
    body = {**{k: order[k] for k in ("ship_method", "ship_to", "customer", "lines")}, "client_reference": "by-hand-1",
            "channel": "shop", "channel_order_id": "999", "order_number": "999"}
    created = requests.post(f"{sim.warehouse_url}/api/v1/orders", json=body,
                            headers={"X-Api-Key": sim.credentials["warehouse"]["api_key"]}, timeout=10).json()
    requests.post(f"{sim.url}/_admin/warehouse/orders/{created['order_id']}/ship", timeout=10).raise_for_status()
    harness.track("shop")
    statuses = {r["order_id"]: (r["status"], r["message"]) for r in rows(harness, "shop").values()}
    assert statuses[order["client_reference"]][0] == "NO_TRACKING_NUMBER"
    assert "without a tracking number" in statuses[order["client_reference"]][1]
    assert statuses["by-hand-1"][0] == "UNKNOWN_ORDER" and "never sent" in statuses["by-hand-1"][1]
    assert not pushes(harness, "shop")
    report = explain(get_engine(harness.database_url), harness.config, order["client_reference"])
    assert "packages:" in report and "NO_TRACKING_NUMBER" in report


def test_the_shipments_sensor_runs_exactly_the_partitions_with_new_packages(harness_factory):
    harness = harness_factory(scenario([("shop", "shopify", 3), ("woo", "woocommerce", 3)], days=1, start=YESTERDAY,
                                       warehouse=SHIP_NOW))
    synced(harness, "shop")
    definitions = harness.definitions()
    sensor = definitions.resolve_sensor_def("tracking_shipments")
    resources = {"database": DatabaseResource(url=harness.database_url), "channels": harness.channels,
                 "warehouse": definitions.resources["warehouse"]}
    result = sensor(dg.build_sensor_context(resources=resources))
    assert [r.partition_key for r in result.run_requests] == [partition_key("shop", d) for d in shipped_days(harness, "shop")]
    again = sensor(dg.build_sensor_context(cursor=result.cursor, resources=resources))
    # It reads a little before its cursor, and asks for nothing new: the same run key, which Dagster never repeats.
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in result.run_requests]
    synced(harness, "woo")
    later = sensor(dg.build_sensor_context(cursor=result.cursor, resources=resources))
    new = [r for r in later.run_requests if r.run_key not in {q.run_key for q in result.run_requests}]
    assert [r.partition_key for r in new] == [partition_key("woo", d) for d in shipped_days(harness, "woo")]


@pytest.mark.parametrize("channel_type", ["shopify", "ebay"])
def test_a_correction_that_arrives_while_a_push_is_in_doubt_is_pushed_after_it(harness_factory, channel_type):
    """The run that pushed N1 died before recording it; the warehouse then corrected N1 to N2. The next run looks
    for N1 (what went out), links it, and pushes N2 as a correction of it: never N2 as a package of its own."""
    harness = harness_factory(scenario([("shop", channel_type, 3)], days=1, start=YESTERDAY, warehouse=SHIP_NOW))
    synced(harness, "shop")
    harness.track("shop")
    package_id, row = sorted(rows(harness, "shop").items())[0]
    first = row["tracking_number"]
    with get_engine(harness.database_url).begin() as connection:
        connection.execute(tracking_updates.update().where(tracking_updates.c.package_id == package_id).values(
            status="PENDING", pushed_number=None, sending_number=first, claimed_by="dead-run",
            in_doubt_since=datetime.now(timezone.utc) - timedelta(hours=1),
            claimed_at=datetime.now(timezone.utc) - timedelta(hours=1)))
    corrected = requests.post(f"{harness.simulator.url}/_admin/warehouse/shipments/{row['shipment_id']}/correct",
                              timeout=10).json()["tracking_number"]
    harness.track("shop")
    after = rows(harness, "shop")[package_id]
    assert (after["status"], after["pushed_number"], after["corrected_from"]) == ("PUSHED", corrected, first)
    numbers = [n for f in harness.simulator.tracking("shop")[row["external_order_id"]] for n in f["tracking_numbers"]]
    assert corrected in numbers
    assert (first in numbers) == (channel_type == "ebay")  # eBay cannot change a number: the correction is added,
    if channel_type == "ebay":  # and the row says so (it went as a correction, not as a package of its own)
        assert "cannot change a pushed number" in after["message"]
    assert_once_each(harness, "shop")
