"""Reconciliation: what the incremental syncs cannot see, found by comparing this database with the channels and the
warehouse, settled where one answer is certain and listed for a person where it is not.

S42 (HotWax "stuck in created"): an order fulfilled or cancelled on the channel while still open here. The sync reads
each day by placement and asks for orders updated since its cursor, so a change it never sees stays unseen: a
platform that writes a status without moving the order's modification time (a back-office bulk action, an app that
writes the status directly), a change committed late behind the cursor, or one made after the schedules stopped
re-reading the order's day (they read today and yesterday). `recheck_open_orders` takes the orders open here (by our
normalized status) older than `min_age_hours`, those never checked or checked longest ago first, a bounded number
per channel and run, and reads each again on its channel (`fetch_order`, one session per channel, on the
connector's throttle). Every fresh version lands in raw_orders as `reimport` lands one (insert-or-skip into the
order's home, then that day normalized); for the orders the channel says are closed, fulfilment then settles their
partitions with the fulfilment stage's own functions (a cancelled order sent to the warehouse is cancelled there
once, exactly as the fulfilment run does it; one not sent is CANCELLED here).

S43 (Convictional "broken order sync"): a warehouse order linked to no channel order here: keyed in by hand under
another reference or none (a channel set to manual posting, an order the sync stopped, a person who thought the sync
was broken). `match_warehouse_orders` reads the warehouse's orders created in the last `lookback_days` (any channel or
none) and takes those whose id no fulfilment row holds. Each is matched to the channel orders here on time (placed
from `placed_after_days` before it was created to `placed_before_hours` after), items (warehouse SKU and quantity,
through the SKU map) and customer (the e-mail, or the name and the ship-to postal code); a client reference that is
one of ours settles it without a match. A unique match is *linked*: its fulfilment row (inserted if the fulfilment
stage has not seen the order yet) is claimed as a send would claim it (db/claims.py: not in doubt, not held by a
live run) and set ACCEPTED with the warehouse order's id, `linked`, so no later run ever sends it (submit.py never
sends an ACCEPTED order) and a cancellation on the channel cancels that warehouse order. Ambiguous, unmatched,
already-there (a second warehouse order of one channel order) and cancelled-here cases are listed for a person with
the candidates and the fix.

Findings live in `reconciliation_findings`, one row per S42 order or S43 warehouse order (rerunning changes nothing
that is settled); `sync-pipeline why` shows an order's findings."""

from __future__ import annotations

import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import orjson
import pandas as pd
import sqlalchemy as sa

from sync_pipeline.channels import ORDER_MAPPINGS, ChannelConnector, RawOrder
from sync_pipeline.channels.http import ApiCallLog, ChannelError
from sync_pipeline.config import ChannelConfig, ConfigError, PipelineConfig
from sync_pipeline.db.claims import Claims, chunks
from sync_pipeline.db.tables import (
    UtcDateTime,
    channel_state_checks,
    fulfilment_orders,
    order_lines,
    order_sync_errors,
    orders,
    raw_orders,
    reconciliation_findings,
)
from sync_pipeline.db.writes import insert_new, log_api_calls, upsert
from sync_pipeline.fulfilment.fulfilment_orders import ambiguous_skus, read_normalized
from sync_pipeline.fulfilment.prepare import STAGE as FULFILMENT_STAGE
from sync_pipeline.fulfilment.prepare import client_reference, prepare
from sync_pipeline.fulfilment.skus import resolve_skus
from sync_pipeline.fulfilment.submit import fulfil
from sync_pipeline.orders.ingest import VERSION_KEY, at_home, payload_row
from sync_pipeline.orders.normalize import normalize
from sync_pipeline.orders.normalized_orders import read_raw_versions, write_normalized
from sync_pipeline.orders.status_map import load_status_map
from sync_pipeline.warehouse.client import WarehouseClient

S42, S43 = "S42", "S43"
FOUND, REFRESHED, LINKED, NEEDS_PERSON = "FOUND", "REFRESHED", "LINKED", "NEEDS_PERSON"
FINDING_STATUSES = (FOUND, REFRESHED, LINKED, NEEDS_PERSON)
OPEN_HERE = ("placed", "paid", "processing", "on_hold")  # canonical statuses of an order not closed on its channel
CANCELLED_ON_CHANNEL = ("cancelled", "refunded", "failed")
SHIPPED_ON_CHANNEL = ("shipped", "delivered")
CLOSED_ON_CHANNEL = (*SHIPPED_ON_CHANNEL, *CANCELLED_ON_CHANNEL)
SHIPPED_AT_WAREHOUSE = ("shipped", "partially_shipped")
LINKABLE = ("NEW", "IMPORT_ERROR", "HELD", "MANUAL")  # never at the warehouse as far as this pipeline knows
BATCH = 50  # orders fetched, then landed in one transaction



@dataclass(frozen=True)
class OpenOrderSettings:
    """S42's bounds. The defaults keep an hourly run to a few percent of a channel's budget: 200 checks an hour on
    Shopify's 2 calls/s is under 3% of its 7,200 calls; on Amazon (getOrder and getOrderItems, 0.5/s each) the
    connector's throttle spreads them, and `max_seconds_per_channel` stops the channel for this run."""

    min_age_hours: float = 6.0  # younger orders are still being worked on and re-read by the schedules
    max_age_days: int = 60
    recheck_hours: float = 24.0  # an order checked and still open waits this long before it is read again
    max_per_channel: int = 200
    max_seconds_per_channel: float = 120.0


@dataclass(frozen=True)
class MatchSettings:
    """S43's bounds: which warehouse orders are read, and how far apart in time a match may be."""

    lookback_days: int = 14  # warehouse orders created this long ago or since
    placed_after_days: float = 7.0  # a channel order placed up to this long before the warehouse order was created
    placed_before_hours: float = 24.0  # or this long after (a phone order keyed in at the warehouse first)
    settle_hours: float = 2.0  # an unmatched warehouse order younger than this waits: its channel order may land yet


# --- S42: open here, closed on the channel ------------------------------------------------------------------------
def recheck_open_orders(
    engine: sa.Engine, config: PipelineConfig, connector_for: Callable[[ChannelConfig, ApiCallLog], ChannelConnector],
    warehouse_for: Callable[[ApiCallLog], WarehouseClient] | None, run_id: str,
    settings: OpenOrderSettings = OpenOrderSettings(), now: datetime | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, ChannelRecheck]:
    """S42 for every channel with order_sync: its counters (checked, found, refreshed, needs_person, settle_again,
    landed_versions, errors, api_calls, seconds) and the days it normalized and settled again."""
    now = now or datetime.now(timezone.utc)
    results: dict[str, ChannelRecheck] = {}
    wlog = ApiCallLog(config.warehouse.name if config.warehouse else "warehouse")
    client: list[WarehouseClient] = []  # made on first need: a run that settles nothing never calls the warehouse

    def warehouse() -> WarehouseClient | None:
        if not client and warehouse_for is not None and config.warehouse is not None:
            client.append(warehouse_for(wlog))
        return client[0] if client else None

    try:
        for channel in config.channels:
            if not channel.order_sync:
                continue
            started = time.perf_counter()
            result = _recheck_channel(engine, channel, connector_for, warehouse, run_id, settings, now, log)
            result.counts["seconds"] = round(time.perf_counter() - started, 3)
            results[channel.name] = result
    finally:
        log_api_calls(engine, wlog, run_id)
    return results


@dataclass
class ChannelRecheck:
    counts: Counter
    normalized_days: list[date]  # the partitions the fresh versions landed in, normalized again
    settled_days: list[date]  # of those, the ones brought to their state at the warehouse (fulfilment's functions)


def _recheck_channel(engine, channel: ChannelConfig, connector_for, warehouse, run_id: str,
                     settings: OpenOrderSettings, now: datetime, log) -> ChannelRecheck:
    counts: Counter = Counter(checked=0, found=0, refreshed=0, needs_person=0, errors=0, landed_versions=0)
    with engine.connect() as connection:
        candidates = _open_orders(connection, channel.name, settings, now)
    status_map = load_status_map(channel)
    mapping = ORDER_MAPPINGS[channel.type]["api"]
    calls = ApiCallLog(channel.name)
    fresh: dict[str, tuple[sa.Row, RawOrder | None]] = {}
    batch: list[tuple[sa.Row, RawOrder | None]] = []
    started = time.perf_counter()
    try:
        connector = connector_for(channel, calls) if candidates else None
        for row in candidates:
            if time.perf_counter() - started > settings.max_seconds_per_channel:
                break  # the rest waits for the next run (never checked, or checked longest ago, come first)
            batch.append((row, connector.fetch_order(row.external_order_id)))
            if len(batch) == BATCH:
                _land_checked(engine, channel.name, batch, mapping, status_map, run_id, now, counts)
                fresh.update((r.order_id, (r, o)) for r, o in batch)
                batch = []
    except (ChannelError, ConfigError) as exc:  # this channel waits for the next run; what was read so far is kept
        counts["errors"] += 1
        log(f"{channel.name}: S42 stopped after {len(fresh) + len(batch)} of {len(candidates)} orders: {exc}")
    finally:
        _land_checked(engine, channel.name, batch, mapping, status_map, run_id, now, counts)
        fresh.update((r.order_id, (r, o)) for r, o in batch)
        log_api_calls(engine, calls, run_id)
    counts["checked"] = len(fresh)
    counts["left_for_next_run"] = len(candidates) - len(fresh)
    counts["api_calls"] = len(calls.calls)

    closed = {}  # order id -> (the row as it was here, the channel's (status, canonical status))
    for order_id, (row, order) in fresh.items():
        state = _channel_state(order, mapping, status_map)
        if order is None or state[1] in CLOSED_ON_CHANNEL:
            closed[order_id] = (row, state)
    counts["found"] = len(closed)
    with engine.connect() as connection:
        # Open findings of earlier runs are judged again: a cancellation the warehouse did not take then (FOUND) is
        # settled again with this run's, and one a person has dealt with is resolved.
        earlier = dict(connection.execute(
            sa.select(reconciliation_findings.c.order_id, reconciliation_findings.c.status).where(
                reconciliation_findings.c.kind == S42, reconciliation_findings.c.channel == channel.name,
                reconciliation_findings.c.resolved_at.is_(None))
        ).all())
        retried = [o for o, status in earlier.items() if status == FOUND and o not in closed]
        retried_days = set(connection.execute(
            sa.select(orders.c.partition_date).where(orders.c.order_id.in_(retried or [""]))).scalars())
    counts["settle_again"] = len(retried)
    days = sorted({row.partition_date for order_id, (row, state) in closed.items() if state[1] is not None}
                  | retried_days)
    settled = _settle(engine, channel, warehouse, days, run_id, now, log) if days else Counter()
    counts.update({f"fulfilment_{k}": v for k, v in settled.items() if k.startswith(("cancelled", "cancel_"))})

    findings = []
    with engine.connect() as connection:
        for order_id in sorted(set(closed) | set(earlier)):
            if order_id in closed:
                row, (channel_status, canonical) = closed[order_id]
                was = _status(row.channel_status, row.canonical_status)
            else:
                channel_status, canonical = _last_state(connection, order_id)
                was = None
            status, message, closed_here = _judge_open_order(connection, channel, order_id, channel_status, canonical, was)
            if order_id in closed or status != earlier[order_id]:  # an earlier finding is rewritten only when it moved
                findings.append({"order_id": order_id, "status": status, "message": message})
            if order_id in closed:
                counts["refreshed"] += closed_here
                counts["needs_person"] += status == NEEDS_PERSON
    _record_findings(engine, S42, channel.name, findings, run_id, now)
    # Not served by the channel before and served again now, still open: resolved.
    _resolve(engine, [f"{S42}:{o}" for o, (row, order) in fresh.items() if order is not None and o not in closed], now)
    return ChannelRecheck(counts, days, days if settled else [])


def _open_orders(connection: sa.Connection, channel: str, settings: OpenOrderSettings, now: datetime) -> list[sa.Row]:
    """The orders open here (our normalized status), old enough and not checked lately, never checked first, then
    those checked longest ago, oldest first; at most max_per_channel. COMPLETED ones are done (shipped, their
    tracking on the channel)."""
    checks, fulfilment = channel_state_checks, fulfilment_orders
    query = (
        sa.select(orders.c.order_id, orders.c.external_order_id, orders.c.partition_date, orders.c.channel_status,
                  orders.c.canonical_status, orders.c.placed_at)
        .select_from(orders.outerjoin(checks, checks.c.order_id == orders.c.order_id)
                     .outerjoin(fulfilment, fulfilment.c.order_id == orders.c.order_id))
        .where(orders.c.channel == channel, orders.c.canonical_status.in_(OPEN_HERE),
               orders.c.placed_at <= now - timedelta(hours=settings.min_age_hours),
               orders.c.placed_at >= now - timedelta(days=settings.max_age_days),
               checks.c.checked_at.is_(None) | (checks.c.checked_at <= now - timedelta(hours=settings.recheck_hours)),
               fulfilment.c.status.is_(None) | (fulfilment.c.status != "COMPLETED"))
        .order_by(checks.c.checked_at.is_not(None), checks.c.checked_at, orders.c.placed_at, orders.c.order_id)
        .limit(settings.max_per_channel)
    )
    return list(connection.execute(query))


def _channel_state(order: RawOrder | None, mapping, status_map: dict[str, str]) -> tuple[str | None, str | None]:
    """(channel status, canonical status) of a fresh version; (None, None) when the channel does not know it."""
    if order is None:
        return None, None
    try:
        channel_status = mapping.map(order.payload)[0]["channel_status"]
    except Exception:  # noqa: BLE001 - an unreadable payload: normalize reports it once it lands
        return None, "unreadable"
    return channel_status, status_map.get(str(channel_status), "unmapped")  # unmapped: normalize reports it


def _land_checked(engine: sa.Engine, channel: str, batch: list[tuple[sa.Row, RawOrder | None]], mapping,
                  status_map, run_id: str, now: datetime, counts: Counter) -> None:
    """One batch: every fresh version into raw_orders (insert-or-skip into its home, as reimport lands one), and
    when each order was checked and what its channel said."""
    if not batch:
        return
    fetched_at = datetime.now(timezone.utc)
    with engine.begin() as connection:
        rows = [payload_row(channel, order, run_id, fetched_at, "api", row.partition_date)
                for row, order in batch if order is not None]
        counts["landed_versions"] += insert_new(connection, raw_orders, at_home(connection, channel, rows), VERSION_KEY)
        checks = []
        for row, order in batch:
            channel_status, canonical = _channel_state(order, mapping, status_map)
            checks.append({"order_id": row.order_id, "channel": channel, "checked_at": now,
                           "channel_status": None if channel_status is None else str(channel_status)[:64],
                           "canonical_status": canonical, "run_id": run_id})
        upsert(connection, channel_state_checks, checks, ["order_id"])


def _settle(engine: sa.Engine, channel: ChannelConfig, warehouse, days: list[date], run_id: str, now: datetime,
            log) -> Counter:
    """Normalize the days the fresh versions landed in (reimport's path), then bring their orders to their state at
    the warehouse with the fulfilment stage's own functions (what a fulfilment_orders run of those partitions does)."""
    with engine.connect() as connection:
        raw = read_raw_versions(connection, channel.name, days)
    result = normalize(raw, channel, ORDER_MAPPINGS[channel.type], load_status_map(channel), run_id, now)
    with engine.begin() as connection:
        write_normalized(connection, channel.name, days, result, now)
    client = warehouse()
    if client is None:
        return Counter()
    try:
        catalogue = set(client.items())
        po_box_codes = {code for code, method in client.ship_methods().items() if method["po_box"]}
        with engine.connect() as connection:
            normalized, lines = read_normalized(connection, channel.name, days)
            ambiguous = ambiguous_skus(connection, channel.name)
        prepared = prepare(normalized, lines, channel, catalogue, po_box_codes, ambiguous)
        return fulfil(engine, client, channel.name, days, prepared, run_id, datetime.now(timezone.utc))
    except ChannelError as exc:  # the orders stay FOUND and are settled again on the next run
        log(f"{channel.name}: S42 could not settle {len(days)} day(s) at the warehouse: {exc}")
        return Counter()


def _last_state(connection: sa.Connection, order_id: str) -> tuple[str | None, str | None]:
    """What the channel said at the order's last check: (channel status, canonical status); (None, None) when it
    did not serve the order."""
    row = connection.execute(sa.select(channel_state_checks.c.channel_status, channel_state_checks.c.canonical_status)
                             .where(channel_state_checks.c.order_id == order_id)).first()
    return (None, None) if row is None else (row.channel_status, row.canonical_status)


def _status(channel_status: str | None, canonical: str | None) -> str:
    """`cancelled`, or `voided (cancelled)` where the channel's word differs from ours."""
    return str(canonical) if channel_status in (None, canonical) else f"{channel_status} ({canonical})"


def _judge_open_order(connection: sa.Connection, channel: ChannelConfig, order_id: str, channel_status: str | None,
                      canonical: str | None, was: str | None) -> tuple[str, str, bool]:
    """Where an S42 order stands now: (status, message, closed here). REFRESHED: its fresh version is normalized
    closed and the warehouse agrees; FOUND: the warehouse has not taken the cancellation yet (tried again on the next
    run); NEEDS_PERSON: the channel no longer serves it, its version does not normalize, it may ship twice, or it
    shipped before the cancellation."""
    here = connection.execute(sa.select(orders.c.canonical_status, orders.c.channel_status)
                              .where(orders.c.order_id == order_id)).first()
    row = connection.execute(sa.select(fulfilment_orders).where(fulfilment_orders.c.order_id == order_id)).first()
    closed_here = here is not None and here.canonical_status in CLOSED_ON_CHANNEL
    seen = f"open here ({was})" if was else "open here"
    at = f" at the warehouse as {row.warehouse_order_id}" if row is not None and row.warehouse_order_id else ""
    if canonical is None:
        sent = f" ({row.warehouse_order_id})" if at else ""
        return NEEDS_PERSON, (
            f"{seen}, but {channel.name} no longer serves the order (deleted, or merged into another): check it on "
            f"{channel.name}, and if it is gone, cancel it at the warehouse{sent} if it was sent"), closed_here
    found = (f"{seen}, {_status(channel_status, canonical)} on {channel.name}: a version the sync missed (its change did not "
             "move the order's modification time past the sync's cursor, or came after the schedules stopped "
             "re-reading its day); the fresh version was landed and normalized")
    if not closed_here:
        return NEEDS_PERSON, (f"{found}, but it is not closed here: see `sync-pipeline why {order_id}` for its error "
                              "and fix"), closed_here
    state = "no fulfilment row" if row is None else f"fulfilment {row.status}"
    if here.canonical_status in CANCELLED_ON_CHANNEL:
        if row is not None and row.status == "ACCEPTED" and row.error_code == "SHIPPED_BEFORE_CANCEL":
            return NEEDS_PERSON, f"{found}; {state}{at}: it shipped before the cancellation: handle it as a return", True
        if row is not None and row.status in ("ACCEPTED", "COMPLETED"):
            return FOUND, (f"{found}; {state}{at}: the cancellation has not reached the warehouse yet "
                           f"({row.message or 'no answer'}); tried again on the next run"), True
        done = ": cancelled there" if row is not None and row.status == "CANCELLED" and at else ""
        return REFRESHED, f"{found}; {state}{at}{done}", True
    if row is not None and row.status == "ACCEPTED" and row.warehouse_status not in SHIPPED_AT_WAREHOUSE:
        return NEEDS_PERSON, (
            f"{found}; {state}{at}, {row.warehouse_status or 'accepted'} there and not shipped: it was fulfilled "
            f"elsewhere, so it may ship twice: cancel {row.warehouse_order_id} at the warehouse if the customer has "
            "it (the next run then resolves this)"), True
    return REFRESHED, f"{found}; {state}{at}", True


# --- S43: warehouse orders linked to no channel order ---------------------------------------------------------------
def match_warehouse_orders(
    engine: sa.Engine, config: PipelineConfig, client: WarehouseClient, run_id: str,
    settings: MatchSettings = MatchSettings(), now: datetime | None = None,
) -> dict[str, Counter]:
    """S43: counters per channel of the candidates (`(none)` for warehouse orders matching none): found (unlinked
    warehouse orders seen), linked, needs_person, waiting."""
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(days=settings.lookback_days)
    read = client.orders_created_since(since)
    live = [o for o in read if o.get("status") != "cancelled"]
    with engine.connect() as connection:
        linked_ids = set(connection.execute(
            sa.select(fulfilment_orders.c.warehouse_order_id).where(fulfilment_orders.c.warehouse_order_id.is_not(None))
        ).scalars())
    unlinked = sorted((o for o in live if o["order_id"] not in linked_ids), key=lambda o: o["order_id"])
    results: dict[str, Counter] = defaultdict(Counter)
    findings: dict[str, list[dict]] = defaultdict(list)
    if unlinked:
        matcher = _Matcher(engine, config, client, unlinked, settings)
        with Claims(engine, fulfilment_orders, "order_id", run_id,
                    timedelta(seconds=client.config.claim_expiry_seconds)) as claims:
            for order in unlinked:
                candidates = matcher.candidates(order)
                channel = candidates[0]["channel"] if candidates else "(none)"
                status, message, order_id = _decide(engine, claims, order, candidates, settings, run_id, now)
                results[channel]["found"] += 1
                results[channel][{LINKED: "linked", NEEDS_PERSON: "needs_person", FOUND: "waiting"}[status]] += 1
                findings[channel].append({
                    "warehouse_order_id": order["order_id"], "order_id": order_id, "status": status, "message": message,
                    "candidates": orjson.dumps([c["order_id"] for c in candidates]).decode(),
                })
    for channel, rows in findings.items():
        _record_findings(engine, S43, None if channel == "(none)" else channel, rows, run_id, now)
    # Listed before and no longer unlinked (linked by a person, cancelled at the warehouse): resolved; only those this
    # run read or sees linked (an older one is out of the look-back, not settled).
    seen = {o["order_id"] for o in unlinked}
    with engine.connect() as connection:
        earlier = connection.execute(
            sa.select(reconciliation_findings.c.finding_id, reconciliation_findings.c.warehouse_order_id)
            .where(reconciliation_findings.c.kind == S43, reconciliation_findings.c.resolved_at.is_(None))
        ).all()
    settled = ({o["order_id"] for o in read} | linked_ids) - seen
    _resolve(engine, [finding for finding, wid in earlier if wid in settled], now)
    return {channel: counts for channel, counts in sorted(results.items())}


class _Matcher:
    """The channel orders here a warehouse order could be: by one of our references, else on time, items and
    customer. Loads the orders and lines of the window once, their SKUs mapped as the fulfilment stage maps them."""

    def __init__(self, engine: sa.Engine, config: PipelineConfig, client: WarehouseClient, unlinked: list[dict],
                 settings: MatchSettings):
        self.settings = settings
        created = [_time(o.get("created_at")) for o in unlinked]
        created = [c for c in created if c is not None] or [datetime.now(timezone.utc)]
        low = min(created) - timedelta(days=settings.placed_after_days)
        high = max(created) + timedelta(hours=settings.placed_before_hours)
        references = sorted({o["client_reference"] for o in unlinked if isinstance(o.get("client_reference"), str)})
        with engine.connect() as connection:
            found = {r["order_id"]: dict(r) for r in connection.execute(
                sa.select(orders).where(orders.c.placed_at.between(low, high))).mappings()}
            for chunk in chunks(references):
                found.update((r["order_id"], dict(r)) for r in connection.execute(
                    sa.select(orders).where(orders.c.order_id.in_(chunk))).mappings())
            lines = []
            for chunk in chunks(found):
                lines += connection.execute(sa.select(order_lines).where(order_lines.c.order_id.in_(chunk))).mappings().all()
            lines = pd.DataFrame(lines, columns=[c.name for c in order_lines.columns])
            ambiguous = {c.name: ambiguous_skus(connection, c.name) for c in config.channels}
        catalogue = set(client.items()) if found else set()
        self.orders = found
        items: dict[str, Counter] = defaultdict(Counter)
        for channel in config.channels:
            mine = lines[lines["channel"] == channel.name]
            if mine.empty:
                continue
            mapped = resolve_skus(mine, channel, catalogue, ambiguous[channel.name])
            for line in mapped.itertuples(index=False):
                items[line.order_id][_sku(line.warehouse_sku)] += int(line.quantity)
        self.by_items: dict[tuple, list[str]] = defaultdict(list)
        for order_id in self.orders:
            self.by_items[_items(items.get(order_id, Counter()))].append(order_id)

    def candidates(self, warehouse_order: dict) -> list[dict]:
        reference = warehouse_order.get("client_reference")
        if isinstance(reference, str) and reference in self.orders:  # one of ours: certain, whatever it holds
            return [self.orders[reference]]
        created = _time(warehouse_order.get("created_at"))
        wanted = Counter()
        for line in warehouse_order.get("lines") or []:
            wanted[_sku(line.get("sku"))] += int(line.get("quantity") or 0)
        if created is None or not wanted:
            return []
        low = created - timedelta(days=self.settings.placed_after_days)
        high = created + timedelta(hours=self.settings.placed_before_hours)
        found = []
        for order_id in self.by_items.get(_items(wanted), []):
            order = self.orders[order_id]
            if low <= order["placed_at"] <= high and _same_customer(warehouse_order, order):
                found.append(order)
        return sorted(found, key=lambda o: (o["placed_at"], o["order_id"]))


def _decide(engine: sa.Engine, claims: Claims, warehouse_order: dict, candidates: list[dict], settings: MatchSettings,
            run_id: str, now: datetime) -> tuple[str, str, str | None]:
    """(status, message, the channel order it is tied to) for one unlinked warehouse order; links a unique match."""
    wid, reference = warehouse_order["order_id"], warehouse_order.get("client_reference")
    created = _time(warehouse_order.get("created_at"))
    customer = (warehouse_order.get("customer") or {}).get("name") or (warehouse_order.get("ship_to") or {}).get("name")
    what = (f"warehouse order {wid} ({'reference ' + repr(reference) if reference else 'no reference'}, "
            f"{customer or 'no customer name'}, created {created:%Y-%m-%d %H:%M} UTC)" if created else
            f"warehouse order {wid}")
    if not candidates:
        young = created is not None and now - created < timedelta(hours=settings.settle_hours)
        if young:
            return FOUND, f"{what} matches no channel order here yet: its channel order may not have landed; matched " \
                          "again on the next run", None
        return NEEDS_PERSON, (
            f"{what} is linked to no channel order here and matches none on time, customer and items: if it is a "
            "channel order, set its reference at the warehouse to the order's id (<channel>:<external id>) and the "
            "next run links it; if it is not one (a replacement, a wholesale order), nothing needs doing"), None
    if len(candidates) > 1:
        listed = ", ".join(f"{c['order_id']} (placed {c['placed_at']:%Y-%m-%d %H:%M})" for c in candidates)
        return NEEDS_PERSON, (
            f"{what} matches {len(candidates)} channel orders on time, customer and items: {listed}. Find which one it "
            f"is and set {wid}'s reference at the warehouse to that order's id: the next run links it; if the pipeline "
            f"has sent that order already (sync-pipeline why <order>), the warehouse holds it twice: cancel {wid} "
            "instead"), None
    order = candidates[0]
    order_id = order["order_id"]
    how = "by its reference" if reference == order_id else "on time, customer and items"
    if order["canonical_status"] in CLOSED_ON_CHANNEL:  # linking would hide it: the warehouse should not ship it
        done = "cancelled" if order["canonical_status"] in CANCELLED_ON_CHANNEL else "fulfilled already"
        return NEEDS_PERSON, (f"{what} matches {order_id} ({how}), which is {done} on {order['channel']}: cancel {wid} "
                              "at the warehouse (the next run then resolves this)"), order_id
    with engine.begin() as connection:
        insert_new(connection, fulfilment_orders, [{
            "order_id": order_id, "channel": order["channel"], "external_order_id": order["external_order_id"],
            "partition_date": order["partition_date"], "client_reference": client_reference(pd.Series([order_id]))[0],
            "status": "NEW", "updated_at": now, "run_id": run_id,
        }], ["order_id"])
        row = connection.execute(sa.select(fulfilment_orders).where(fulfilment_orders.c.order_id == order_id)).first()
    if row.warehouse_order_id and row.status in ("ACCEPTED", "COMPLETED"):
        return NEEDS_PERSON, (
            f"{what} matches {order_id} ({how}), which is at the warehouse already as {row.warehouse_order_id}: the "
            f"order is there twice and would ship twice: cancel one of them at the warehouse (the next run then "
            "resolves this)"), order_id
    if row.status == "CANCELLED":
        return NEEDS_PERSON, (f"{what} matches {order_id} ({how}), which was cancelled on {order['channel']}: cancel "
                              f"{wid} at the warehouse (the next run then resolves this)"), order_id
    if row.in_doubt_since is not None:
        return FOUND, (f"{what} matches {order_id} ({how}), whose send is in doubt: the next fulfilment run looks it "
                       "up; matched again on the next run"), order_id
    # Claimed as a send claims it: not in doubt, held by no live run, never at the warehouse as far as we know (an
    # IMPORT_ERROR naming a warehouse order cancelled there is not: this one replaces it).
    taken = claims.take([order_id], LINKABLE, fulfilment_orders.c.in_doubt_since.is_(None))
    if not taken:
        return FOUND, f"{what} matches {order_id} ({how}), which another run holds now: linked on the next run", order_id
    replaced = f" (in place of {row.warehouse_order_id}, cancelled there)" if row.warehouse_order_id else ""
    message = (f"linked by reconciliation (S43): {what} was keyed in at the warehouse, not sent by this pipeline; it "
               f"matches this order {how}, so the order is never sent{replaced}")
    backordered = warehouse_order.get("backordered") or []
    with engine.begin() as connection:
        connection.execute(fulfilment_orders.update().where(
            fulfilment_orders.c.order_id == order_id, fulfilment_orders.c.claimed_by == run_id,
        ).values(
            status="ACCEPTED", warehouse_order_id=wid, warehouse_status=warehouse_order.get("status"),
            backordered=orjson.dumps(backordered).decode() if backordered else None, linked=True, error_code=None,
            message=message, accepted_at=sa.func.coalesce(fulfilment_orders.c.accepted_at, sa.literal(now, UtcDateTime)),
            updated_at=now, run_id=run_id, claimed_by=None, claimed_at=None,
        ))
        # What stopped it from being sent (SKU_NOT_FOUND, ...) no longer stands between it and the warehouse.
        connection.execute(order_sync_errors.update().where(
            order_sync_errors.c.channel == order["channel"],
            order_sync_errors.c.external_order_id == order["external_order_id"],
            order_sync_errors.c.stage == FULFILMENT_STAGE, order_sync_errors.c.resolved_at.is_(None),
        ).values(resolved_at=now))
    return LINKED, f"{what} matches {order_id} ({how}): linked; the pipeline never sends the order", order_id


def _items(counts: Counter) -> tuple:
    return tuple(sorted((sku, quantity) for sku, quantity in counts.items() if quantity))


def _sku(value) -> str:
    return str(value).strip().casefold() if value is not None and value == value else ""


def _text(value) -> str:
    if not isinstance(value, str):
        return ""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _postcode(value) -> str:
    return "".join(ch for ch in _text(value) if ch.isalnum())


def _same_customer(warehouse_order: dict, order: dict) -> bool:
    """The same e-mail, or the same name (customer or ship-to, either side) and ship-to postal code."""
    customer, ship_to = warehouse_order.get("customer") or {}, warehouse_order.get("ship_to") or {}
    email = _text(customer.get("email"))
    if email and email == _text(order.get("customer_email")):
        return True
    names = {_text(customer.get("name")), _text(ship_to.get("name"))} - {""}
    theirs = {_text(order.get("customer_name")), _text(order.get("ship_name"))} - {""}
    postcode = _postcode(ship_to.get("postal_code"))
    return bool(names & theirs) and bool(postcode) and postcode in {
        _postcode(order.get("ship_postal_code")), _postcode(order.get("bill_postal_code"))}


def _time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# --- findings -------------------------------------------------------------------------------------------------------
def _record_findings(engine: sa.Engine, kind: str, channel: str | None, rows: list[dict], run_id: str,
                     now: datetime) -> None:
    """Upsert by finding: found_at kept from the first sighting; REFRESHED and LINKED are resolved at once, the
    others stay open (resolved_at cleared) while found."""
    if not rows:
        return
    key = "order_id" if kind == S42 else "warehouse_order_id"
    values = [{
        "finding_id": f"{kind}:{r[key]}", "kind": kind, "channel": channel, "order_id": r.get("order_id"),
        "warehouse_order_id": r.get("warehouse_order_id"), "status": r["status"], "candidates": r.get("candidates"),
        "message": r["message"], "found_at": now, "last_seen_at": now,
        "resolved_at": now if r["status"] in (REFRESHED, LINKED) else None, "run_id": run_id,
    } for r in rows]
    table = reconciliation_findings
    with engine.begin() as connection:
        upsert(connection, table, values, ["finding_id"], update={
            **{c: (lambda excluded, c=c: excluded[c]) for c in
               ("channel", "order_id", "warehouse_order_id", "status", "candidates", "message", "last_seen_at", "run_id")},
            # A settled finding keeps when it was settled; an open one is open again.
            "resolved_at": lambda excluded: sa.case(
                (excluded.resolved_at.is_(None), sa.null()),
                else_=sa.func.coalesce(table.c.resolved_at, excluded.resolved_at)),
        })


def _resolve(engine: sa.Engine, finding_ids: list[str], now: datetime) -> None:
    """Open findings no longer found: resolved now (a person acted, or the channel serves the order again)."""
    table = reconciliation_findings
    with engine.begin() as connection:
        for chunk in chunks(finding_ids):
            connection.execute(table.update().where(table.c.finding_id.in_(chunk), table.c.resolved_at.is_(None))
                               .values(resolved_at=now))


def open_findings(engine: sa.Engine, kind: str | None = None) -> list[dict]:
    """Findings not resolved, oldest first (what the asset checks warn on)."""
    table = reconciliation_findings
    query = sa.select(table).where(table.c.resolved_at.is_(None)).order_by(table.c.found_at, table.c.finding_id)
    if kind is not None:
        query = query.where(table.c.kind == kind)
    with engine.connect() as connection:
        return [dict(r) for r in connection.execute(query).mappings()]


def findings_for(connection: sa.Connection, order_id: str) -> list[sa.Row]:
    """Every finding about a channel order: its own (S42, or an S43 link) and the S43 ones listing it as a candidate."""
    table = reconciliation_findings
    return list(connection.execute(
        sa.select(table).where((table.c.order_id == order_id)
                               | table.c.candidates.contains(f'"{order_id}"', autoescape=True))
        .order_by(table.c.found_at, table.c.finding_id)
    ))
