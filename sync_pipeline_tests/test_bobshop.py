"""Bob Shop on all three flows: orders by export file (each file once, by checksum; bad rows by file and line, the rest
landing), stock as the Store Integrator's XML tradefeed written atomically, and tracking NOT_APPLICABLE with its
reason. Outcomes are counted from the simulator's own records: the orders it placed and exported, what its warehouse
holds, and its own reading of the feed file."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
import requests
import sqlalchemy as sa

from sync_pipeline.channels.bobshop import inventory as feed_module
from sync_pipeline.channels.bobshop.mapping import EXPORT_COLUMNS
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import (
    fulfilment_orders,
    import_files,
    inventory_pushes,
    order_sync_errors,
    orders,
    sync_attempts,
    tracking_updates,
)
from sync_pipeline.orders.ingest import ingest_channel
from sync_pipeline.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_key
from sync_pipeline.simulator.platforms.bobshop import COLUMNS as SIMULATED_COLUMNS
from sync_pipeline_tests.conftest import FIXTURES, TODAY, scenario

YESTERDAY = TODAY - timedelta(days=1)
FIXTURE_DAYS = (date(2026, 11, 28), date(2026, 11, 29))  # the fixture's orders, Johannesburg times in UTC
FIXTURE = FIXTURES / "payloads" / "bobshop_orders_export.SCHEMA_DERIVED_NOT_REAL.csv"
SHIP_NOW = {"ship_after_hours": [0, 0]}


@pytest.fixture
def folders(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """The imports and feeds folders the pipeline and the simulated Bob Shop share, per test."""
    imports, feeds = tmp_path / "imports", tmp_path / "feeds"
    monkeypatch.setenv("SYNC_IMPORTS_DIR", str(imports))
    monkeypatch.setenv("SYNC_FEEDS_DIR", str(feeds))
    return imports, feeds


def bob(harness_factory, database_url=None, *, per_day=6, days=2, anomalies=None, warehouse=None, overrides=None):
    return harness_factory(scenario([("bob", "bobshop", per_day)], days=days, anomalies=anomalies or {},
                                    warehouse=warehouse), database_url=database_url,
                           overrides_in={"bob": {"inventory_sync": True, **(overrides or {})}})


def select(harness, query) -> list:
    with get_engine(harness.database_url).connect() as connection:
        return list(connection.execute(query).mappings())


def ledger(harness) -> list:
    return select(harness, sa.select(import_files).order_by(import_files.c.id))


def landed_ids(harness) -> set[str]:
    return {r.external_order_id for r in harness.raw_rows("bob")}


def sync_days(harness, first=None, last=None):
    return harness.materialize("bob", first or TODAY - timedelta(days=1), last or TODAY)


def land(harness, run_id: str = "run"):
    """What the raw_orders step does for the channel's last two days (ingest_channel), without a whole Dagster run."""
    result = ingest_channel(get_engine(harness.database_url), harness.config.channel("bob"), [YESTERDAY, TODAY], run_id)
    assert result.error is None, result.error
    return result


def test_the_simulated_export_and_the_fixture_share_the_mapping_columns():
    header = FIXTURE.read_bytes().decode("utf-8").split("\r\n")[0].split(",")
    assert tuple(header) == EXPORT_COLUMNS == SIMULATED_COLUMNS


def test_each_export_file_lands_once_by_checksum(harness_factory, database_url, folders):
    imports, _ = folders
    harness = bob(harness_factory, database_url)
    placed = {o.external_order_id: o for o in harness.simulator.orders("bob")}
    [exported] = harness.simulator._platform("bob").store.files
    assert land(harness).csv_orders == len(placed)
    assert landed_ids(harness) == set(placed) and len(placed) > 6
    rows = harness.raw_rows("bob")
    assert {r.source for r in rows} == {f"csv:{ledger(harness)[0]['checksum'][:12]}"}
    for row in rows:  # the payload is the export's rows exactly as the simulator wrote them
        assert json.loads(row.payload) == placed[row.external_order_id].payload
    [entry] = ledger(harness)
    assert (entry["file_name"], entry["rows"], entry["rows_bad"]) == (exported.name, entry["rows_landed"], 0)
    assert entry["rows"] == sum(len(o.payload) for o in placed.values())
    assert not harness.api_call_rows("bob"), "Bob Shop is never called"

    # The same bytes again, renamed and re-dropped: nothing is read twice.
    shutil.copy(exported, imports / "bob" / "renamed-copy.csv")
    exported.rename(exported.with_name("downloaded-again.csv"))
    assert land(harness, "again").csv_orders == 0
    assert len(harness.raw_rows("bob")) == len(rows) and len(ledger(harness)) == 1

    # A changed file is a new file: its changed order lands as a new version, its unchanged ones land nothing new.
    text = (imports / "bob" / "renamed-copy.csv").read_text(encoding="utf-8")
    first = next(iter(placed.values()))
    changed_rows = [dict(r, **{"Order Status": "Cancelled"}) for r in first.payload]
    old_lines = [",".join(_quoted(r[c]) for c in EXPORT_COLUMNS) for r in first.payload]
    assert all(line in text for line in old_lines)
    for old, new in zip(old_lines, changed_rows):
        text = text.replace(old, ",".join(_quoted(new[c]) for c in EXPORT_COLUMNS))
    (imports / "bob" / "renamed-copy.csv").write_text(text, encoding="utf-8")
    land(harness, "changed")
    assert len(ledger(harness)) == 2
    versions = Counter(r.external_order_id for r in harness.raw_rows("bob"))
    assert versions == Counter({**dict.fromkeys(placed, 1), first.external_order_id: 2})
    newest = [r for r in harness.raw_rows("bob") if r.run_id == "changed"]
    assert [json.loads(r.payload) for r in newest] == [changed_rows]


def _quoted(value: str) -> str:
    return f'"{value}"' if any(c in value for c in ',"\n\r') else value


def test_bad_rows_are_reported_by_file_and_line_and_the_rest_lands(harness_factory, database_url, folders):
    imports, _ = folders
    # The simulated export carries orders whose date Bob Shop wrote as 0000-00-00 (invalid_date).
    harness = bob(harness_factory, database_url, per_day=10, anomalies={"invalid_date": 0.25})
    placed = harness.simulator.orders("bob")
    unreadable = {o.external_order_id for o in placed if o.payload[0]["Order Date"] == "0000-00-00 00:00:00"}
    assert unreadable and len(unreadable) < len(placed)
    [exported] = harness.simulator._platform("bob").store.files
    # A hand-edited export beside it: an empty order id, a short row, a bad date on one line of a two-line order.
    good = FIXTURE.read_bytes().decode("utf-8").rstrip("\r\n").split("\r\n")
    edited = good[:3] + [",".join(["", *good[1].split(",")[1:]]), "30000109,2026-11-28 10:00:00,Paid",
                          good[1].replace("30000101", "30000110"),
                          good[2].replace("30000101", "30000110").replace("2026-11-28 09:14:05", "28/13/2026")] + good[3:]
    (imports / "bob" / "hand-edited.csv").write_text("\r\n".join(edited) + "\r\n", encoding="utf-8")
    land(harness)  # bad rows do not fail the channel

    exported_rows = sum(len(o.payload) for o in placed)
    lines = {r["file_name"]: r for r in ledger(harness)}
    assert lines[exported.name]["rows_bad"] == sum(len(o.payload) for o in placed if o.external_order_id in unreadable)
    assert lines[exported.name]["rows_landed"] + lines[exported.name]["rows_bad"] == exported_rows
    assert (lines["hand-edited.csv"]["rows"], lines["hand-edited.csv"]["rows_bad"]) == (9, 4)
    fixture_ids = {"30000101", "30000102", "30000103", "30000104"}
    assert landed_ids(harness) == {o.external_order_id for o in placed} - unreadable | fixture_ids
    errors = select(harness, sa.select(order_sync_errors).where(order_sync_errors.c.stage == "import"))
    by_line = {e["message"].split(":")[0]: e for e in errors if e["message"].startswith("hand-edited.csv")}
    assert sorted(by_line) == [f"hand-edited.csv line {n}" for n in (4, 5, 6, 7)]
    assert "column Order Number is empty" in by_line["hand-edited.csv line 4"]["message"]
    assert "has 3 values where the header has 21 columns" in by_line["hand-edited.csv line 5"]["message"]
    assert "'28/13/2026' is not a date and time" in by_line["hand-edited.csv line 7"]["message"]
    assert "held with order 30000110, whose line 7" in by_line["hand-edited.csv line 6"]["message"]
    assert all("drop the file again" in e["message"] for e in errors)
    simulated = [e for e in errors if e["message"].startswith(exported.name)]
    assert {e["external_order_id"] for e in simulated} == unreadable
    [attempt] = select(harness, sa.select(sync_attempts).where(sync_attempts.c.channel == "bob"))
    assert attempt["outcome"] == "SUCCESS"

    # The export corrected and dropped again under its name: the held order lands, its reports are resolved.
    fixed = edited[:3] + edited[5:6] + [good[2].replace("30000101", "30000110")] + edited[7:]
    (imports / "bob" / "hand-edited.csv").write_text("\r\n".join(fixed) + "\r\n", encoding="utf-8")
    land(harness, "fixed")
    assert "30000110" in landed_ids(harness)
    still_open = select(harness, sa.select(order_sync_errors).where(
        order_sync_errors.c.stage == "import", order_sync_errors.c.resolved_at.is_(None),
        order_sync_errors.c.message.startswith("hand-edited.csv")))
    assert still_open == []


def test_unicode_names_and_multi_line_addresses_arrive_exactly(harness_factory, folders):
    imports, _ = folders
    harness = bob(harness_factory, per_day=0)
    (imports / "bob").mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, imports / "bob" / "export.csv")
    sync_days(harness, *FIXTURE_DAYS)
    names = {r["external_order_id"]: r for r in select(harness, sa.select(orders))}
    assert names["30000102"]["customer_name"] == "José Núñez"
    assert names["30000103"]["customer_name"] == "王伟" and names["30000103"]["ship_city"] == "上海市"
    assert names["30000104"]["customer_name"] == "Mia ✨ Chen 🌸"
    [two_lines] = [json.loads(r.payload) for r in harness.raw_rows("bob") if r.external_order_id == "30000101"]
    assert [line["Product Title"] for line in two_lines] == ["Braai Tongs - Stainless", "Rooibos Tea Tin - 250 g"]
    [multi] = [json.loads(r.payload) for r in harness.raw_rows("bob") if r.external_order_id == "30000104"]
    assert multi[0]["Delivery Address 1"] == "1 Beach Road\nFlat 2" and multi[0]["Buyer Name"] == "Mia ✨ Chen 🌸"



def free_stock(harness) -> dict[str, int]:
    return {i["sku"]: i["good"] - i["allocated"] for i in harness.simulator.warehouse.items()}


def feed_seen_by_bob_shop(harness) -> dict[str, int]:
    """What Bob Shop would list: the simulated platform's own reading of the published feed file."""
    return {listing["listing_id"]: listing["quantity"] for listing in harness.simulator.listings("bob")}


def pushes(harness) -> dict[str, dict]:
    return {r["listing_id"]: r for r in select(harness, sa.select(inventory_pushes).where(inventory_pushes.c.channel == "bob"))}


def test_the_tradefeed_holds_the_free_good_stock_of_every_sku_or_its_reason(harness_factory, folders, monkeypatch):
    _, feeds = folders
    harness = bob(harness_factory, per_day=0, warehouse={"stock_anomalies": 0.3})
    assert feed_seen_by_bob_shop(harness) == {}, "nothing is published before the first run"
    harness.push_stock("bob")
    free, seen = free_stock(harness), feed_seen_by_bob_shop(harness)
    items = {i["sku"]: i for i in harness.simulator.warehouse.items()}
    impossible = {sku for sku, i in items.items() if min(i["good"], i["hurt"], i["allocated"]) < 0 or i["allocated"] > i["good"]}
    assert impossible and len(impossible) < len(items)
    assert seen == {sku: free[sku] for sku in items if sku not in impossible}  # S35: Good less Allocated, Hurt never
    rows = pushes(harness)
    assert set(rows) == set(items), "every SKU is accounted for"
    for sku in impossible:  # S39: not in the feed, with the reason
        assert rows[sku]["status"] == "INVALID_QUANTITY" and "nothing is written" in rows[sku]["message"]
    assert {rows[sku]["status"] for sku in seen} == {"PUSHED"} and len(seen) + len(impossible) == len(items)
    tree = feed_module.ET.parse(feeds / "bob.xml").getroot()
    assert tree.tag == "ROOT" and tree.findtext("Version/SchemaVersion") == "1.1"
    product = tree.find("Products/Product")
    assert [child.tag for child in product] == list(feed_module.PRODUCT_FIELDS)
    assert product.findtext("ID") == product.findtext("ProductCode") and product.findtext("Condition") == "New"
    assert (feeds / "bob.xml").stat().st_mode & 0o777 == 0o644, "readable by the web server Bob Shop fetches it from"

    before = (feeds / "bob.xml").read_bytes()
    harness.push_stock("bob")  # nothing moved: the feed is not rewritten
    assert (feeds / "bob.xml").read_bytes() == before
    assert {r["status"] for sku, r in pushes(harness).items() if sku not in impossible} == {"UNCHANGED"}

    # A write that fails midway (the disk fills up) leaves the published feed whole: Bob Shop never reads half a feed.
    published = before
    moved = sorted(seen)[:3]
    for sku in moved:  # a receipt at the warehouse: these SKUs' stock goes up
        item = next(i for i in harness.simulator.warehouse.items() if i["sku"] == sku)
        response = requests.post(f"{harness.simulator.url}/_admin/warehouse/items",
                                 json={"sku": sku, "good": item["good"] + 7}, timeout=10)
        assert response.ok, response.text
    written = []
    original = feed_module.product_xml

    def disk_full_after_two(product):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(product["ProductCode"])
        return original(product)

    monkeypatch.setattr(feed_module, "product_xml", disk_full_after_two)
    harness.push_stock("bob")
    assert written, "the write had begun"
    assert (feeds / "bob.xml").read_bytes() == published and feed_seen_by_bob_shop(harness) == seen
    assert [p.name for p in feeds.iterdir()] == ["bob.xml"], "no partial file is left beside it"
    rows = pushes(harness)
    for sku in moved:
        assert rows[sku]["status"] == "RETRYING"
        assert str(feeds / "bob.xml") in rows[sku]["message"] and "No space left on device" in rows[sku]["message"]

    monkeypatch.setattr(feed_module, "product_xml", original)
    harness.push_stock("bob")  # the next run writes what the failed one could not
    free = free_stock(harness)
    assert {sku: feed_seen_by_bob_shop(harness)[sku] for sku in moved} == {sku: free[sku] for sku in moved}
    assert {pushes(harness)[sku]["status"] for sku in moved} == {"PUSHED"}


def test_three_flows_orders_by_file_tracking_not_applicable_stock_by_feed(harness_factory, database_url, folders):
    harness = bob(harness_factory, database_url, per_day=8, days=1, warehouse=SHIP_NOW)
    placed = {o.external_order_id for o in harness.simulator.orders("bob")}
    sync_days(harness, TODAY, TODAY)
    # Orders: every Bob Shop order the simulator exported that passes the gates is at the warehouse, once.
    at_3pl = Counter(o["channel_order_id"] for o in harness.simulator.warehouse.orders() if o["channel"] == "bob")
    accepted = {r["external_order_id"] for r in select(harness, sa.select(fulfilment_orders).where(
        fulfilment_orders.c.channel == "bob", fulfilment_orders.c.status == "ACCEPTED"))}
    assert accepted and accepted <= placed and set(at_3pl) == accepted and set(at_3pl.values()) == {1}

    # Tracking: the warehouse ships; nothing can be pushed to Bob Shop, and every package says why.
    harness.track("bob")
    shipped = [s for s in harness.simulator.warehouse.shipments() if s["channel"] == "bob"]
    packages = select(harness, sa.select(tracking_updates).where(tracking_updates.c.channel == "bob"))
    assert shipped and len(packages) == len(shipped)
    assert {p["status"] for p in packages} == {"NOT_APPLICABLE"}
    assert all("Bob Shop's own site" in p["message"] and "15-30 minutes" in p["message"] for p in packages)
    assert not [r for r in harness.simulator.requests if r["channel"] == "bob"], "no request ever goes to Bob Shop"
    states = {r["order_id"]: r["status"] for r in select(harness, sa.select(fulfilment_orders))}
    whole = {o["client_reference"] for o in harness.simulator.warehouse.orders() if o["status"] == "shipped"}
    assert whole and all(states[ref] == "COMPLETED" for ref in whole)

    # Stock: the feed Bob Shop reads shows the warehouse's free stock now (the orders are allocated there).
    harness.push_stock("bob")
    free = free_stock(harness)
    seen = feed_seen_by_bob_shop(harness)
    assert seen and all(quantity == max(0, free[sku]) for sku, quantity in seen.items())


def test_the_imports_sensor_asks_for_exactly_the_days_a_new_file_touches(harness_factory, folders):
    imports, _ = folders
    harness = bob(harness_factory, per_day=4, days=3)
    placed_days = {o.placed_at.astimezone(timezone.utc).date() for o in harness.simulator.orders("bob")}
    definitions = harness.definitions()
    sensor = definitions.resolve_sensor_def("order_imports")

    def tick():
        context = dg.build_sensor_context(instance=harness.instance, resources={
            "database": DatabaseResource(url=harness.database_url), "channels": harness.channels})
        return sensor.evaluate_tick(context)

    result = tick()
    keys = set()
    for request in result.run_requests:
        if request.partition_key:
            keys.add(request.partition_key)
        else:
            first, last = request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]
            keys |= {str(partition_key("bob", d)) for d in placed_days if str(partition_key("bob", d)) >= first
                     and str(partition_key("bob", d)) <= last}
    assert keys == {str(partition_key("bob", d)) for d in placed_days}
    assert len({r.run_key for r in result.run_requests}) == len(result.run_requests)

    for request in result.run_requests:  # what the daemon does with them
        job = definitions.resolve_job_def("order_sync")
        job.execute_in_process(instance=harness.instance, partition_key=request.partition_key, tags=request.tags)
    assert landed_ids(harness) == {o.external_order_id for o in harness.simulator.orders("bob")}
    assert tick().skip_message.startswith("no new order export file"), "an imported file is not asked for again"
    shutil.copy(harness.simulator._platform("bob").store.files[0], imports / "bob" / "copy.csv")
    assert tick().skip_message.startswith("no new order export file"), "nor is a copy of it"

    (imports / "bob" / "broken.csv").write_text("Name,Email\n1,a@example.com\n", encoding="utf-8")
    assert "broken.csv: column(s) Order Number, Order Date, Last Updated not found" in tick().skip_message
