"""`sync-pipeline`: the demo, the simulator, connection checks, configuration checks and benchmarks."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sync_pipeline.config import (
    PROJECT_ROOT,
    ConfigError,
    PipelineConfig,
    UnknownChannelError,
    configuration_problems,
    load_config,
)

# Exit codes: a script can tell a failed check from a mistake of the caller's and from a remote that said no.
OK, NOT_OK, USAGE, CONFIGURATION, NOT_FOUND, REFUSED, DATABASE = 0, 1, 2, 3, 4, 5, 6


def _scenario(args):
    from sync_pipeline.simulator import default_scenario, load_scenario

    return load_scenario(args.scenario) if args.scenario else default_scenario(days=args.days)


def cmd_demo(args) -> int:
    from sync_pipeline.db.engine import DEFAULT_DATABASE_PATH, database_url_variable
    from sync_pipeline.demo import format_summary, run_demo

    demo = run_demo(_scenario(args), full_resync=args.full_resync)
    succeeded = all(s.run_status == "SUCCESS" for s in demo.channels)
    if args.json:  # one JSON object on stdout, nothing else
        print(json.dumps(demo.as_json()))
        return 0 if succeeded else 1
    print(format_summary(demo.channels))
    variable = database_url_variable()
    print(f"\nsync database: {variable if variable else f'{DEFAULT_DATABASE_PATH.relative_to(PROJECT_ROOT)} (SQLite)'}")
    print(f"runs recorded in DAGSTER_HOME={os.environ['DAGSTER_HOME']}; see them with:")
    print(f"  DAGSTER_HOME={os.environ['DAGSTER_HOME']} .venv/bin/dagster dev")
    return 0 if succeeded else 1


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: created 0600 (whatever the umask), and a file left from before
    with wider bits is emptied and narrowed before the first byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        if os.fstat(fd).st_mode & 0o777 != 0o600:
            os.fchmod(fd, 0o600)
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def cmd_simulate(args) -> int:
    from sync_pipeline.simulator import Simulator
    from sync_pipeline.simulator.server import serve

    scenario = _scenario(args)
    config = load_config(simulator_url=None)
    variables = config.credential_variables()
    credentials = {}
    env_lines = []
    # Reuse credentials already in the environment; invent the rest and hand them over in a private file.
    generated = Simulator(scenario).credentials
    for name, values in generated.items():
        credentials[name] = {}
        for credential, value in values.items():
            env_name = variables.get(name, {}).get(credential)
            credentials[name][credential] = os.environ.get(env_name, value) if env_name else value
            if env_name:
                env_lines.append(f"export {env_name}='{credentials[name][credential]}'")
    env_file = PROJECT_ROOT / "var" / "simulator.env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    _write_private(env_file, "\n".join([*env_lines, f"export SYNC_SIMULATOR_URL=http://127.0.0.1:{args.port}", ""]))
    print(f"simulating {', '.join(c.name for c in scenario.channels)} on http://127.0.0.1:{args.port}")
    print(f"credentials and SYNC_SIMULATOR_URL for the pipeline: source {env_file.relative_to(Path.cwd()) if env_file.is_relative_to(Path.cwd()) else env_file}")
    serve(scenario, args.port, credentials=credentials)
    return 0


def _log_api_calls(log, run_id: str) -> None:
    """Write a command's API calls to api_calls, as a run's are; a database that cannot take them is reported
    on stderr, without hiding what the command found."""
    if not log.calls:
        return
    import sqlalchemy as sa

    from sync_pipeline.db.engine import database_url, get_engine
    from sync_pipeline.db.writes import log_api_calls

    try:
        log_api_calls(get_engine(database_url()), log, run_id)
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"WARNING: {len(log.calls)} API call(s) of run {run_id} not logged in api_calls: {reason}", file=sys.stderr)


def _warn_disabled(config: PipelineConfig, but: str | None = None) -> None:
    """Each channels.yaml entry left out for its error (but the one the command is about, whose error is the
    command's), on stderr: the command goes on for the others."""
    for entry in (e for e in config.disabled if e.name != but):
        print(f"WARNING: channel {entry.key} is disabled: {entry.error}", file=sys.stderr)


def cmd_validate(args) -> int:
    """Every problem of channels.yaml and the map files at once; exit 3 when there is one."""
    problems = configuration_problems()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s); fix them and run `sync-pipeline validate` again", file=sys.stderr)
        return CONFIGURATION
    config = load_config()
    print(f"ok: {len(config.channels)} channel(s), the warehouse section, the map files and status_map.yaml have no "
          "problem")
    return OK


def cmd_check_connection(args) -> int:
    import uuid

    from sync_pipeline.channels.http import ApiCallLog, ChannelError
    from sync_pipeline.channels.resource import ChannelsResource
    from sync_pipeline.warehouse.resource import WarehouseApiResource

    channels = ChannelsResource(simulator_url=os.environ.get("SYNC_SIMULATOR_URL"))
    # Logged under the channel's name, or the warehouse's, like a run's calls (whether the check passes or not).
    log, run_id = ApiCallLog(args.channel), f"check-connection-{uuid.uuid4()}"
    try:
        settings = channels.pipeline_config()
        _warn_disabled(settings, but=args.channel)
        # No channel may take the warehouse's name (config.py), so the name alone says which one is meant.
        if args.channel == (settings.warehouse.name if settings.warehouse is not None else "warehouse"):
            report = WarehouseApiResource().client(settings, log).check_connection()
        else:
            report = channels.connector(settings.channel(args.channel), log).check_connection()
    except ChannelError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return REFUSED
    finally:
        _log_api_calls(log, run_id)
    print(json.dumps({"status": "OK", **report, "run_id": run_id}, indent=2))
    return OK


def cmd_health(args) -> int:
    import orjson

    from sync_pipeline.db.engine import database_url, get_engine
    from sync_pipeline.operations.health import HEALTHY, check_health, print_health

    config = load_config()
    _warn_disabled(config)
    rows = check_health(get_engine(database_url()), config)
    if args.json:
        print(orjson.dumps(rows).decode())  # orjson writes datetimes as ISO 8601
    else:
        print_health(rows)
    return 0 if all(row["status"] in (HEALTHY, "DISABLED") for row in rows) else 1


def cmd_webhooks(args) -> int:
    import uvicorn

    from sync_pipeline.db.engine import database_url, get_engine
    from sync_pipeline.webhooks.receiver import build_app

    config = load_config()
    taking = [c.name for c in config.channels if c.webhooks]
    if not taking:
        print("no channel takes webhooks: set `webhooks: true` (and credentials.webhook_secret) on a shopify, "
              "woocommerce or bigcommerce channel in channels.yaml", file=sys.stderr)
        return CONFIGURATION
    print(f"taking order webhooks for {', '.join(taking)} at http://{args.host}:{args.port}/webhooks/<channel>",
          file=sys.stderr)
    uvicorn.run(build_app(config, get_engine(database_url())), host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_why(args) -> int:
    from sync_pipeline.db.engine import database_url, get_engine
    from sync_pipeline.orders.why import OrderNotFound, explain

    try:
        print(explain(get_engine(database_url()), load_config(), args.order, args.id))
    except OrderNotFound as exc:
        print(f"not found: {exc}", file=sys.stderr)
        return NOT_FOUND
    return OK


def cmd_reimport(args) -> int:
    import uuid

    from sync_pipeline.channels.http import ChannelError
    from sync_pipeline.db.engine import database_url, get_engine
    from sync_pipeline.orders.why import OrderNotFound, reimport

    try:
        report = reimport(get_engine(database_url()), load_config(), args.channel, args.external_id, f"reimport-{uuid.uuid4()}")
    except OrderNotFound as exc:
        print(f"not found: {exc}", file=sys.stderr)
        return NOT_FOUND
    except ChannelError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return REFUSED
    print(report)
    return OK


def cmd_bench(args) -> int:
    from sync_pipeline.bench import (
        run_ingest_benchmark,
        run_inventory_benchmark,
        run_submit_benchmark,
        run_tracking_benchmark,
        run_transform_benchmark,
    )
    from sync_pipeline.bench_latency import run_latency_benchmark

    run = {"ingest": run_ingest_benchmark, "transform": run_transform_benchmark, "submit": run_submit_benchmark,
           "tracking": run_tracking_benchmark,
           "inventory": lambda: run_inventory_benchmark(args.skus, platforms=args.platform or None),
           "latency": lambda: run_latency_benchmark(args.minutes, args.rate)}
    figures = run[args.which]()
    print(json.dumps(figures) if args.json else "\n".join(f"{k}: {v}" for k, v in figures.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sync-pipeline", description=__doc__, epilog=(
        "exit codes: 0 ok, 1 what was checked is not ok, 2 usage, 3 configuration, 4 not found, 5 a remote refused "
        "or failed, 6 the sync database cannot be used"))
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="simulate the channels and sync every day's orders to the simulated 3PL")
    demo.add_argument("--days", type=int, default=7, help="days of the built-in scenario, ending today (default 7)")
    demo.add_argument("--scenario", help="a scenario YAML file instead of the built-in one")
    demo.add_argument("--full-resync", action="store_true", help="ignore the partition cursors")
    demo.add_argument("--json", action="store_true", help="one JSON object: per channel and for the warehouse")
    demo.set_defaults(func=cmd_demo)

    simulate = commands.add_parser("simulate", help="serve the simulated channel APIs on loopback")
    simulate.add_argument("--scenario", help="a scenario YAML file (default: the built-in one)")
    simulate.add_argument("--days", type=int, default=7, help="days of the built-in scenario")
    simulate.add_argument("--port", type=int, default=8765)
    simulate.set_defaults(func=cmd_simulate)

    check = commands.add_parser("check-connection", help="reachability, auth, one page of orders, rate-limit headroom")
    check.add_argument("channel")
    check.set_defaults(func=cmd_check_connection)

    validate = commands.add_parser("validate", help="every problem of channels.yaml, the map files and "
                                                    "status_map.yaml at once, by file and line (exit 3 if any)")
    validate.set_defaults(func=cmd_validate)

    health = commands.add_parser("health", help="every channel's and flow's health, with what to do when not healthy")
    health.add_argument("--json", action="store_true", help="one JSON list of rows, for scripts")
    health.set_defaults(func=cmd_health)

    webhooks = commands.add_parser("webhooks", help="receive the channels' order webhooks (Shopify, WooCommerce, "
                                                    "BigCommerce) into the inbox the order_webhooks sensor reads")
    webhooks.add_argument("--host", default="127.0.0.1")
    webhooks.add_argument("--port", type=int, default=8787)
    webhooks.set_defaults(func=cmd_webhooks)

    why = commands.add_parser("why", help="where an order is, its errors with their fixes, and its raw payload")
    why.add_argument("order", help="an order id (channel:external id), or a channel followed by ID")
    why.add_argument("id", nargs="?", help="external order id or order number, when ORDER is a channel")
    why.set_defaults(func=cmd_why)

    again = commands.add_parser("reimport", help="fetch one order from its channel again and run it through")
    again.add_argument("channel")
    again.add_argument("external_id")
    again.set_defaults(func=cmd_reimport)

    bench = commands.add_parser("bench", help="benchmarks that print their figures")
    bench.add_argument("which", choices=["ingest", "transform", "submit", "tracking", "inventory", "latency"])
    bench.add_argument("--json", action="store_true", help="one JSON object")
    bench.add_argument("--skus", type=int, default=20_000, help="inventory: listings per platform (default 20,000)")
    bench.add_argument("--platform", action="append", help="inventory: only this platform (repeatable)")
    bench.add_argument("--minutes", type=float, default=4.0, help="latency: minutes of live orders (default 4)")
    bench.add_argument("--rate", type=float, default=4.0, help="latency: orders per minute per channel (default 4)")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    import dagster as dg

    # backfill_policy is "beta" in Dagster 1.13; operators need not see that on every command.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from sqlalchemy.exc import OperationalError

    from sync_pipeline.simulator import ScenarioError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UnknownChannelError as exc:
        return _said(f"not found: {exc}", NOT_FOUND, args.debug)
    except (ConfigError, ScenarioError) as exc:
        return _said(f"configuration error: {exc}", CONFIGURATION, args.debug)
    except OperationalError as exc:
        return _said(database_unreachable(exc), DATABASE, args.debug)


def _said(message: str, code: int, debug: bool) -> int:
    """A user error in one line on stderr and its exit code; `--debug` raises it with its traceback instead."""
    if debug:
        raise
    print(message, file=sys.stderr)
    return code


def database_unreachable(error: Exception) -> str:
    """One line: which variable names the database, where it is (never its password), and what to check."""
    from sqlalchemy.engine import make_url

    from sync_pipeline.db.engine import DATABASE_URL_VARIABLE, database_url, database_url_variable

    url = make_url(database_url())
    where = url.database if url.get_backend_name() == "sqlite" else f"{url.host}:{url.port or 5432}/{url.database}"
    reason = (str(getattr(error, "orig", None) or error).strip().splitlines() or ["no answer"])[0]
    named_by = database_url_variable() or f"{DATABASE_URL_VARIABLE} unset: the local SQLite file"
    return (f"database error: the sync database {where} ({named_by}) cannot be used: {reason}. Check that it runs and "
            f"answers there, and the URL in {DATABASE_URL_VARIABLE}; --debug shows the traceback")


if __name__ == "__main__":
    sys.exit(main())
