"""Channel x UTC-day partitions shared by every order asset, so a full resync is a backfill."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import dagster as dg

from sync_pipeline.config import PipelineConfig

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def channel_date_partitions(config: PipelineConfig) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {
            "channel": dg.StaticPartitionsDefinition([c.name for c in config.channels]),
            # end_offset=1 includes today, so orders placed today land before midnight UTC.
            "date": dg.DailyPartitionsDefinition(
                start_date=config.partitions_start_date.isoformat(), end_offset=1
            ),
        }
    )


def partition_key(channel: str, day: date | str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"channel": channel, "date": str(day)})


def dates_by_channel(context: dg.AssetExecutionContext) -> dict[str, list[date]]:
    """The (channel, dates) rectangle a run covers, whether it is one partition or a backfill range."""
    partitions_def = context.assets_def.partitions_def
    keys = context.partition_keys
    tags = context.run.tags
    if len(keys) == 1 and RANGE_START_TAG in tags:
        # Multi-partition range runs can report only their first key (dagster#28861); trust the tags.
        keys = partitions_def.get_partition_keys_in_range(
            dg.PartitionKeyRange(tags[RANGE_START_TAG], tags[RANGE_END_TAG])
        )
    by_channel: dict[str, set[date]] = defaultdict(set)
    for key in keys:
        dims = partitions_def.get_partition_key_from_str(str(key)).keys_by_dimension
        by_channel[dims["channel"]].add(date.fromisoformat(dims["date"]))
    return {channel: sorted(days) for channel, days in sorted(by_channel.items())}


def judged(by_channel: dict[str, list[date]]) -> dict[str, str]:
    """Check metadata naming the channels and days a run judged (dates_by_channel's rectangle)."""
    return {"channels": ", ".join(by_channel), "days": ", ".join(
        f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0]) for days in by_channel.values())}
