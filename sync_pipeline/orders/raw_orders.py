"""`raw_orders`: every order payload, verbatim, per channel and UTC day of placement."""

import time

import dagster as dg
from pydantic import Field

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.orders.ingest import ChannelIngest, ingest_channel
from sync_pipeline.partitions import dates_by_channel


class RawOrdersConfig(dg.Config):
    full_resync: bool = Field(
        default=False, description="Fetch every order of the selected days again, ignoring the partition cursors."
    )


def ingest_metadata(results: list[ChannelIngest], seconds: float) -> dict[str, float | int]:
    """Numeric counters, so the UI can plot each one over time."""
    logs = [r.log for r in results]
    return {
        "orders_fetched": sum(r.fetched for r in results),
        "orders_landed": sum(r.landed for r in results),
        "csv_orders": sum(r.csv_orders for r in results),
        "channels": len(results),
        "channels_failed": sum(1 for r in results if r.error),
        "pages": sum(log.pages for log in logs),
        "api_calls": sum(len(log.calls) for log in logs),
        "retries": sum(log.retries for log in logs),
        "http_429": sum(log.http_429 for log in logs),
        "window_splits": sum(log.window_splits for log in logs),
        "throttled_seconds": round(sum(log.throttled_seconds for log in logs), 3),
        "seconds": round(seconds, 3),
    }


def build_raw_orders(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="raw_orders",
        group_name="orders",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"api", "sql"},
    )
    def raw_orders(
        context: dg.AssetExecutionContext,
        config: RawOrdersConfig,
        database: DatabaseResource,
        channels: ChannelsResource,
    ) -> dg.MaterializeResult:
        """Order payloads exactly as each channel sent them; a new row only when an order's payload changed."""
        started = time.perf_counter()
        settings = channels.pipeline_config()
        engine = database.engine()
        results = []
        for channel_name, days in dates_by_channel(context).items():
            channel = settings.channel(channel_name)
            result = ingest_channel(
                engine,
                channel,
                days,
                context.run.run_id,
                full_resync=config.full_resync,
                connector_factory=lambda cfg, log: channels.connector(cfg, log),
            )
            results.append(result)
            mode = "full" if not result.incremental else "incremental"
            context.log.info(
                f"{channel_name} {days[0]}..{days[-1]} ({mode}): fetched {result.fetched}, landed {result.landed} "
                f"new payload versions, {result.csv_orders} from CSV exports, {len(result.log.calls)} API calls"
            )
        metadata = ingest_metadata(results, time.perf_counter() - started)
        failures = [r.error for r in results if r.error]
        if failures:
            # Healthy channels have landed their orders; the run still fails so the broken one is seen.
            raise dg.Failure(description="\n".join(failures), metadata=metadata)
        return dg.MaterializeResult(metadata=metadata)

    return raw_orders
