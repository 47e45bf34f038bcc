"""`sync-pipeline why` and `reimport`: where an order is, what is wrong with it and how to fix it, and
what differs from a recent order of the same channel that went through."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

import orjson
import sqlalchemy as sa

from sync_pipeline.channels import CONNECTORS, ORDER_MAPPINGS
from sync_pipeline.channels.http import ApiCallLog
from sync_pipeline.config import PipelineConfig
from sync_pipeline.db.tables import (
    fulfilment_orders,
    order_completeness,
    order_lines,
    order_sync_errors,
    orders,
    raw_orders,
    tracking_updates,
)
from sync_pipeline.db.writes import insert_new, log_api_calls
from sync_pipeline.operations.reconcile import findings_for
from sync_pipeline.orders.ingest import VERSION_KEY, at_home, payload_row
from sync_pipeline.orders.normalize import normalize
from sync_pipeline.orders.normalized_orders import read_raw_versions, write_normalized
from sync_pipeline.orders.status_map import load_status_map


class OrderNotFound(LookupError):
    pass


@dataclass(frozen=True)
class OrderRef:
    channel: str
    external_order_id: str


def resolve(connection: sa.Connection, config: PipelineConfig, target: str, ident: str | None) -> OrderRef:
    """`channel:external_id`, `channel external_id` or `channel order_number` (with or without the platform's "#")."""
    if ident is None:
        if ":" not in target:
            raise OrderNotFound(f"{target!r}: give an order id (channel:external id) or a channel and an id or number")
        target, ident = target.split(":", 1)
    config.channel(target)
    numbers = list(dict.fromkeys([ident, ident.lstrip("#"), f"#{ident.lstrip('#')}"]))  # "#1001" or "1001"
    found = connection.execute(
        sa.select(raw_orders.c.external_order_id).where(raw_orders.c.channel == target, raw_orders.c.external_order_id == ident).limit(1)
    ).scalar() or connection.execute(
        sa.select(orders.c.external_order_id).where(orders.c.channel == target, orders.c.order_number.in_(numbers)).limit(1)
    ).scalar()
    if found is None:
        raise OrderNotFound(
            f"no order {ident!r} of channel {target!r} has landed: check the channel's import filter and history "
            f"window, or fetch it now with `sync-pipeline reimport {target} <external id>`"
        )
    return OrderRef(target, found)


def _paths(obj, prefix="") -> set[str]:
    if isinstance(obj, dict):
        return set().union(*({f"{prefix}{k}"} | _paths(v, f"{prefix}{k}.") for k, v in obj.items())) if obj else set()
    if isinstance(obj, list):
        return _paths(obj[0], f"{prefix}0.") if obj else set()
    return set()


def explain(engine: sa.Engine, config: PipelineConfig, target: str, ident: str | None = None) -> str:
    with engine.connect() as connection:
        ref = resolve(connection, config, target, ident)
        versions = connection.execute(
            sa.select(raw_orders).where(raw_orders.c.channel == ref.channel, raw_orders.c.external_order_id == ref.external_order_id)
            .order_by(raw_orders.c.channel_updated_at, raw_orders.c.fetched_at, raw_orders.c.id)
        ).all()
        normalized = connection.execute(sa.select(orders).where(orders.c.order_id == f"{ref.channel}:{ref.external_order_id}")).first()
        fulfilment = connection.execute(
            sa.select(fulfilment_orders).where(fulfilment_orders.c.order_id == f"{ref.channel}:{ref.external_order_id}")
        ).first()
        errors = connection.execute(
            sa.select(order_sync_errors).where(order_sync_errors.c.channel == ref.channel,
                                               order_sync_errors.c.external_order_id == ref.external_order_id)
            .order_by(order_sync_errors.c.resolved_at.is_not(None), order_sync_errors.c.last_seen_at.desc())
        ).all()
        packages = connection.execute(
            sa.select(tracking_updates).where(tracking_updates.c.order_id == f"{ref.channel}:{ref.external_order_id}")
            .order_by(tracking_updates.c.shipped_at, tracking_updates.c.package_id)
        ).all()
        findings = findings_for(connection, f"{ref.channel}:{ref.external_order_id}")
        # The order's home partition (every version lands there): its day's count on the channel against what landed.
        completeness = connection.execute(
            sa.select(order_completeness).where(order_completeness.c.channel == ref.channel,
                                                order_completeness.c.partition_date == versions[-1].partition_date)
        ).first()
        working = connection.execute(
            sa.select(raw_orders.c.payload, raw_orders.c.external_order_id).join(
                orders, (orders.c.channel == raw_orders.c.channel) & (orders.c.payload_sha256 == raw_orders.c.payload_sha256)
            ).where(raw_orders.c.channel == ref.channel, raw_orders.c.external_order_id != ref.external_order_id)
            .order_by(raw_orders.c.placed_at.desc()).limit(1)
        ).first()

    latest = versions[-1]
    open_errors = [e for e in errors if e.resolved_at is None]
    if fulfilment is not None and fulfilment.status != "NEW":
        where = _fulfilment_state(fulfilment)
    elif normalized is not None:
        where = f"normalized: status {normalized.channel_status} -> {normalized.canonical_status}; not sent to the warehouse yet"
    elif open_errors and all(e.error_code == "FILTERED" for e in open_errors):
        where = "filtered by the import filter (not an error)"
    elif open_errors:
        where = f"quarantined at stage {open_errors[0].stage}: it will not reach the warehouse until fixed"
    else:
        where = "landed, not normalized yet: materialize normalized_orders for its partition"
    lines = [
        f"order {ref.channel}:{ref.external_order_id}",
        f"  where: {where}",
        f"  partition: {ref.channel}|{latest.partition_date}  placed "
        + (f"{latest.placed_at:%Y-%m-%d %H:%M:%S} UTC" if latest.placed_at else "at an unreadable time (INVALID_DATE)"),
        f"  versions landed: {len(versions)} (latest updated {latest.channel_updated_at:%Y-%m-%d %H:%M:%S} UTC, "
        f"fetched {latest.fetched_at:%Y-%m-%d %H:%M:%S} UTC, from {latest.source})",
    ]
    if completeness is not None:
        lines.append(f"  completeness of {ref.channel}|{completeness.partition_date}: {completeness.status} "
                     f"(checked {completeness.checked_at:%Y-%m-%d %H:%M} UTC): {completeness.reason}")
    else:
        lines.append(f"  completeness of {ref.channel}|{latest.partition_date}: not checked yet "
                     "(the completeness_check job counts the day on the channel)")
    if packages:
        lines.append("  packages:")
        for p in packages:
            number = p.tracking_number or "(no tracking number)"
            corrected = f", corrected from {p.corrected_from}" if p.corrected_from else ""
            pushed = f", on the channel since {p.pushed_at:%Y-%m-%d %H:%M} UTC" if p.pushed_at else ""
            lines.append(f"    {p.shipment_id} shipped {p.shipped_at:%Y-%m-%d %H:%M} UTC: {number} {p.carrier_as_sent or ''} "
                         f"-> {p.carrier_code if p.carrier_code is not None else '?'}{corrected}: {p.status}{pushed}, "
                         f"{p.attempts} push{'es' if p.attempts != 1 else ''}" + (f"; {p.message}" if p.message else ""))
    if errors:
        lines.append("  errors:")
        for e in errors:
            state = f"resolved {e.resolved_at:%Y-%m-%d %H:%M}" if e.resolved_at else f"open since {e.first_seen_at:%Y-%m-%d %H:%M}"
            lines.append(f"    {e.error_code} [{e.field}] ({state}): {e.message}")
    if findings:
        lines.append("  reconciliation:")
        for f in findings:
            state = f"resolved {f.resolved_at:%Y-%m-%d %H:%M}" if f.resolved_at else "open"
            lines.append(f"    {f.kind} {f.status} (found {f.found_at:%Y-%m-%d %H:%M}, {state}): {f.message}")
    if fulfilment is not None and fulfilment.status == "IMPORT_ERROR":
        lines += _compare_with_accepted(engine, ref.channel, normalized)
    payload = orjson.loads(latest.payload)
    if working is not None and normalized is None:
        good = orjson.loads(working.payload)
        missing, extra = sorted(_paths(good) - _paths(payload)), sorted(_paths(payload) - _paths(good))
        mapping = ORDER_MAPPINGS[config.channel(ref.channel).type][latest.source.split(":", 1)[0]]
        this_order, _ = mapping.map(payload)
        good_order, _ = mapping.map(good)
        empty = [f for f, v in this_order.items() if v in (None, "") and good_order.get(f) not in (None, "")]
        lines.append(f"  compared with {ref.channel}:{working.external_order_id}, which went through:")
        lines.append(f"    fields empty here but filled there: {', '.join(empty) or 'none'}")
        lines.append(f"    payload keys missing here: {', '.join(missing[:20]) or 'none'}{' ...' if len(missing) > 20 else ''}")
        lines.append(f"    payload keys only here: {', '.join(extra[:20]) or 'none'}{' ...' if len(extra) > 20 else ''}")
    lines.append("  raw payload (latest version):")
    lines.append(json.dumps(payload, indent=2, ensure_ascii=False))
    return "\n".join(lines)


COMPARED = ("ship_method", "ship_country", "ship_postal_code", "ship_address1")


def _compare_with_accepted(engine: sa.Engine, channel: str, order) -> list[str]:
    """The seeds' working-vs-non-working chart: what differs from an order of the channel the warehouse took."""
    with engine.connect() as connection:
        good = connection.execute(
            sa.select(orders).join(fulfilment_orders, fulfilment_orders.c.order_id == orders.c.order_id)
            .where(orders.c.channel == channel, fulfilment_orders.c.status == "ACCEPTED")
            .order_by(fulfilment_orders.c.accepted_at.desc()).limit(1)
        ).first()
        if good is None or order is None:
            return []
        skus = {
            order_id: sorted(filter(None, connection.execute(
                sa.select(order_lines.c.channel_sku).where(order_lines.c.order_id == order_id)).scalars()))
            for order_id in (order.order_id, good.order_id)
        }
    lines = [f"  compared with {good.order_id}, which the warehouse accepted:"]
    for field in COMPARED:
        mine, theirs = getattr(order, field), getattr(good, field)
        lines.append(f"    {field}: {mine!r} here, {theirs!r} there" + ("" if mine != theirs else " (same)"))
    lines.append(f"    SKUs: {skus[order.order_id]} here, {skus[good.order_id]} there")
    return lines


def _fulfilment_state(row) -> str:
    if row.status == "ACCEPTED":
        state = f"at the warehouse as {row.warehouse_order_id} ({row.warehouse_status or 'accepted'}"
        state += f", backordered: {row.backordered})" if row.backordered else ")"
        state += ", linked to the order the warehouse already had" if row.linked else ""
        return state + (f"; {row.message}" if row.error_code else "")
    detail = f" {row.error_code}" if row.error_code else ""
    return f"fulfilment {row.status}{detail}: {row.message}"


def reimport(engine: sa.Engine, config: PipelineConfig, channel_name: str, external_order_id: str, run_id: str) -> str:
    """Fetch one order again, land it in its home partition if it changed, and normalize that day (so errors the
    new version no longer has are resolved there); its API calls are logged. Returns the why report."""
    channel = config.channel(channel_name)
    log = ApiCallLog(channel_name)
    try:
        order = CONNECTORS[channel.type](channel, log).fetch_order(external_order_id)
    finally:
        log_api_calls(engine, log, run_id)
    if order is None:
        raise OrderNotFound(f"channel {channel_name!r} does not know order {external_order_id!r} (deleted, or a wrong id)")
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        [row] = at_home(connection, channel_name, [payload_row(channel_name, order, run_id, now, "api", now.date())])
        insert_new(connection, raw_orders, [row], VERSION_KEY)
    day = row["partition_date"]
    with engine.connect() as connection:
        raw = read_raw_versions(connection, channel_name, [day])
    result = normalize(raw, channel, ORDER_MAPPINGS[channel.type], load_status_map(channel), run_id, now)
    with engine.begin() as connection:
        write_normalized(connection, channel_name, [day], result, now)
    return explain(engine, config, channel_name, order.external_order_id)
