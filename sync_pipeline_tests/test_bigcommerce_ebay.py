"""BigCommerce and eBay end to end: their real payloads mapped to exact values, their connectors against the
simulator (paging edges, auth, 429s, unreadable dates), and both through normalized and fulfilment orders."""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from sync_pipeline.channels import ORDER_MAPPINGS
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import fulfilment_orders, order_sync_errors
from sync_pipeline.orders.normalize import normalize
from sync_pipeline_tests.conftest import scenario
from sync_pipeline_tests.test_connectors import YESTERDAY, day_window, fetch_day
from sync_pipeline_tests.test_fulfilment_orders import check_passed
from sync_pipeline_tests.test_normalize import NOW, channel, errors_of, load, raw_frame, run

TYPES = ["bigcommerce", "ebay"]
UTC = timezone.utc


def bigcommerce_payload() -> dict:
    """What the connector lands: the order with its products and its (first) shipping address."""
    sub_resources = load("bigcommerce_order_subresources.json")
    return {
        "order": load("bigcommerce_order.json")[0],
        "products": sub_resources["GET /orders/{order_id}/products"],
        "shipping_addresses": sub_resources["GET /orders/{order_id}/shipping_addresses"],
    }


def ebay_payload() -> dict:
    """One order of a getOrders page, as the connector lands it (values masked by the example's author)."""
    return load("ebay_order.json")["orders"][0]


# --- mapping of the real payloads ----------------------------------------------------------------------

def test_bigcommerce_real_payload_maps_exactly():
    result = run("bigcommerce", ("100", bigcommerce_payload()), status_map={"Awaiting Fulfillment": "paid"})
    order = result.orders.iloc[0]
    assert (order["order_number"], order["channel_status"], order["canonical_status"]) == ("100", "Awaiting Fulfillment", "paid")
    assert (order["customer_name"], order["customer_email"], order["customer_phone"]) == ("Jane Doe", "janedoe@example.com", "+15551234567")
    assert (order["ship_name"], order["ship_company"], order["ship_address1"]) == ("Trishy Smith", "Acme Pty Ltd", "666 Sussex St")
    assert (order["ship_city"], order["ship_region"], order["ship_postal_code"], order["ship_country"]) == ("San Antonio", "Texas", "78251", "US")
    assert (order["bill_address1"], order["bill_city"], order["bill_country"]) == ("455 Main Street", "Austin", "US")
    assert (order["currency"], order["total_amount"], order["shipping_amount"], order["tax_amount"]) == ("USD", 361.95, 0.0, 0.0)
    assert order["ship_method"] == "None", "the first shipping address's method, as BigCommerce writes it"
    assert json.loads(order["channel_fields"])["status_id"] == 11
    lines = result.lines
    assert list(zip(lines["channel_sku"], lines["variant_id"], lines["quantity"], lines["unit_price"])) == [
        ("S-ORAN", "77", 1, 55.99), ("ABS", "86", 1, 0.0),
    ]


def test_bigcommerce_rfc2822_times_are_read_into_utc():
    payload = bigcommerce_payload()
    times = ORDER_MAPPINGS["bigcommerce"]["api"].times(payload, UTC)
    assert times.placed_at == datetime(2018, 1, 10, 21, 5, 30, tzinfo=UTC)
    assert times.updated_at == datetime(2018, 12, 5, 20, 16, 55, tzinfo=UTC)
    payload["order"]["date_created"] = "Thu, 20 Apr 2017 11:32:00 -0400"
    assert ORDER_MAPPINGS["bigcommerce"]["api"].times(payload, UTC).placed_at == datetime(2017, 4, 20, 15, 32, tzinfo=UTC)


def test_ebay_real_payload_maps_exactly():
    result = run("ebay", ("1********5", ebay_payload()), status_map={"NOT_STARTED": "paid"})
    order = result.orders.iloc[0]
    assert (order["order_number"], order["channel_status"], order["canonical_status"]) == ("1********5", "NOT_STARTED", "paid")
    assert (order["customer_name"], order["customer_email"], order["customer_phone"]) == ("q********r", "2********@********.com", None)
    assert (order["ship_name"], order["ship_address1"], order["ship_city"]) == ("B********y", "C********7", "A********e")
    assert (order["ship_region"], order["ship_postal_code"], order["ship_country"]) == ("M********d", "2***9", "ES")
    assert (order["bill_address1"], order["bill_country"]) == ("S********4", "BE")
    assert (order["currency"], order["total_amount"], order["shipping_amount"]) == ("EUR", 116.26, 16.26)
    assert order["ship_method"] == "DE_HermesPaketInternational", "shippingStep.shippingServiceCode"
    fields = json.loads(order["channel_fields"])
    assert (fields["orderPaymentStatus"], fields["shippingCarrierCode"]) == ("PAID", "Hermes")
    lines = result.lines
    assert list(zip(lines["channel_sku"], lines["variant_id"], lines["quantity"], lines["unit_price"])) == [
        (None, "2********1", 1, 100.0), (None, "95********1", 1, 100.0),  # these listings have no custom label (SKU)
    ]
    times = ORDER_MAPPINGS["ebay"]["api"].times(ebay_payload(), UTC)
    assert (times.placed_at, times.updated_at) == (
        datetime(2023, 8, 2, 8, 26, 18, tzinfo=UTC), datetime(2023, 8, 2, 8, 35, 1, tzinfo=UTC))


@pytest.mark.parametrize("change, status", [
    ({}, "NOT_STARTED"),
    ({"orderPaymentStatus": "PENDING"}, "PENDING"),
    ({"orderFulfillmentStatus": "FULFILLED"}, "FULFILLED"),
    ({"orderPaymentStatus": "FULLY_REFUNDED", "cancelStatus": {"cancelState": "CANCELED", "cancelRequests": []}}, "CANCELED"),
])
def test_ebay_status_is_payment_until_paid_so_the_import_filter_means_paid(change, status):
    order = ebay_payload() | change
    result = run("ebay", ("1", order), import_statuses=["NOT_STARTED", "IN_PROGRESS"],
                 status_map={"NOT_STARTED": "paid", "PENDING": "placed", "FULFILLED": "shipped", "CANCELED": "cancelled"})
    assert result.filtered == (0 if status == "NOT_STARTED" else 1)
    assert (result.orders.iloc[0]["channel_status"] if result.normalized else status) == status


@pytest.mark.parametrize("channel_type, payload, path", [
    ("bigcommerce", bigcommerce_payload, ("order", "date_created")),
    ("ebay", ebay_payload, ("creationDate",)),
])
def test_an_unreadable_creation_time_is_invalid_date(channel_type, payload, path):
    broken = copy.deepcopy(payload())
    (broken[path[0]] if len(path) == 2 else broken)[path[-1]] = "0000-00-00 00:00:00"
    times = ORDER_MAPPINGS[channel_type]["api"].times(broken, UTC)
    assert times.placed_at is None and times.placed_at_sent == "0000-00-00 00:00:00"
    frame = raw_frame(("1", broken))
    frame["placed_at"] = None  # the connector landed it without a readable time
    mapping = ORDER_MAPPINGS[channel_type]
    status = mapping["api"].status(broken)
    result = normalize(frame, channel(channel_type), mapping, {status: "paid"}, "run-1", NOW)
    assert errors_of(result) == [("INVALID_DATE", "placed_at")]
    assert "'0000-00-00 00:00:00'" in result.errors.iloc[0]["message"]


# --- connectors against the simulator ------------------------------------------------------------------

def list_requests(harness, name: str) -> list[dict]:
    """The simulator's log of the channel's order-list requests."""
    suffix = {"bigcommerce": "/v2/orders", "ebay": "/sell/fulfillment/v1/order"}[harness.config.channel(name).type]
    return [r for r in harness.simulator.requests if r["channel"] == name and r["path"] == f"/{name}{suffix}"]


def assert_matches_simulator(harness, name: str, fetched: dict, day) -> None:
    expected = harness.expected(name, day)
    assert set(fetched) == set(expected)
    for external_id, order in fetched.items():
        assert order.payload == expected[external_id].payload
        assert order.placed_at == expected[external_id].placed_at and order.placed_at.date() == day


@pytest.mark.parametrize("channel_type", TYPES)
def test_paging_edges_one_page_a_boundary_and_an_empty_day(harness_factory, channel_type):
    name = f"{channel_type[:4]}-paging"
    probe = harness_factory(scenario([(name, channel_type, 14)]))
    records = len(probe.expected(name, YESTERDAY))
    assert records >= 4
    empty_connector, empty = fetch_day(probe, name, YESTERDAY - timedelta(days=4))
    assert empty == {} and empty_connector.log.pages == 1
    if channel_type == "bigcommerce":
        assert list_requests(probe, name)[-1]["status"] == 204
    divisor = next(k for k in range(records // 2, 0, -1) if records % k == 0)
    for page_size in sorted({1, divisor, records - 1, records, records + 1}):
        # Each harness sets the credentials' environment variables for its own simulator.
        harness = harness_factory(scenario([(name, channel_type, 14)]), overrides_in={name: {"page_size": page_size}})
        connector, fetched = fetch_day(harness, name, YESTERDAY)
        assert_matches_simulator(harness, name, fetched, YESTERDAY)
        if channel_type == "bigcommerce":  # a full last page is followed by one more request, answered 204
            assert connector.log.pages == records // page_size + 1, f"page_size={page_size}"
            statuses = [r["status"] for r in list_requests(harness, name)]
            assert statuses.count(204) == (1 if records % page_size == 0 else 0), f"page_size={page_size}"
        else:  # eBay's `next` is absent on the last page
            assert connector.log.pages == math.ceil(records / page_size), f"page_size={page_size}"


@pytest.mark.parametrize("channel_type", TYPES)
def test_a_window_fetch_is_exactly_the_simulators_orders_of_the_day(harness_factory, channel_type):
    name = f"{channel_type[:4]}-window"
    harness = harness_factory(scenario([(name, channel_type, 20)], anomalies={"status_changes": 0.3, "non_latin_names": 0.3}))
    connector, fetched = fetch_day(harness, name, YESTERDAY)
    assert len(fetched) == 20
    assert_matches_simulator(harness, name, fetched, YESTERDAY)
    since = datetime.combine(YESTERDAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    updated = connector.fetch_orders(*day_window(YESTERDAY), updated_since=since)
    assert {o.external_order_id for o in updated} == {k for k, o in harness.expected(name, YESTERDAY).items() if o.updated_at >= since}


def test_bigcommerce_throttles_from_the_quota_headers_without_429s(harness_factory):
    name = "bigc-throttle"
    harness = harness_factory(
        scenario([(name, "bigcommerce", 20)], speed=10, rate_limits={"bigcommerce": {"burst": 6, "per_second": 2}}),
        overrides_in={name: {"page_size": 5}},
    )
    connector, fetched = fetch_day(harness, name, YESTERDAY)
    assert_matches_simulator(harness, name, fetched, YESTERDAY)
    assert connector.log.http_429 == 0
    assert connector.log.throttled_seconds > 0
    assert connector.http.buckets["default"].capacity == 6 and connector.http.buckets["default"].per_second == pytest.approx(20)


@pytest.mark.parametrize("channel_type", TYPES)
def test_unreadable_dates_land_without_a_time(harness_factory, channel_type):
    name = f"{channel_type[:4]}-baddate"
    harness = harness_factory(scenario([(name, channel_type, 6)], anomalies={"invalid_date": 1.0}))
    connector, fetched = fetch_day(harness, name, YESTERDAY)
    assert set(fetched) == set(harness.expected(name, YESTERDAY)), "the channel filtered by the real time"
    assert all(o.placed_at is None and o.updated_at is not None for o in fetched.values())


# --- end to end ----------------------------------------------------------------------------------------

IMPORT_STATUSES = {"bigcommerce": ["Awaiting Fulfillment"], "ebay": ["NOT_STARTED", "IN_PROGRESS"]}  # as in channels.yaml


@pytest.mark.parametrize("channel_type", TYPES)
def test_materialize_through_normalized_and_fulfilment(harness_factory, channel_type):
    name = f"{channel_type}-e2e"
    # Shares high enough that 25 orders draw every kind on any day (an undated order must also pass the filter).
    anomalies = {"unpaid": 0.2, "status_changes": 0.1, "invalid_date": 0.4, "unmapped_ship_method": 0.3}
    harness = harness_factory(scenario([(name, channel_type, 25)], anomalies=anomalies),
                              overrides_in={name: {"import_statuses": IMPORT_STATUSES[channel_type]}})
    result = harness.materialize(name, YESTERDAY)
    assert result.success
    assert check_passed(result, "every_raw_order_accounted_for")
    assert check_passed(result, "one_warehouse_order_per_channel_order")
    with get_engine(harness.database_url).connect() as connection:
        rows = list(connection.execute(sa.select(fulfilment_orders).where(fulfilment_orders.c.channel == name)).mappings())
        codes = set(connection.execute(sa.select(order_sync_errors.c.error_code).where(order_sync_errors.c.channel == name)).scalars())
    accepted = {r["client_reference"] for r in rows if r["status"] == "ACCEPTED"}
    at_warehouse = {o["client_reference"] for o in harness.simulator.warehouse.orders() if o["channel"] == name}
    assert accepted and accepted == at_warehouse
    assert "NEW" not in {r["status"] for r in rows}
    assert {"FILTERED", "INVALID_DATE", "SHIP_METHOD_NOT_MAPPED"} <= codes, "unpaid orders filtered, the anomalies stopped"
