"""The demo command: simulator plus recorded Dagster runs, repeatable."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest
import yaml

from sync_pipeline.channels import CONNECTORS, TRACKING_PUSHES
from sync_pipeline.cli import main
from sync_pipeline.config import load_config
from sync_pipeline.demo import format_summary, run_demo
from sync_pipeline.partitions import CHANNEL_FLOW_TAG
from sync_pipeline.simulator import default_scenario

NO_TRACKING = set(CONNECTORS) - set(TRACKING_PUSHES)  # types with no tracking push: packages settle NOT_APPLICABLE


@pytest.mark.slow
def test_demo_lands_orders_for_every_channel_type_and_can_run_again(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'sync.db'}")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    # Both demos cut the simulated channels at one moment: an order placed between them is not a rerun's fault.
    now = datetime.now(timezone.utc)
    progress: list[str] = []
    summaries = run_demo(default_scenario(days=2, today=now.date()), now=now, progress=progress.append).channels
    # It says what it is doing as it goes: each channel's order run, the tracking passes, each stock push, then
    # health and the metrics; and its summary fits a 100-column terminal.
    assert [line.split()[:2] for line in progress if line.startswith("orders")] == [
        ["orders", s.channel] for s in summaries]
    assert sum(line.startswith("tracking pass") for line in progress) == 2
    assert progress[-3:] == ["counts   every channel's own order count per day", "health   every channel and flow",
                             "metrics  dbt_like_sql models and their tests"]
    summary = format_summary(summaries).splitlines()
    assert max(map(len, summary)) <= 100 and any(line.startswith("    normalize ") for line in summary)
    assert {s.type for s in summaries} == {
        "shopify", "woocommerce", "amazon", "takealot", "bigcommerce", "ebay", "magento", "bobshop"}
    assert all(s.run_status == "SUCCESS" and s.orders > 0 for s in summaries)
    for s in summaries:  # every accepted order is at the warehouse exactly once, and every order is settled
        assert s.fulfilment_by_status.get("ACCEPTED", 0) == s.warehouse_orders > 0
        assert "NEW" not in s.fulfilment_by_status and sum(s.fulfilment_by_status.values()) == s.normalized
    for s in summaries:  # the warehouse shipped; every package is on its channel once, or has its reason
        shipped, tracked = s.tracking["shipped_packages"], s.tracking["tracking_on_channel"]
        assert shipped > 0 and s.tracking["duplicate_tracking"] == 0, s.channel
        assert sum(s.tracking_by_status.values()) == shipped, s.channel
        if s.type in NO_TRACKING:
            assert set(s.tracking_by_status) == {"NOT_APPLICABLE"} and tracked == 0
        else:
            assert tracked == s.tracking_by_status.get("PUSHED", 0) > 0 and s.tracking["completed"] > 0, s.channel
    syncing = {c.name for c in load_config().channels if c.inventory_sync}
    for s in summaries:  # every listing at its quantity, or with its reason, from the simulator's own records
        by_status = s.inventory["inventory_by_status"]
        if s.channel in syncing:
            assert s.inventory["listings"] > 0 and s.inventory["in_sync"] >= by_status.get("PUSHED", 0) + by_status.get(
                "UNCHANGED", 0) > 0, s.channel
            # Bob Shop lists what the feed holds, so a SKU never written to it (an impossible warehouse figure) is
            # accounted for here but not listed there.
            assert sum(by_status.values()) <= s.inventory["listings"] or s.type == "bobshop", s.channel
        else:
            assert by_status == {}, s.channel
    for s in summaries:  # judged after every flow ran: nothing stale, refused or failing
        assert s.health["orders"] == "HEALTHY", (s.channel, s.health)
        # The scenario's S33 share: pushes refused for a missing scope make tracking PERMISSION_DENIED, with its fix.
        expected = "DISABLED" if s.type in NO_TRACKING else \
            "PERMISSION_DENIED" if s.tracking_by_status.get("PERMISSION_DENIED") else "HEALTHY"
        assert s.health["tracking"] == expected, (s.channel, s.health, s.tracking_by_status)
        assert s.health["inventory"] == ("HEALTHY" if s.channel in syncing else "DISABLED"), (s.channel, s.health)
    for s in summaries:  # the analysts' marts, built after every flow, agree with the demo's own counts
        assert [m["day"] for m in s.metrics] == [str(date.fromisoformat(s.days[:10]) + timedelta(days=i)) for i in (0, 1)]
        assert sum(m["orders_landed"] for m in s.metrics) == s.orders, s.channel
        assert sum(m["orders_normalized"] for m in s.metrics) == s.normalized, s.channel
        # Today holds only the orders placed so far (none at 00:05), so only the whole first day must have some.
        assert all(0 <= m["orders_accepted"] <= m["orders_valid"] for m in s.metrics), s.channel
        # The channel's own count of its orders (the completeness check's), where the platform gives one.
        counted = s.type in ("shopify", "woocommerce", "bigcommerce", "ebay", "magento")
        assert all((m["orders_placed"] is not None) == counted for m in s.metrics), s.channel
        if counted:
            assert sum(m["orders_placed"] for m in s.metrics) == s.orders, s.channel
        assert s.metrics[0]["orders_accepted"] > 0, s.channel
        assert sum(m["orders_with_tracking"] for m in s.metrics) <= s.tracking["tracking_on_channel"], s.channel
        # The errors by day: their last day holds every order quarantined and still open.
        last_day = max((e["day"] for e in s.errors_daily), default=None)
        assert sum(e["open_at_end_of_day"] for e in s.errors_daily if e["day"] == last_day
                   and e["stage"] == "normalize") == sum(s.quarantined_by_code.values()), s.channel
        assert s.last_sync["orders"]["last_outcome"] == "SUCCESS", s.channel
    assert sum(e["open_at_end_of_day"] for s in summaries for e in s.errors_daily) > 0
    again = run_demo(default_scenario(days=2, today=now.date()), now=now).channels
    assert [s.payload_versions for s in again] == [s.payload_versions for s in summaries]
    assert [s.warehouse_orders for s in again] == [0] * len(summaries), "a rerun sends nothing already accepted"
    instance = dg.DagsterInstance.get()
    # Per demo: one order run per channel, two tracking runs, one inventory run and one count run per channel, one
    # health run, one metrics run.
    assert len(instance.get_runs()) == 2 * (5 * len(summaries) + 1 + 1), "every demo run is recorded for the UI"
    # Each channel's runs carry its channel and flow, as scheduled runs do, so the UI's runs page can filter by them.
    lanes = Counter(run.tags.get(CHANNEL_FLOW_TAG) for run in instance.get_runs())
    assert lanes == {None: 2 * 2, **{f"{s.channel}.{flow}": 2 * runs for s in summaries for flow, runs in (
        ("orders", 1), ("tracking", 2), ("inventory", 1), ("completeness", 1))}}
    evaluations = [
        record.event_log_entry.dagster_event.event_specific_data
        for run in instance.get_runs()
        for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    ]
    conservation = [e for e in evaluations if e.check_name == "every_raw_order_accounted_for"]
    # One evaluation per channel's order run, in each of the two demos.
    assert len(conservation) == 2 * len(summaries) and all(e.passed for e in conservation), \
        "every demo partition is accounted for"
    once = [e for e in evaluations if e.check_name in ("one_warehouse_order_per_channel_order", "every_normalized_order_has_a_fulfilment_state")]
    assert len(once) == 2 * 2 * len(summaries) and all(e.passed for e in once)


@pytest.mark.slow
def test_the_readmes_demo_command_shows_every_channel_of_the_default_channels_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert main(["demo", "--days", "1"]) == 0
    output = capsys.readouterr().out
    assert all(c.name in output for c in load_config().channels), "every channel of data/channels.yaml is in the demo"


def demo_scenario(tmp_path, monkeypatch, channels: list[tuple[str, str, int]], **more):
    """A scenario file of two days ending today for `demo --scenario`, on a database and DAGSTER_HOME of the test's."""
    monkeypatch.setenv("SYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'sync.db'}")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({
        "seed": 4, "start_date": (date.today() - timedelta(days=1)).isoformat(), "days": 2, "speed": 200,
        "channels": [{"name": n, "type": t, "orders_per_day": k} for n, t, k in channels], **more,
    }))
    return path


def test_demo_json_is_one_object_counted_from_the_simulator_and_takes_a_scenario(tmp_path, monkeypatch, capsys):
    """`demo --json --scenario FILE` against a warehouse that stores a repeated reference again: at_3pl and
    duplicate_references come from the simulator's own records, and nothing else is on stdout."""
    scenario_file = demo_scenario(tmp_path, monkeypatch, [("shopify-demo", "shopify", 6), ("woocommerce-demo", "woocommerce", 6)],
                                  warehouse={"duplicate_references": "accept", "preexisting_orders": 0.3})
    assert main(["demo", "--json", "--scenario", str(scenario_file)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) == {"channels", "warehouse"} and set(figures["channels"]) == {"shopify-demo", "woocommerce-demo"}
    for name, channel in figures["channels"].items():
        assert channel["run"] == "SUCCESS" and channel["landed"] > 0
        assert channel["accepted"] == channel["at_3pl"] > 0 and channel["duplicate_references"] == 0
        assert channel["normalized"] + channel["filtered"] + channel["quarantined"] == channel["landed"]
        assert isinstance(channel["errors"]["fulfilment"], dict)
        # This scenario's warehouse ships nothing on its own: the tracking figures are there, and zero.
        assert (channel["shipped_packages"], channel["tracking_on_channel"], channel["duplicate_tracking"]) == (0, 0, 0)
        assert channel["tracking_by_status"] == {}
        # The marts, built after every flow: a row per demo day, and the orders flow's last attempt a success.
        days = channel["days"].split("..")
        assert [m["day"] for m in channel["metrics"]] == days, name
        assert sum(m["orders_landed"] for m in channel["metrics"]) == channel["landed"], name
        orders = channel["last_sync"]["orders"]
        assert (orders["last_outcome"], orders["failed_attempts"]) == ("SUCCESS", 0), name
        assert datetime.fromisoformat(orders["last_success_at"]) == datetime.fromisoformat(orders["last_attempt_at"])
        assert all(e["day"] >= days[0] for e in channel["errors_daily"]), name
    warehouse = figures["warehouse"]
    assert warehouse["duplicate_references_setting"] == "accept"
    assert warehouse["duplicate_references"] == 0 and warehouse["duplicate_posts"] == 0
    assert warehouse["orders"] >= sum(c["at_3pl"] for c in figures["channels"].values())


def test_demo_with_one_channels_credentials_expired_shows_it_auth_failed_and_the_rest_healthy(tmp_path, monkeypatch,
                                                                                            capsys):
    """S01 end to end: `demo --json` and then `health --json` on the same database."""
    scenario_file = demo_scenario(tmp_path, monkeypatch, [("shopify-demo", "shopify", 5), ("woo-demo", "woocommerce", 5),
                                                          ("bigcommerce-demo", "bigcommerce", 5)],
                                  faults={"expired_credentials": ["woo-demo"]})
    assert main(["demo", "--json", "--scenario", str(scenario_file)]) == 1  # one channel's runs failed
    figures = json.loads(capsys.readouterr().out)["channels"]
    assert figures["woo-demo"]["health"]["orders"] == "AUTH_FAILED"
    assert figures["shopify-demo"]["health"]["orders"] == figures["bigcommerce-demo"]["health"]["orders"] == "HEALTHY"
    assert main(["health", "--json"]) == 1
    rows = {(r["channel"], r["flow"]): r for r in json.loads(capsys.readouterr().out)}
    woo = rows[("woo-demo", "orders")]
    assert woo["status"] == "AUTH_FAILED" and "WOO" in woo["reason"]  # the variables to update
    assert woo["reason"] == woo["last_error"] or woo["last_error"] in woo["reason"]
    assert {rows[(c, "orders")]["status"] for c in ("shopify-demo", "bigcommerce-demo")} == {"HEALTHY"}
