"""`bench inventory` in small: the figures it prints are the simulator's (listings in sync, every call it served),
and a run after the stock moved writes what moved with far fewer calls than one that reads every listing."""

from __future__ import annotations

import json

from sync_pipeline.cli import main


def test_bench_inventory_prints_figures_counted_from_the_simulator(capsys):
    assert main(["bench", "inventory", "--json", "--skus", "300", "--platform", "woocommerce",
                 "--platform", "takealot"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["skus"] == 300 and set(figures["platforms"]) == {"woocommerce", "takealot"}
    assert figures["listings"] == figures["in_sync"] == 600
    for platform in figures["platforms"].values():
        first, changes, reading = (platform[k] for k in ("first_sync", "resync_changes_only", "resync_reading_listings"))
        assert {first["run"], changes["run"], reading["run"]} == {"SUCCESS"}
        assert first["listings_written"] > 250  # a new channel's listings differ from the warehouse's stock
        assert changes["listings_written"] == changes["items_moved"] == 3  # 1% of 300
        assert changes["api_calls"] < reading["api_calls"] and changes["api_calls"] <= 3
    takealot = figures["platforms"]["takealot"]["first_sync"]  # one PATCH per offer, limited at 1/s (x200 here)
    assert takealot["api_calls"] > takealot["listings_written"]
    assert takealot["floor_seconds"] > 0 and 0 < takealot["rate_limit_utilization"] <= 1.05
    assert takealot["floor_seconds_at_real_limits"] == round(takealot["floor_seconds"] * 200, 1)
    assert figures["platforms"]["woocommerce"]["first_sync"]["rate_limit_utilization"] is None  # no limit simulated
