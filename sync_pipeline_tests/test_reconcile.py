"""Reconciliation (issue 12): S42, orders fulfilled or cancelled on the channel in a way the incremental sync misses,
and S43, warehouse orders keyed in by hand that no channel order here is linked to. The simulator produces both
(anomalies.silent_status_changes, warehouse.hand_keyed_orders with anomalies.repeat_orders for the ambiguous ones)
and the tests count from its own records: the orders it changed, the orders its warehouse holds, the POSTs it
answered per reference. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import orjson
import sqlalchemy as sa

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import fulfilment_orders, order_sync_errors, orders, reconciliation_findings
from sync_pipeline.operations.reconcile import OPEN_HERE
from sync_pipeline.operations.reconcile_assets import (
    OPEN_ORDERS,
    OPEN_ORDERS_CHECK,
    WAREHOUSE_ORDERS,
    WAREHOUSE_ORDERS_CHECK,
)
from sync_pipeline.orders.why import explain
from sync_pipeline.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_key
from sync_pipeline_tests.conftest import TODAY, scenario

FIRST, LAST = TODAY - timedelta(days=3), TODAY - timedelta(days=2)  # days the schedules no longer re-read
NORMALIZE_ONLY = [dg.AssetKey("raw_orders"), dg.AssetKey("normalized_orders")]


def reconcile(harness, *, recheck_hours: float = 24.0):
    """One run of the `reconciliation` job (both assets and their checks), as the hourly schedule starts it."""
    definitions = harness.definitions()
    job = definitions.resolve_job_def("reconciliation")
    return job.execute_in_process(instance=harness.instance, run_config={
        "ops": {OPEN_ORDERS.path[-1]: {"config": {"recheck_hours": recheck_hours}}}})


def landed_and_normalized(harness, channel: str):
    """raw_orders and normalized_orders only: the orders are here, the fulfilment stage has not run yet."""
    job = harness.definitions().resolve_job_def("order_sync")
    tags = {RANGE_START_TAG: str(partition_key(channel, FIRST)), RANGE_END_TAG: str(partition_key(channel, LAST))}
    return job.execute_in_process(instance=harness.instance, tags=tags, asset_selection=NORMALIZE_ONLY)


def metadata(result, asset: dg.AssetKey) -> dict:
    event = next(e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key == asset)
    return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}


def check(result, name: str):
    return next(e.event_specific_data for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == name)


def table(harness, query) -> dict[str, dict]:
    with get_engine(harness.database_url).connect() as connection:
        return {row[0]: dict(row._mapping) for row in connection.execute(query)}


def findings(harness, kind: str) -> dict[str, dict]:
    rows = table(harness, sa.select(reconciliation_findings).where(reconciliation_findings.c.kind == kind))
    return {k: {c: v for c, v in row.items() if c not in ("last_seen_at", "run_id")} for k, row in rows.items()}


def fulfilment(harness) -> dict[str, dict]:
    return table(harness, sa.select(fulfilment_orders))


def test_s42_orders_closed_on_the_channel_behind_the_cursor_are_found_refreshed_and_settled(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 10), ("woo", "woocommerce", 8)], days=2, start=FIRST,
                                       anomalies={"silent_status_changes": 0.35, "unpaid": 0.25}),
                              database_url=database_url)
    sim = harness.simulator
    for channel in ("shop", "woo"):
        harness.materialize(channel, FIRST, LAST)
    sent = {k for k, v in fulfilment(harness).items() if v["status"] == "ACCEPTED"}
    # Cancelled or fulfilled on the channel now, their modification time left where it was (the simulator's truth).
    changed = {f"{channel}:{external_id}": status for channel in ("shop", "woo")
               for external_id, status in sim._platform(channel).apply_silent_changes().items()}
    cancelled = {o for o, status in changed.items() if status == "cancelled"}
    assert cancelled & sent and (set(changed) - cancelled) & sent and set(changed) - sent, "every case is there"

    # The incremental sync asks for what changed since its cursor: these never come.
    harness.materialize("shop", FIRST, LAST)
    canonical = table(harness, sa.select(orders.c.order_id, orders.c.canonical_status))
    assert {o for o in changed if canonical[o]["canonical_status"] in OPEN_HERE} == set(changed)

    result = reconcile(harness)
    figures = metadata(result, OPEN_ORDERS)
    for channel in ("shop", "woo"):
        mine = {o for o in changed if o.startswith(f"{channel}:")}
        assert figures[f"{channel}/found"] == figures[f"{channel}/refreshed"] == len(mine)
        assert figures[f"{channel}/checked"] == sum(1 for o in canonical if o.startswith(f"{channel}:")
                                                    and canonical[o]["canonical_status"] in OPEN_HERE)
    # The partitions it settled show on fulfilment_orders' and normalized_orders' pages, with what did it.
    homes = table(harness, sa.select(orders.c.order_id, orders.c.channel, orders.c.partition_date))
    for asset in ("normalized_orders", "fulfilment_orders"):
        events = [e.event_specific_data.materialization for e in result.all_events
                  if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key == dg.AssetKey(asset)]
        assert {(m.partition.keys_by_dimension["channel"], m.partition.keys_by_dimension["date"]) for m in events} == {
            (homes[o]["channel"], str(homes[o]["partition_date"])) for o in changed}
        assert all("S42" in m.metadata["by"].value for m in events)
    canonical = table(harness, sa.select(orders.c.order_id, orders.c.canonical_status))
    assert {o: canonical[o]["canonical_status"] for o in changed} == {
        o: "cancelled" if status == "cancelled" else "shipped" for o, status in changed.items()}

    # The warehouse's own list: no cancelled order is live there; what was sent is cancelled there, once.
    by_reference = {o["client_reference"]: o for o in sim.warehouse.orders()}
    assert not {o for o in cancelled if by_reference.get(o, {}).get("status") not in (None, "cancelled")}
    assert {o for o in cancelled if o in by_reference} == cancelled & sent
    rows = fulfilment(harness)
    assert {rows[o]["status"] for o in cancelled} == {"CANCELLED"}
    assert figures["fulfilment_cancelled_at_warehouse"] == len(cancelled & sent)
    # Fulfilled elsewhere while at the warehouse: it may ship twice, and a person is told; held ones are settled.
    kept = findings(harness, "S42")
    fulfilled_elsewhere = (set(changed) - cancelled) & sent
    assert {o: kept[f"S42:{o}"]["status"] for o in changed} == {
        o: "NEEDS_PERSON" if o in fulfilled_elsewhere else "REFRESHED" for o in changed}
    assert all(by_reference[o]["status"] != "cancelled" for o in fulfilled_elsewhere)
    assert all("may ship twice" in kept[f"S42:{o}"]["message"] for o in fulfilled_elsewhere)
    assert figures["needs_person"] == len(fulfilled_elsewhere)
    waiting = check(result, OPEN_ORDERS_CHECK)
    assert not waiting.passed and waiting.severity == dg.AssetCheckSeverity.WARN
    assert waiting.metadata["needs_person"].value == len(fulfilled_elsewhere)
    assert waiting.metadata["channels"].value == ", ".join(sorted({o.split(":", 1)[0] for o in fulfilled_elsewhere}))

    # Again, every open order read once more: nothing new is found, landed, sent or cancelled.
    posts, cancels = sim.warehouse.posts(), sum(1 for o in sim.warehouse.orders() if o["status"] == "cancelled")
    again = metadata(reconcile(harness, recheck_hours=0), OPEN_ORDERS)
    assert again["found"] == again["landed_versions"] == 0 and again["checked"] > 0
    assert findings(harness, "S42") == kept and fulfilment(harness) == rows
    assert sim.warehouse.posts() == posts
    assert sum(1 for o in sim.warehouse.orders() if o["status"] == "cancelled") == cancels

    order_id = sorted(cancelled & sent)[0]
    report = explain(get_engine(harness.database_url), harness.config, order_id)
    assert "reconciliation:" in report and "S42 REFRESHED" in report and "cancelled there" in report


def test_s43_hand_keyed_warehouse_orders_are_linked_when_unique_and_listed_when_not(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 12)], days=2, start=FIRST, anomalies={"repeat_orders": 0.3},
                                       warehouse={"hand_keyed_orders": 0.4}), database_url=database_url)
    sim = harness.simulator
    keyed = sim.warehouse.hand_keyed()  # the simulator's truth: which channel order each was keyed in from
    unique = {w: f"shop:{v['external_order_id']}" for w, v in keyed.items() if not v["same_customer_and_items"]}
    ambiguous = {w: {f"shop:{i}" for i in [v["external_order_id"], *v["same_customer_and_items"]]}
                 for w, v in keyed.items() if v["same_customer_and_items"]}
    assert unique and ambiguous and any(v["client_reference"] is None for v in keyed.values())

    landed_and_normalized(harness, "shop")
    result = reconcile(harness)
    figures = metadata(result, WAREHOUSE_ORDERS)
    assert figures["found"] == len(keyed) and figures["shop/linked"] == len(unique)
    assert figures["needs_person"] == len(ambiguous)
    assert metadata(result, OPEN_ORDERS)["found"] == 0, "nothing closed on the channel: no false S42"
    rows = fulfilment(harness)
    assert {w: (o, rows[o]["status"], rows[o]["linked"]) for o, w in
            ((o, rows[o]["warehouse_order_id"]) for o in unique.values())} == {
        w: (o, "ACCEPTED", True) for w, o in unique.items()}
    kept = findings(harness, "S43")
    assert {w: (kept[f"S43:{w}"]["status"], set(orjson.loads(kept[f"S43:{w}"]["candidates"]))) for w in ambiguous} == {
        w: ("NEEDS_PERSON", candidates) for w, candidates in ambiguous.items()}
    assert all(kept[f"S43:{w}"]["resolved_at"] is None for w in ambiguous)
    assert all(kept[f"S43:{w}"]["status"] == "LINKED" and kept[f"S43:{w}"]["resolved_at"] for w in unique)
    waiting = check(result, WAREHOUSE_ORDERS_CHECK)
    assert not waiting.passed and waiting.metadata["needs_person"].value == len(ambiguous)
    assert waiting.metadata["channels"].value == "shop"

    # The order sync then sends every other order once and never the linked ones (the warehouse's own count).
    harness.materialize("shop", FIRST, LAST)
    references = sim.warehouse.references()
    assert {o: references.get(o, {}).get("posts", 0) for o in unique.values()} == dict.fromkeys(unique.values(), 0)
    sent = {o for o, r in fulfilment(harness).items() if r["status"] == "ACCEPTED" and o not in unique.values()}
    assert sent and all(references[o]["posts"] == 1 and len(references[o]["orders"]) == 1 for o in sent)
    rows = fulfilment(harness)
    assert all(rows[o]["warehouse_order_id"] == w for w, o in unique.items())

    # Again: nothing linked twice, nothing sent; the ambiguous ones are still listed with the same candidates.
    posts = sim.warehouse.posts()
    again = metadata(reconcile(harness), WAREHOUSE_ORDERS)
    assert again["linked"] == 0 and again["needs_person"] == len(ambiguous)
    assert {k: v["status"] for k, v in findings(harness, "S43").items()} == {k: v["status"] for k, v in kept.items()}
    assert fulfilment(harness) == rows and sim.warehouse.posts() == posts
    harness.materialize("shop", FIRST, LAST)
    assert sim.warehouse.posts() == posts, "a linked order is never sent, also by a later order_sync run"

    # The warehouse ships a linked hand-keyed order (no channel there, another reference or none): its number
    # reaches the channel order it was linked to, counted from the simulated channel's records.
    for wid in unique:
        assert sim.warehouse.ship(wid, {"tracking_number": f"1Z{wid[-6:].upper()}"}).status == 200
    harness.track("shop")
    held = sim.tracking("shop")
    for wid, order_id in unique.items():
        numbers = [n for f in held.get(order_id.split(":", 1)[1], []) for n in f["tracking_numbers"]]
        assert numbers == [f"1Z{wid[-6:].upper()}"], (wid, order_id, numbers)

    engine = get_engine(harness.database_url)
    linked_order = sorted(unique.values())[0]
    assert "S43 LINKED" in explain(engine, harness.config, linked_order)
    candidate = sorted(sorted(ambiguous.values(), key=sorted)[0])[0]
    report = explain(engine, harness.config, candidate)
    assert "S43 NEEDS_PERSON" in report and "matches" in report


def test_s43_linking_an_order_the_fulfilment_stage_had_stopped_resolves_what_stopped_it(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 12)], days=2, start=FIRST,
                                       anomalies={"unmapped_ship_method": 0.5}, warehouse={"hand_keyed_orders": 0.5}),
                              database_url=database_url)
    keyed = {w: f"shop:{v['external_order_id']}" for w, v in harness.simulator.warehouse.hand_keyed().items()
             if not v["same_customer_and_items"]}
    harness.materialize("shop", FIRST, LAST)
    stopped = {o for o, row in fulfilment(harness).items() if row["status"] == "IMPORT_ERROR"} & set(keyed.values())
    assert stopped, "a hand-keyed order whose channel order the pipeline stopped (SHIP_METHOD_NOT_MAPPED)"
    open_errors = sa.select(order_sync_errors.c.channel, order_sync_errors.c.external_order_id).where(
        order_sync_errors.c.stage == "fulfilment", order_sync_errors.c.resolved_at.is_(None))

    def still_open() -> set[str]:
        with get_engine(harness.database_url).connect() as connection:
            return {f"{c}:{e}" for c, e in connection.execute(open_errors)}

    assert stopped <= still_open()
    reconcile(harness)
    rows = fulfilment(harness)
    assert {o: (rows[o]["status"], rows[o]["linked"]) for o in stopped} == dict.fromkeys(stopped, ("ACCEPTED", True))
    assert not stopped & still_open(), "linked at the warehouse: nothing stops it any more"


def test_s43_a_warehouse_order_of_ours_whose_record_was_lost_is_linked_by_its_reference(harness_factory, database_url):
    """S43 for a warehouse order this pipeline sent and whose record here was lost (the reply never recorded; here:
    the sync database restored from a backup taken before it), on a warehouse that takes a repeated reference as a
    new order: reconciliation links it by its client reference, and the next order_sync sends it no second time
    (the warehouse's own count of POSTs per reference)."""
    # Every order of a day repeats the one before it (same customer, same items): time, customer and items cannot
    # tell the two lost ones apart, their references can.
    harness = harness_factory(scenario([("shop", "shopify", 8)], days=2, start=FIRST, anomalies={"repeat_orders": 1.0},
                                       warehouse={"duplicate_references": "accept"}), database_url=database_url)
    sim = harness.simulator
    assert harness.materialize("shop", FIRST, LAST).success
    rows = fulfilment(harness)
    lost = sorted(o for o, row in rows.items() if row["status"] == "ACCEPTED" and row["partition_date"] == FIRST)[:2]
    assert len(lost) == 2
    with get_engine(harness.database_url).begin() as connection:
        connection.execute(fulfilment_orders.delete().where(fulfilment_orders.c.order_id.in_(lost)))
    posts = sim.warehouse.posts()

    result = reconcile(harness)
    assert metadata(result, WAREHOUSE_ORDERS)["found"] == 2
    relinked = fulfilment(harness)
    assert {o: (relinked[o]["status"], relinked[o]["warehouse_order_id"]) for o in lost} == {
        o: ("ACCEPTED", rows[o]["warehouse_order_id"]) for o in lost}
    assert all(findings(harness, "S43")[f"S43:{rows[o]['warehouse_order_id']}"]["status"] == "LINKED" for o in lost)
    harness.materialize("shop", FIRST, LAST)
    references = sim.warehouse.references()
    assert sim.warehouse.posts() == posts, "nothing sent again"
    assert all(references[o]["posts"] == 1 and len(references[o]["orders"]) == 1 for o in lost)
