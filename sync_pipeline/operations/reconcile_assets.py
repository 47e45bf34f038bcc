"""Reconciliation as Dagster assets (group `operations`): `open_orders_rechecked` (S42) and
`warehouse_orders_matched` (S43), the job `reconciliation` and its hourly schedule, and one check per asset that warns
while findings wait for a person. What they do: operations/reconcile.py."""

import time
from collections import Counter

import dagster as dg

from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ASSET_OWNERS, ConfigError
from sync_pipeline.db.resource import DatabaseResource, table_metadata
from sync_pipeline.db.tables import reconciliation_findings
from sync_pipeline.db.writes import log_api_calls
from sync_pipeline.fulfilment.map_files import MapFileError
from sync_pipeline.operations.reconcile import (
    NEEDS_PERSON,
    S42,
    S43,
    MatchSettings,
    OpenOrderSettings,
    match_warehouse_orders,
    open_findings,
    recheck_open_orders,
)
from sync_pipeline.partitions import partition_key
from sync_pipeline.warehouse.resource import WarehouseApiResource

OPEN_ORDERS = dg.AssetKey("open_orders_rechecked")
WAREHOUSE_ORDERS = dg.AssetKey("warehouse_orders_matched")
NORMALIZED_ORDERS, FULFILMENT_ORDERS = dg.AssetKey("normalized_orders"), dg.AssetKey("fulfilment_orders")  # S42 settles
OPEN_ORDERS_CHECK = "no_open_order_finding_waits_for_a_person"
WAREHOUSE_ORDERS_CHECK = "no_warehouse_order_finding_waits_for_a_person"
JOB = "reconciliation"
SHOWN = 50  # findings listed in a check's metadata
SHOWN_FIELDS = ("finding_id", "channel", "order_id", "warehouse_order_id", "candidates", "message")


class OpenOrdersConfig(dg.Config):
    """S42's bounds per run (see OpenOrderSettings)."""

    min_age_hours: float = OpenOrderSettings.min_age_hours
    max_age_days: int = OpenOrderSettings.max_age_days
    recheck_hours: float = OpenOrderSettings.recheck_hours
    max_per_channel: int = OpenOrderSettings.max_per_channel
    max_seconds_per_channel: float = OpenOrderSettings.max_seconds_per_channel


class WarehouseOrdersConfig(dg.Config):
    """S43's bounds per run (see MatchSettings)."""

    lookback_days: int = MatchSettings.lookback_days
    placed_after_days: float = MatchSettings.placed_after_days
    placed_before_hours: float = MatchSettings.placed_before_hours
    settle_hours: float = MatchSettings.settle_hours


def _metadata(per_channel: dict[str, Counter], keys: tuple[str, ...], seconds: float) -> dict:
    """Totals of `keys`, then `<channel>/<key>` for each channel (zeros included, and its seconds where timed per
    channel), and the run's seconds."""
    metadata = {k: sum(int(counts.get(k, 0)) for counts in per_channel.values()) for k in keys}
    for channel, counts in per_channel.items():
        metadata.update({f"{channel}/{k}": int(counts.get(k, 0)) for k in keys})
        if "seconds" in counts:
            metadata[f"{channel}/seconds"] = float(counts["seconds"])
    metadata["seconds"] = round(seconds, 3)
    return metadata


def build_open_orders_rechecked() -> dg.AssetsDefinition:
    @dg.asset(key=OPEN_ORDERS, group_name="operations", owners=ASSET_OWNERS, kinds={"api", "sql"},
              metadata=table_metadata(reconciliation_findings),
              description="S42: orders open here read again on their channel; the ones fulfilled or cancelled there "
                          "(a version the sync missed) landed and settled at the warehouse, or listed for a person.")
    def open_orders_rechecked(context: dg.AssetExecutionContext, config: OpenOrdersConfig, database: DatabaseResource,
                              channels: ChannelsResource, warehouse: WarehouseApiResource):
        """The partitions it normalized and settled again are recorded as materializations of normalized_orders and
        fulfilment_orders, so their pages show the change and what made it."""
        started = time.perf_counter()
        settings = channels.pipeline_config()
        try:
            rechecks = recheck_open_orders(
                database.engine(), settings, channels.connector, lambda log: warehouse.client(settings, log),
                context.run.run_id, OpenOrderSettings(**config.model_dump()), log=context.log.warning,
            )
        except (ChannelError, ConfigError, MapFileError) as exc:
            raise dg.Failure(description=str(exc)) from None
        per_channel = {channel: recheck.counts for channel, recheck in rechecks.items()}
        for channel, recheck in rechecks.items():
            context.log.info(f"{channel}: " + ", ".join(f"{k} {v}" for k, v in sorted(recheck.counts.items())))
            for asset, days in ((NORMALIZED_ORDERS, recheck.normalized_days), (FULFILMENT_ORDERS, recheck.settled_days)):
                for day in days:
                    yield dg.AssetMaterialization(asset_key=asset, partition=partition_key(channel, day), metadata={
                        "by": "open_orders_rechecked (S42): versions the sync missed, landed and settled",
                        "orders_closed_on_channel": recheck.counts["found"]})
        keys = ("checked", "found", "refreshed", "needs_person", "settle_again", "left_for_next_run", "landed_versions",
                "errors", "api_calls", "fulfilment_cancelled_at_warehouse", "fulfilment_cancelled_too_late",
                "fulfilment_cancel_failed")
        yield dg.MaterializeResult(metadata=_metadata(per_channel, keys, time.perf_counter() - started))

    return open_orders_rechecked


def build_warehouse_orders_matched() -> dg.AssetsDefinition:
    @dg.asset(key=WAREHOUSE_ORDERS, group_name="operations", owners=ASSET_OWNERS, kinds={"api", "sql"},
              metadata=table_metadata(reconciliation_findings),
              description="S43: warehouse orders linked to no channel order here, matched on time, customer and items: "
                          "linked when the match is unique (never sent then), else listed with the candidates.")
    def warehouse_orders_matched(context: dg.AssetExecutionContext, config: WarehouseOrdersConfig,
                                 database: DatabaseResource, channels: ChannelsResource,
                                 warehouse: WarehouseApiResource) -> dg.MaterializeResult:
        started = time.perf_counter()
        settings = channels.pipeline_config()
        engine = database.engine()
        log = ApiCallLog(settings.warehouse.name if settings.warehouse else "warehouse")
        try:
            client = warehouse.client(settings, log)
            per_channel = match_warehouse_orders(engine, settings, client, context.run.run_id,
                                                 MatchSettings(**config.model_dump()))
        except (ChannelError, ConfigError, MapFileError) as exc:
            raise dg.Failure(description=str(exc)) from None
        finally:
            log_api_calls(engine, log, context.run.run_id)
        for channel, counts in per_channel.items():
            context.log.info(f"{channel}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        metadata = _metadata(per_channel, ("found", "linked", "needs_person", "waiting"), time.perf_counter() - started)
        metadata["warehouse_api_calls"] = len(log.calls)
        return dg.MaterializeResult(metadata=metadata)

    return warehouse_orders_matched


def _waiting_check(asset: dg.AssetKey, name: str, kind: str, what: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name=name, description=(
        f"warns while {what} wait for a person (NEEDS_PERSON, not resolved); the description lists the first ones "
        "with their fix, `sync-pipeline why <order>` shows an order's"))
    def check(database: DatabaseResource) -> dg.AssetCheckResult:
        waiting = [f for f in open_findings(database.engine(), kind) if f["status"] == NEEDS_PERSON]
        return dg.AssetCheckResult(
            passed=not waiting, severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(f"{f['order_id'] or f['warehouse_order_id']}: {f['message']}" for f in waiting[:5])
            or None,
            metadata={
                # S43's channel is its first candidate's; a warehouse order matching none has no channel.
                "channels": ", ".join(sorted({f["channel"] or "(none)" for f in waiting})),
                "needs_person": len(waiting),
                "detail": dg.MetadataValue.json([{k: f[k] for k in SHOWN_FIELDS} for f in waiting[:SHOWN]]),
            },
        )

    return check


def build_reconciliation_checks() -> list[dg.AssetChecksDefinition]:
    return [
        _waiting_check(OPEN_ORDERS, OPEN_ORDERS_CHECK, S42, "orders closed on their channel while open here"),
        _waiting_check(WAREHOUSE_ORDERS, WAREHOUSE_ORDERS_CHECK, S43, "warehouse orders linked to no channel order"),
    ]


def build_reconciliation_assets() -> list[dg.AssetsDefinition]:
    return [build_open_orders_rechecked(), build_warehouse_orders_matched()]


def build_reconciliation_job(assets: list[dg.AssetsDefinition]):
    """Both assets and their checks (a job selecting assets runs their checks)."""
    return dg.define_asset_job(JOB, selection=assets)


def build_reconciliation_schedule(job) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="reconciliation_hourly", cron_schedule="40 * * * *", execution_timezone="UTC", job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Hourly (at :40, away from the fulfilment retry at :15): S42 re-reads open orders on their "
                    "channel, S43 matches the warehouse's unlinked orders.",
    )

