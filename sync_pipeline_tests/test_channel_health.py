"""channel_health end to end: a channel whose credentials expire is AUTH_FAILED with its fix while the others stay
HEALTHY (S01); a flow past twice its interval is STALE and its check fails (S06); API usage, open problems and the
history of status changes come from what the runs recorded."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import sqlalchemy as sa

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import channel_health, channel_health_history, sync_attempts
from sync_pipeline.operations.health import check_health
from sync_pipeline.operations.health_assets import check_name
from sync_pipeline_tests.conftest import TODAY, scenario

YESTERDAY = TODAY - timedelta(days=1)


def health(harness) -> dict[tuple[str, str], dict]:
    with get_engine(harness.database_url).connect() as connection:
        return {(r["channel"], r["flow"]): dict(r) for r in connection.execute(sa.select(channel_health)).mappings()}


def run_health(harness):
    """The health_check job: the asset, then its checks, as the schedule runs them."""
    return harness.definitions().resolve_job_def("health_check").execute_in_process(instance=harness.instance)


def check_results(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in (ev.event_specific_data for ev in result.all_events
                                       if ev.event_type_value == "ASSET_CHECK_EVALUATION")}


def test_expired_credentials_make_that_channel_auth_failed_and_leave_the_others_healthy(harness_factory, database_url):
    harness = harness_factory(scenario([("shop", "shopify", 6), ("woo", "woocommerce", 6), ("bc", "bigcommerce", 6)],
                                       days=1, start=YESTERDAY, faults={"expired_credentials": ["woo"]}),
                              overrides_in={"shop": {"inventory_sync": True}}, database_url=database_url)
    for channel in ("shop", "woo", "bc"):
        harness.materialize(channel, YESTERDAY, raise_on_error=False)
    harness.push_stock("shop")
    result = run_health(harness)
    rows = health(harness)
    bad = rows[("woo", "orders")]
    assert bad["status"] == "AUTH_FAILED" and bad["consecutive_failures"] == 1 and bad["last_success_at"] is None
    assert "401" in bad["reason"] and "WOO" in bad["reason"]  # says the refusal and the variable to update
    assert rows[("shop", "orders")]["status"] == rows[("bc", "orders")]["status"] == "HEALTHY"
    assert rows[("shop", "inventory")]["status"] == "HEALTHY"
    assert rows[("woo", "inventory")]["status"] == "DISABLED" and "inventory_sync" in rows[("woo", "inventory")]["reason"]
    checks = check_results(result)
    assert not checks[check_name("woo")].passed and checks[check_name("woo")].severity == dg.AssetCheckSeverity.ERROR
    assert "AUTH_FAILED" in checks[check_name("woo")].description
    assert checks[check_name("shop")].passed and checks[check_name("bc")].passed
    # API usage from the calls the runs logged: Shopify's budget is 2 calls/s.
    shop = rows[("shop", "orders")]
    assert shop["calls_1h"] > 0 and shop["p95_latency_ms_1h"] > 0
    assert shop["budget_used_1h"] == pytest.approx(shop["calls_1h"] / 7200, rel=0.2)
    # The day's figures hold the hour's (every call was made within the hour).
    assert shop["calls_24h"] == shop["calls_1h"] and shop["p95_latency_ms_24h"] == shop["p95_latency_ms_1h"]
    assert shop["budget_used_24h"] == round(shop["calls_24h"] / (2 * 86400), 4) <= shop["budget_used_1h"]
    assert shop["http_429_24h"] == shop["http_429_1h"] and shop["http_5xx_24h"] == shop["http_5xx_1h"]
    assert rows[("woo", "orders")]["calls_1h"] > 0  # the refused calls count too
    with get_engine(harness.database_url).connect() as connection:
        history = connection.execute(sa.select(channel_health_history)).all()
    assert {(h.channel, h.flow, h.status) for h in history} >= {("woo", "orders", "AUTH_FAILED")}
    run_health(harness)  # nothing changed: no new history
    with get_engine(harness.database_url).connect() as connection:
        assert len(connection.execute(sa.select(channel_health_history)).all()) == len(history)


def test_credentials_that_expire_after_good_syncs_are_auth_failed_at_the_next_sync(harness_factory, database_url):
    """S01 in a channel's life: it synced fine, then its key was revoked. Its very next sync (so within one sync
    interval) is refused, lands nothing, and health says AUTH_FAILED with the fix; the other channel stays HEALTHY."""
    harness = harness_factory(scenario([("shop", "shopify", 6), ("woo", "woocommerce", 6)], days=1, start=YESTERDAY),
                              database_url=database_url)
    for channel in ("shop", "woo"):
        assert harness.materialize(channel, YESTERDAY).success
    run_health(harness)
    assert {key[0]: row["status"] for key, row in health(harness).items() if key[1] == "orders"} == {
        "shop": "HEALTHY", "woo": "HEALTHY"}
    landed = len(harness.raw_rows("woo"))
    harness.simulator.set_faults({"expired_credentials": ["woo"]})  # the key is revoked on WooCommerce's side
    harness.simulator.clear_requests()
    assert not harness.materialize("woo", YESTERDAY, raise_on_error=False).success
    assert harness.materialize("shop", YESTERDAY).success
    assert {r["status"] for r in harness.simulator.requests if r["channel"] == "woo"} == {401}
    assert len(harness.raw_rows("woo")) == landed, "a refused sync writes nothing"
    run_health(harness)
    rows = health(harness)
    woo = rows[("woo", "orders")]
    assert woo["status"] == "AUTH_FAILED" and woo["consecutive_failures"] == 1 and woo["last_success_at"] is not None
    assert "401" in woo["reason"] and "WOO" in woo["reason"]
    assert rows[("shop", "orders")]["status"] == "HEALTHY"


def test_pushes_refused_for_a_missing_scope_make_tracking_permission_denied(harness_factory, database_url):
    """S33 seen in health: the runs succeed, but the channel refuses the tracking pushes (the app's token lacks the
    fulfilment scope): tracking is PERMISSION_DENIED with the fix, the orders flow stays HEALTHY, and the check fails."""
    harness = harness_factory(scenario([("shop", "shopify", 6)], days=1, start=YESTERDAY,
                                       anomalies={"tracking_permission_denied": 1.0},
                                       warehouse={"ship_after_hours": [0, 0]}), database_url=database_url)
    assert harness.materialize("shop", YESTERDAY).success
    assert harness.track("shop").success
    assert harness.simulator.warehouse.shipments() and not harness.simulator.tracking("shop"), "nothing on the channel"
    result = run_health(harness)
    rows = health(harness)
    tracking = rows[("shop", "tracking")]
    assert tracking["status"] == "PERMISSION_DENIED" and "scope" in tracking["reason"], tracking
    assert rows[("shop", "orders")]["status"] == "HEALTHY"
    check = check_results(result)[check_name("shop")]
    assert not check.passed and "PERMISSION_DENIED" in check.description


def test_a_flow_past_twice_its_interval_is_stale_and_its_check_fails(harness_factory):
    harness = harness_factory(scenario([("shop", "woocommerce", 4)], days=1, start=YESTERDAY))
    harness.materialize("shop", YESTERDAY)
    engine = get_engine(harness.database_url)
    now = datetime.now(timezone.utc)
    assert {r["flow"]: r["status"] for r in check_health(engine, harness.config, now)}["orders"] == "HEALTHY"
    later = now + timedelta(minutes=2 * harness.config.channel("shop").sync_interval_minutes + 1)
    stale = {r["flow"]: r for r in check_health(engine, harness.config, later)}["orders"]
    assert stale["status"] == "STALE" and "S06" in stale["reason"] and "daemon" in stale["reason"]
    with engine.connect() as connection:
        changes = [(h.previous_status, h.status) for h in connection.execute(
            sa.select(channel_health_history).where(channel_health_history.c.flow == "orders")
            .order_by(channel_health_history.c.id))]
    assert changes == [(None, "HEALTHY"), ("HEALTHY", "STALE")]


def test_a_channel_whose_syncs_stopped_is_stale_in_its_check_and_in_health_json(harness_factory, monkeypatch, capsys):
    """S06 as a person meets it: one channel's schedule stopped (paused, or its daemon gone) more than twice its interval
    ago, the other kept syncing; the health_check job's check for it fails and `health --json` says STALE."""
    from sync_pipeline.cli import main

    harness = harness_factory(scenario([("shop", "shopify", 3), ("woo", "woocommerce", 3)], days=1, start=YESTERDAY))
    for channel in ("shop", "woo"):
        harness.materialize(channel, YESTERDAY)
    paused_for = timedelta(minutes=2 * harness.config.channel("shop").sync_interval_minutes + 1)
    with get_engine(harness.database_url).begin() as connection:  # shop's last sync, as it stands that much later
        for attempt in connection.execute(sa.select(sync_attempts).where(sync_attempts.c.channel == "shop")).all():
            connection.execute(sync_attempts.update().where(sync_attempts.c.id == attempt.id).values(
                started_at=attempt.started_at - paused_for, finished_at=attempt.finished_at - paused_for))
    checks = check_results(run_health(harness))
    assert not checks[check_name("shop")].passed and "STALE" in checks[check_name("shop")].description
    assert checks[check_name("woo")].passed
    monkeypatch.setenv("SYNC_DATABASE_URL", harness.database_url)
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(harness.config_path))
    assert main(["health", "--json"]) == 1
    rows = {(r["channel"], r["flow"]): r for r in json.loads(capsys.readouterr().out)}
    assert rows[("shop", "orders")]["status"] == "STALE" and "S06" in rows[("shop", "orders")]["reason"]
    assert rows[("woo", "orders")]["status"] == "HEALTHY"


def test_a_channel_never_synced_is_stale_and_one_with_no_tracking_api_is_disabled(harness_factory):
    harness = harness_factory(scenario([("tkl", "takealot", 2)], days=1, start=YESTERDAY))
    rows = {r["flow"]: r for r in check_health(get_engine(harness.database_url), harness.config)}
    assert rows["orders"]["status"] == "STALE" and "never synced" in rows["orders"]["reason"]
    assert rows["tracking"]["status"] == "DISABLED" and rows["inventory"]["status"] == "DISABLED"


def test_a_channel_answering_with_many_5xx_is_degraded_and_one_with_many_429s_rate_limited(harness_factory):
    # Status goes by the share of the hour's calls (health.py), so the number of orders proves nothing; what counts is
    # enough calls for the shares. flaky: 20 pages of 2 (25 calls with the 5xx retries, 5 of them 5xx: 0.2, against
    # DEGRADED_SHARE 0.1); busy: BigCommerce reads products and addresses per order, 30 orders are some 115 calls,
    # 48 of them 429 (0.42, against RATE_LIMITED_SHARE 0.2). With 100 orders each the shares were the same.
    harness = harness_factory(scenario([("flaky", "woocommerce", 40), ("busy", "bigcommerce", 30)], days=1,
                                       start=YESTERDAY, faults={"server_error_5xx": 0.35}),
                              overrides_in={"flaky": {"page_size": 2}, "busy": {"page_size": 5}})
    harness.materialize("flaky", YESTERDAY)  # the retries carry it through
    harness.simulator.set_faults({"server_error_5xx": 0.0, "rate_limit_429": 0.4})
    harness.materialize("busy", YESTERDAY)
    rows = {r["channel"]: r for r in check_health(get_engine(harness.database_url), harness.config) if r["flow"] == "orders"}
    assert rows["flaky"]["status"] == "DEGRADED" and rows["flaky"]["http_5xx_1h"] > 0
    assert rows["busy"]["status"] == "RATE_LIMITED" and rows["busy"]["http_429_1h"] > 0
    assert rows["flaky"]["consecutive_failures"] == rows["busy"]["consecutive_failures"] == 0


def test_health_cli_prints_the_rows_and_exits_non_zero_when_one_is_not_healthy(harness_factory, monkeypatch, capsys):
    from sync_pipeline.cli import main

    harness = harness_factory(scenario([("shop", "shopify", 3), ("woo", "woocommerce", 3)], days=1, start=YESTERDAY,
                                       faults={"expired_credentials": ["woo"]}))
    for channel in ("shop", "woo"):
        harness.materialize(channel, YESTERDAY, raise_on_error=False)
    monkeypatch.setenv("SYNC_DATABASE_URL", harness.database_url)
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(harness.config_path))
    assert main(["health", "--json"]) == 1
    rows = {(r["channel"], r["flow"]): r for r in json.loads(capsys.readouterr().out)}
    assert rows[("woo", "orders")]["status"] == "AUTH_FAILED" and rows[("shop", "orders")]["status"] == "HEALTHY"
    assert main(["health"]) == 1
    printed = capsys.readouterr().out
    assert "AUTH_FAILED" in printed and "woo orders AUTH_FAILED:" in printed


def test_retries_that_end_on_429_are_rate_limited_and_on_5xx_failing(harness_factory):
    harness = harness_factory(scenario([("busy", "woocommerce", 4), ("down", "bigcommerce", 4)], days=1,
                                       start=YESTERDAY, faults={"rate_limit_429": 1.0}), max_attempts=2)
    harness.materialize("busy", YESTERDAY, raise_on_error=False)
    harness.simulator.set_faults({"server_error_5xx": 1.0})
    harness.materialize("down", YESTERDAY, raise_on_error=False)
    rows = {r["channel"]: r for r in check_health(get_engine(harness.database_url), harness.config) if r["flow"] == "orders"}
    assert (rows["busy"]["status"], rows["busy"]["last_error_code"]) == ("RATE_LIMITED", "RATE_LIMITED")
    assert (rows["down"]["status"], rows["down"]["last_error_code"]) == ("FAILING", "UNAVAILABLE")
    assert "429" in rows["busy"]["reason"] and rows["down"]["consecutive_failures"] == 1
