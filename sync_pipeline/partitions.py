"""Channel x UTC-day partitions shared by every order asset, so a full resync is a backfill."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.config import PipelineConfig
from sync_pipeline.operations.attempts import ORDERS

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# Every sync run names its channel and flow; deploy/postgres/dagster.yaml's queue limits runs to one per
# CHANNEL_FLOW_TAG value (Dagster's tag limits key on one tag, so the pair is also one tag).
CHANNEL_TAG, FLOW_TAG, CHANNEL_FLOW_TAG = "sync/channel", "sync/flow", "sync/channel_flow"


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


def partition_counts(
    connection: sa.Connection, table: sa.Table, by_channel: dict[str, list[date]], counted: dict[str, sa.ColumnElement],
    where: sa.ColumnElement | None = None, group: tuple[sa.Column, Sequence[str]] | None = None,
) -> dict[tuple[str, date], dict[str, int]]:
    """Per (channel, day) of a run: each `counted` aggregate over `table`'s rows of the partition (and `where`). With
    `group` (a column and its known values), one figure per value, named `<name>_<value>`, every known value
    included at zero. Every partition of the run gets its dict."""
    column, known = group if group is not None else (None, ())
    keys = [table.c.channel, table.c.partition_date, *([column] if column is not None else [])]
    figures: dict[tuple[str, date], dict[str, int]] = {}
    for channel, days in by_channel.items():
        for day in days:
            figures[(channel, day)] = ({f"{name}_{value}": 0 for name in counted for value in known}
                                       if column is not None else dict.fromkeys(counted, 0))
        labels = {name: f"figure_{number}" for number, name in enumerate(counted)}  # never a column's name
        query = (sa.select(*keys, *(aggregate.label(labels[name]) for name, aggregate in counted.items()))
                 .where(table.c.channel == channel, table.c.partition_date.in_(days),
                        *([where] if where is not None else []))
                 .group_by(*keys))
        for row in connection.execute(query).mappings():
            mine = figures[(row["channel"], row["partition_date"])]
            for name in counted:
                mine[f"{name}_{row[column.name]}" if column is not None else name] = int(row[labels[name]] or 0)
    return figures


def merged(*figures: dict[tuple[str, date], dict]) -> dict[tuple[str, date], dict]:
    """partition_counts' results of several tables, one dict per partition."""
    return {key: {name: value for part in figures for name, value in part[key].items()} for key in figures[0]}


def add_partition_metadata(context: dg.AssetExecutionContext, figures: dict[tuple[str, date], dict]) -> None:
    """Each partition's own figures on its materialization. Dagster gives every partition of a range run the run's
    metadata; these keys override it there, so a plot over partitions shows each day's own numbers."""
    for (channel, day), metadata in figures.items():
        context.add_asset_metadata(metadata, partition_key=partition_key(channel, day))


@dataclass
class PartitionOutcome:
    """One asset's part of a run: the partitions it completed, each with its own figures (which override the run's
    totals on its materialization, so a plot over partitions shows each day's own numbers), its check results, and
    the errors of the partitions it could not complete (those are left out of `figures`)."""

    key: dg.AssetKey
    figures: dict[tuple[str, date], dict]
    metadata: dict
    checks: list[dg.AssetCheckResult]
    errors: list[str] = field(default_factory=list)

    def completed(self) -> dict[str, list[date]]:
        """The completed partitions as dates by channel, for the next asset of the run."""
        by_channel: dict[str, list[date]] = defaultdict(list)
        for channel, day in sorted(self.figures):
            by_channel[channel].append(day)
        return dict(by_channel)

    def events(self, selected_checks: AbstractSet[dg.AssetCheckKey]) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
        """One materialization per completed partition, so a failed one is never shown materialized; then the
        checks the run selected."""
        for (channel, day), figures in sorted(self.figures.items()):
            key = partition_key(channel, day)
            # The dimension tags Dagster puts on the materializations it makes itself (its partition status reads them).
            tags = {f"dagster/partition/{dimension}": value for dimension, value in key.keys_by_dimension.items()}
            yield dg.AssetMaterialization(asset_key=self.key, partition=key, metadata={**self.metadata, **figures},
                                          tags=tags)
        for check in self.checks:
            if dg.AssetCheckKey(self.key, check.check_name) in selected_checks:
                yield check


def sync_tags(channel: str, flow: str) -> dict[str, str]:
    """The tags the run queue's per-channel limits key on (deploy/postgres/dagster.yaml)."""
    return {CHANNEL_TAG: channel, FLOW_TAG: flow, CHANNEL_FLOW_TAG: f"{channel}.{flow}"}


def run_requests(channel: str, days: Iterable[date], run_key: str, *, flow: str = ORDERS,
                 tags: dict[str, str] | None = None, asset_selection: Sequence[dg.AssetKey] | None = None,
                 ) -> list[dg.RunRequest]:
    """One run per stretch of consecutive days of a channel: a single partition, or a single-run range (a
    multi-partition range is a rectangle, so a gap between days splits it). Run keys are `run_key:<first>..<last>`;
    every run carries sync_tags(channel, flow)."""
    tags = {**(tags or {}), **sync_tags(channel, flow)}
    stretches: list[list[date]] = []
    for day in sorted(set(days)):
        if stretches and day - stretches[-1][-1] == timedelta(days=1):
            stretches[-1].append(day)
        else:
            stretches.append([day])
    requests = []
    for stretch in stretches:
        first, last = partition_key(channel, stretch[0]), partition_key(channel, stretch[-1])
        key = f"{run_key}:{first}..{last}"
        if first == last:
            requests.append(dg.RunRequest(run_key=key, partition_key=first, tags=tags, asset_selection=asset_selection))
        else:
            requests.append(dg.RunRequest(run_key=key, asset_selection=asset_selection,
                                          tags={**tags, RANGE_START_TAG: str(first), RANGE_END_TAG: str(last)}))
    return requests
