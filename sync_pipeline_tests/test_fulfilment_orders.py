"""fulfilment_orders against the simulated warehouse: exactly once under faults and concurrency, every order
settled with a reason, cancellations, manual posting, backorders, and the mapping-fix repair loop."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import dagster as dg
import requests
import sqlalchemy as sa

from sync_pipeline.channels.http import ChannelUnavailable
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import fulfilment_orders, order_sync_errors, orders
from sync_pipeline.fulfilment.ship_methods import ship_maps_file
from sync_pipeline.partitions import partition_key
from sync_pipeline.warehouse.client import WarehouseClient
from sync_pipeline_tests.conftest import TODAY, scenario

YESTERDAY = TODAY - timedelta(days=1)
SETTLED = {"ACCEPTED", "IMPORT_ERROR", "MANUAL", "CANCELLED", "HELD"}


def fulfilment_rows(harness, channel: str) -> dict[str, dict]:
    with get_engine(harness.database_url).connect() as connection:
        rows = connection.execute(sa.select(fulfilment_orders).where(fulfilment_orders.c.channel == channel)).mappings()
        return {row["order_id"]: dict(row) for row in rows}


def normalized_ids(harness, channel: str) -> set[str]:
    with get_engine(harness.database_url).connect() as connection:
        return set(connection.execute(sa.select(orders.c.order_id).where(orders.c.channel == channel)).scalars())


def open_errors(harness, channel: str, stage: str = "fulfilment") -> list[dict]:
    with get_engine(harness.database_url).connect() as connection:
        query = sa.select(order_sync_errors).where(
            order_sync_errors.c.channel == channel, order_sync_errors.c.stage == stage,
            order_sync_errors.c.resolved_at.is_(None),
        )
        return [dict(row) for row in connection.execute(query).mappings()]


def warehouse_orders_by_reference(harness) -> Counter:
    """Counted from the warehouse's own list, as an operator would."""
    listed = requests.get(f"{harness.simulator.url}/_admin/warehouse/orders", timeout=10).json()
    return Counter(order["client_reference"] for order in listed if order["status"] != "cancelled")


def warehouse_orders(harness) -> dict[str, dict]:
    return {order["order_id"]: order for order in harness.simulator.warehouse.orders()}


def stable(rows: dict[str, dict]) -> dict[str, dict]:
    """The rows without the bookkeeping every run rewrites."""
    return {k: {c: v for c, v in row.items() if c not in ("updated_at", "run_id")} for k, row in rows.items()}


def metadata(result, key: str) -> int:
    materialization = next(
        e for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key == dg.AssetKey("fulfilment_orders")
    )
    value = materialization.event_specific_data.materialization.metadata.get(key)
    return value.value if value is not None else 0


def check_evaluation(result, name: str):
    return next(
        e.event_specific_data for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == name
    )


def check_passed(result, name: str) -> bool:
    return check_evaluation(result, name).passed


def assert_exactly_once(harness, channel: str) -> dict[str, dict]:
    """Counted from the simulated warehouse's own records, which see a second POST even where it stored it again."""
    rows = fulfilment_rows(harness, channel)
    assert set(rows) == normalized_ids(harness, channel), "every normalized order has a fulfilment row"
    assert {row["status"] for row in rows.values()} <= SETTLED, "nothing left NEW"
    at_warehouse = warehouse_orders_by_reference(harness)
    accepted = {order_id for order_id, row in rows.items() if row["status"] == "ACCEPTED"}
    mine = {ref: n for ref, n in at_warehouse.items() if ref.startswith(f"{channel}:")}
    assert mine == dict.fromkeys(accepted, 1), "one warehouse order per accepted channel order, and no other"
    records = {ref: r for ref, r in harness.simulator.warehouse.references().items() if ref.startswith(f"{channel}:")}
    assert all(len(r["orders"]) <= 1 and r["duplicate_posts"] == 0 for r in records.values()), "no reference stored twice"
    return rows


def test_every_valid_order_reaches_the_warehouse_once_and_reruns_send_nothing(harness_factory, database_url, duplicate_references):
    harness = harness_factory(
        scenario([("shop", "shopify", 20)], days=1, start=YESTERDAY,
                 anomalies={"missing_shipping_address": 0.15, "status_changes": 0.15, "cancellations": 0.15,
                            "non_latin_names": 0.3}, warehouse={"duplicate_references": duplicate_references}),
        database_url=database_url,
    )
    first = harness.materialize("shop", YESTERDAY)
    rows = assert_exactly_once(harness, "shop")
    statuses = Counter(row["status"] for row in rows.values())
    assert statuses["ACCEPTED"] >= 10 and statuses["CANCELLED"] >= 1 and statuses["HELD"] >= 2
    held = {row["error_code"] for row in rows.values() if row["status"] == "HELD"}
    assert {"NO_SHIPPING_ADDRESS", "SHIPPED_ON_CHANNEL"} <= held
    assert metadata(first, "submit_accepted") == statuses["ACCEPTED"]
    assert check_passed(first, "one_warehouse_order_per_channel_order")
    assert check_passed(first, "every_normalized_order_has_a_fulfilment_state")
    # Only the orders held for want of an address are errors a person must fix.
    errors = open_errors(harness, "shop")
    assert {e["error_code"] for e in errors} == {"NO_SHIPPING_ADDRESS"}
    assert all("no shipping address" in e["message"] for e in errors)

    # What the warehouse received is the normalized order, unicode included, with the mapped ship code.
    sample = next(row for row in rows.values() if row["status"] == "ACCEPTED")
    received = warehouse_orders(harness)[sample["warehouse_order_id"]]
    with get_engine(harness.database_url).connect() as connection:
        order = connection.execute(sa.select(orders).where(orders.c.order_id == sample["order_id"])).mappings().one()
    assert received["client_reference"] == sample["order_id"] == f"shop:{order['external_order_id']}"
    assert received["ship_to"]["name"] == order["ship_name"] and received["customer"]["name"] == order["customer_name"]
    assert received["ship_method"] == sample["ship_code"]

    second = harness.materialize("shop", YESTERDAY)
    assert metadata(second, "create_requests") == 0
    assert metadata(second, "already_accepted") == statuses["ACCEPTED"]
    assert stable(fulfilment_rows(harness, "shop")) == stable(rows)
    assert_exactly_once(harness, "shop")


def test_faults_at_the_warehouse_leave_exactly_one_order_each_and_the_same_tables(
    harness_factory, tmp_path, database_url, duplicate_references,
):
    the_scenario = scenario([("woo", "woocommerce", 25)], days=1, start=YESTERDAY,
                            anomalies={"missing_shipping_address": 0.1, "cancellations": 0.1},
                            warehouse={"duplicate_references": duplicate_references})
    clean = harness_factory(the_scenario, database_url=f"sqlite:///{tmp_path / 'clean.db'}")
    clean.materialize("woo", YESTERDAY)
    expected = {k: (v["status"], v["error_code"], v["ship_code"]) for k, v in fulfilment_rows(clean, "woo").items()}

    faulty = harness_factory(the_scenario, max_attempts=10, timeout_seconds=0.3, database_url=database_url)
    faulty.simulator.warehouse.set_faults(
        {"timeout_after_commit": 0.2, "server_error_5xx": 0.1, "connection_reset": 0.05, "timeout_delay_s": 0.6}
    )
    result = faulty.materialize("woo", YESTERDAY)
    rows = assert_exactly_once(faulty, "woo")
    assert {k: (v["status"], v["error_code"], v["ship_code"]) for k, v in rows.items()} == expected
    assert metadata(result, "linked_existing") >= 1, "a lost reply was found by its client reference, not resent"
    assert sum(row["attempts"] for row in rows.values()) > sum(1 for row in rows.values() if row["status"] == "ACCEPTED")
    requests_log = [r for r in faulty.simulator.requests if r["channel"] == "warehouse"]
    assert {r["injected"] for r in requests_log} >= {"timeout_after_commit", "server_error_5xx", "connection_reset"}


def test_concurrent_materializations_of_one_partition_never_double_submit(harness_factory, database_url, duplicate_references):
    harness = harness_factory(scenario([("amz", "amazon", 12)], days=1, start=YESTERDAY,
                                       warehouse={"duplicate_references": duplicate_references}), database_url=database_url)
    results = harness.materialize_concurrently("amz", YESTERDAY, runs=3)
    assert all(r.success for r in results)
    rows = assert_exactly_once(harness, "amz")
    assert sum(1 for row in rows.values() if row["status"] == "ACCEPTED") >= 8


def test_orders_already_at_the_warehouse_are_linked_not_duplicated(harness_factory, duplicate_references):
    harness = harness_factory(scenario([("shop", "shopify", 15)], days=1, start=YESTERDAY,
                                       warehouse={"preexisting_orders": 0.4, "duplicate_references": duplicate_references}))
    before = warehouse_orders_by_reference(harness)
    assert before, "the scenario put some orders at the warehouse by hand"
    result = harness.materialize("shop", YESTERDAY)
    rows = assert_exactly_once(harness, "shop")
    linked = {k for k, v in rows.items() if v["linked"]}
    assert linked == set(before) & {k for k, v in rows.items() if v["status"] == "ACCEPTED"}
    assert metadata(result, "linked_existing") == len(linked)


def test_a_second_warehouse_order_keyed_in_by_hand_fails_the_blocking_check(harness_factory):
    harness = harness_factory(scenario([("shop", "shopify", 6)], days=1, start=YESTERDAY))
    assert check_passed(harness.materialize("shop", YESTERDAY), "one_warehouse_order_per_channel_order")
    rows = fulfilment_rows(harness, "shop")
    accepted = sorted(k for k, v in rows.items() if v["status"] == "ACCEPTED")[0]
    original = warehouse_orders(harness)[rows[accepted]["warehouse_order_id"]]
    # Somebody types the same order in again under another reference.
    simulator = harness.simulator
    copy_of = {key: original[key] for key in ("order_number", "channel", "channel_order_id", "ship_method", "ship_to", "customer")}
    response = requests.post(
        f"{simulator.warehouse_url}/api/v1/orders",
        json={**copy_of, "client_reference": "typed-in-again", "lines": [{k: line[k] for k in ("line_number", "sku", "quantity")} for line in original["lines"]]},
        headers={"X-Api-Key": simulator.credentials[simulator.warehouse.name]["api_key"]}, timeout=10,
    )
    assert response.status_code == 201, response.text
    again = harness.materialize("shop", YESTERDAY, raise_on_error=False)
    evaluation = check_evaluation(again, "one_warehouse_order_per_channel_order")
    assert not evaluation.passed
    assert evaluation.metadata["detail"].value == [{"order_id": accepted, "warehouse_orders": 2}]


def test_backorders_are_recorded_as_the_warehouse_reports_them(harness_factory):
    the_scenario = scenario([("shop", "shopify", 8)], days=1, start=YESTERDAY)
    harness = harness_factory(type(the_scenario).from_dict({**_document(the_scenario), "warehouse": {"out_of_stock": 1.0}}))
    harness.materialize("shop", YESTERDAY)
    accepted = [row for row in fulfilment_rows(harness, "shop").values() if row["status"] == "ACCEPTED"]
    assert accepted and all(row["warehouse_status"] == "backorder" for row in accepted)
    for row in accepted:
        short = json.loads(row["backordered"])
        assert short and all(line["quantity"] > 0 for line in short)


def test_a_channel_without_automated_posting_queues_its_orders_as_manual(harness_factory):
    harness = harness_factory(scenario([("shop", "shopify", 6)], days=1, start=YESTERDAY),
                              overrides_in={"shop": {"warehouse_posting": "manual"}})
    harness.materialize("shop", YESTERDAY)
    rows = fulfilment_rows(harness, "shop")
    assert rows and {row["status"] for row in rows.values()} <= {"MANUAL", "HELD", "CANCELLED"}
    assert "MANUAL" in {row["status"] for row in rows.values()}
    assert all("enter the order at the warehouse by hand" in row["message"] for row in rows.values() if row["status"] == "MANUAL")
    assert not warehouse_orders_by_reference(harness)


def test_a_cancellation_reaches_the_warehouse_unless_the_order_shipped(harness_factory):
    harness = harness_factory(scenario([("shop", "shopify", 10)], days=1, start=YESTERDAY))
    harness.materialize("shop", YESTERDAY)
    accepted = sorted(k for k, v in fulfilment_rows(harness, "shop").items() if v["status"] == "ACCEPTED")
    to_cancel, shipped_first = accepted[0], accepted[1]
    rows = fulfilment_rows(harness, "shop")
    response = requests.post(
        f"{harness.simulator.url}/_admin/warehouse/orders/{rows[shipped_first]['warehouse_order_id']}/ship", json={}, timeout=5
    )
    assert response.status_code == 200
    now = datetime.now(timezone.utc).replace(microsecond=0)
    by_id = {o.external_order_id: o for o in harness.simulator.orders("shop")}
    changed = []
    for order_id in (to_cancel, shipped_first):
        payload = dict(by_id[order_id.split(":", 1)[1]].payload)
        payload.update(cancelled_at=now.isoformat(), updated_at=now.isoformat(), financial_status="voided")
        changed.append(payload)
    assert requests.post(f"{harness.simulator.url}/_admin/channels/shop/orders", json={"orders": changed}, timeout=5).status_code == 201

    result = harness.materialize("shop", YESTERDAY)
    rows = fulfilment_rows(harness, "shop")
    assert rows[to_cancel]["status"] == "CANCELLED" and rows[to_cancel]["warehouse_status"] == "cancelled"
    warehouse = warehouse_orders(harness)
    assert warehouse[rows[to_cancel]["warehouse_order_id"]]["status"] == "cancelled"
    assert rows[shipped_first]["status"] == "ACCEPTED" and rows[shipped_first]["error_code"] == "SHIPPED_BEFORE_CANCEL"
    assert "return" in rows[shipped_first]["message"]
    assert metadata(result, "cancelled_at_warehouse") == 1 and metadata(result, "cancelled_too_late") == 1

    # Too late is final: later runs do not ask the warehouse to cancel it again (its own request log says).
    def cancel_requests() -> int:
        return sum(1 for r in harness.simulator.requests if r["channel"] == "warehouse" and r["path"].endswith("/cancel"))

    before = cancel_requests()
    again = harness.materialize("shop", YESTERDAY)
    assert cancel_requests() == before and metadata(again, "cancelled_too_late") == 0
    assert fulfilment_rows(harness, "shop")[shipped_first]["error_code"] == "SHIPPED_BEFORE_CANCEL"


def test_a_warehouse_that_refuses_the_key_fails_the_run_naming_the_variable(harness_factory, monkeypatch):
    harness = harness_factory(scenario([("shop", "shopify", 4)], days=1, start=YESTERDAY))
    monkeypatch.setenv("WAREHOUSE_API_KEY", "wh_wrong")
    result = harness.materialize("shop", YESTERDAY, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "WAREHOUSE_API_KEY" in message and "wh_wrong" not in message
    assert not warehouse_orders_by_reference(harness)


def _document(the_scenario) -> dict:
    return {
        "seed": the_scenario.seed, "start_date": the_scenario.start_date.isoformat(), "days": the_scenario.days,
        "speed": the_scenario.speed,
        "channels": [{"name": c.name, "type": c.type, "orders_per_day": c.orders_per_day} for c in the_scenario.channels],
    }


def test_each_fulfilment_error_code_from_scenario_anomalies(harness_factory, database_url):
    anomalies = {"unknown_sku": 0.15, "sku_case_mismatch": 0.15, "duplicate_sku": 0.1, "unmapped_ship_method": 0.15,
                 "po_box": 0.3, "bad_postal_code": 0.15}
    harness = harness_factory(scenario([("shop", "shopify", 40), ("woo", "woocommerce", 40)], days=1, start=YESTERDAY,
                                       anomalies=anomalies), database_url=database_url)
    errors = []
    for channel in ("shop", "woo"):
        harness.materialize(channel, YESTERDAY)
        rows = assert_exactly_once(harness, channel)
        stopped = {k for k, v in rows.items() if v["status"] == "IMPORT_ERROR"}
        assert stopped and not stopped & set(warehouse_orders_by_reference(harness)), "a stopped order never reaches the warehouse"
        errors += open_errors(harness, channel)
    by_code: dict[str, list[str]] = {}
    for error in errors:
        by_code.setdefault(error["error_code"], []).append(error["message"])
    assert {"SKU_NOT_FOUND", "SKU_AMBIGUOUS", "SHIP_METHOD_NOT_MAPPED", "ADDRESS_INVALID"} <= set(by_code)
    discontinued = [m for m in by_code["SKU_NOT_FOUND"] if "'DISC-" in m]
    assert discontinued and all("sku_map.csv" in m and "differing only in case" not in m for m in discontinued)
    assert any(re.search(r"'sku-\d{5}' is not in the warehouse catalogue; 'SKU-\d{5}' is, differing only in case", m)
               for m in by_code["SKU_NOT_FOUND"])
    assert all("names more than one variant" in m and "the first it named, goes on as ever" in m
               for m in by_code["SKU_AMBIGUOUS"])
    assert any("Ship method 'Same Day Courier' is not mapped: add shopify,Same Day Courier,<warehouse code>" in m
               for m in by_code["SHIP_METHOD_NOT_MAPPED"])
    assert any("rule 'po_box'" in m and "carrier that delivers to PO boxes in" in m for m in by_code["ADDRESS_INVALID"])
    assert any("rule 'postal_code'" in m for m in by_code["ADDRESS_INVALID"])


def test_a_ship_map_fix_unblocks_the_orders_through_the_sensor(harness_factory, tmp_path, monkeypatch, database_url):
    maps = tmp_path / "ship_maps.csv"
    maps.write_text(ship_maps_file().read_text())
    monkeypatch.setenv("SYNC_SHIP_MAPS_FILE", str(maps))
    harness = harness_factory(scenario([("shop", "shopify", 8)], days=1, start=YESTERDAY,
                                       anomalies={"unmapped_ship_method": 1.0}), database_url=database_url)
    harness.materialize("shop", YESTERDAY)
    blocked = {k for k, v in fulfilment_rows(harness, "shop").items() if v["error_code"] == "SHIP_METHOD_NOT_MAPPED"}
    assert blocked and not warehouse_orders_by_reference(harness)

    definitions = harness.definitions()
    sensor = definitions.resolve_sensor_def("fulfilment_mapping_change")
    resources = {"database": DatabaseResource(url=harness.database_url)}

    def tick(cursor):
        with dg.build_sensor_context(instance=harness.instance, cursor=cursor, resources=resources) as context:
            return sensor(context)

    first = tick(None)
    assert not first.run_requests, "the first look only remembers the files"
    assert isinstance(tick(first.cursor), dg.SkipReason)
    maps.write_text(maps.read_text() + "shopify,Same Day Courier,FDX-ON\n")
    changed = tick(first.cursor)
    assert [r.partition_key for r in changed.run_requests] == [str(partition_key("shop", YESTERDAY))]

    retry = definitions.resolve_job_def("fulfilment_retry")
    assert retry.execute_in_process(instance=harness.instance, partition_key=changed.run_requests[0].partition_key).success
    rows = fulfilment_rows(harness, "shop")
    assert all(rows[k]["status"] == "ACCEPTED" and rows[k]["ship_code"] == "FDX-ON" for k in blocked)
    assert_exactly_once(harness, "shop")
    assert not open_errors(harness, "shop")
    with get_engine(harness.database_url).connect() as connection:
        resolved = connection.execute(sa.select(order_sync_errors.c.resolved_at).where(
            order_sync_errors.c.error_code == "SHIP_METHOD_NOT_MAPPED")).scalars().all()
    assert len(resolved) == len(blocked) and all(resolved), "fixed errors are marked resolved, not deleted"


def test_orders_whose_answer_was_lost_are_looked_up_first_and_a_later_cancel_reaches_the_warehouse(
    harness_factory, duplicate_references,
):
    harness = harness_factory(scenario([("shop", "shopify", 8)], days=1, start=YESTERDAY,
                                       warehouse={"duplicate_references": duplicate_references}), max_attempts=1,
                              timeout_seconds=0.2)
    harness.simulator.warehouse.set_faults({"timeout_after_commit": 1.0, "timeout_delay_s": 0.4})
    first = harness.materialize("shop", YESTERDAY)
    in_doubt = {k: v for k, v in fulfilment_rows(harness, "shop").items() if v["status"] == "NEW"}
    assert in_doubt and all(v["in_doubt_since"] for v in in_doubt.values()), "sent, answer lost: in doubt"
    assert not check_passed(first, "every_normalized_order_has_a_fulfilment_state")
    stored = warehouse_orders_by_reference(harness)
    assert set(in_doubt) == set(stored), "the warehouse did store them"

    harness.simulator.warehouse.set_faults({})
    cancelled = sorted(in_doubt)[0]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    payload = dict(next(o for o in harness.simulator.orders("shop") if f"shop:{o.external_order_id}" == cancelled).payload)
    payload.update(cancelled_at=now.isoformat(), updated_at=now.isoformat())
    assert requests.post(f"{harness.simulator.url}/_admin/channels/shop/orders", json=payload, timeout=5).status_code == 201

    second = harness.materialize("shop", YESTERDAY)
    rows = fulfilment_rows(harness, "shop")
    assert metadata(second, "in_doubt_found") == len(in_doubt)
    assert metadata(second, "create_requests") == 0, "nothing in doubt is sent again before it is looked up"
    assert rows[cancelled]["status"] == "CANCELLED" and rows[cancelled]["warehouse_status"] == "cancelled"
    assert warehouse_orders(harness)[rows[cancelled]["warehouse_order_id"]]["status"] == "cancelled"
    assert all(rows[k]["status"] == "ACCEPTED" and rows[k]["linked"] for k in in_doubt if k != cancelled)
    assert_exactly_once(harness, "shop")


def test_an_order_the_warehouse_holds_as_cancelled_is_not_taken_for_accepted(harness_factory):
    the_scenario = scenario([("shop", "shopify", 6)], days=1, start=YESTERDAY)
    harness = harness_factory(type(the_scenario).from_dict({**_document(the_scenario), "warehouse": {"preexisting_orders": 1.0}}))
    key = {"X-Api-Key": harness.simulator.credentials["warehouse"]["api_key"]}
    for order in harness.simulator.warehouse.orders():
        url = f"{harness.simulator.warehouse_url}/api/v1/orders/{order['order_id']}/cancel"
        assert requests.post(url, headers=key, timeout=5).status_code == 200
    harness.materialize("shop", YESTERDAY)
    stopped = [v for v in fulfilment_rows(harness, "shop").values() if v["error_code"] == "WAREHOUSE_ORDER_CANCELLED"]
    assert stopped and all(v["status"] == "IMPORT_ERROR" for v in stopped)
    assert all("re-open that order at the warehouse" in v["message"] for v in stopped)


def test_timestamps_are_utc_whatever_the_postgres_session_time_zone(harness_factory, postgres_schema_url):
    url = sa.engine.make_url(postgres_schema_url)
    url = url.update_query_dict({"options": url.query["options"] + " -ctimezone=America/New_York"})
    harness = harness_factory(scenario([("shop", "shopify", 4)], days=1, start=YESTERDAY),
                              database_url=url.render_as_string(hide_password=False))
    before = datetime.now(timezone.utc)
    harness.materialize("shop", YESTERDAY)
    after = datetime.now(timezone.utc)
    accepted = [v for v in fulfilment_rows(harness, "shop").values() if v["status"] == "ACCEPTED"]
    assert accepted
    for row in accepted:
        for column in ("submitted_at", "accepted_at", "updated_at"):
            assert before - timedelta(seconds=1) <= row[column] <= after + timedelta(seconds=1), column
    get_engine(url.render_as_string(hide_password=False)).dispose()


def test_the_hourly_retry_revisits_older_partitions_with_stopped_or_in_doubt_orders(harness_factory):
    harness = harness_factory(scenario([("shop", "shopify", 6)], days=2, start=YESTERDAY - timedelta(days=1),
                                       anomalies={"unmapped_ship_method": 1.0}))
    older = YESTERDAY - timedelta(days=1)
    harness.materialize("shop", older)
    definitions = harness.definitions()
    schedule = definitions.resolve_schedule_def("fulfilment_retry_hourly")
    context = dg.build_schedule_context(
        instance=harness.instance, scheduled_execution_time=datetime.now(timezone.utc),
        resources={"database": DatabaseResource(url=harness.database_url)},
        repository_def=definitions.get_repository_def(),
    )
    requests_made = list(schedule.evaluate_tick(context).run_requests)
    assert [r.partition_key for r in requests_made] == [str(partition_key("shop", older))]
    assert schedule.job_name == "fulfilment_retry"


def test_an_order_in_doubt_is_left_alone_while_the_warehouse_cannot_say(harness_factory, monkeypatch, duplicate_references):
    harness = harness_factory(scenario([("shop", "shopify", 5)], days=1, start=YESTERDAY,
                                       warehouse={"duplicate_references": duplicate_references}), max_attempts=1,
                              timeout_seconds=0.2)
    harness.simulator.warehouse.set_faults({"timeout_after_commit": 1.0, "timeout_delay_s": 0.4})
    harness.materialize("shop", YESTERDAY)
    in_doubt = {k for k, v in fulfilment_rows(harness, "shop").items() if v["in_doubt_since"]}
    assert in_doubt

    harness.simulator.warehouse.set_faults({"server_error_5xx": 1.0})
    before = warehouse_orders_by_reference(harness)
    blind = harness.materialize("shop", YESTERDAY, raise_on_error=False)
    assert not blind.success
    failure = next(e for e in blind.all_events if e.event_type_value == "STEP_FAILURE")
    assert "warehouse 'warehouse'" in failure.event_specific_data.error.message
    assert warehouse_orders_by_reference(harness) == before
    rows = fulfilment_rows(harness, "shop")
    assert all(rows[k]["status"] == "NEW" and rows[k]["in_doubt_since"] and rows[k]["claimed_by"] is None for k in in_doubt)

    harness.simulator.warehouse.set_faults({})
    with monkeypatch.context() as patch:  # the catalogue answers, the look-ups do not
        def unavailable(self, reference):
            raise ChannelUnavailable("warehouse", "GET orders failed 1 time, last with HTTP 503", "warehouse")

        patch.setattr(WarehouseClient, "find", unavailable)
        partial = harness.materialize("shop", YESTERDAY)
    assert metadata(partial, "in_doubt_unresolved") == len(in_doubt) and metadata(partial, "create_requests") == 0
    assert warehouse_orders_by_reference(harness) == before

    harness.materialize("shop", YESTERDAY)
    assert_exactly_once(harness, "shop")


def test_an_ambiguous_sku_stops_only_the_orders_of_its_new_variant(harness_factory, database_url):
    """A second variant with the same SKU (the simulator's twin, its title "... Gift Edition") stops only the orders
    that carry it; the orders of the variant the SKU named first go to the warehouse as ever. From the simulated
    channel's orders and the 3PL's own records."""
    harness = harness_factory(scenario([("shop", "shopify", 40)], days=3, anomalies={"duplicate_sku": 0.1}),
                              database_url=database_url)
    harness.materialize("shop", TODAY - timedelta(days=2), TODAY)
    rows = assert_exactly_once(harness, "shop")
    twinned = {li["sku"] for o in harness.simulator.orders("shop") for li in o.payload["line_items"]
               if li["title"].endswith("Gift Edition")}
    # Which variant each twinned SKU named first (the earliest order that carries the SKU, of those that reached
    # fulfilment): usually the plain one, but on some days a Gift Edition order comes first.
    carrying: dict[str, list[tuple]] = {}
    for order in harness.simulator.orders("shop"):
        order_id = f"shop:{order.external_order_id}"
        if order_id not in rows:
            continue  # filtered or quarantined before fulfilment
        for li in order.payload["line_items"]:
            if li["sku"] in twinned:
                carrying.setdefault(li["sku"], []).append((order.placed_at, str(li["variant_id"]), order_id))
    first_variant = {sku: min(found)[1] for sku, found in carrying.items()}
    newcomer_orders = {o for sku, found in carrying.items() for _, variant, o in found if variant != first_variant[sku]}
    first_variant_orders = {o for sku, found in carrying.items() for _, variant, o in found
                            if variant == first_variant[sku]} - newcomer_orders
    ambiguous = {o for o, row in rows.items() if row["error_code"] == "SKU_AMBIGUOUS"}
    assert newcomer_orders and first_variant_orders, "the scenario has both kinds"
    assert ambiguous and ambiguous <= newcomer_orders, "only orders carrying a newcomer variant stop"
    assert not ambiguous & first_variant_orders
    at_3pl = {o["client_reference"] for o in harness.simulator.warehouse.orders()}
    sent = {o for o in first_variant_orders if rows[o]["status"] == "ACCEPTED"}
    assert sent and sent <= at_3pl, "the first variant's orders reach the warehouse"
