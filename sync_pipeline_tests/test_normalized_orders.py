"""normalized_orders end to end against the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import requests
import sqlalchemy as sa

from sync_pipeline.channels import ORDER_MAPPINGS
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import order_lines, order_sync_errors, orders, raw_orders
from sync_pipeline.orders.why import explain, reimport
from sync_pipeline_tests.conftest import TODAY, scenario

YESTERDAY = TODAY - timedelta(days=1)


def rows(harness, table, **where):
    query = sa.select(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with get_engine(harness.database_url).connect() as connection:
        return list(connection.execute(query))


def check_results(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def post_order(harness, channel: str, payload) -> None:
    response = requests.post(f"{harness.simulator.url}/_admin/channels/{channel}/orders", json=payload, timeout=5)
    assert response.status_code == 201, response.text


def test_every_raw_order_is_accounted_for_and_unicode_survives(harness_factory, database_url):
    channels = [("shop", "shopify", 15), ("woo", "woocommerce", 15), ("amzn", "amazon", 15), ("tkl", "takealot", 15)]
    harness = harness_factory(scenario(channels, anomalies={"non_latin_names": 0.6, "unpaid": 0.2, "fba": 0.2}),
                              database_url=database_url)
    for name, channel_type, _ in channels:
        result = harness.materialize(name, YESTERDAY)
        assert check_results(result)["every_raw_order_accounted_for"]
        expected = harness.expected(name, YESTERDAY)
        normalized = {r.external_order_id: r for r in rows(harness, orders, channel=name)}
        held = {r.external_order_id for r in rows(harness, order_sync_errors, channel=name, stage="normalize")}
        assert set(normalized) | held == set(expected)
        assert not set(normalized) & held
        mapping = ORDER_MAPPINGS[channel_type]["api"]
        for external_id, row in normalized.items():
            payload = expected[external_id].payload
            if channel_type == "amazon":
                payload = {"Order": payload, "OrderItems": []}
            sent, _ = mapping.map(payload)
            # Names in any script come back from the database exactly as the channel sent them.
            assert row.customer_name == (sent["customer_name"].strip() if sent["customer_name"] else None)
            assert row.placed_at.date() == YESTERDAY == row.partition_date
        assert rows(harness, order_lines, channel=name)


def test_errors_carry_their_fix_and_are_resolved_not_deleted(harness_factory):
    harness = harness_factory(scenario([("shop", "shopify", 4)]))
    base = copy.deepcopy(next(iter(harness.expected("shop", YESTERDAY).values())).payload)
    broken = copy.deepcopy(base)
    broken["id"] = 777000111
    broken["financial_status"] = "on_layaway"  # nobody mapped this status
    broken["shipping_address"] = dict(broken.get("shipping_address") or {}, address1="Main St\x07 1", country_code="US")
    post_order(harness, "shop", broken)
    result = harness.materialize("shop", YESTERDAY)
    assert check_results(result)["every_raw_order_accounted_for"]
    assert not check_results(result)["pandera_gate"]
    errors = {(e.error_code, e.field): e for e in rows(harness, order_sync_errors, external_order_id="777000111")}
    assert set(errors) >= {("STATUS_NOT_MAPPED", "channel_status"), ("MALFORMED_ADDRESS", "ship_address1")}
    assert "data/status_map.yaml" in errors[("STATUS_NOT_MAPPED", "channel_status")].message
    assert not rows(harness, orders, external_order_id="777000111")

    fixed = dict(broken, financial_status="paid", updated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    fixed["shipping_address"] = dict(broken["shipping_address"], address1="Main St 1")
    post_order(harness, "shop", fixed)
    harness.materialize("shop", YESTERDAY)
    after = rows(harness, order_sync_errors, external_order_id="777000111")
    assert len(after) == len(errors) and all(e.resolved_at is not None for e in after), "resolved, kept"
    assert rows(harness, orders, external_order_id="777000111")


def test_repeated_and_concurrent_materializations_keep_one_row_per_order(harness_factory, database_url):
    harness = harness_factory(scenario([("woo", "woocommerce", 20)]), database_url=database_url)
    harness.materialize("woo", YESTERDAY)
    first = sorted((r.order_id, r.payload_sha256) for r in rows(harness, orders, channel="woo"))
    results = harness.materialize_concurrently("woo", YESTERDAY)
    assert all(r.success for r in results)
    assert sorted((r.order_id, r.payload_sha256) for r in rows(harness, orders, channel="woo")) == first
    lines = rows(harness, order_lines, channel="woo")
    assert len(lines) == len({(l.order_id, l.line_number) for l in lines})


def test_why_and_reimport(harness_factory):
    harness = harness_factory(scenario([("tkl", "takealot", 6)]))
    sales = copy.deepcopy(next(iter(harness.expected("tkl", YESTERDAY).values())).payload)
    for line in sales:
        line.update(order_id=99887766, sale_status="Customer Received")
    post_order(harness, "tkl", sales)
    harness.materialize("tkl", YESTERDAY)
    engine = get_engine(harness.database_url)

    report = explain(engine, harness.config, "tkl:99887766")
    assert "quarantined at stage normalize" in report
    assert "STATUS_NOT_MAPPED [channel_status]" in report and "'Customer Received' is not mapped" in report
    assert "compared with tkl:" in report and "raw payload" in report

    for line in sales:
        line["sale_status"] = "Accepted"
    post_order(harness, "tkl", sales)
    report = reimport(engine, harness.config, "tkl", "99887766", "reimport-test")
    assert "where: normalized: status Accepted -> paid" in report
    assert "resolved" in report


def test_every_normalize_error_code_from_scenario_anomalies_in_one_run(harness_factory, database_url):
    anomalies = {"unmapped_status": 0.1, "missing_customer": 0.1, "malformed_address": 0.1, "unknown_country": 0.1,
                 "invalid_amount": 0.1, "invalid_date": 0.1}
    # Two whole days (today's orders depend on the hour) and enough Takealot orders that its unmapped status is
    # drawn on any date: each day of a scenario draws its orders anew.
    first = TODAY - timedelta(days=2)
    harness = harness_factory(
        scenario([("shop", "shopify", 40), ("tkl", "takealot", 50)], days=2, start=first, anomalies=anomalies),
        database_url=database_url,
        # No import filter: an unmapped status must then be reported, not filtered away.
        overrides_in={"shop": {"import_statuses": []}, "tkl": {"import_statuses": []}},
    )
    codes: dict[str, list] = {}
    for name in ("shop", "tkl"):
        for _ in range(2):  # a backfill of both days, twice: nothing moves, nothing doubles
            result = harness.materialize(name, first, YESTERDAY)
            assert check_results(result)["every_raw_order_accounted_for"]
        for error in rows(harness, order_sync_errors, channel=name, stage="normalize"):
            codes.setdefault(error.error_code, []).append(error)
    assert {"STATUS_NOT_MAPPED", "CUSTOMER_INFO_MISSING", "MALFORMED_ADDRESS", "ADDRESS_INVALID", "INVALID_AMOUNT",
            "INVALID_DATE"} <= set(codes)
    assert any("'Customer Received' is not mapped" in e.message for e in codes["STATUS_NOT_MAPPED"])
    assert any("'UK' is not an ISO 3166 country" in e.message for e in codes["ADDRESS_INVALID"])
    for error in codes["INVALID_DATE"]:
        assert "'0000-00-00 00:00:00'" in error.message and f"kept under {error.partition_date}" in error.message
        versions = rows(harness, raw_orders, channel=error.channel, external_order_id=error.external_order_id)
        assert {v.partition_date for v in versions} == {error.partition_date}, "an undated order stays in one partition"
        assert all(v.placed_at is None for v in versions)


def test_takealot_line_totals_become_unit_prices_and_add_up_to_the_order_total(harness_factory):
    harness = harness_factory(scenario([("tkl", "takealot", 20)]))
    harness.materialize("tkl", YESTERDAY)
    served = harness.expected("tkl", YESTERDAY)
    lines = {}
    for line in rows(harness, order_lines, channel="tkl"):
        lines.setdefault(line.order_id, []).append(line)
    assert any(line.quantity > 1 for order in lines.values() for line in order), "the scenario has multi-unit lines"
    for order in rows(harness, orders, channel="tkl"):
        sales = served[order.external_order_id].payload
        assert float(order.total_amount) == round(sum(s["selling_price"] for s in sales), 2)
        for line, sale in zip(sorted(lines[order.order_id], key=lambda l: l.line_number), sales):
            assert round(float(line.unit_price) * line.quantity, 2) == sale["selling_price"]


def test_the_gate_warns_on_a_new_code_or_a_high_share_not_on_every_quarantined_order(harness_factory):
    harness = harness_factory(scenario([("shop", "shopify", 25)], anomalies={}))
    base = copy.deepcopy(next(iter(harness.expected("shop", YESTERDAY).values())).payload)

    def broken(order_id: int) -> dict:
        return dict(copy.deepcopy(base), id=order_id, financial_status="on_layaway")  # STATUS_NOT_MAPPED

    def gate(result):
        return next(e for e in result.get_asset_check_evaluations() if e.check_name == "pandera_gate")

    post_order(harness, "shop", broken(777000201))
    first = gate(harness.materialize("shop", YESTERDAY))
    assert not first.passed and "new error codes: shop:STATUS_NOT_MAPPED" in first.description
    assert first.metadata["errors_STATUS_NOT_MAPPED"].value == 1
    assert first.metadata["errors_NO_LINE_ITEMS"].value == 0  # every known code, zero included
    assert first.metadata["channels"].value == "shop" and str(YESTERDAY) in first.metadata["days"].value
    post_order(harness, "shop", broken(777000202))  # the same code again, one order in 25: the gate working
    second = gate(harness.materialize("shop", YESTERDAY))
    assert second.passed and second.metadata["quarantined"].value >= 1
