"""What every simulated platform is made of. The server owns routing by channel, fault injection, rate
limiting and the request log; a platform says only what differs: its routes, its auth, its error bodies,
its rate-limit headers, how it renders a generated order, and how it reads an order posted to /_admin."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sync_pipeline.simulator.orders import (
    Market,
    Product,
    SimOrder,
    SimOrderRecord,
    channel_rng,
    generate_orders,
    later_version,
)
from sync_pipeline.simulator.ratelimit import Bucket, BucketReading
from sync_pipeline.simulator.scenario import ChannelSpec, RateLimit, Scenario

# The tracking refusals a channel can meet (scenario anomaly shares), drawn once per channel order, in this order.
TRACKING_ANOMALIES = (
    "tracking_order_deleted",  # S30: the order is gone from the channel (404 on its fulfillment endpoints)
    "tracking_already_fulfilled",  # S29: a person fulfilled it by hand first (the channel holds a "hand" fulfillment)
    "tracking_order_locked",  # S31: the first LOCKED_ATTEMPTS pushes are refused as locked / timed out, then accepted
    "tracking_order_cancelled",  # S32: cancelled on the channel after it shipped; the push is refused
    "tracking_permission_denied",  # S33: the app lacks the fulfillment scope for this order's location: 403
)
LOCKED_ATTEMPTS = 2
# The inventory troubles a listing can have (scenario anomaly shares), drawn once per listing, in this order.
LISTING_ANOMALIES = (
    "listing_sku_case_mismatch",  # S36: the listing's SKU is the warehouse's in another case
    "listing_deleted",  # the product is gone from the channel: a write to it is refused as not found
    "listing_not_tracked",  # "Inventory management disabled": the channel keeps no stock for it
    "listing_not_active",  # S41: not active for sync (draft, archived, disabled by the channel)
    "listing_drift",  # S40: after the pipeline first writes it, a person sets another quantity by hand
)
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
Window = tuple[datetime | None, datetime | None]


def load_template(filename: str) -> str:
    """A real payload's JSON text; json.loads of it is a fresh deep copy for every generated order."""
    return (TEMPLATES / filename).read_text(encoding="utf-8")


class AdminError(ValueError):
    """An order posted to /_admin that the platform cannot store; the message says what is wrong."""


@dataclass
class ApiRequest:
    method: str
    path: list[str]  # segments after /<channel>
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    channel_url: str  # <simulator url>/<channel>

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def values(self, name: str) -> list[str]:
        """A list parameter, sent comma-separated or repeated."""
        return [v for raw in self.query.get(name, []) for v in raw.split(",") if v]


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """One endpoint: `operation` names it for rate limits; `window` gives a list request's created-date window
    (for the timeout_window_hours fault); `authenticated` is False where the handler checks credentials itself."""

    operation: str
    handler: Callable[[ApiRequest], ApiResponse]
    window: Callable[[ApiRequest], Window] | None = None
    authenticated: bool = True


class OrderStore:
    """A channel's orders by external id, safe to read while /_admin adds or replaces some."""

    def __init__(self, records: Iterable[SimOrderRecord] = ()):
        self._lock = threading.Lock()
        self._records = {r.external_order_id: r for r in records}

    def put(self, records: Iterable[SimOrderRecord]) -> None:
        with self._lock:
            self._records.update((r.external_order_id, r) for r in records)

    def get(self, external_order_id: str) -> SimOrderRecord | None:
        with self._lock:
            return self._records.get(external_order_id)

    def all(self) -> list[SimOrderRecord]:
        """Oldest first (placed_at, then id)."""
        with self._lock:
            records = list(self._records.values())
        return sorted(records, key=lambda r: (r.placed_at, id_key(r.external_order_id)))


class TrackingStore:
    """Every fulfillment (a package with its tracking numbers) a channel holds, per channel order: what tests and
    the demo count, never the pipeline's tables. `source` is "api" for a push, "hand" for one a person made."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_order: dict[str, list[dict]] = {}
        self._seq = 0

    def add(self, external_order_id: str, tracking_numbers: list[str], carrier: str | None, lines: list[dict],
            source: str = "api", extra: dict | None = None) -> dict:
        """Store a fulfillment; `lines` are [{"line_id", "quantity"}] in the platform's line ids. Returns a copy."""
        with self._lock:
            self._seq += 1
            now = iso_utc(datetime.now(timezone.utc))
            record = {
                "fulfillment_id": str(900_000_000 + self._seq), "tracking_numbers": list(tracking_numbers),
                "carrier": carrier, "lines": [dict(line) for line in lines], "source": source,
                "created_at": now, "updated_at": now, "previous_numbers": [], **(extra or {}),
            }
            self._by_order.setdefault(external_order_id, []).append(record)
            return copy.deepcopy(record)

    def update(self, external_order_id: str, fulfillment_id: str, tracking_numbers: list[str],
               carrier: str | None) -> dict | None:
        """Replace a fulfillment's numbers (a correction); the old ones go to `previous_numbers`. None if unknown."""
        with self._lock:
            for record in self._by_order.get(external_order_id, []):
                if record["fulfillment_id"] == fulfillment_id:
                    record["previous_numbers"] += [n for n in record["tracking_numbers"] if n not in tracking_numbers]
                    record["tracking_numbers"] = list(tracking_numbers)
                    record["carrier"] = carrier if carrier is not None else record["carrier"]
                    record["updated_at"] = iso_utc(datetime.now(timezone.utc))
                    return copy.deepcopy(record)
        return None

    def of(self, external_order_id: str) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._by_order.get(external_order_id, []))

    def all(self) -> dict[str, list[dict]]:
        with self._lock:
            return copy.deepcopy(self._by_order)


def drift_bounce(quantity: int, by: int) -> int:
    """Shopify's, WooCommerce's and Takealot's hand change: `by` fewer, or `by` more when that would go below 0."""
    low = quantity - by
    return low if low >= 0 else quantity + by


def drift_floor(quantity: int, by: int) -> int:
    """Amazon's, eBay's and BigCommerce's hand change: `by` fewer, but never below 0."""
    return max(0, quantity - by)


class ListingStore:
    """Every listing a channel keeps, with its stock, and every quantity each listing held and when (what tests
    and the demo count, never the pipeline's tables). A listing is a dict with at least `listing_id`, `sku` (as the
    channel holds it), `warehouse_sku` (the catalogue SKU it stands for), `quantity`, `tracked`, `active`,
    `deleted`, `anomaly` and `drift_by` (see Platform.new_listing); platforms add their own ids (variant and
    inventory item ids, ASINs, offer ids).

    The listing_drift bookkeeping is the store's, under its own lock: `written` records an API write and, the first
    time a drift listing is written, arms its hand change; the next `read` of it applies that change once (the
    quantity `drift(quantity, drift_by)`, recorded with source "hand"). With `stamp_updated_at` such a write and
    such a hand change also set the listing's `updated_at` to now (for platforms whose answers show when a listing
    changed); set_quantity and update never do."""

    def __init__(self, listings: Iterable[dict] = (), drift: Callable[[int, int], int] = drift_bounce,
                 stamp_updated_at: bool = False):
        self._lock = threading.Lock()
        self._listings = {listing["listing_id"]: dict(listing) for listing in listings}
        # field -> value -> listing ids holding it, in insertion order: built on a field's first find, kept up to
        # date by every change, so a lookup per request stays cheap on a catalogue of 100,000 listings.
        self._indexes: dict[str, dict[Any, list[str]]] = {}
        self._drift_rule = drift
        self._stamp = stamp_updated_at
        self._drift: dict[str, bool] = {}  # listing id -> hand change applied (False: due at the next read)
        now = iso_utc(datetime.now(timezone.utc))
        self._history: list[dict] = [
            {"listing_id": i, "quantity": listing["quantity"], "at": now, "source": "initial"}
            for i, listing in self._listings.items()
        ]

    def get(self, listing_id: str) -> dict | None:
        with self._lock:
            listing = self._listings.get(listing_id)
            return dict(listing) if listing is not None else None

    def find(self, **values: Any) -> dict | None:
        """The first listing whose fields equal all these values (a copy; deleted ones too), or None."""
        with self._lock:
            key, value = next(iter(values.items()))
            for listing_id in self._index(key).get(value, ()):
                listing = self._listings[listing_id]
                if all(listing.get(k, _ABSENT) == v for k, v in values.items()):
                    return dict(listing)
        return None

    def _index(self, key: str) -> dict[Any, list[str]]:
        """The index of one field (built now if this is its first lookup); the caller holds the lock."""
        if key not in self._indexes:
            index: dict[Any, list[str]] = {}
            for listing_id, listing in self._listings.items():
                index.setdefault(listing.get(key, _ABSENT), []).append(listing_id)
            self._indexes[key] = index
        return self._indexes[key]

    def _change(self, listing_id: str, values: dict) -> None:
        """Set a listing's fields, keeping the indexes true; the caller holds the lock."""
        listing = self._listings[listing_id]
        for key, index in self._indexes.items():
            if key in values and listing.get(key, _ABSENT) != values[key]:
                index[listing.get(key, _ABSENT)].remove(listing_id)
                index.setdefault(values[key], []).append(listing_id)
        listing.update(values)

    def by_sku(self, sku: str) -> dict | None:
        """The listing under exactly this SKU as the channel holds it (not the warehouse's; deleted ones too)."""
        return self.find(sku=sku)

    def all(self) -> list[dict]:
        """Every listing (copies), by listing id."""
        with self._lock:
            return [dict(self._listings[k]) for k in sorted(self._listings)]

    def hand_change(self, listing_id: str, quantity: int) -> dict:
        """A person sets the listing's quantity in the channel's admin (S40): recorded with source "hand", and with
        `stamp_updated_at` the listing's updated_at is now, as the platform's answers then show it."""
        with self._lock:
            return self._set(listing_id, quantity, "hand", self._stamp)

    def written(self, listing_id: str, quantity: int, **values: Any) -> dict:
        """Record an API write of `quantity` (and of the platform's other fields in `values`, in the same step);
        the first write of a listing_drift listing arms its hand change for the next read. Returns a copy."""
        with self._lock:
            listing = self._set(listing_id, quantity, "api", self._stamp, **values)
            if listing["anomaly"] == "listing_drift":
                self._drift.setdefault(listing_id, False)
            return listing

    def read(self, listing_id: str) -> dict:
        """The listing as a read finds it (a copy): a drift listing written once first gets its one hand change."""
        with self._lock:
            listing = self._listings[listing_id]
            if self._drift.get(listing_id) is False:
                self._drift[listing_id] = True
                return self._set(listing_id, self._drift_rule(listing["quantity"], listing["drift_by"]), "hand",
                                 self._stamp)
            return dict(listing)

    def _set(self, listing_id: str, quantity: int, source: str, stamp: bool, **values: Any) -> dict:
        """A quantity the listing now holds, with the lock held; `values` (and with `stamp`, updated_at) are set
        with it."""
        listing = self._listings[listing_id]
        now = datetime.now(timezone.utc)
        self._change(listing_id, {"quantity": quantity, **values, **({"updated_at": now} if stamp else {})})
        self._history.append({"listing_id": listing_id, "quantity": quantity, "at": iso_utc(now), "source": source})
        return dict(listing)

    def update(self, listing_id: str, **values) -> dict:
        """Change a listing's other fields (tracked, active, ...); quantities go through written / set_quantity."""
        with self._lock:
            self._change(listing_id, values)
            return dict(self._listings[listing_id])

    def history(self) -> list[dict]:
        """Every quantity every listing held, oldest first: {listing_id, quantity, at, source}."""
        with self._lock:
            return [dict(entry) for entry in self._history]


_ABSENT = object()


def seeded(seed: int, channel: str, sku: str, what: str) -> random.Random:
    """A stable RNG for one named draw of a channel's SKU, independent of PYTHONHASHSEED."""
    digest = hashlib.sha256(f"{seed}:{channel}:{sku}:{what}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def id_key(external_order_id: str) -> tuple[int, int | str]:
    """Numeric ids sort as numbers, others as text."""
    return (0, int(external_order_id)) if external_order_id.isdigit() else (1, external_order_id)


class Platform(ABC):
    """One simulated channel of a platform type."""

    type: ClassVar[str]
    credential_names: ClassVar[tuple[str, ...]]
    market: ClassVar[Market]
    # Rate-limit keys of scenario.rate_limits, by operation.
    rate_limit_keys: ClassVar[dict[str, str]] = {}
    # (code, message) of the platform's error body, by HTTP status.
    errors: ClassVar[dict[int, tuple[str, str]]]
    # Where a listing's seeded numbers come from (each platform keeps the draws it always had, so its seeded stock
    # stays the same): "stream" (Shopify, WooCommerce, Takealot) is one RNG per listing, channel_rng(seed, channel,
    # ":listing:<sku>"), drawing the quantity, then the platform's own `drawn` fields, then drift_by; "named"
    # (Amazon, eBay, BigCommerce) is one RNG per number, seeded(seed, channel, sku, "stock") and (..., "drift").
    listing_draws: ClassVar[str] = "named"

    def __init__(self, spec: ChannelSpec, credentials: dict[str, str], scenario: Scenario):
        self.name = spec.name
        self.tz = ZoneInfo(spec.timezone)
        self.credentials = credentials
        self.store = OrderStore()
        self.tracking = TrackingStore()
        self._spec, self._scenario = spec, scenario
        self._silent_done: set[str] = set()  # silent_status_changes orders changed already, by external id
        self._seed = scenario.seed
        self._tracking_shares = [(name, getattr(scenario.anomalies, name)) for name in TRACKING_ANOMALIES]
        self._listing_shares = [(name, getattr(scenario.anomalies, name)) for name in LISTING_ANOMALIES]
        self._locked_left: dict[str, int] = {}
        self._tracking_lock = threading.Lock()
        self._buckets = {
            operation: _bucket(scenario.rate_limits[key], scenario.speed) for operation, key in self.rate_limit_keys.items()
        }

    # --- HTTP -----------------------------------------------------------------------------------------
    @abstractmethod
    def route(self, request: ApiRequest) -> Route | None:
        """The endpoint a request is for, or None (answered with not_found)."""

    @abstractmethod
    def authorized(self, request: ApiRequest) -> bool:
        """Whether the request carries this channel's credentials."""

    @abstractmethod
    def error(self, status: int, message: Any = None, code: str | None = None) -> ApiResponse:
        """The platform's own error body for `status` (default code and message from `errors`)."""

    def not_found(self) -> ApiResponse:
        return self.error(404)

    def auth_failure(self, route: Route) -> ApiResponse:
        return self.error(401)

    def bucket(self, route: Route) -> Bucket | None:
        return self._buckets.get(route.operation)

    def rate_headers(self, reading: BucketReading) -> dict[str, str]:
        return {}

    def too_many_requests(self, reading: BucketReading) -> ApiResponse:
        """The answer when the bucket is empty (not an injected 429)."""
        return self.error(429)

    # --- webhooks -------------------------------------------------------------------------------------
    # The platforms that send order webhooks (Shopify, WooCommerce, BigCommerce) name their topics here, by event
    # (created, updated, cancelled), and build each delivery as they send it in `webhook`.
    webhook_topics: ClassVar[dict[str, str]] = {}

    def webhook(self, record: SimOrderRecord, event: str, number: int, now: datetime) -> tuple[str, dict[str, str], bytes]:
        """(delivery id, headers, body) of the platform's delivery of an order event; `number` counts deliveries."""
        raise NotImplementedError(f"{self.type} sends no order webhooks")

    # --- orders ---------------------------------------------------------------------------------------
    @abstractmethod
    def render(self, order: SimOrder) -> SimOrderRecord:
        """A generated order in the platform's JSON, built on a copy of the real payload template."""

    @abstractmethod
    def parse_admin(self, body: Any) -> list[SimOrderRecord]:
        """Orders posted to /_admin in the platform's own shape (one order or its list response)."""

    def silent_changes(self, at: datetime | None = None) -> dict[str, SimOrder]:
        """The channel's silent_status_changes orders not changed yet, by external id, as generated (open), with
        `silent_change` the status they will take. Orders placed after the simulator was built are not served, so
        not here either."""
        spec, scenario = self._spec, self._scenario
        generated = generate_orders(scenario.seed, spec.name, self.tz, scenario.start_date, scenario.days,
                                    spec.orders_per_day, scenario.anomalies, self.market,
                                    at or datetime.now(timezone.utc))
        pending = {}
        for order in generated:
            if order.silent_change is None:
                continue
            record = self.render(order)
            if record.external_order_id not in self._silent_done and self.store.get(record.external_order_id) is not None:
                pending[record.external_order_id] = order
        return pending

    def apply_silent_changes(self, at: datetime | None = None) -> dict[str, str]:
        """S42: cancel or fulfil every silent_status_changes order now (`at`, default now), writing the change the
        way a platform that does not bump the modification time does: the payload shows the new status (and its
        cancel or fulfilment time), `updated_at` and the list filters' time stay what they were. Lists and one-order
        reads serve the new version from then on. An order changed meanwhile by something else (a tracking push that
        set its status) is left alone. Returns {external id: "cancelled" | "shipped"} of the orders changed."""
        at = at or datetime.now(timezone.utc)
        changed = {}
        for external_id, order in self.silent_changes(at).items():
            if self.store.get(external_id).payload != self.render(order).payload:
                continue
            later = self.render(later_version(order, at))
            assert later.updated_at == self.store.get(external_id).updated_at
            self.store.put([later])
            self._silent_done.add(external_id)
            changed[external_id] = order.silent_change
        return changed

    # --- tracking -------------------------------------------------------------------------------------
    # Platforms without a tracking push (Takealot) never call these.
    def tracking_anomaly(self, external_order_id: str) -> str | None:
        """The tracking refusal this order meets (TRACKING_ANOMALIES), the same on every call and every run."""
        digest = hashlib.sha256(f"{self._seed}:{self.name}:{external_order_id}:tracking".encode()).digest()
        draw = random.Random(int.from_bytes(digest[:8], "big")).random()
        for name, share in self._tracking_shares:
            if draw < share:
                return name
            draw -= share
        return None

    def locked_now(self, external_order_id: str) -> bool:
        """For a tracking_order_locked order: True for its first LOCKED_ATTEMPTS push attempts, then False."""
        if self.tracking_anomaly(external_order_id) != "tracking_order_locked":
            return False
        with self._tracking_lock:
            left = self._locked_left.setdefault(external_order_id, LOCKED_ATTEMPTS)
            self._locked_left[external_order_id] = max(0, left - 1)
            return left > 0

    def hand_fulfilled(self, external_order_id: str, lines: list[dict]) -> None:
        """For a tracking_already_fulfilled order: the fulfillment a person made by hand, added the first time the
        order's fulfillments are looked at (`lines` in the platform's line ids, all of them)."""
        if self.tracking_anomaly(external_order_id) != "tracking_already_fulfilled":
            return
        with self._tracking_lock:
            if not any(r["source"] == "hand" for r in self.tracking.of(external_order_id)):
                self.tracking.add(external_order_id, [f"HAND{external_order_id[-8:]}"], "Hand", lines, source="hand")

    # --- inventory ------------------------------------------------------------------------------------
    def listing_anomaly(self, warehouse_sku: str) -> str | None:
        """The inventory trouble this channel's listing of a SKU has (LISTING_ANOMALIES), the same on every run."""
        digest = hashlib.sha256(f"{self._seed}:{self.name}:{warehouse_sku}:listing".encode()).digest()
        draw = random.Random(int.from_bytes(digest[:8], "big")).random()
        for name, share in self._listing_shares:
            if draw < share:
                return name
            draw -= share
        return None

    def new_listing(self, product: Product, drawn: Callable[[str | None, random.Random], dict] | None = None,
                    **platform_fields: Any) -> dict:
        """This channel's listing of `product`, for its ListingStore: the SKU's listing anomaly applied (the sku
        lower-cased for listing_sku_case_mismatch; `deleted`, `tracked`, `active`), its seeded quantity (0..50) and
        drift_by (1..5, how far a listing_drift hand change moves it), then `platform_fields`; `listing_id`
        defaults to the sku as the channel holds it. `drawn(anomaly, rng)` ("stream" platforms only) returns the
        platform's fields drawn from the listing's RNG, after the quantity and before drift_by."""
        sku = product.sku
        anomaly = self.listing_anomaly(sku)
        if self.listing_draws == "stream":
            rng = channel_rng(self._seed, self.name, f":listing:{sku}")
            quantity = rng.randint(0, 50)
            platform_fields.update(drawn(anomaly, rng) if drawn else {})
            drift_by = rng.randint(1, 5)
        else:
            assert drawn is None, "only a stream platform draws its own fields from the listing's RNG"
            quantity = seeded(self._seed, self.name, sku, "stock").randint(0, 50)
            drift_by = seeded(self._seed, self.name, sku, "drift").randint(1, 5)
        held = sku.lower() if anomaly == "listing_sku_case_mismatch" else sku
        return {
            "listing_id": held, "sku": held, "warehouse_sku": sku, "quantity": quantity,
            "tracked": anomaly != "listing_not_tracked", "active": anomaly != "listing_not_active",
            "deleted": anomaly == "listing_deleted", "anomaly": anomaly, "drift_by": drift_by, **platform_fields,
        }

    def check_credentials(self, given: str | None, name: str) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.credentials[name].encode())


def signature(secret: str, body: bytes) -> str:
    """Base64 of HMAC-SHA256 of the body: how Shopify and WooCommerce sign a delivery."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _bucket(limit: RateLimit, speed: float) -> Bucket:
    return Bucket(limit.burst, limit.per_second * speed)


def encode_token(data: dict) -> str:
    """An opaque cursor: URL-safe base64 of compact JSON, without padding."""
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def parse_time(value: str, naive_tz: ZoneInfo | timezone = timezone.utc) -> datetime:
    """An ISO-8601 time in UTC; one without an offset is read in `naive_tz`. Raises ValueError."""
    text = value.strip()
    if "T" in text:
        text = text.replace(" ", "+")  # an offset's unencoded '+' arrives from a query string as a space
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_tz)
    return parsed.astimezone(timezone.utc)


def iso_utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def admin_orders(body: Any, list_key: str, platform: str) -> Iterator[tuple[str, dict]]:
    """Each order of an admin body (one order object, a list of them, or the platform's list answer
    {list_key: [...]}) with the label its errors name."""
    orders = body[list_key] if isinstance(body, dict) and isinstance(body.get(list_key), list) else body
    for index, order in enumerate(orders if isinstance(orders, list) else [orders]):
        what = f"{platform} order #{index}"
        if not isinstance(order, dict):
            raise AdminError(f"{what}: expected an order object, a list of them, or {{\"{list_key}\": [...]}}")
        yield what, order


def require(body: dict, key: str, what: str) -> Any:
    if key not in body or body[key] in (None, ""):
        raise AdminError(f"{what}: {key!r} is missing")
    return body[key]


def admin_time(body: dict, key: str, what: str, naive_tz: ZoneInfo | timezone = timezone.utc) -> datetime:
    value = require(body, key, what)
    try:
        return parse_time(str(value), naive_tz)
    except ValueError:
        raise AdminError(f"{what}: {key!r} is not an ISO-8601 time: {value!r}") from None


def overwrite(target: dict, **values: Any) -> dict:
    """Set fields the real payload has; a name it lacks is a bug here, so the template's shape is kept."""
    for key, value in values.items():
        if key not in target:
            raise KeyError(f"{key!r} is not a field of the template")
        target[key] = value
    return target
