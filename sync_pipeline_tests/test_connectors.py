"""Each platform's connector against the simulator: paging edges, faults, throttling, auth."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone

import pytest

from sync_pipeline.channels.http import ChannelAuthError
from sync_pipeline_tests.conftest import TODAY, scenario

TYPES = ["shopify", "woocommerce", "amazon", "takealot", "bigcommerce", "ebay", "magento"]
# BigCommerce's list has no totals: a full last page costs one more request, answered 204 (its own test).
COUNTED_PAGES = [t for t in TYPES if t != "bigcommerce"]
YESTERDAY = TODAY - timedelta(days=1)
# Takealot's and Shopify's headers give the bucket, not its refill rate: the client models that rate from its plan
# (1 and 2 requests/s). At the simulator's speed the plan is that rate times the speed; without saying so, every
# drained bucket (an injected 429) waits seconds of the real rate for a simulator that refilled in milliseconds.
PLAN_PER_SECOND = {"takealot": (1.0, 10), "shopify": (2.0, 40)}


def plan_at_speed(channel_type: str, speed: float = 200.0) -> dict:
    """The channel's `rate_limit` setting for a simulator running at `speed` (the scenario default), if it needs one."""
    if channel_type not in PLAN_PER_SECOND:
        return {}
    per_second, burst = PLAN_PER_SECOND[channel_type]
    return {"rate_limit": {"per_second": per_second * speed, "burst": burst}}


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def paged_records(harness, name: str, channel_type: str, day: date) -> int:
    """How many records the list endpoint pages through: orders, or on Takealot the order lines of the
    two local (Johannesburg) dates a UTC day overlaps."""
    if channel_type == "takealot":
        tz = harness.config.channel(name).tz
        start, end = day_window(day)
        local_days = {start.astimezone(tz).date(), (end - timedelta(microseconds=1)).astimezone(tz).date()}
        return sum(len(o.payload) for o in harness.simulator.orders(name) if o.placed_at.astimezone(tz).date() in local_days)
    return len(harness.expected(name, day))


def fetch_day(harness, name: str, day: date):
    connector = harness.connector(name)
    orders = connector.fetch_orders(*day_window(day))
    return connector, {o.external_order_id: o for o in orders}


def assert_matches_simulator(harness, name: str, fetched: dict, day: date) -> None:
    expected = harness.expected(name, day)
    assert set(fetched) == set(expected)
    for external_id, order in fetched.items():
        payload = order.payload["Order"] if isinstance(order.payload, dict) and "Order" in order.payload else order.payload
        assert payload == expected[external_id].payload
        assert order.placed_at == expected[external_id].placed_at
        assert order.placed_at.date() == day


@pytest.mark.parametrize("channel_type", COUNTED_PAGES)
def test_paging_edges(harness_factory, channel_type):
    name = f"{channel_type[:4]}-paging"
    probe = harness_factory(scenario([(name, channel_type, 14)]))
    records = paged_records(probe, name, channel_type, YESTERDAY)
    assert records >= 4, "the scenario should give a few records to page through"
    divisor = next(k for k in range(records // 2, 0, -1) if records % k == 0)
    for page_size in sorted({1, divisor, records - 1, records, records + 1}):
        harness = harness_factory(scenario([(name, channel_type, 14)]),
                                  overrides_in={name: {"page_size": page_size, **plan_at_speed(channel_type)}})
        connector, fetched = fetch_day(harness, name, YESTERDAY)
        assert_matches_simulator(harness, name, fetched, YESTERDAY)
        assert connector.log.pages == math.ceil(records / page_size), f"page_size={page_size}"


@pytest.mark.parametrize("channel_type", TYPES)
def test_an_empty_day_is_one_empty_page(harness_factory, channel_type):
    name = f"{channel_type[:4]}-empty"
    harness = harness_factory(scenario([(name, channel_type, 5)]))
    before_start = TODAY - timedelta(days=5)
    connector, fetched = fetch_day(harness, name, before_start)
    assert fetched == {}
    assert connector.log.pages == 1


@pytest.mark.parametrize("channel_type", TYPES)
@pytest.mark.parametrize(
    "fault, extra",
    [
        ("rate_limit_429", {}),
        ("server_error_5xx", {}),
        ("connection_reset", {}),
        ("timeout", {"timeout_delay_s": 0.4}),
    ],
)
def test_injected_faults_are_retried_to_completion(harness_factory, channel_type, fault, extra):
    name = f"{channel_type[:4]}-faults"
    faults = {fault: 0.3, **extra}
    harness = harness_factory(
        scenario([(name, channel_type, 10)], faults=faults),
        overrides_in={name: {"page_size": 3, **plan_at_speed(channel_type)}},
        timeout_seconds=0.2,
        max_attempts=8,
    )
    connector, fetched = fetch_day(harness, name, YESTERDAY)
    assert_matches_simulator(harness, name, fetched, YESTERDAY)
    injected = [r for r in harness.simulator.requests if r["injected"] == fault]
    assert injected, "the scenario should have injected the fault"
    assert connector.log.retries >= len(injected)
    errors = [c for c in connector.log.calls if c["status_code"] != 200]
    assert len(errors) == len(injected)
    if fault == "rate_limit_429":
        assert connector.log.http_429 == len(injected)


def test_429_with_and_without_retry_after_both_occur_and_are_honoured(harness_factory):
    harness = harness_factory(
        scenario([("shop-429", "shopify", 10)], faults={"rate_limit_429": 0.5}), overrides_in={"shop-429": {"page_size": 2}}
    )
    connector, fetched = fetch_day(harness, "shop-429", YESTERDAY)
    assert_matches_simulator(harness, "shop-429", fetched, YESTERDAY)
    assert connector.log.http_429 >= 2


@pytest.mark.parametrize("channel_type, window_hours", [("shopify", 12), ("woocommerce", 12), ("amazon", 12), ("takealot", 48),
                                                      ("magento", 12)])
def test_a_window_that_times_out_is_split_until_it_answers(harness_factory, channel_type, window_hours):
    name = f"{channel_type[:4]}-split"
    harness = harness_factory(
        scenario([(name, channel_type, 6)], days=4, faults={"timeout_window_hours": window_hours, "timeout_delay_s": 0.4}),
        timeout_seconds=0.2,
        max_attempts=2,
    )
    first = TODAY - timedelta(days=3)
    connector = harness.connector(name)
    start, _ = day_window(first)
    orders = connector.fetch_orders(start, start + timedelta(days=3))
    expected = {k for d in range(3) for k in harness.expected(name, first + timedelta(days=d))}
    assert {o.external_order_id for o in orders} == expected
    assert connector.log.window_splits >= 1


@pytest.mark.parametrize("channel_type", TYPES)
def test_expired_credentials_fail_with_the_channel_and_the_fix(harness_factory, channel_type):
    name = f"{channel_type[:4]}-expired"
    harness = harness_factory(scenario([(name, channel_type, 3)], faults={"expired_credentials": [name]}))
    connector = harness.connector(name)
    with pytest.raises(ChannelAuthError) as error:
        connector.fetch_orders(*day_window(YESTERDAY))
    message = str(error.value)
    assert f"channel {name!r}" in message
    for credential, env_var in harness.config.channel(name).credentials.items():
        assert (env_var in message) == (credential != "webhook_secret"), "the API's credentials, not the webhooks'"
    for secret in harness.simulator.credentials[name].values():
        assert secret not in message
    assert len(connector.log.calls) <= 2, "auth failures are not retried"


def test_shopify_throttles_from_the_call_limit_header_without_429s(harness_factory):
    """The shop's bucket holds 6, the plan's 40: only the call-limit header keeps the client from a 429."""
    name = "shop-throttle"
    harness = harness_factory(
        scenario([(name, "shopify", 30)], speed=20, rate_limits={"shopify": {"bucket": 6, "per_second": 2}}),
        overrides_in={name: {"page_size": 1, **plan_at_speed("shopify", 20)}},
    )
    connector, fetched = fetch_day(harness, name, YESTERDAY)
    assert len(fetched) >= 20
    assert connector.log.http_429 == 0
    assert connector.log.throttled_seconds > 0


def test_takealot_throttles_from_remaining_and_reset_headers(harness_factory):
    """The channel's bucket holds 4, the plan's 10: only the Remaining/Reset headers keep the client from a 429."""
    name = "takealot-throttle"
    speed = 40
    harness = harness_factory(
        scenario([(name, "takealot", 20)], speed=speed, rate_limits={"takealot": {"burst": 4, "per_second": 1}}),
        overrides_in={name: {"page_size": 1, **plan_at_speed("takealot", speed)}},
    )
    connector, fetched = fetch_day(harness, name, YESTERDAY)
    assert fetched
    assert len(connector.log.calls) > 3 * 4, "many more requests than the channel's bucket holds"
    assert connector.log.http_429 == 0
    assert connector.log.throttled_seconds > 0


def test_amazon_learns_its_rate_from_the_limit_header(harness_factory):
    name = "amazon-throttle"
    harness = harness_factory(
        scenario([(name, "amazon", 40)], speed=20, rate_limits={"amazon_getOrderItems": {"burst": 30, "per_second": 1}}),
    )
    connector, fetched = fetch_day(harness, name, YESTERDAY)
    assert len(fetched) >= 30
    assert connector.log.http_429 == 0
    assert connector.http.buckets["getOrderItems"].per_second == pytest.approx(20.0)


def test_amazon_window_reaching_now_respects_the_two_minute_rule(harness_factory):
    harness = harness_factory(scenario([("amazon-now", "amazon", 10)]))
    connector = harness.connector("amazon-now")
    now = datetime.now(timezone.utc)
    orders = connector.fetch_orders(now - timedelta(days=1), now + timedelta(hours=1))
    assert all(o.placed_at <= now for o in orders)
    assert all(c["status_code"] == 200 for c in connector.log.calls)


@pytest.mark.parametrize("channel_type", TYPES)
def test_fetch_one_order_by_id(harness_factory, channel_type):
    name = f"{channel_type[:4]}-one"
    harness = harness_factory(scenario([(name, channel_type, 4)]))
    expected = next(iter(harness.expected(name, YESTERDAY).values()))
    connector = harness.connector(name)
    order = connector.fetch_order(expected.external_order_id)
    assert order.external_order_id == expected.external_order_id
    assert connector.fetch_order("999999999") is None


@pytest.mark.parametrize("channel_type", TYPES)
def test_check_connection_reports_auth_page_and_headroom(harness_factory, channel_type):
    name = f"{channel_type[:4]}-check"
    harness = harness_factory(scenario([(name, channel_type, 4)]))
    report = harness.connector(name).check_connection()
    assert report["channel"] == name
    assert report["api_calls"] >= 1
    if channel_type in ("shopify", "takealot"):
        assert report["rate_limit_remaining"] is not None


def test_a_smaller_bucket_than_documented_costs_one_429_not_more(harness_factory):
    """Amazon sends its rate but not its burst: a 429 empties our model of the bucket, so it happens once."""
    name = "amazon-small-burst"
    harness = harness_factory(
        scenario([(name, "amazon", 40)], speed=20, rate_limits={"amazon_getOrderItems": {"burst": 5, "per_second": 1}}),
    )
    connector, fetched = fetch_day(harness, name, YESTERDAY)
    assert_matches_simulator(harness, name, fetched, YESTERDAY)
    assert connector.log.http_429 == 1


def test_an_unreadable_creation_time_keeps_the_order_and_a_missing_id_fails_the_channel(harness_factory, monkeypatch):
    from sync_pipeline.channels.http import ChannelRequestError
    from sync_pipeline.channels.shopify.client import ShopifyConnector

    harness = harness_factory(scenario([("shop-bad", "shopify", 4)]))
    connector = harness.connector("shop-bad")
    original = ShopifyConnector.raw_order

    def zero_date(self, external_order_id, order):
        return original(self, external_order_id, dict(order, created_at="0000-00-00 00:00:00"))

    monkeypatch.setattr(ShopifyConnector, "raw_order", zero_date)
    fetched = connector.fetch_orders(*day_window(YESTERDAY))
    # The channel filtered by creation time, so every order it returned belongs to the window, dated or not.
    assert sorted(o.external_order_id for o in fetched) == sorted(harness.expected("shop-bad", YESTERDAY))
    assert all(o.placed_at is None and o.updated_at is not None for o in fetched)

    def no_id(self, external_order_id, order):
        return original(self, order["no such key"], order)

    monkeypatch.setattr(ShopifyConnector, "raw_order", no_id)
    with pytest.raises(ChannelRequestError, match="no readable id .*KeyError"):
        connector.fetch_orders(*day_window(YESTERDAY))
