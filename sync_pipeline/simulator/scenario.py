"""What the simulator plays: channels, how many orders, which anomalies and faults, how fast the rate-limit
clocks run. Loaded from YAML and validated strictly, so a typo fails loudly instead of silently simulating
something else."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

CHANNEL_TYPES = ("amazon", "bigcommerce", "bobshop", "ebay", "magento", "shopify", "takealot", "woocommerce")
DEFAULT_TIMEZONES = {
    "shopify": "America/New_York",
    "woocommerce": "Europe/London",
    "amazon": "UTC",
    "takealot": "Africa/Johannesburg",
    "bigcommerce": "America/Chicago",
    "ebay": "Europe/London",
    "magento": "UTC",
    "bobshop": "Africa/Johannesburg",
}
# A channel's `options`, by type: what the simulated store is set to. Magento: whether an integration's access token
# is taken as a bearer token (Magento 2.4.4+'s oauth/consumer/enable_integration_as_bearer, default off), and the
# store's own labels for its default statuses (Stores > Settings > Order Status), e.g. {processing: Ready to Ship}.
# WooCommerce: how many of the extra listings are the variations of one variable product (0: all simple products).
CHANNEL_OPTIONS = {"magento": {"integration_as_bearer": bool, "status_labels": dict},
                   "woocommerce": {"variations_per_product": int}}
CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
DEFAULT_SCENARIO_FILE = Path(__file__).with_name("default_scenario.yaml")
# Order sequence numbers (the base of every platform's ids) come in blocks of MAX_ORDERS_PER_DAY per UTC day
# since SEQ_EPOCH, so a day's ids do not depend on the scenario's window.
SEQ_EPOCH = date(2000, 1, 1)
MAX_ORDERS_PER_DAY = 10_000
MAX_EXTRA_LISTINGS = 100_000


class ScenarioError(ValueError):
    """A scenario (or a faults block) that cannot be simulated; the message names the field."""


@dataclass(frozen=True)
class RateLimit:
    """A bucket of `burst` requests refilled at `per_second` (before the scenario's speed is applied)."""

    burst: int
    per_second: float


# Real platform limits; the YAML key of the bucket size is `bucket` for Shopify's leaky bucket, else `burst`.
DEFAULT_RATE_LIMITS = {
    "shopify": RateLimit(burst=40, per_second=2.0),
    "amazon_getOrders": RateLimit(burst=20, per_second=0.0167),
    "amazon_getOrderItems": RateLimit(burst=30, per_second=0.5),
    "amazon_getOrder": RateLimit(burst=30, per_second=0.5),
    "takealot": RateLimit(burst=10, per_second=1.0),
    "bigcommerce": RateLimit(burst=150, per_second=5.0),  # Standard plan: 150 per 30 s window per store
    "amazon_confirmShipment": RateLimit(burst=10, per_second=2.0),
    "amazon_listings": RateLimit(burst=5, per_second=5.0),  # Listings Items API getListingsItem / patchListingsItem
    # Shopify GraphQL Admin, cost-based and separate from the REST bucket: burst = bucket points, per_second = restore
    # rate. Standard plan 100 points/s (shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits); a live 2025-01
    # answer reports maximumAvailable 2000, restoreRate 100 (see templates/shopify_inventory_set_quantities.json).
    "shopify_graphql": RateLimit(burst=2000, per_second=100.0),
}


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    type: str
    orders_per_day: int
    timezone: str
    # Listings beyond the products its orders draw from (SKU-L0000001, ...), stocked at the warehouse too: a
    # catalogue the size of a real shop's for the inventory flow.
    extra_listings: int = 0
    options: dict = field(default_factory=dict, hash=False)  # CHANNEL_OPTIONS of its type

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# lost_reply: the request is answered (a write takes effect), then the connection drops before the reply arrives.
FAULT_KINDS = ("rate_limit_429", "server_error_5xx", "timeout", "connection_reset", "lost_reply")


@dataclass(frozen=True)
class Faults:
    """Shares of API requests that fail on purpose, and channels whose credentials are refused."""

    rate_limit_429: float = 0.0
    server_error_5xx: float = 0.0
    timeout: float = 0.0
    connection_reset: float = 0.0
    lost_reply: float = 0.0
    expired_credentials: tuple[str, ...] = ()
    timeout_delay_s: float = 2.0
    timeout_window_hours: float | None = None

    @classmethod
    def from_dict(cls, raw: Any, where: str, channel_names: list[str]) -> Faults:
        raw = _mapping(raw, where)
        _known_keys(raw, where, [f.name for f in fields(cls)])
        shares = _fault_shares(raw, where, FAULT_KINDS)
        expired = raw.get("expired_credentials") or []
        if not isinstance(expired, list):
            raise ScenarioError(f"{where}.expired_credentials: must be a list of channel names, got {expired!r}")
        for index, name in enumerate(expired):
            if name not in channel_names:
                raise ScenarioError(
                    f"{where}.expired_credentials[{index}]: {name!r} is not a channel of this scenario "
                    f"({', '.join(channel_names)})"
                )
        window = raw.get("timeout_window_hours")
        return cls(
            **shares,
            expired_credentials=tuple(expired),
            timeout_delay_s=_number(raw.get("timeout_delay_s", 2.0), f"{where}.timeout_delay_s", minimum=0.0),
            timeout_window_hours=None if window is None else _number(window, f"{where}.timeout_window_hours", above=0.0),
        )


@dataclass(frozen=True)
class Anomalies:
    """Shares of generated orders with each data quirk a real channel produces."""

    missing_phone: float = 0.0
    missing_shipping_address: float = 0.0
    non_latin_names: float = 0.0
    status_changes: float = 0.0
    cancellations: float = 0.0
    near_midnight: float = 0.0
    unpaid: float = 0.0
    fba: float = 0.0
    # Orders the normalize gate must quarantine (see the simulator README for each platform's rendering).
    unmapped_status: float = 0.0
    missing_customer: float = 0.0
    malformed_address: float = 0.0
    unknown_country: float = 0.0
    invalid_amount: float = 0.0
    invalid_date: float = 0.0
    # Orders the fulfilment stage must stop before the warehouse.
    unknown_sku: float = 0.0
    sku_case_mismatch: float = 0.0
    duplicate_sku: float = 0.0
    unmapped_ship_method: float = 0.0
    po_box: float = 0.0
    bad_postal_code: float = 0.0
    # Orders whose tracking push the channel refuses as its API does (S29-S33), drawn per order at push time.
    tracking_order_deleted: float = 0.0
    tracking_already_fulfilled: float = 0.0
    tracking_order_locked: float = 0.0
    tracking_order_cancelled: float = 0.0
    tracking_permission_denied: float = 0.0
    # Listings whose stock the channel keeps as its API does, with the seeds' inventory troubles (S36, S40, S41),
    # drawn per listing.
    listing_sku_case_mismatch: float = 0.0  # S36: the listing's SKU differs from the warehouse's only by case
    listing_deleted: float = 0.0  # the product was deleted on the channel: writes to it are refused as not found
    listing_not_tracked: float = 0.0  # "Inventory management disabled" for the listing
    listing_not_active: float = 0.0  # S41: a product not active for sync (draft, archived, disabled)
    listing_drift: float = 0.0  # S40: a person changes the stock by hand after the pipeline first wrote it
    # S42: open orders later fulfilled or cancelled on the channel without their modification time moving (a
    # back-office bulk action or an app writing the status directly), so no incremental fetch returns them again;
    # the change happens when Platform.apply_silent_changes() is called (see the simulator README).
    silent_status_changes: float = 0.0
    # The same customer orders the same items again: the next order of the day becomes a repeat of this one (two
    # channel orders a matcher on time, customer and items cannot tell apart; S43's ambiguous case).
    repeat_orders: float = 0.0

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> Anomalies:
        raw = _mapping(raw, where)
        _known_keys(raw, where, [f.name for f in fields(cls)])
        return cls(**{k: _share(v, f"{where}.{k}") for k, v in raw.items()})


WAREHOUSE_FAULT_KINDS = ("timeout_after_commit", "server_error_5xx", "connection_reset")
DUPLICATE_REFERENCE_POLICIES = ("reject", "accept")


@dataclass(frozen=True)
class WarehouseFaults:
    """Shares of warehouse API requests that fail on purpose. `timeout_after_commit` applies to order creation
    only: the order is stored, then the reply stalls `timeout_delay_s` and the connection is dropped."""

    timeout_after_commit: float = 0.0
    server_error_5xx: float = 0.0
    connection_reset: float = 0.0
    timeout_delay_s: float = 2.0

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> WarehouseFaults:
        raw = _mapping(raw, where)
        _known_keys(raw, where, [f.name for f in fields(cls)])
        shares = _fault_shares(raw, where, WAREHOUSE_FAULT_KINDS)
        return cls(**shares, timeout_delay_s=_number(raw.get("timeout_delay_s", 2.0), f"{where}.timeout_delay_s", minimum=0.0))


@dataclass(frozen=True)
class WarehouseSpec:
    """The 3PL warehouse (FCP) the simulator plays beside the channels, served under /<name>."""

    name: str = "warehouse"
    faults: WarehouseFaults = field(default_factory=WarehouseFaults)
    # Share of channel orders a person already entered by hand (the warehouse answers "Duplicate order number").
    preexisting_orders: float = 0.0
    # Share of catalogue SKUs with no Good stock (orders for them are accepted as backorders).
    out_of_stock: float = 0.0
    # A POST with a client reference already held: "reject" answers 409 (EFS's FCP); "accept" stores another
    # order, as many targets do, so only the pipeline's own care keeps an order from shipping twice.
    duplicate_references: str = "reject"
    # Shipping: an accepted order ships once `ship_after_hours` (a [low, high] range in hours, drawn per order) have
    # passed since the channel placed it, as of the simulator's construction; None: nothing ships on its own.
    ship_after_hours: tuple[float, float] | None = None
    multi_package: float = 0.0  # share of shipped orders sent in several packages
    tracking_corrections: float = 0.0  # share of packages whose tracking number is corrected after shipping
    unknown_carrier: float = 0.0  # share of packages sent with a carrier no channel vocabulary knows
    # Stock that moves while the simulator runs (see warehouse.py): receipts bring Good up, some units turn Hurt,
    # and a share of stock records is impossible (negative, or Allocated above Good: S39).
    receipts: float = 0.0
    hurt: float = 0.0
    stock_anomalies: float = 0.0
    # S43: share of channel orders a person keyed in by hand under another reference or none (no channel, no
    # channel order id): only time, customer and items tie them to their channel order.
    hand_keyed_orders: float = 0.0

    @classmethod
    def from_dict(cls, raw: Any, where: str, channel_names: list[str]) -> WarehouseSpec:
        raw = _mapping(raw, where)
        _known_keys(raw, where, [f.name for f in fields(cls)])
        name = raw.get("name", "warehouse")
        if not isinstance(name, str) or not CHANNEL_NAME.match(name):
            raise ScenarioError(f"{where}.name: {name!r} must match {CHANNEL_NAME.pattern}")
        if name in channel_names or name == "_admin":
            raise ScenarioError(f"{where}.name: {name!r} is already a channel's name; pick another path prefix")
        return cls(
            name=name,
            faults=WarehouseFaults.from_dict(raw.get("faults") or {}, f"{where}.faults"),
            preexisting_orders=_share(raw.get("preexisting_orders", 0.0), f"{where}.preexisting_orders"),
            out_of_stock=_share(raw.get("out_of_stock", 0.0), f"{where}.out_of_stock"),
            duplicate_references=_choice(raw.get("duplicate_references", "reject"), f"{where}.duplicate_references",
                                         DUPLICATE_REFERENCE_POLICIES),
            ship_after_hours=_hours_range(raw.get("ship_after_hours"), f"{where}.ship_after_hours"),
            multi_package=_share(raw.get("multi_package", 0.0), f"{where}.multi_package"),
            tracking_corrections=_share(raw.get("tracking_corrections", 0.0), f"{where}.tracking_corrections"),
            unknown_carrier=_share(raw.get("unknown_carrier", 0.0), f"{where}.unknown_carrier"),
            receipts=_share(raw.get("receipts", 0.0), f"{where}.receipts"),
            hurt=_share(raw.get("hurt", 0.0), f"{where}.hurt"),
            stock_anomalies=_share(raw.get("stock_anomalies", 0.0), f"{where}.stock_anomalies"),
            hand_keyed_orders=_share(raw.get("hand_keyed_orders", 0.0), f"{where}.hand_keyed_orders"),
        )


@dataclass(frozen=True)
class WebhookFaults:
    """How the simulated platforms deliver order webhooks (Shopify, WooCommerce, BigCommerce) to a subscribed URL:
    at least once (retried every `retry_s` until a 2xx, at most `attempts` times), each after a random delay of up to
    `max_delay_s` (so out of order), a share `duplicate` sent twice, a share `drop` never sent."""

    drop: float = 0.0
    duplicate: float = 0.0
    max_delay_s: float = 0.0
    retry_s: float = 1.0
    attempts: int = 5

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> WebhookFaults:
        raw = _mapping(raw, where)
        _known_keys(raw, where, [f.name for f in fields(cls)])
        return cls(
            drop=_share(raw.get("drop", 0.0), f"{where}.drop"),
            duplicate=_share(raw.get("duplicate", 0.0), f"{where}.duplicate"),
            max_delay_s=_number(raw.get("max_delay_s", 0.0), f"{where}.max_delay_s", minimum=0.0),
            retry_s=_number(raw.get("retry_s", 1.0), f"{where}.retry_s", above=0.0),
            attempts=_integer(raw.get("attempts", 5), f"{where}.attempts", minimum=1),
        )


@dataclass(frozen=True)
class Scenario:
    seed: int
    start_date: date
    days: int
    speed: float
    channels: tuple[ChannelSpec, ...]
    faults: Faults = field(default_factory=Faults)
    anomalies: Anomalies = field(default_factory=Anomalies)
    rate_limits: dict[str, RateLimit] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    warehouse: WarehouseSpec = field(default_factory=WarehouseSpec)
    webhooks: WebhookFaults = field(default_factory=WebhookFaults)

    @classmethod
    def from_dict(cls, raw: Any) -> Scenario:
        where = "scenario"
        raw = _mapping(raw, where)
        _known_keys(
            raw, where, ["seed", "start_date", "days", "speed", "channels", "faults", "anomalies", "rate_limits", "warehouse",
                         "webhooks"],
            required=["start_date", "days", "channels"],
        )
        channels = _channels(raw["channels"])
        return cls(
            seed=_integer(raw.get("seed", 0), f"{where}.seed"),
            start_date=_date(raw["start_date"], f"{where}.start_date", earliest=SEQ_EPOCH),
            days=_integer(raw["days"], f"{where}.days", minimum=1),
            speed=_number(raw.get("speed", 1.0), f"{where}.speed", above=0.0),
            channels=channels,
            faults=Faults.from_dict(raw.get("faults") or {}, f"{where}.faults", [c.name for c in channels]),
            anomalies=Anomalies.from_dict(raw.get("anomalies") or {}, f"{where}.anomalies"),
            rate_limits=_rate_limits(raw.get("rate_limits") or {}, f"{where}.rate_limits"),
            warehouse=WarehouseSpec.from_dict(raw.get("warehouse") or {}, f"{where}.warehouse", [c.name for c in channels]),
            webhooks=WebhookFaults.from_dict(raw.get("webhooks") or {}, f"{where}.webhooks"),
        )


def load_scenario(path: str | Path) -> Scenario:
    """A scenario YAML file; every problem is a ScenarioError that starts with the file name."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    try:
        return Scenario.from_dict(raw)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def default_scenario(days: int = 7, today: date | None = None) -> Scenario:
    """The built-in scenario (default_scenario.yaml) covering the `days` UTC days that end today."""
    today = today or datetime.now(timezone.utc).date()
    raw = yaml.safe_load(DEFAULT_SCENARIO_FILE.read_text(encoding="utf-8"))
    raw.update(days=days, start_date=today - timedelta(days=days - 1))
    return Scenario.from_dict(raw)


def _channels(raw: Any) -> tuple[ChannelSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"scenario channels: must be a non-empty list, got {raw!r}")
    channels: list[ChannelSpec] = []
    for index, entry in enumerate(raw):
        where = f"scenario channels[{index}]"
        entry = _mapping(entry, where)
        _known_keys(entry, where, ["name", "type", "orders_per_day", "timezone", "extra_listings", "options"],
                    required=["name", "type"])
        name = entry["name"]
        if not isinstance(name, str) or not CHANNEL_NAME.match(name):
            raise ScenarioError(f"{where}.name: {name!r} must match {CHANNEL_NAME.pattern}")
        for other_index, other in enumerate(channels):
            if other.name == name:
                raise ScenarioError(f"{where}.name: {name!r} is already used by channels[{other_index}]")
        channel_type = entry["type"]
        if channel_type not in CHANNEL_TYPES:
            raise ScenarioError(f"{where}.type: {channel_type!r} is not one of {', '.join(CHANNEL_TYPES)}")
        zone = entry.get("timezone", DEFAULT_TIMEZONES[channel_type])
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ScenarioError(f"{where}.timezone: {zone!r} is not an IANA time zone") from None
        channels.append(
            ChannelSpec(
                name=name,
                type=channel_type,
                orders_per_day=_integer(
                    entry.get("orders_per_day", 25), f"{where}.orders_per_day", minimum=0, maximum=MAX_ORDERS_PER_DAY
                ),
                timezone=zone,
                extra_listings=_integer(entry.get("extra_listings", 0), f"{where}.extra_listings", minimum=0,
                                        maximum=MAX_EXTRA_LISTINGS),
                options=_options(entry.get("options", {}), f"{where}.options", channel_type),
            )
        )
    return tuple(channels)


def _options(raw: Any, where: str, channel_type: str) -> dict:
    raw = _mapping(raw, where)
    known = CHANNEL_OPTIONS.get(channel_type, {})
    _known_keys(raw, where, list(known))
    for key, value in raw.items():
        if not isinstance(value, known[key]) or (known[key] is dict and not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items())) or (
                known[key] is int and (isinstance(value, bool) or value < 0)):
            kind = {bool: "true or false", dict: "a mapping of status to label", int: "a whole number >= 0"}[known[key]]
            raise ScenarioError(f"{where}.{key}: must be {kind}, got {value!r}")
    return dict(raw)


def _rate_limits(raw: Any, where: str) -> dict[str, RateLimit]:
    raw = _mapping(raw, where)
    _known_keys(raw, where, list(DEFAULT_RATE_LIMITS))
    limits = dict(DEFAULT_RATE_LIMITS)
    for key, entry in raw.items():
        size_key = "bucket" if key == "shopify" else "burst"
        entry = _mapping(entry, f"{where}.{key}")
        _known_keys(entry, f"{where}.{key}", [size_key, "per_second"])
        default = DEFAULT_RATE_LIMITS[key]
        limits[key] = RateLimit(
            burst=_integer(entry.get(size_key, default.burst), f"{where}.{key}.{size_key}", minimum=1),
            per_second=_number(entry.get("per_second", default.per_second), f"{where}.{key}.per_second", above=0.0),
        )
    return limits


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: must be a mapping, got {value!r}")
    return value


def _known_keys(raw: dict, where: str, allowed: list[str], required: list[str] = ()) -> None:
    for key in raw:
        if key not in allowed:
            raise ScenarioError(f"{where}: unknown key {key!r} (known: {', '.join(allowed)})")
    for key in required:
        if key not in raw:
            raise ScenarioError(f"{where}.{key}: required")


def _number(value: Any, where: str, minimum: float | None = None, above: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{where}: must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ScenarioError(f"{where}: must be >= {minimum:g}, got {value!r}")
    if above is not None and value <= above:
        raise ScenarioError(f"{where}: must be > {above:g}, got {value!r}")
    return float(value)


def _integer(value: Any, where: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ScenarioError(f"{where}: must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ScenarioError(f"{where}: must be <= {maximum}, got {value!r}")
    return value


def _fault_shares(raw: dict, where: str, kinds: tuple[str, ...]) -> dict[str, float]:
    """Shares of requests, one per fault kind; a request meets at most one fault, so they add up to 1 at most."""
    shares = {k: _share(raw.get(k, 0.0), f"{where}.{k}") for k in kinds}
    if sum(shares.values()) > 1.0:
        raise ScenarioError(f"{where}: the shares {', '.join(kinds)} add up to more than 1")
    return shares


def _share(value: Any, where: str) -> float:
    share = _number(value, where, minimum=0.0)
    if share > 1.0:
        raise ScenarioError(f"{where}: must be a share between 0 and 1, got {value!r}")
    return share


def _hours_range(value: Any, where: str) -> tuple[float, float] | None:
    """None, a number of hours, or [low, high]."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        hours = _number(value, where, minimum=0.0)
        return hours, hours
    if isinstance(value, list) and len(value) == 2:
        low, high = (_number(v, f"{where}[{i}]", minimum=0.0) for i, v in enumerate(value))
        if low > high:
            raise ScenarioError(f"{where}: the low end {low:g} is above the high end {high:g}")
        return low, high
    raise ScenarioError(f"{where}: must be a number of hours or [low, high], got {value!r}")


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ScenarioError(f"{where}: {value!r} is not one of {', '.join(choices)}")
    return value


def _date(value: Any, where: str, earliest: date) -> date:
    parsed = None
    if isinstance(value, date) and not isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            pass
    if parsed is None:
        raise ScenarioError(f"{where}: must be a date like 2026-11-01, got {value!r}")
    if parsed < earliest:
        raise ScenarioError(f"{where}: must be {earliest} or later (order ids are numbered from it), got {parsed}")
    return parsed
