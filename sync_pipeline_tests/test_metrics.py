"""The SQL models of dbt_like_sql/ as Dagster assets: exact figures on a small known data set on SQLite and
Postgres, YAML tests as asset checks, and every mistake in the folder reported with its place and fix."""

import shutil
from datetime import date, datetime, timezone

import dagster as dg
import pytest
import sqlalchemy as sa

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import (
    api_calls,
    fulfilment_orders,
    inventory_pushes,
    order_completeness,
    order_sync_errors,
    orders,
    raw_orders,
    sync_attempts,
    tracking_updates,
)
from sync_pipeline.definitions import defs
from sync_pipeline.metrics.dialect import transpile
from sync_pipeline.metrics.metrics_assets import build_metric_models
from sync_pipeline.metrics.models import MODELS_DIR, ModelError, load_project

D1, D2, D3 = date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)


def at(day: date, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day.isoformat()}T{clock}+00:00")


def insert_known_data(url: str) -> None:
    """Two channels over two days. shop-a, day 1: eight orders landed (A1 in two versions), the channel counted nine;
    A4 filtered; A5 MANUAL; A6 cancelled before it went; A1, A2, A7 accepted after 100, 300 and 1000 seconds (A7
    cancelled after); A3 stopped (SKU_NOT_FOUND on two lines); A10 quarantined (ADDRESS_INVALID), resolved on day 2.
    A1 shipped in two packages pushed after 30 and 60 s, A2 in one the channel refused; the warehouse shipped one
    more under a reference this pipeline never sent (UNKNOWN_ORDER). Day 2: A8, NEW, quarantined for ADDRESS_INVALID;
    day 3 is quiet. tkl-c: C1 accepted after 10 s, its package NOT_APPLICABLE; C2 MANUAL (keyed in by hand), yet
    accepted, after 7200 s. efs is the 3PL."""
    engine = get_engine(url)
    landed = [("shop-a", "A1", D1, "10:00:00"), ("shop-a", "A1", D1, "10:00:00"), ("shop-a", "A2", D1, "11:00:00"),
              ("shop-a", "A3", D1, "12:00:00"), ("shop-a", "A4", D1, "12:30:00"), ("shop-a", "A5", D1, "12:45:00"),
              ("shop-a", "A6", D1, "13:00:00"), ("shop-a", "A7", D1, "14:00:00"), ("shop-a", "A10", D1, "18:00:00"),
              ("shop-a", "A8", D2, "01:00:00"), ("tkl-c", "C1", D1, "09:00:00"), ("tkl-c", "C2", D1, "09:10:00")]
    # (channel, id, day, placed, fulfilment status, accepted at)
    normalized = [("shop-a", "A1", D1, "10:00:00", "COMPLETED", "10:01:40"), ("shop-a", "A2", D1, "11:00:00", "ACCEPTED", "11:05:00"),
                  ("shop-a", "A3", D1, "12:00:00", "IMPORT_ERROR", None), ("shop-a", "A5", D1, "12:45:00", "MANUAL", None),
                  ("shop-a", "A6", D1, "13:00:00", "CANCELLED", None), ("shop-a", "A7", D1, "14:00:00", "CANCELLED", "14:16:40"),
                  ("shop-a", "A10", D1, "18:00:00", "NEW", None), ("shop-a", "A8", D2, "01:00:00", "NEW", None),
                  ("tkl-c", "C1", D1, "09:00:00", "ACCEPTED", "09:00:10"),
                  ("tkl-c", "C2", D1, "09:10:00", "MANUAL", "11:10:00")]
    errors = [  # (channel, order, stage, code, field, opened, resolved)
        ("shop-a", "A4", "normalize", "FILTERED", "channel_status", at(D1, "12:31:00"), None),
        ("shop-a", "A3", "fulfilment", "SKU_NOT_FOUND", "line 1", at(D1, "12:01:00"), None),
        ("shop-a", "A3", "fulfilment", "SKU_NOT_FOUND", "line 2", at(D1, "12:01:00"), None),
        ("shop-a", "A2", "tracking", "PERMISSION_DENIED", "", at(D1, "17:01:00"), None),
        ("shop-a", "A10", "normalize", "ADDRESS_INVALID", "country", at(D1, "18:01:00"), at(D2, "08:00:00")),
        ("shop-a", "A8", "normalize", "ADDRESS_INVALID", "country", at(D2, "01:05:00"), None),
    ]
    packages = [  # (package, channel, order, shipped, status, pushed)
        ("P1", "shop-a", "shop-a:A1", at(D1, "15:00:00"), "PUSHED", at(D1, "15:00:30")),
        ("P2", "shop-a", "shop-a:A1", at(D1, "16:00:00"), "PUSHED", at(D1, "16:01:00")),
        ("P3", "shop-a", "shop-a:A2", at(D1, "17:00:00"), "PERMISSION_DENIED", None),
        ("P4", "tkl-c", "tkl-c:C1", at(D1, "10:00:00"), "NOT_APPLICABLE", None),
        ("P5", "shop-a", "REF-9", at(D1, "18:00:00"), "UNKNOWN_ORDER", None),  # its order id is the reference
    ]
    calls = [("shop-a", D1, 200), ("shop-a", D1, 429), ("shop-a", D1, 200), ("shop-a", D2, 200), ("shop-a", D2, None),
             ("tkl-c", D1, 429), ("efs", D1, 200)]
    listings = [("shop-a", "L1", "PUSHED", 5, 5, D2), ("shop-a", "L2", "PRODUCT_NOT_FOUND", None, None, D2),
                ("shop-a", "L3", "UNCHANGED", 4, 3, D1)]
    attempts = [("shop-a", "orders", at(D1, "10:29:50"), at(D1, "10:30:00"), "SUCCESS", None, None),
                ("shop-a", "orders", at(D2, "01:59:00"), at(D2, "02:00:00"), "FAILED", "AUTH_FAILED",
                 "shop-a: 401 Unauthorized: re-authorize the app and update SHOP_A_TOKEN"),
                ("shop-a", "tracking", at(D1, "17:04:00"), at(D1, "17:05:00"), "SUCCESS", None, None),
                ("tkl-c", "orders", at(D1, "09:30:00"), at(D1, "09:30:05"), "SUCCESS", None, None)]
    now = at(D2, "12:00:00")
    with engine.begin() as connection:
        connection.execute(raw_orders.insert(), [
            {"channel": c, "partition_date": d, "external_order_id": o, "payload": "{}", "payload_sha256": f"{o}-{i}",
             "channel_updated_at": at(d, t), "placed_at": at(d, t), "fetched_at": now, "run_id": "r", "source": "api"}
            for i, (c, o, d, t) in enumerate(landed)])
        connection.execute(orders.insert(), [
            {"order_id": f"{c}:{o}", "channel": c, "external_order_id": o, "partition_date": d, "channel_status": "paid",
             "canonical_status": "OPEN", "placed_at": at(d, t), "updated_at": at(d, t), "payload_sha256": o,
             "normalized_at": now, "run_id": "r"} for c, o, d, t, _, _ in normalized])
        connection.execute(fulfilment_orders.insert(), [
            {"order_id": f"{c}:{o}", "channel": c, "external_order_id": o, "partition_date": d,
             "client_reference": f"{c}:{o}", "status": status, "accepted_at": at(d, accepted) if accepted else None,
             "updated_at": now, "run_id": "r"} for c, o, d, _, status, accepted in normalized])
        connection.execute(order_sync_errors.insert(), [
            {"channel": c, "partition_date": opened.date(), "external_order_id": o, "stage": stage, "error_code": code,
             "field": field, "message": "what is wrong and its fix", "first_seen_at": opened, "last_seen_at": opened,
             "resolved_at": resolved} for c, o, stage, code, field, opened, resolved in errors])
        connection.execute(tracking_updates.insert(), [
            {"package_id": p, "shipment_id": p, "order_id": o, "channel": c, "external_order_id": o.split(":")[-1],
             "partition_date": shipped.date(), "warehouse_order_id": "W1", "tracking_number": f"1Z{p}",
             "shipped_at": shipped, "lines": "[]", "status": status, "pushed_at": pushed, "updated_at": now,
             "run_id": "r"} for p, c, o, shipped, status, pushed in packages])
        connection.execute(api_calls.insert(), [
            {"channel": c, "method": "GET", "endpoint": "/orders", "status_code": code, "latency_ms": 10.0,
             "attempt": 1, "called_at": at(d, "12:00:00"), "error": None if code else "timeout"} for c, d, code in calls])
        connection.execute(inventory_pushes.insert(), [
            {"channel": c, "listing_id": listing, "sku": listing, "status": status, "quantity": quantity, "shown": shown,
             "updated_at": at(d, "06:00:00"), "run_id": "r"} for c, listing, status, quantity, shown, d in listings])
        connection.execute(order_completeness.insert(), [
            {"channel": "shop-a", "partition_date": D1, "channel_type": "shopify", "channel_count": 9, "landed": 8,
             "missing": 1, "status": "SHORT", "reason": "orders/count.json", "counted_from": at(D1, "00:00:00"),
             "counted_until": at(D2, "00:00:00"), "checked_at": now}])
        connection.execute(sync_attempts.insert(), [
            {"channel": c, "flow": flow, "run_id": "r", "started_at": started, "finished_at": finished,
             "outcome": outcome, "error_code": code, "error": error}
            for c, flow, started, finished, outcome, code, error in attempts])


def build(url: str, directory=MODELS_DIR) -> dg.ExecuteInProcessResult:
    return dg.materialize([build_metric_models(directory)], resources={"database": DatabaseResource(url=url)},
                          raise_on_error=False)


def rows(url: str, query: str) -> list[dict]:
    """Rows with days as ISO text and times as aware datetimes, the same from SQLite and Postgres."""
    def plain(key, value):
        if key == "day" and value is not None:
            return str(value)
        if key.endswith("_at") and value is not None:
            moment = datetime.fromisoformat(str(value))
            return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
        return value

    with get_engine(url).connect() as connection:
        return [{k: plain(k, v) for k, v in row.items()} for row in connection.execute(sa.text(query)).mappings()]


def test_the_marts_hold_exact_figures_and_every_yaml_test_passes(database_url):
    insert_known_data(database_url)
    built_on = datetime.now(timezone.utc).date()
    result = build(database_url)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == sum(len(m.tests) for m in load_project().models.values()) > 20
    assert all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]

    daily = rows(database_url, "SELECT * FROM sync_metrics_daily ORDER BY channel, day")
    assert [(r["channel"], r["day"]) for r in daily] == [("shop-a", "2026-11-10"), ("shop-a", "2026-11-11"),
                                                         ("tkl-c", "2026-11-10")], "the 3PL's own calls make no row"
    shop_d1, shop_d2, tkl_d1 = daily
    assert {k: shop_d1[k] for k in ("orders_placed", "orders_landed", "orders_normalized", "orders_filtered",
                                    "orders_valid", "orders_accepted", "orders_shipped", "orders_with_tracking",
                                    "listings_out_of_sync", "api_calls", "http_429")} == {
        "orders_placed": 9, "orders_landed": 8, "orders_normalized": 7, "orders_filtered": 1, "orders_valid": 5,
        "orders_accepted": 3, "orders_shipped": 2, "orders_with_tracking": 1, "listings_out_of_sync": 1,
        "api_calls": 3, "http_429": 1}
    assert shop_d1["sync_success_rate"] == pytest.approx(0.6)
    assert shop_d1["avg_placement_to_accepted_s"] == pytest.approx(1400 / 3, abs=0.01)
    assert shop_d1["p50_placement_to_accepted_s"] == pytest.approx(300, abs=0.01)
    assert shop_d1["p95_placement_to_accepted_s"] == pytest.approx(1000, abs=0.01)
    assert shop_d1["tracking_update_rate"] == pytest.approx(0.5)
    assert shop_d1["p95_shipment_to_tracking_s"] == pytest.approx(60, abs=0.01)
    assert (shop_d2["orders_placed"], shop_d2["orders_landed"], shop_d2["orders_valid"], shop_d2["orders_accepted"],
            shop_d2["sync_success_rate"], shop_d2["p95_placement_to_accepted_s"], shop_d2["tracking_update_rate"],
            shop_d2["listings_out_of_sync"], shop_d2["api_calls"], shop_d2["http_429"]) == (
        None, 1, 1, 0, 0.0, None, None, 1, 2, 0)
    assert (tkl_d1["orders_accepted"], tkl_d1["sync_success_rate"], tkl_d1["orders_shipped"],
            tkl_d1["tracking_update_rate"], tkl_d1["http_429"]) == (1, 1.0, 0, None, 1), "NOT_APPLICABLE ships no tracking"
    # C2, MANUAL yet accepted, is not valid: counted as accepted, it would make the rate 2 / 1 and the mean 3605 s.
    assert (tkl_d1["orders_landed"], tkl_d1["orders_valid"]) == (2, 1)
    assert tkl_d1["avg_placement_to_accepted_s"] == tkl_d1["p50_placement_to_accepted_s"] == pytest.approx(10, abs=0.01)
    assert all(r["sync_success_rate"] is None or r["sync_success_rate"] <= 1 for r in daily)

    query = ("SELECT channel, day, stage, error_code, opened, resolved, open_at_end_of_day, is_new_code "
             "FROM sync_errors_daily ORDER BY day, stage, error_code")
    errors = rows(database_url, query)
    assert [tuple(r.values()) for r in errors if r["day"] <= D3.isoformat()] == [
        ("shop-a", "2026-11-10", "fulfilment", "SKU_NOT_FOUND", 1, 0, 1, 1),  # one order, two lines
        ("shop-a", "2026-11-10", "normalize", "ADDRESS_INVALID", 1, 0, 1, 1),
        ("shop-a", "2026-11-10", "tracking", "PERMISSION_DENIED", 1, 0, 1, 1),
        ("shop-a", "2026-11-11", "fulfilment", "SKU_NOT_FOUND", 0, 0, 1, 0),
        ("shop-a", "2026-11-11", "normalize", "ADDRESS_INVALID", 1, 1, 1, 0),
        ("shop-a", "2026-11-11", "tracking", "PERMISSION_DENIED", 0, 0, 1, 0),
        ("shop-a", "2026-11-12", "fulfilment", "SKU_NOT_FOUND", 0, 0, 1, 0),  # a quiet day: nothing opened or resolved
        ("shop-a", "2026-11-12", "normalize", "ADDRESS_INVALID", 0, 0, 1, 0),
        ("shop-a", "2026-11-12", "tracking", "PERMISSION_DENIED", 0, 0, 1, 0),
    ], "FILTERED is a skip with its reason, not an error"
    # Every day through today (UTC, when the models were built) has its row while an order's problem is open.
    last_day = {(r["stage"], r["error_code"]): r["day"] for r in errors}
    assert set(last_day.values()) <= {str(built_on), str(datetime.now(timezone.utc).date())}
    assert len(errors) == 3 * (date.fromisoformat(max(last_day.values())) - D1).days + 3

    last = rows(database_url, "SELECT * FROM channel_last_sync ORDER BY channel, flow")
    assert [(r["channel"], r["flow"], r["last_success_at"], r["last_attempt_at"], r["last_outcome"],
             r["last_error_code"], r["attempts"], r["failed_attempts"]) for r in last] == [
        ("shop-a", "orders", at(D1, "10:30:00"), at(D2, "02:00:00"), "FAILED", "AUTH_FAILED", 2, 1),
        ("shop-a", "tracking", at(D1, "17:05:00"), at(D1, "17:05:00"), "SUCCESS", None, 1, 0),
        ("tkl-c", "orders", at(D1, "09:30:05"), at(D1, "09:30:05"), "SUCCESS", None, 1, 0),
    ]
    # A rebuild replaces each table with what its SELECT returns now: no row twice.
    assert build(database_url).success
    assert len(rows(database_url, "SELECT * FROM sync_metrics_daily")) == 3


def test_each_model_is_an_asset_with_its_refs_and_sources_as_dependencies_and_its_tests_as_checks():
    models = build_metric_models(MODELS_DIR)
    project = load_project()
    assert {key.to_user_string() for key in models.keys} == set(project.models)
    deps = {key.to_user_string(): {d.to_user_string() for d in parents} for key, parents in models.asset_deps.items()}
    assert deps["sync_metrics_daily"] >= {"stg_orders", "stg_packages", "stg_api_calls", "stg_listings",
                                          "stg_sync_attempts", "order_completeness"}
    assert deps["stg_orders"] == {"raw_orders", "normalized_orders", "fulfilment_orders", "tracking_updates"}
    assert deps["stg_api_calls"] == set(), "api_calls is written by every flow: no one asset to point at"
    spec = next(s for s in models.specs if s.key.to_user_string() == "sync_metrics_daily")
    assert spec.group_name == "metrics" and spec.owners and spec.description
    schema = spec.metadata["dagster/column_schema"]
    assert {c.name for c in schema.columns} >= {"sync_success_rate", "p95_placement_to_accepted_s", "http_429"}
    checks = {key.name for key in models.check_keys}
    assert {"unique_combination_of_columns_sync_metrics_daily_channel__day", "not_null_stg_orders_order_id",
            "accepted_values_channel_last_sync_flow"} <= checks


def copy_of_models(tmp_path):
    directory = tmp_path / "dbt_like_sql"
    shutil.copytree(MODELS_DIR, directory)
    return directory


def test_a_failing_yaml_test_is_a_failed_asset_check_with_the_rows_that_break_it(tmp_path, sqlite_url):
    directory = copy_of_models(tmp_path)
    schema = directory / "marts" / "schema.yml"
    # orders_placed is null where the channel's count is missing: a not_null test on it must fail, and say so.
    schema.write_text(schema.read_text().replace(
        "      - name: orders_placed\n", "      - name: orders_placed\n        data_tests: [not_null]\n"))
    insert_known_data(sqlite_url)
    result = build(sqlite_url, directory)
    assert result.success, "a failed test fails its check, not the build"
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [c.check_name for c in failed] == ["not_null_sync_metrics_daily_orders_placed"]
    assert failed[0].severity == dg.AssetCheckSeverity.ERROR
    assert failed[0].metadata["failing_rows"].value == 2  # shop-a's day 2 and tkl-c's day 1 were never counted


def test_a_package_of_no_landed_order_fails_the_relationships_check_and_an_unknown_reference_is_left_out(database_url):
    """stg_packages.order_id -> stg_orders.order_id, where the package is not UNKNOWN_ORDER (its order id is then the
    warehouse's reference, as P5's is in the known data)."""
    insert_known_data(database_url)
    shipped = at(D1, "19:00:00")
    with get_engine(database_url).begin() as connection:
        connection.execute(tracking_updates.insert(), {
            "package_id": "P6", "shipment_id": "P6", "order_id": "shop-a:A99", "channel": "shop-a",
            "external_order_id": "A99", "partition_date": D1, "warehouse_order_id": "W2", "tracking_number": "1ZP6",
            "shipped_at": shipped, "lines": "[]", "status": "PUSHED", "pushed_at": shipped, "updated_at": shipped,
            "run_id": "r"})
    result = build(database_url)
    assert result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [c.check_name for c in failed] == ["relationships_stg_packages_order_id"]
    assert failed[0].severity == dg.AssetCheckSeverity.ERROR
    assert failed[0].metadata["failing_rows"].value == 1
    assert failed[0].metadata["sample"].value == [{"order_id": "shop-a:A99"}]


def test_the_model_a_relationships_test_compares_with_is_built_first_so_its_check_reads_it(tmp_path, sqlite_url):
    directory = copy_of_models(tmp_path)
    schema = directory / "staging" / "schema.yml"
    # stg_api_calls comes first among the staging models: on a fresh database stg_sync_attempts would not exist yet.
    schema.write_text(schema.read_text().replace(
        "      - name: channel\n        data_tests: [not_null]\n      - name: call_day\n",
        "      - name: channel\n        data_tests: [{relationships: {to: ref('stg_sync_attempts'), field: channel}}]\n"
        "      - name: call_day\n"))
    insert_known_data(sqlite_url)
    result = build(sqlite_url, directory)
    assert result.success
    checks = result.get_asset_check_evaluations()
    (check,) = [c for c in checks if c.check_name == "relationships_stg_api_calls_channel"]
    assert check.metadata["sample"].value == [{"channel": "efs"}], "the 3PL's calls: no sync attempt of a channel"


def test_dbt_1_10_tests_with_arguments_nested_and_config_severity_warn_fail_as_warnings(tmp_path, sqlite_url):
    directory = copy_of_models(tmp_path)
    schema = directory / "marts" / "schema.yml"
    text = schema.read_text()
    # dbt >= 1.10's form: the arguments under `arguments:`, beside `config:`; the earlier form takes `config:` too.
    nested = ("          - accepted_values:\n              arguments: {values: [orders, inventory]}\n"
              "              config: {severity: warn}\n")
    text = text.replace("          - accepted_values: {values: [orders, tracking, inventory]}\n", nested)
    text = text.replace("      - name: orders_placed\n",
                        "      - name: orders_placed\n        data_tests: [{not_null: {config: {severity: warn}}}]\n")
    schema.write_text(text)
    insert_known_data(sqlite_url)
    result = build(sqlite_url, directory)
    assert result.success
    failed = sorted((c.check_name, c.severity, c.metadata["failing_rows"].value)
                    for c in result.get_asset_check_evaluations() if not c.passed)
    assert failed == [("accepted_values_channel_last_sync_flow", dg.AssetCheckSeverity.WARN, 1),  # shop-a's tracking
                      ("not_null_sync_metrics_daily_orders_placed", dg.AssetCheckSeverity.WARN, 2)]


def test_the_metrics_schedule_rebuilds_every_model_every_15_minutes_and_is_on_by_default():
    definitions = defs()
    schedule = definitions.resolve_schedule_def("sync_metrics_every_15_minutes")
    assert (schedule.job_name, schedule.cron_schedule, schedule.execution_timezone, schedule.default_status) == (
        "sync_metrics", "*/15 * * * *", "UTC", dg.DefaultScheduleStatus.RUNNING)
    selected = definitions.resolve_job_def("sync_metrics").asset_layer.selected_asset_keys
    assert {key.to_user_string() for key in selected} == set(load_project().models)


def test_a_model_the_database_refuses_keeps_its_old_table_and_holds_back_the_models_built_on_it(tmp_path, sqlite_url):
    directory = copy_of_models(tmp_path)
    insert_known_data(sqlite_url)
    assert build(sqlite_url, directory).success
    model = directory / "staging" / "stg_packages.sql"
    model.write_text(model.read_text().replace("shipped_at,", "shipped_at, no_such_column,", 1))
    result = build(sqlite_url, directory)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert "stg_packages.sql: the database refused the model" in failure and "no_such_column" in failure
    assert "sync_metrics_daily: not built: it reads stg_packages, which failed" in failure
    built = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("sql_models")}
    assert "stg_orders" in built and "channel_last_sync" in built
    assert not built & {"stg_packages", "sync_metrics_daily"}
    assert len(rows(sqlite_url, "SELECT * FROM stg_packages")) == 5, "the last good build stays"


def test_every_mistake_in_the_models_folder_is_named_with_its_file_and_fix_and_the_syncs_still_load(tmp_path):
    directory = copy_of_models(tmp_path)
    (directory / "marts" / "typo.sql").write_text("SELECT * FROM {{ ref('stg_order') }}")
    (directory / "marts" / "undeclared.sql").write_text("SELECT * FROM {{ source('sync', 'secrets') }}")
    (directory / "staging" / "broken.sql").write_text("SELECT 1 FROM {{ ref('stg_orders' }}")
    (directory / "staging" / "loop_a.sql").write_text("SELECT * FROM {{ ref('loop_b') }}")
    (directory / "staging" / "loop_b.sql").write_text("SELECT * FROM {{ ref('loop_a') }}")
    (directory / "marts" / "more.yml").write_text(
        "version: 2\nmodels:\n  - name: ghost\n  - name: typo\n    columns:\n      - name: x\n"
        "        data_tests: [uniq]\n      - name: y\n"
        "        data_tests: [{not_null: {config: {severity: fatal}}}, {unique: {config: {limit: 5}}}]\n")
    with pytest.raises(ModelError) as raised:
        load_project(directory)
    problems = "\n".join(raised.value.problems)
    assert "typo.sql: ref('stg_order') names no model: known models are" in problems
    assert "undeclared.sql: source('sync', 'secrets') is not declared: add the table" in problems
    assert "broken.sql:1:" in problems
    assert "more.yml: model 'ghost' has no .sql file" in problems
    assert "more.yml: model typo, column x: test 'uniq' is not one of not_null, unique" in problems
    assert "more.yml: model typo, column y: not_null severity 'fatal' is not one of error, warn" in problems
    assert "more.yml: model typo, column y: unique config limit is not supported: only severity, where" in problems

    (directory / "marts" / "typo.sql").unlink()
    (directory / "marts" / "undeclared.sql").unlink()
    (directory / "staging" / "broken.sql").unlink()
    (directory / "marts" / "more.yml").unlink()
    with pytest.raises(ModelError, match=r"refer to each other in a circle \(loop_\w -> loop_\w -> loop_\w\)"):
        load_project(directory)
    # The code location still loads, every sync with it; the metrics' one asset fails with the problems.
    stand_in = build_metric_models(directory)
    assert [k.to_user_string() for k in stand_in.keys] == ["sql_models"]
    result = dg.materialize([stand_in], raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.user_failure_data
    assert "circle" in failure.description and str(directory) in failure.description


def test_the_one_postgres_source_becomes_sql_sqlite_runs_with_the_same_seconds():
    sql = transpile("SELECT EXTRACT(EPOCH FROM b) - EXTRACT(EPOCH FROM a) AS s FROM t", "sqlite")
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        connection.execute(sa.text("CREATE TABLE t (a TEXT, b TEXT)"))
        connection.execute(sa.text("INSERT INTO t VALUES ('2026-11-10 23:59:59.500000', '2026-11-11 00:01:40.250000')"))
        assert connection.execute(sa.text(sql)).scalar_one() == pytest.approx(100.75, abs=0.002)
    with pytest.raises(Exception, match="EXTRACT\\(YEAR FROM ...\\) has no SQLite form"):
        transpile("SELECT EXTRACT(YEAR FROM a) FROM t", "sqlite")
    # Days added as Postgres adds them, to a date or a timestamp, under the cast that makes both a date.
    sql = transpile("SELECT CAST(a + INTERVAL '1 day' AS DATE), CAST(b + INTERVAL '1 hour' AS DATE) FROM u", "sqlite")
    with engine.connect() as connection:
        connection.execute(sa.text("CREATE TABLE u (a TEXT, b TEXT)"))
        connection.execute(sa.text("INSERT INTO u VALUES ('2026-11-30', '2026-11-10 23:30:00.000000')"))
        assert tuple(connection.execute(sa.text(sql)).one()) == ("2026-12-01", "2026-11-11")
    for construct in ("a + INTERVAL '1 day'", "CAST(a + INTERVAL '1 month' AS DATE)"):  # a timestamp; Jan 31 + 1 month
        with pytest.raises(Exception, match="has no SQLite form here: write CAST"):
            transpile(f"SELECT {construct} FROM t", "sqlite")
    with pytest.raises(Exception, match="AT TIME ZONE 'Europe/Berlin' has no SQLite form here: only 'UTC'"):
        transpile("SELECT CURRENT_TIMESTAMP AT TIME ZONE 'Europe/Berlin'", "sqlite")
