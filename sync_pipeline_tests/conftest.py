"""Shared fixtures: a simulator per test, the warehouse on SQLite and on a real PostgreSQL, and a
harness that materializes `raw_orders` the way Dagster does."""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import PipelineConfig
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.db.tables import api_calls, raw_orders
from sync_pipeline.definitions import build_definitions
from sync_pipeline.demo import scenario_channels_file
from sync_pipeline.inventory.schedules import CHANGES_ONLY
from sync_pipeline.orders.order_flow import order_flow_config
from sync_pipeline.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_key
from sync_pipeline.simulator import Scenario, Simulator

FIXTURES = Path(__file__).parent / "fixtures"
POSTGRES_URL = os.environ.get("SYNC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The last whole day: scenarios end here, so every scenario day is complete whatever the hour the suite runs at
# (the simulator serves orders placed up to the wall clock, and today has none at 00:05).
TODAY = datetime.now(timezone.utc).date() - timedelta(days=1)


def postgres_or_skip() -> str:
    """The test server's URL; skips with the reason off CI, fails under CI (Postgres tests must run there)."""
    try:
        with sa.create_engine(POSTGRES_URL).connect() as connection:
            connection.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL} ({exc.orig}); set SYNC_TEST_POSTGRES_URL"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return POSTGRES_URL


def pytest_collection_modifyitems(items):
    """Slow tests first: pytest-xdist hands tests out in order, and one started last keeps a worker busy alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def files_under_tmp(tmp_path, monkeypatch):
    """Export files a simulated channel drops, feed files the pipeline writes and the default database stay in the test's
    own folder, never in the project's data/ or var/ (a later run would import or reuse them)."""
    monkeypatch.setenv("SYNC_IMPORTS_DIR", str(tmp_path / "imports"))
    monkeypatch.setenv("SYNC_FEEDS_DIR", str(tmp_path / "feeds"))
    # The shared rate budget (channels/http.py) lives in this database: the test's own, never the project's var/.
    monkeypatch.setenv("SYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'sync.db'}")


@pytest.fixture
def postgres_schema_url():
    """A fresh schema on the real server, dropped afterwards."""
    url = postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'create schema "{schema}"'))
    schema_url = sa.engine.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = schema_url.render_as_string(hide_password=False)
    yield rendered
    get_engine(rendered).dispose()
    with admin.begin() as connection:
        connection.execute(sa.text(f'drop schema "{schema}" cascade'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sync.db'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture(params=["reject", "accept"])
def duplicate_references(request):
    """Exactly-once tests run against a warehouse that refuses a repeated client reference and one that stores it
    again, so a second POST shows up as a second warehouse order."""
    return request.param


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'sync.db'}"


def scenario(channels, *, days=2, start=None, seed=7, faults=None, anomalies=None, speed=200.0, rate_limits=None,
             warehouse=None, extra_listings=0, webhooks=None, channel_options=None):
    """A small scenario ending on TODAY unless `start` is given; `channel_options`: options by channel name."""
    start = start or TODAY - timedelta(days=days - 1)
    document = {
        "seed": seed,
        "start_date": start.isoformat(),
        "days": days,
        "speed": speed,
        "channels": [{"name": n, "type": t, "orders_per_day": k, **({"extra_listings": extra_listings} if extra_listings else {}),
                      **({"options": channel_options[n]} if n in (channel_options or {}) else {})}
                     for n, t, k in channels],
        "faults": faults or {},
        "anomalies": anomalies or {},
    }
    if rate_limits:
        document["rate_limits"] = rate_limits
    if warehouse:
        document["warehouse"] = warehouse
    if webhooks:
        document["webhooks"] = webhooks
    return Scenario.from_dict(document)


@dataclass
class Harness:
    """A running simulator, channel settings pointing at it, and a warehouse."""

    simulator: Simulator
    config: PipelineConfig
    config_path: Path
    database_url: str
    channels: ChannelsResource
    instance: dg.DagsterInstance

    def definitions(self) -> dg.Definitions:
        return build_definitions(self.config, self.channels, DatabaseResource(url=self.database_url))

    def materialize(self, channel: str, first: date, last: date | None = None, *, full_resync=False, raise_on_error=True):
        """One run over [first, last] for one channel: a single partition, or a single-run backfill range."""
        job = self.definitions().resolve_job_def("order_sync")
        run_config = order_flow_config(full_resync)
        if last is None or last == first:
            return job.execute_in_process(
                instance=self.instance, partition_key=partition_key(channel, first),
                run_config=run_config, raise_on_error=raise_on_error,
            )
        tags = {RANGE_START_TAG: str(partition_key(channel, first)), RANGE_END_TAG: str(partition_key(channel, last))}
        return job.execute_in_process(instance=self.instance, tags=tags, run_config=run_config, raise_on_error=raise_on_error)

    def track(self, channel: str, first: date | None = None, last: date | None = None, *, raise_on_error=True):
        """One tracking_sync run over [first, last] (default: today, the day the simulated warehouse ships)."""
        first = first or datetime.now(timezone.utc).date()
        job = self.definitions().resolve_job_def("tracking_sync")
        if last is None or last == first:
            return job.execute_in_process(instance=self.instance, partition_key=partition_key(channel, first),
                                          raise_on_error=raise_on_error)
        tags = {RANGE_START_TAG: str(partition_key(channel, first)), RANGE_END_TAG: str(partition_key(channel, last))}
        return job.execute_in_process(instance=self.instance, tags=tags, raise_on_error=raise_on_error)

    def push_stock(self, channel: str, *, read_listings=True, raise_on_error=True):
        """One inventory_sync run for the channel (its partition): reading every listing, as the schedule does, or
        (read_listings=False) writing what moved from what is known, as the stock sensor's runs do."""
        job = self.definitions().resolve_job_def("inventory_sync")
        return job.execute_in_process(instance=self.instance, partition_key=channel, raise_on_error=raise_on_error,
                                      run_config={} if read_listings else CHANGES_ONLY)

    def materialize_concurrently(self, channel: str, day: date, runs: int = 3) -> list:
        """Several runs of one partition at once, as a schedule and a manual resync would overlap."""
        results, errors = [], []

        def run():
            try:
                job = self.definitions().resolve_job_def("order_sync")
                results.append(job.execute_in_process(instance=self.instance, partition_key=partition_key(channel, day)))
            except Exception as exc:  # a run that crashed is a failure of the test, not a missing result
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(runs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        assert len(results) == runs
        return results

    def connector(self, name: str):
        return self.channels.connector(self.config.channel(name))

    def raw_rows(self, channel: str | None = None) -> list:
        query = sa.select(raw_orders).order_by(raw_orders.c.id)
        if channel:
            query = query.where(raw_orders.c.channel == channel)
        with get_engine(self.database_url).connect() as connection:
            return list(connection.execute(query))

    def api_call_rows(self, channel: str | None = None) -> list:
        query = sa.select(api_calls).order_by(api_calls.c.id)
        if channel:
            query = query.where(api_calls.c.channel == channel)
        with get_engine(self.database_url).connect() as connection:
            return list(connection.execute(query))

    def expected(self, channel: str, first: date, last: date | None = None) -> dict[str, object]:
        """The simulator's own orders placed on those UTC days, by external id."""
        last = last or first
        return {
            o.external_order_id: o
            for o in self.simulator.orders(channel)
            if first <= o.placed_at.astimezone(timezone.utc).date() <= last
        }


@pytest.fixture
def harness_factory(tmp_path, monkeypatch, sqlite_url):
    started: list[Simulator] = []
    instances: list[dg.DagsterInstance] = []

    def make(
        the_scenario: Scenario, *, database_url: str | None = None, overrides_in: dict | None = None,
        max_attempts: int = 6, timeout_seconds: float | None = None, live: bool = False,
    ) -> Harness:
        simulator = Simulator(the_scenario, live=live).start()
        started.append(simulator)
        names = [c.name for c in the_scenario.channels] + [the_scenario.warehouse.name]
        overrides = {name: dict((overrides_in or {}).get(name, {})) for name in names}
        if timeout_seconds:
            for entry in overrides.values():
                entry["timeout_seconds"] = timeout_seconds
        config_path, config = scenario_channels_file(
            the_scenario, simulator.url, overrides, directory=tmp_path / f"config-{len(started)}"
        )
        for name, variables in config.credential_variables().items():
            for credential, env_var in variables.items():
                monkeypatch.setenv(env_var, simulator.credentials[name][credential])
        resource = ChannelsResource(
            config_path=str(config_path), simulator_url=simulator.url, max_attempts=max_attempts, backoff_base_s=0.01
        )
        home = tmp_path / f"dagster-{len(started)}"
        home.mkdir()
        instance = dg.DagsterInstance.local_temp(str(home))
        instances.append(instance)
        return Harness(simulator, config, config_path, database_url or sqlite_url, resource, instance)

    yield make
    for simulator in started:
        simulator.stop()
    for instance in instances:
        instance.dispose()
