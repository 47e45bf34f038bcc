"""No credential value ever reaches logs, metadata, tables or error messages."""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.tables import metadata
from sync_pipeline_tests.conftest import TODAY, scenario

CHANNELS = [("shop", "shopify", 6), ("woo", "woocommerce", 6), ("amzn", "amazon", 6), ("tkl", "takealot", 6)]


def test_no_secret_anywhere(harness_factory, caplog):
    caplog.set_level(logging.DEBUG)
    harness = harness_factory(
        scenario(CHANNELS, faults={"server_error_5xx": 0.2, "rate_limit_429": 0.2, "expired_credentials": ["woo"]}),
        max_attempts=8,
    )
    secrets = [v for creds in harness.simulator.credentials.values() for v in creds.values()]
    assert all(len(s) >= 8 for s in secrets)
    day = TODAY - timedelta(days=1)
    texts = []
    for name, _, _ in CHANNELS:
        result = harness.materialize(name, day, raise_on_error=False)
        for record in harness.instance.all_logs(result.run_id):
            texts.append(record.message or "")
            if record.dagster_event is not None:
                texts.append(repr(record.dagster_event))
    texts.append(caplog.text)
    with get_engine(harness.database_url).connect() as connection:
        for table in metadata.sorted_tables:
            texts.extend(repr(tuple(row)) for row in connection.execute(sa.select(table)))
    everything = "\n".join(texts)
    assert "refused the credentials" in everything  # the failure itself was reported
    for secret in secrets:
        assert secret not in everything
