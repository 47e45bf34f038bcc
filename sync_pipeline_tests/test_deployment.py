"""Production deployment, checked where it can run here: the real dagster-daemon and a gRPC code server on the
deploy/ instance (Postgres storage, the queue's per-channel-and-flow limit)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
import requests
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sync_pipeline.operations.attempts import ORDERS, TRACKING
from sync_pipeline.partitions import CHANNEL_FLOW_TAG, CHANNEL_TAG, FLOW_TAG, run_requests

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent

# --- a code location for the queue test: each run holds its place for RUN_SECONDS -------------------------------
PROBE_CHANNELS = ["shop-a", "shop-b"]
RUN_SECONDS = 2.0
PROBE_PARTITIONS = dg.MultiPartitionsDefinition({
    "channel": dg.StaticPartitionsDefinition(PROBE_CHANNELS),
    "date": dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1),
})


@dg.asset(partitions_def=PROBE_PARTITIONS)
def queue_probe() -> None:
    time.sleep(RUN_SECONDS)


probe_job = dg.define_asset_job("queue_probe_job", selection=[queue_probe])


def _probe_sensor(name: str, requests):
    """Fires once (its cursor says so) with several runs per channel and flow, as overlapping ticks would."""
    @dg.sensor(name=name, job=probe_job, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
    def fire(context: dg.SensorEvaluationContext):
        if context.cursor:
            return dg.SkipReason("fired already")
        today = datetime.now(timezone.utc).date()
        return dg.SensorResult(run_requests=requests(today), cursor="fired")

    return fire


queue_probe_defs = dg.Definitions(
    assets=[queue_probe], jobs=[probe_job], executor=dg.in_process_executor,
    sensors=[
        _probe_sensor("probe_a", lambda today: [
            *run_requests("shop-a", [today], "a1"), *run_requests("shop-a", [today], "a2", flow=TRACKING),
        ]),
        _probe_sensor("probe_b", lambda today: [
            *run_requests("shop-a", [today], "b1"),
            *run_requests("shop-b", [today - timedelta(days=1), today], "b2"),  # a range run carries the tags too
        ]),
    ],
)
PROBE_RUNS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _in_progress(instance: dg.DagsterInstance, record) -> tuple[float, float]:
    """From the queue's launch of the run (RUN_STARTING: it left the queue) to its end: what the limits count."""
    starting = instance.get_records_for_run(record.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_STARTING)
    return starting.records[0].event_log_entry.timestamp, record.end_time


@pytest.mark.postgres
@pytest.mark.slow
def test_daemon_runs_one_sync_per_channel_and_flow(postgres_schema_url, tmp_path, monkeypatch):
    """The real daemon on deploy/postgres/dagster.yaml and deploy/workspace.yaml (the code location over gRPC): two
    sensors ask at once for four runs, two of them shop-a's orders; the instance's run records show no two runs of one
    channel and flow ever running together, while other channels' and flows' runs did run beside them."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "postgres" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_schema_url)
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "SYNC_CODE_HOST": "127.0.0.1", "SYNC_CODE_PORT": str(port)}
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("code", "daemon")}
    code = subprocess.Popen(
        [str(BIN / "dagster"), "api", "grpc", "--module-name", __name__, "--attribute", "queue_probe_defs",
         "--host", "127.0.0.1", "--port", str(port), "--working-directory", str(ROOT)],
        env=env, cwd=ROOT, stdout=logs["code"], stderr=subprocess.STDOUT, start_new_session=True)
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(DEPLOY / "workspace.yaml")], env=env,
                              cwd=ROOT, stdout=logs["daemon"], stderr=subprocess.STDOUT, start_new_session=True)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            records = instance.get_run_records()
            if len(records) == PROBE_RUNS and all(r.dagster_run.is_finished for r in records):
                break
            time.sleep(1)
        records = instance.get_run_records()
        assert len(records) == PROBE_RUNS and all(r.dagster_run.is_finished for r in records), (
            f"{len(records)} runs, statuses {[r.dagster_run.status.value for r in records]}; see {tmp_path}/daemon.log")
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
        spans = {r.dagster_run.run_id: _in_progress(instance, r) for r in records}
    finally:
        _stop(daemon)
        _stop(code)
        for log in logs.values():
            log.close()
        instance.dispose()
    by_lane = defaultdict(list)
    for record in records:
        tags = record.dagster_run.tags
        assert tags[CHANNEL_FLOW_TAG] == f"{tags[CHANNEL_TAG]}.{tags[FLOW_TAG]}"
        by_lane[tags[CHANNEL_FLOW_TAG]].append(spans[record.dagster_run.run_id])
    assert {lane: len(runs) for lane, runs in by_lane.items()} == {
        f"shop-a.{ORDERS}": 2, f"shop-a.{TRACKING}": 1, f"shop-b.{ORDERS}": 1}
    for lane, lane_spans in by_lane.items():
        lane_spans.sort()
        for (_, ended), (launched, _) in zip(lane_spans, lane_spans[1:]):
            assert launched >= ended, f"a {lane} run left the queue while another {lane} run was in progress"
    # The limit is per channel and flow, not one run at a time: runs of other lanes were in progress together.
    assert any(a[0] < b[1] and b[0] < a[1] for lane, mine in by_lane.items() for a in mine
               for other, theirs in by_lane.items() if other != lane for b in theirs)


def test_demo_instance_has_the_production_run_limits(tmp_path, monkeypatch):
    """The embedded instance the demo writes (and `dagster dev` then uses) limits runs as production does; an earlier
    demo's telemetry-only dagster.yaml gets the limits, a dagster.yaml of the user's own is left alone."""
    from sync_pipeline.demo import EARLIER_DEFAULT, dagster_instance

    production = yaml.safe_load((DEPLOY / "postgres" / "dagster.yaml").read_text())["concurrency"]["runs"]
    for home, before in ((tmp_path / "new", None), (tmp_path / "earlier", EARLIER_DEFAULT)):
        home.mkdir()
        if before:
            (home / "dagster.yaml").write_text(before)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        with dagster_instance() as instance:
            queue = instance.get_concurrency_config().run_queue_config
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            assert queue.tag_concurrency_limits == production["tag_concurrency_limits"]
            assert queue.max_concurrent_runs == production["max_concurrent_runs"]
    own = tmp_path / "own"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    monkeypatch.setenv("DAGSTER_HOME", str(own))
    dagster_instance().dispose()
    assert (own / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"


# --- the containers: what can be checked without a Docker daemon -------------------------------------------------
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)")


def _pins() -> dict[str, tuple[str, int]]:
    """requirements.lock's pins: canonical name -> (version, how many hashes)."""
    pins: dict[str, tuple[str, int]] = {}
    name = None
    for line in LOCK.read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match[1])
            pins[name] = (match[2], 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            pins[name] = (pins[name][0], pins[name][1] + 1)
    return pins


def test_the_lock_pins_every_dependency_as_this_venv_runs_it():
    """The image and the README's commands install requirements.lock (--no-deps, with its hashes): it must pin every
    dependency pyproject.toml names, within its range, with hashes, at the version this venv (and so every test) runs."""
    regenerate = LOCK.read_text().splitlines()[1].strip("# ")  # uv's header: the command that wrote it
    assert regenerate.startswith("uv pip compile pyproject.toml")
    pins = _pins()
    for dependency in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        wanted = Requirement(dependency)
        name = canonicalize_name(wanted.name)
        assert name in pins, f"requirements.lock lacks {wanted.name}: run `.venv/bin/{regenerate}`"
        assert wanted.specifier.contains(pins[name][0], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name][0]}, outside pyproject.toml's {wanted}: run "
            f"`.venv/bin/{regenerate}`")
    for name, (version, hashes) in pins.items():
        assert hashes, f"requirements.lock has no hash for {name}"
        assert importlib.metadata.version(name) == version, (
            f"requirements.lock pins {name}=={version}, this venv runs {importlib.metadata.version(name)}: run "
            f"`.venv/bin/{regenerate}` and reinstall")


def _graphql(url: str, query: str) -> dict:
    return requests.post(f"{url}/graphql", json={"query": query}, timeout=30).json()["data"]


LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on RepositoryLocation { repositories { jobs { name } } }
                        ... on PythonError { message } } } } } }"""


@pytest.mark.postgres
@pytest.mark.slow
def test_the_images_entry_points_start_from_the_venv(postgres_schema_url, tmp_path, monkeypatch):
    """The three commands compose.yaml gives the image (the Dockerfile's default is the code server's), run from this
    venv on deploy/: the code server answers Dagster's gRPC health check, the webserver loads the real code location
    through deploy/workspace.yaml, and the daemon's heartbeats reach the Postgres instance. Every channel points at a
    closed loopback port, so a sensor that ticks meanwhile calls nothing outside this machine."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    dockerfile_cmd = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    assert json.loads(dockerfile_cmd[4:]) == compose["code"]["command"]
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "postgres" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_schema_url)
    code_port, web_port = _free_port(), _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "SYNC_CODE_HOST": "127.0.0.1", "SYNC_CODE_PORT": str(code_port),
           "SYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'sync.db'}", "SYNC_SIMULATOR_URL": f"http://127.0.0.1:{_free_port()}"}

    def command(service: str) -> list[str]:
        """The service's command, its executable from this venv, listening on loopback at the test's ports."""
        words = [str(BIN / compose[service]["command"][0]), *compose[service]["command"][1:]]
        words = ["127.0.0.1" if w == "0.0.0.0" else w for w in words]
        return [{"4000": str(code_port), "3000": str(web_port)}.get(w, w) for w in words]

    processes = {}
    for service in ("code", "webserver", "daemon"):
        with open(tmp_path / f"{service}.log", "w") as log:
            processes[service] = subprocess.Popen(command(service), env=env, cwd=ROOT, stdout=log,
                                                  stderr=subprocess.STDOUT, start_new_session=True)
    instance = dg.DagsterInstance.from_config(str(home))
    url = f"http://127.0.0.1:{web_port}"
    serving = loaded = heartbeat = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (serving and loaded and heartbeat):
            for name, process in processes.items():
                assert process.poll() is None, f"the {name} service exited: see {tmp_path}/{name}.log"
            serving = serving or subprocess.run(
                [str(BIN / "dagster"), "api", "grpc-health-check", "--port", str(code_port)],
                capture_output=True, text=True).returncode == 0
            try:
                entries = _graphql(url, LOCATIONS)["workspaceOrError"]["locationEntries"]
                loaded = loaded or next((e for e in entries if e["loadStatus"] == "LOADED"
                                         and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"), None)
            except requests.ConnectionError:
                pass
            heartbeat = heartbeat or instance.get_daemon_heartbeats().get("SENSOR")
            time.sleep(1)
    finally:
        for process in processes.values():
            _stop(process)
        instance.dispose()
    assert serving, f"the code server never answered the gRPC health check: see {tmp_path}/code.log"
    assert loaded, f"the webserver did not load the code location: see {tmp_path}/webserver.log"
    assert loaded["name"] == "sync_pipeline"
    jobs = {job["name"] for repo in loaded["locationOrLoadError"]["repositories"] for job in repo["jobs"]}
    assert {"order_sync", "tracking_sync", "inventory_sync"} <= jobs
    assert heartbeat, f"the daemon sent no heartbeat to the instance: see {tmp_path}/daemon.log"
