"""The operator commands as a person types them."""

from __future__ import annotations

import json
from datetime import timedelta

from sync_pipeline.cli import main
from sync_pipeline_tests.conftest import TODAY, scenario


def test_check_connection_reports_ok_and_headroom(harness_factory, monkeypatch, capsys):
    harness = harness_factory(scenario([("shop", "shopify", 5)]))
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(harness.config_path))
    monkeypatch.setenv("SYNC_SIMULATOR_URL", harness.simulator.url)
    assert main(["check-connection", "shop"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "OK" and report["channel"] == "shop"
    assert report["rate_limit_capacity"] == 40


def test_check_connection_tests_the_warehouse_too(harness_factory, monkeypatch, capsys):
    harness = harness_factory(scenario([("shop", "shopify", 5)]))
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(harness.config_path))
    monkeypatch.setenv("SYNC_SIMULATOR_URL", harness.simulator.url)
    assert main(["check-connection", "warehouse"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "OK" and report["catalogue_items"] == len(harness.simulator.warehouse.items())
    assert "USPS-PRI" in report["ship_methods"]
    monkeypatch.setenv("WAREHOUSE_API_KEY", "wh_wrong")
    assert main(["check-connection", "warehouse"]) == 1
    error = capsys.readouterr().err
    assert "warehouse 'warehouse'" in error and "WAREHOUSE_API_KEY" in error and "wh_wrong" not in error


def test_check_connection_names_the_fix_when_credentials_are_refused(harness_factory, monkeypatch, capsys):
    harness = harness_factory(scenario([("woo", "woocommerce", 5)], faults={"expired_credentials": ["woo"]}))
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(harness.config_path))
    monkeypatch.setenv("SYNC_SIMULATOR_URL", harness.simulator.url)
    assert main(["check-connection", "woo"]) == 1
    error = capsys.readouterr().err
    assert "refused the credentials (HTTP 401)" in error and "WOO_CONSUMER_KEY" in error
    assert main(["check-connection", "nope"]) == 1
    assert "unknown channel 'nope'" in capsys.readouterr().err


def test_why_finds_an_order_by_number(harness_factory, monkeypatch, capsys):
    harness = harness_factory(scenario([("shop", "shopify", 5)]))
    day = TODAY - timedelta(days=1)
    harness.materialize("shop", day)
    order = next(iter(harness.expected("shop", day).values()))
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(harness.config_path))
    monkeypatch.setenv("SYNC_DATABASE_URL", harness.database_url)
    assert main(["why", "shop", order.payload["name"]]) == 0
    assert f"order shop:{order.external_order_id}" in capsys.readouterr().out
    assert main(["why", "shop", "no-such-order"]) == 1
    assert "reimport" in capsys.readouterr().err


def test_a_bad_scenario_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "scenario.yaml"
    bad.write_text("seed: 1\nstart_date: 2026-01-01\ndays: 1\nchannels:\n  - {name: Shop!, type: shopify, orders_per_day: 1}\n")
    assert main(["demo", "--scenario", str(bad)]) == 2
    assert "channels[0].name" in capsys.readouterr().err
