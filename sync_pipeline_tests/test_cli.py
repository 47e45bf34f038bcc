"""The operator commands as a person types them."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta

import pytest

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
    assert main(["check-connection", "warehouse"]) == 5
    error = capsys.readouterr().err
    assert "warehouse 'warehouse'" in error and "WAREHOUSE_API_KEY" in error and "wh_wrong" not in error


def test_check_connection_names_the_fix_when_credentials_are_refused(harness_factory, monkeypatch, capsys):
    harness = harness_factory(scenario([("woo", "woocommerce", 5)], faults={"expired_credentials": ["woo"]}))
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(harness.config_path))
    monkeypatch.setenv("SYNC_SIMULATOR_URL", harness.simulator.url)
    assert main(["check-connection", "woo"]) == 5
    error = capsys.readouterr().err
    assert "refused the credentials (HTTP 401)" in error and "WOO_CONSUMER_KEY" in error
    assert main(["check-connection", "nope"]) == 4
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
    assert main(["why", "shop", "no-such-order"]) == 4
    assert "reimport" in capsys.readouterr().err


def test_a_bad_scenario_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "scenario.yaml"
    bad.write_text("seed: 1\nstart_date: 2026-01-01\ndays: 1\nchannels:\n  - {name: Shop!, type: shopify, orders_per_day: 1}\n")
    assert main(["demo", "--scenario", str(bad)]) == 3
    assert "channels[0].name" in capsys.readouterr().err


def test_check_connection_logs_its_api_calls_passing_or_not(harness_factory, monkeypatch, capsys):
    harness = harness_factory(
        scenario([("shop", "shopify", 5), ("amzn", "amazon", 5), ("woo", "woocommerce", 5)], faults={"expired_credentials": ["woo"]})
    )
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(harness.config_path))
    monkeypatch.setenv("SYNC_SIMULATOR_URL", harness.simulator.url)
    monkeypatch.setenv("SYNC_DATABASE_URL", harness.database_url)
    assert main(["check-connection", "shop"]) == 0
    shop_report = json.loads(capsys.readouterr().out)
    assert main(["check-connection", "amzn"]) == 0  # the LWA token call is logged too
    capsys.readouterr()
    assert main(["check-connection", "woo"]) == 5  # refused: the refused call is logged all the same
    capsys.readouterr()
    assert main(["check-connection", "warehouse"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("WAREHOUSE_API_KEY", "wh_wrong")
    assert main(["check-connection", "warehouse"]) == 5
    capsys.readouterr()

    rows = harness.api_call_rows()
    assert rows and all(r.run_id.startswith("check-connection-") for r in rows)
    runs = {}
    for row in rows:
        runs.setdefault(row.run_id, []).append(row)
    assert len(runs) == 5  # one run id per check
    by_check = [(calls[0].channel, [(c.endpoint, c.status_code) for c in calls]) for calls in runs.values()]
    assert by_check[0][0] == "shop" and len(by_check[0][1]) == shop_report["api_calls"]
    assert shop_report["run_id"] in runs and {r.channel for r in runs[shop_report["run_id"]]} == {"shop"}
    assert by_check[1][0] == "amzn" and by_check[1][1][0] == ("auth/o2/token", 200)
    assert by_check[2] == ("woo", [("wc/v3/orders", 401)])
    assert by_check[3][0] == "warehouse" and all(status == 200 for _, status in by_check[3][1])
    assert by_check[4][0] == "warehouse" and by_check[4][1][-1][1] == 401
    # A check the database cannot record still reports what it found, and says the calls were not logged.
    monkeypatch.setenv("SYNC_DATABASE_URL", "sqlite:////proc/no-such-dir/sync.db")
    monkeypatch.setenv("WAREHOUSE_API_KEY", harness.simulator.credentials["warehouse"]["api_key"])
    assert main(["check-connection", "shop"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "OK" and "not logged in api_calls" in captured.err


_PRIVATE_FILE_WATCH: dict = {}  # what the audit hook below watches; empty when no test is watching


def _watch_private_file(event, _args) -> None:
    """After any audited operation (open, chmod, ...), the watched file must not hold the command's output while
    others may read it. Audit hooks cannot be removed, so this one does nothing unless a test set the watch."""
    path = _PRIVATE_FILE_WATCH.get("path")
    if path is None or _PRIVATE_FILE_WATCH.get("busy"):
        return
    _PRIVATE_FILE_WATCH["busy"] = True  # reading the file is audited too
    try:
        mode = os.stat(path).st_mode & 0o777
        if mode & 0o077 and _PRIVATE_FILE_WATCH["marker"] in path.read_bytes():
            _PRIVATE_FILE_WATCH["seen"].append((event, oct(mode)))
    except FileNotFoundError:
        pass
    finally:
        _PRIVATE_FILE_WATCH["busy"] = False


@pytest.mark.parametrize("left_from_before", [None, 0o644])
def test_simulator_env_is_private_before_anything_is_written(tmp_path, monkeypatch, capsys, left_from_before):
    """var/simulator.env holds every channel's credentials: it is 0600 from its creation, and a copy left with
    wider bits is emptied and narrowed before the new credentials go in (not chmod'ed after the write)."""
    import sync_pipeline.cli as cli
    import sync_pipeline.simulator.server as server

    env_file = tmp_path / "var" / "simulator.env"
    if left_from_before is not None:
        env_file.parent.mkdir()
        env_file.write_text("export OLD=1\n")
        env_file.chmod(left_from_before)
    served = {}
    monkeypatch.setattr(cli, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(server, "serve", lambda scenario, port, credentials: served.update(credentials=credentials))
    if not _PRIVATE_FILE_WATCH.get("installed"):
        sys.addaudithook(_watch_private_file)
    _PRIVATE_FILE_WATCH.update(installed=True, path=env_file, marker=b"SYNC_SIMULATOR_URL", seen=[], busy=False)
    umask = os.umask(0o022)  # the usual one: a plain create would give 0644
    try:
        assert main(["simulate", "--days", "1", "--port", "8799"]) == 0
    finally:
        os.umask(umask)
        path = _PRIVATE_FILE_WATCH.pop("path")
    assert _PRIVATE_FILE_WATCH["seen"] == [], f"{path} held credentials while readable by others"
    assert env_file.stat().st_mode & 0o777 == 0o600
    text = env_file.read_text()
    assert "OLD" not in text and "export SYNC_SIMULATOR_URL=http://127.0.0.1:8799" in text
    api_key = served["credentials"]["warehouse"]["api_key"]
    assert f"export WAREHOUSE_API_KEY='{api_key}'" in text


def test_check_connection_warehouse_without_a_warehouse_section_says_how_to_add_one(tmp_path, monkeypatch, capsys):
    config = tmp_path / "channels.yaml"
    config.write_text(
        "channels:\n  - {name: shop, type: shopify, base_url: 'https://shop.example.com', credentials: {access_token: T}}\n"
    )
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(config))
    monkeypatch.setenv("SYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'sync.db'}")
    assert main(["check-connection", "warehouse"]) == 3
    assert "channels.yaml has no warehouse section: add warehouse:" in capsys.readouterr().err


def test_why_takes_an_order_number_with_or_without_the_platforms_hash(harness_factory, monkeypatch, capsys):
    harness = harness_factory(scenario([("shop", "shopify", 5)]))
    day = TODAY - timedelta(days=1)
    harness.materialize("shop", day)
    order = next(iter(harness.expected("shop", day).values()))
    number = order.payload["name"]
    assert number.startswith("#")
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(harness.config_path))
    monkeypatch.setenv("SYNC_DATABASE_URL", harness.database_url)
    for given in (number, number.lstrip("#")):
        assert main(["why", "shop", given]) == 0
        assert f"order shop:{order.external_order_id}" in capsys.readouterr().out


def test_user_errors_are_one_line_with_their_own_exit_code_and_debug_shows_the_traceback(tmp_path, monkeypatch,
                                                                                         capsys):
    config = tmp_path / "channels.yaml"
    config.write_text(
        "channels:\n  - {name: shop, type: shopify, base_url: 'https://shop.example.com', credentials: {access_token: T}}\n")
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(config))
    # A server that refuses the connection: one line naming the variable, host and port, and what to check.
    monkeypatch.setenv("SYNC_DATABASE_URL", "postgresql+psycopg2://sync:s3cret@127.0.0.1:1/sync")
    assert main(["why", "shop", "1001"]) == 6
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error and "s3cret" not in error
    assert "127.0.0.1:1/sync" in error and "SYNC_DATABASE_URL" in error
    with pytest.raises(Exception):
        main(["--debug", "why", "shop", "1001"])
    monkeypatch.setenv("SYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'sync.db'}")
    assert main(["why", "nowhere", "1"]) == 4
    assert capsys.readouterr().err.startswith("not found: unknown channel 'nowhere'")
    config.write_text("channels:\n  - {name: shop, type: shopfy}\n")
    assert main(["why", "shop", "1"]) == 3
    error = capsys.readouterr().err
    assert error.startswith("configuration error:") and error.count("\n") == 1


def test_an_unreachable_database_is_tried_once_not_retried_into_a_second_traceback(monkeypatch):
    import sqlalchemy as sa

    from sync_pipeline.db import engine as engine_module

    calls = []
    real = engine_module.metadata.create_all
    monkeypatch.setattr(engine_module.metadata, "create_all", lambda bind: calls.append(bind) or real(bind))
    with pytest.raises(sa.exc.OperationalError):
        engine_module.get_engine("postgresql+psycopg2://sync@127.0.0.1:1/nowhere")
    assert len(calls) == 1
