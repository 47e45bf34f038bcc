"""order_poll: a channel without webhooks that sets poll_seconds is read "updated since" its cursors on each due
poll; a run is asked for only when an order version has not landed yet (the simulator's request log counts the
calls)."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import orjson

from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline_tests.conftest import scenario


def test_a_quiet_channel_costs_one_read_per_poll_and_a_new_order_one_run_of_its_day(harness_factory, sqlite_url):
    today = datetime.now(timezone.utc).date()  # live: orders placed now land in the wall clock's day
    harness = harness_factory(scenario([("amz", "amazon", 4)], days=2, start=today - timedelta(days=1)),
                              database_url=sqlite_url, live=True,
                              overrides_in={"amz": {"poll_seconds": 30}})
    sim = harness.simulator
    assert harness.materialize("amz", today - timedelta(days=1), today).success  # the cursors the poll reads from
    sensor = harness.definitions().resolve_sensor_def("order_poll")
    resources = {"database": DatabaseResource(url=harness.database_url), "channels": harness.channels}

    def tick(cursor=None):
        return sensor(dg.build_sensor_context(instance=harness.instance, cursor=cursor, resources=resources))

    sim.clear_requests()
    quiet = tick()
    reads = [r for r in sim.requests if r["channel"] == "amz" and r["method"] == "GET"]  # (and the LWA token's POST)
    assert isinstance(quiet, dg.SkipReason) and len(reads) == 1 and reads[0]["path"].endswith("/orders/v0/orders")
    # Amazon lists only orders at least 2 minutes old (CreatedBefore <= now - 2 min), as its API does.
    record = sim.place_order("amz", now=datetime.now(timezone.utc) - timedelta(minutes=3))
    context = dg.build_sensor_context(instance=harness.instance, resources=resources)
    (request,) = sensor(context)
    assert request.partition_key.keys_by_dimension == {"channel": "amz", "date": str(today)}
    not_due = tick(context.cursor)
    assert isinstance(not_due, dg.SkipReason), "polled 30 s ago: not again yet"
    assert set(orjson.loads(context.cursor)) == {"amz"}
    job = harness.definitions().resolve_job_def("order_sync")
    assert job.execute_in_process(instance=harness.instance, partition_key=request.partition_key,
                                  tags=request.tags).success
    assert f"amz:{record.external_order_id}" in {o["client_reference"] for o in sim.warehouse.orders()}
    assert isinstance(tick(), dg.SkipReason), "landed: nothing new to ask for"
