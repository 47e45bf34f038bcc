"""`tracking_updates`: every package the warehouse shipped, on its channel once, per channel and UTC day of
shipment (re-pushing a range is a backfill)."""

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.config import ASSET_OWNERS, ConfigError
from sync_pipeline.db.resource import DatabaseResource, table_metadata
from sync_pipeline.db.tables import tracking_updates as tracking_table
from sync_pipeline.db.writes import log_api_calls
from sync_pipeline.fulfilment.map_files import MapFileError
from sync_pipeline.operations.attempts import TRACKING, record_attempt
from sync_pipeline.partitions import add_partition_metadata, dates_by_channel, partition_counts, partition_key
from sync_pipeline.tracking.push import STATUSES, Settings, sync_tracking
from sync_pipeline.warehouse.resource import WarehouseApiResource


def build_tracking_updates(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="tracking_updates",
        group_name="tracking", owners=ASSET_OWNERS, metadata=table_metadata(tracking_table),
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"api", "sql"},
        # One channel's failure (a refused key, a broken carrier map) fails its partitions only: the others are
        # materialized one by one, then the step fails naming what did not go through.
        output_required=False,
    )
    def tracking_updates(
        context: dg.AssetExecutionContext, database: DatabaseResource, channels: ChannelsResource,
        warehouse: WarehouseApiResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
        """Tracking numbers from the warehouse's shipments, pushed to each channel once, in the channel's carrier
        vocabulary; corrections pushed as corrections; each package's outcome kept with its reason."""
        started = time.perf_counter()
        settings = channels.pipeline_config()
        engine = database.engine()
        warehouse_log = ApiCallLog(settings.warehouse.name if settings.warehouse else "warehouse")
        totals: Counter = Counter()
        api_calls = 0
        done: list[tuple[str, list]] = []
        failures: list[str] = []
        by_channel = dates_by_channel(context)
        try:
            client = warehouse.client(settings, warehouse_log)
            for channel_name, days in by_channel.items():
                channel = settings.channel(channel_name)
                log = ApiCallLog(channel_name)
                attempt_started = datetime.now(timezone.utc)
                try:
                    push = channels.tracking(channel, log)
                    counts = sync_tracking(engine, client, push, channel, days, context.run.run_id, Settings(
                        claim_expiry=timedelta(seconds=settings.warehouse.claim_expiry_seconds),
                        backoff_base_s=channels.backoff_base_s,
                    ))
                except (ChannelError, ConfigError, MapFileError) as exc:
                    failures.append(f"{channel_name} {days[0]}..{days[-1]}: {exc}")
                    totals["channels_failed"] += 1
                    record_attempt(engine, channel_name, TRACKING, context.run.run_id, attempt_started, exc)
                    continue
                finally:
                    log_api_calls(engine, log, context.run.run_id)
                    api_calls += len(log.calls)
                record_attempt(engine, channel_name, TRACKING, context.run.run_id, attempt_started)
                totals.update(counts)
                done.append((channel_name, days))
                context.log.info(f"{channel_name} {days[0]}..{days[-1]}: " + ", ".join(
                    f"{k} {v}" for k, v in sorted(counts.items()) if k.startswith(("status_", "push_"))))
        except (ChannelError, ConfigError) as exc:  # the warehouse itself: nothing could be read
            raise dg.Failure(description=str(exc)) from None
        finally:
            log_api_calls(engine, warehouse_log, context.run.run_id)
        metadata = {
            **{k: int(v) for k, v in sorted(totals.items())},
            "channel_api_calls": api_calls,
            "warehouse_api_calls": len(warehouse_log.calls),
            "seconds": round(time.perf_counter() - started, 3),
            "run_partitions": sum(len(days) for days in by_channel.values()),
        }
        with engine.connect() as connection:  # each partition's own packages by status
            figures = partition_counts(connection, tracking_table, by_channel, {"status": sa.func.count()},
                                       group=(tracking_table.c.status, STATUSES))
        for figure in figures.values():
            figure["dagster/row_count"] = sum(figure.values())
        if not failures:
            add_partition_metadata(context, figures)
            yield dg.MaterializeResult(metadata=metadata)
            return
        for channel_name, days in done:
            for day in days:
                yield dg.AssetMaterialization(asset_key=context.assets_def.key, partition=partition_key(channel_name, day),
                                              metadata={**metadata, **figures[(channel_name, day)]})
        raise dg.Failure(description="\n".join(failures), metadata=metadata)

    return tracking_updates
