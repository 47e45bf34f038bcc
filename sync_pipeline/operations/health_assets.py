"""`channel_health`: every channel's and flow's health as an asset, on a schedule, with one check per channel
that fails when a flow of it is stale, refused or failing (S06, S01), so the UI shows it and an alert can key on it;
and `configuration_valid`, failing while channels.yaml or a map file holds a problem (a bad channel entry, which
disables that channel, or a map row naming no channel, which affects none), each named by file and line."""

import time
from collections import Counter

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ASSET_OWNERS, PipelineConfig, configuration_problems
from sync_pipeline.db.resource import DatabaseResource, table_metadata
from sync_pipeline.db.tables import channel_health as channel_health_table
from sync_pipeline.operations.health import (
    AUTH_FAILED,
    DEGRADED,
    FAILING,
    MISCONFIGURED,
    PERMISSION_DENIED,
    RATE_LIMITED,
    STALE,
    STATUSES,
    check_health,
)

HEALTH = dg.AssetKey("channel_health")
FAILS = (STALE, AUTH_FAILED, PERMISSION_DENIED, FAILING, MISCONFIGURED)  # a person must act: the check fails
WARNS = (RATE_LIMITED, DEGRADED)  # the syncs go through, slower or retried: a warning
HEALTH_INTERVAL_MINUTES = 5
CONFIGURATION_CHECK = "configuration_valid"


def check_name(channel: str) -> str:
    """A channel's check (Dagster check names take letters, digits and underscores)."""
    return f"{channel.replace('-', '_')}_healthy"


def build_channel_health() -> dg.AssetsDefinition:
    @dg.asset(key=HEALTH, group_name="operations", owners=ASSET_OWNERS, kinds={"sql"},
              metadata=table_metadata(channel_health_table))
    def channel_health(context: dg.AssetExecutionContext, database: DatabaseResource,
                       channels: ChannelsResource) -> dg.MaterializeResult:
        """Per channel and flow: status, last success and attempt, last error with its fix, failures in a row, API
        usage over the last hour and day, open problems by code; each change of status kept in its history."""
        started = time.perf_counter()
        rows = check_health(database.engine(), channels.pipeline_config())
        by_status = Counter(row["status"] for row in rows)
        for row in rows:
            if row["status"] in FAILS + WARNS:
                context.log.warning(f"{row['channel']} {row['flow']}: {row['status']}: {row['reason']}")
        return dg.MaterializeResult(metadata={
            **{f"status_{status}": by_status.get(status, 0) for status in STATUSES},  # every status, zero included
            "dagster/row_count": len(rows), "seconds": round(time.perf_counter() - started, 3),
        })

    return channel_health


def build_health_checks(config: PipelineConfig) -> dg.AssetChecksDefinition:
    channel_of = {check_name(c.name): c.name for c in config.channels}
    specs = [dg.AssetCheckSpec(name, asset=HEALTH, description=(
        f"{channel}: every flow (orders, tracking, inventory) is HEALTHY or DISABLED; fails when one is stale, refused "
        "or failing, warns when one is rate limited or degraded")) for name, channel in channel_of.items()]
    configuration = dg.AssetCheckSpec(CONFIGURATION_CHECK, asset=HEALTH, description=(
        "channels.yaml, the map files and status_map.yaml hold no problem (what `sync-pipeline validate` lists): "
        "fails naming each by file and line; a bad channel entry disables that channel only"))

    @dg.multi_asset_check(specs=[*specs, configuration], can_subset=True)
    def channel_health_checks(context: dg.AssetCheckExecutionContext, database: DatabaseResource,
                              channels: ChannelsResource):
        """Judged on what channel_health holds (the rows its last materialization wrote), and on the files as they
        are now."""
        if configuration.key in context.selected_asset_check_keys:
            problems = configuration_problems(channels.config_path)
            for problem in problems:
                context.log.error(problem)
            yield dg.AssetCheckResult(
                check_name=CONFIGURATION_CHECK, asset_key=HEALTH, passed=not problems,
                severity=dg.AssetCheckSeverity.ERROR, description="\n".join(problems) or None,
                metadata={"problems": len(problems), "disabled_channels": len(config.disabled)})
        with database.engine().connect() as connection:
            rows = connection.execute(sa.select(channel_health_table)).mappings().all()
        for spec in specs:
            if spec.key not in context.selected_asset_check_keys:
                continue
            channel = channel_of[spec.name]
            mine = [r for r in rows if r["channel"] == channel]
            bad = [r for r in mine if r["status"] in FAILS + WARNS]
            yield dg.AssetCheckResult(
                check_name=spec.name, asset_key=HEALTH, passed=not bad,
                severity=dg.AssetCheckSeverity.ERROR if any(r["status"] in FAILS for r in bad)
                else dg.AssetCheckSeverity.WARN,
                description="; ".join(f"{r['flow']} {r['status']}: {r['reason']}" for r in bad) or None,
                metadata={"channel": channel, **{r["flow"]: r["status"] for r in mine}},
            )

    return channel_health_checks


def build_health_schedule(job) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="channel_health_every_5_minutes", cron_schedule=f"*/{HEALTH_INTERVAL_MINUTES} * * * *",
        execution_timezone="UTC", job=job, default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Judge every channel's and flow's health (and its checks) every 5 minutes.",
    )
