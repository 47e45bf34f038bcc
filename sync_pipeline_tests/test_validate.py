"""Bad input stays local (issue 16, item 1): one bad channels.yaml entry disables that channel alone, is shown in the
UI (a MISCONFIGURED health row, the configuration_valid check), in `check-connection` and `health`, and
`sync-pipeline validate` lists every problem of every configuration and map file at once."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import yaml

from sync_pipeline import cli
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import load_config
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import channel_health, fulfilment_orders
from sync_pipeline.definitions import build_definitions
from sync_pipeline.fulfilment.ship_methods import ship_maps_file
from sync_pipeline.fulfilment.skus import sku_map_file
from sync_pipeline.operations.health_assets import CONFIGURATION_CHECK, check_name
from sync_pipeline_tests.conftest import TODAY, scenario

YESTERDAY = TODAY - timedelta(days=1)
BAD_ENTRIES = [
    {"name": "typo", "type": "shopfy", "base_url": "https://typo.example.com", "credentials": {"access_token": "T"}},
    {"type": "woocommerce", "credentials": {"consumer_key": "K", "consumer_secret": "S"}},  # no name, no base_url
]


def _with_bad_entries(harness, tmp_path):
    """The harness's channels.yaml with the two bad entries appended; their 1-based lines."""
    document = yaml.safe_load(harness.config_path.read_text())
    document["channels"] += BAD_ENTRIES
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    lines = path.read_text().splitlines()
    typo_line = lines.index("  type: shopfy") + 1
    nameless_line = lines.index("- type: woocommerce") + 1
    return path, typo_line, nameless_line


def test_one_bad_entry_leaves_the_good_channel_syncing_end_to_end(
    harness_factory, tmp_path, monkeypatch, database_url, capsys
):
    harness = harness_factory(scenario([("shop", "shopify", 8)], days=1, start=YESTERDAY), database_url=database_url)
    path, typo_line, nameless_line = _with_bad_entries(harness, tmp_path)
    ships = tmp_path / "ship_maps.csv"  # a row naming no channel: it affects none, so it is reported, not stopping
    ships.write_text(ship_maps_file().read_text() + "shopfy,Standard,UPS-GND\n")
    orphan_line = len(ships.read_text().splitlines())
    monkeypatch.setenv("SYNC_SHIP_MAPS_FILE", str(ships))
    channels = ChannelsResource(config_path=str(path), simulator_url=harness.simulator.url, backoff_base_s=0.01)
    config = channels.pipeline_config()
    assert [c.name for c in config.channels] == ["shop"] and [d.key for d in config.disabled] == ["typo", "channels[2]"]
    definitions = build_definitions(config, channels, DatabaseResource(url=database_url))

    # The bad entries have no partitions, schedules or checks; the good channel's are what they were.
    job = definitions.resolve_job_def("order_sync")
    keys = job.partitions_def.get_partition_keys()
    assert {k.keys_by_dimension["channel"] for k in keys} == {"shop"}
    schedules = {s.name for s in definitions.schedules}
    assert not any("typo" in name for name in schedules) and "shop_order_sync" in schedules
    alone = build_definitions(harness.config, harness.channels, DatabaseResource(url=database_url))
    assert schedules == {s.name for s in alone.schedules}
    assert {k.keys_by_dimension["channel"] for k in alone.resolve_job_def("order_sync").partitions_def
            .get_partition_keys()} == {"shop"}

    # The good channel's order flow runs end to end: every order it landed that the warehouse accepted is at the
    # simulated 3PL exactly once, by the 3PL's own records.
    harness.channels = channels
    harness.config = config
    run = harness.materialize("shop", YESTERDAY)
    assert run.success
    logged = [e.user_message for e in harness.instance.all_logs(run.run_id) if e.level >= 40]  # ERROR and above
    assert any(m.startswith(f"{ships}:{orphan_line}: channel 'shopfy' is not a channel") for m in logged), logged
    at_3pl = [o["client_reference"] for o in harness.simulator.warehouse.orders() if o["channel"] == "shop"]
    with get_engine(database_url).connect() as connection:
        accepted = set(connection.execute(sa.select(fulfilment_orders.c.order_id).where(
            fulfilment_orders.c.status == "ACCEPTED")).scalars())
    assert at_3pl and sorted(at_3pl) == sorted(accepted)
    assert len(harness.raw_rows("shop")) >= len(harness.expected("shop", YESTERDAY)) > 0

    # The UI: a MISCONFIGURED row per flow of each bad entry with its error, and the configuration check failing on
    # every problem by file and line, while the good channel's own check passes.
    health = definitions.resolve_job_def("health_check").execute_in_process(instance=harness.instance)
    checks = {e.check_name: e for e in health.get_asset_check_evaluations()}
    assert not checks[CONFIGURATION_CHECK].passed and checks[check_name("shop")].passed
    described = checks[CONFIGURATION_CHECK].description
    assert f"{path}:{typo_line}: channel 'typo' (channels[1]): type: 'shopfy' is not one of shopify," in described
    assert f"{path}:{nameless_line}: channels[2] (no readable name): base_url: missing" in described
    assert f"{ships}:{orphan_line}: channel 'shopfy' is not a channel, a channel type or '*'" in described
    with get_engine(database_url).connect() as connection:
        rows = connection.execute(sa.select(channel_health.c.channel, channel_health.c.status,
                                            channel_health.c.reason)).all()
    misconfigured = {(r.channel, r.status) for r in rows if r.channel != "shop"}
    assert misconfigured == {("typo", "MISCONFIGURED"), ("channels[2]", "MISCONFIGURED")}
    assert all("type: 'shopfy' is not one of" in r.reason for r in rows if r.channel == "typo")

    # The CLI: a command for the bad channel refuses with its error (configuration, exit 3); one for the good
    # channel works and warns about the others; `health` shows them and exits 1; `validate` lists them, exit 3.
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(path))
    monkeypatch.setenv("SYNC_SIMULATOR_URL", harness.simulator.url)
    monkeypatch.setenv("SYNC_DATABASE_URL", database_url)
    capsys.readouterr()
    assert cli.main(["check-connection", "typo"]) == cli.CONFIGURATION
    warning, error = capsys.readouterr().err.strip().splitlines()  # the other bad entry's warning, then the refusal
    assert warning.startswith("WARNING: channel channels[2] is disabled: ")
    assert error.startswith(f"configuration error: {path}:{typo_line}: channel 'typo' (channels[1]): type: 'shopfy'")
    assert cli.main(["check-connection", "shop"]) == cli.OK
    warned = capsys.readouterr().err
    assert "WARNING: channel typo is disabled" in warned and "WARNING: channel channels[2] is disabled" in warned
    assert cli.main(["health"]) == cli.NOT_OK
    assert "typo orders MISCONFIGURED" in capsys.readouterr().out
    assert cli.main(["validate"]) == cli.CONFIGURATION
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 4, listed  # the typo, the nameless entry's name and base_url, the orphan map row
    assert listed[0].startswith(f"{path}:{typo_line}: ")


def test_validate_lists_every_problem_of_every_file_at_once(tmp_path, monkeypatch, capsys):
    channels = tmp_path / "channels.yaml"
    channels.write_text(
        "channels:\n"
        "  - name: shop-1\n    type: shopify\n    base_url: https://s.example.com\n"
        "    credentials: {access_token: S}\n"
        "  - name: Bad Name\n    type: woocommerce\n    base_url: w.example.com\n"
        "    credentials: {consumer_key: K, consumer_secret: S}\n")
    skus = tmp_path / "sku_map.csv"
    skus.write_text(sku_map_file().read_text() + "shop-1,ONLY-TWO\n")
    statuses = tmp_path / "status_map.yaml"
    monkeypatch.setenv("SYNC_CHANNELS_FILE", str(channels))
    monkeypatch.setenv("SYNC_SKU_MAP_FILE", str(skus))
    assert cli.main(["validate"]) == cli.CONFIGURATION
    out = capsys.readouterr()
    listed = out.out.splitlines()
    assert listed == [
        f"{channels}:6: channel 'Bad Name' (channels[1]): name: 'Bad Name' may only hold lower-case letters, digits, "
        "'_' and '-' (it becomes a Dagster partition key); the channel is disabled until the entry is fixed",
        f"{channels}:8: channel 'Bad Name' (channels[1]): base_url: 'w.example.com' must start with http:// or "
        "https://; the channel is disabled until the entry is fixed",
        f"{skus}:{len(skus.read_text().splitlines())}: 2 values where the header has 4 (channel, channel_sku, "
        "variant_id, warehouse_sku): 'shop-1,ONLY-TWO'; fix the line or delete it",
    ]
    assert "3 problem(s)" in out.err
    # A file that does not parse stops everything (and says so); the map files are still judged on their own lines.
    channels.write_text("channels:\n  - name: a\n   type: [\n")
    statuses.write_text("types:\n  shopify:\n    paid: payed\n")
    monkeypatch.setattr("sync_pipeline.orders.status_map.status_map_file", lambda: statuses)
    assert cli.main(["validate"]) == cli.CONFIGURATION
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith(f"{channels}:3: not valid YAML") and "every channel is stopped" in listed[0]
    assert [line.split(": ")[0] for line in listed[1:]] == [f"{skus}:{len(skus.read_text().splitlines())}",
                                                            f"{statuses}:3"]


def test_validate_passes_on_the_repositorys_own_files(monkeypatch, capsys):
    monkeypatch.delenv("SYNC_CHANNELS_FILE", raising=False)
    assert cli.main(["validate"]) == cli.OK
    assert capsys.readouterr().out.startswith(f"ok: {len(load_config().channels)} channel(s)")
