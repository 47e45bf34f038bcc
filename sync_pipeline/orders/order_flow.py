"""`order_flow`: the one step that materializes raw_orders -> normalized_orders -> fulfilment_orders.

The three assets share a step so that outcomes are per partition within a run: when a channel refuses its key, or
some days are older than its API keeps, the partitions that landed are normalized and sent to the warehouse in that
same run, and only the others fail. (Across steps Dagster cannot do this: a step's output materializes every
partition of the run, and a step without it skips the steps after it.) The step can be subset: `fulfilment_retry`
runs only fulfilment_orders, the order poll and the bench only raw_orders."""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.fulfilment.fulfilment_orders import FULFILMENT_ORDERS, fulfil_orders, fulfilment_orders_spec
from sync_pipeline.orders.normalized_orders import NORMALIZED_ORDERS, normalize_orders, normalized_orders_spec
from sync_pipeline.orders.raw_orders import RAW_ORDERS, land_orders, raw_orders_spec
from sync_pipeline.partitions import dates_by_channel
from sync_pipeline.warehouse.resource import WarehouseApiResource

STEP = "order_flow"


class OrderFlowConfig(dg.Config):
    full_resync: bool = Field(
        default=False, description="Fetch every order of the selected days again, ignoring the partition cursors."
    )


def order_flow_config(full_resync: bool) -> dict:
    """Run config for order_sync (or any job running the step)."""
    return {"ops": {STEP: {"config": {"full_resync": full_resync}}}}


def build_order_flow(partitions_def: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    raw_spec, landed_check = raw_orders_spec()
    normalized_spec, normalized_checks = normalized_orders_spec()
    fulfilment_spec, fulfilment_checks = fulfilment_orders_spec()

    @dg.multi_asset(
        name=STEP,
        specs=[raw_spec, normalized_spec, fulfilment_spec],
        check_specs=[landed_check, *normalized_checks, *fulfilment_checks],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
    )
    def order_flow(
        context: dg.AssetExecutionContext,
        config: OrderFlowConfig,
        database: DatabaseResource,
        channels: ChannelsResource,
        warehouse: WarehouseApiResource,
    ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
        """Land, normalize and send each selected asset's partitions; each asset goes on with the partitions the one
        before it completed, and the step fails at the end naming what did not."""
        selected = context.selected_asset_keys
        checks = context.selected_asset_check_keys
        by_channel = dates_by_channel(context)
        errors: list[str] = []
        if RAW_ORDERS in selected:
            landed = land_orders(context, by_channel, config.full_resync, database, channels)
            yield from landed.events(checks)
            errors += landed.errors
            by_channel = landed.completed()
        if NORMALIZED_ORDERS in selected and by_channel:
            normalized, unbalanced = normalize_orders(context, by_channel, database, channels)
            yield from normalized.events(checks)
            # every_raw_order_accounted_for is blocking: a channel with a day that does not balance sends nothing
            # (Dagster fails the step on the check's result).
            by_channel = {channel: days for channel, days in by_channel.items() if channel not in unbalanced}
        if FULFILMENT_ORDERS in selected and by_channel:
            try:
                yield from fulfil_orders(context, by_channel, database, channels, warehouse).events(checks)
            except dg.Failure as failure:
                errors.append(failure.description or "fulfilment failed")
        if errors:
            raise dg.Failure(description="\n".join(errors))

    return order_flow
