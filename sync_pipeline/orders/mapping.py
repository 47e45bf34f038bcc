"""Field-mapping tables: each channel declares canonical field -> where it sits in the payload.

A spec is a dotted path ("shipping_address.zip", list items by index: "shipping_lines.0.title"),
several paths separated by " | " (the first non-empty wins), or a function of the payload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

Spec = str | Callable[[Any], Any]

# The canonical order: every mapping fills what its channel has; the rest stays empty.
ORDER_FIELDS = (
    "order_number", "channel_status", "customer_name", "customer_email", "customer_phone",
    "ship_name", "ship_company", "ship_address1", "ship_address2", "ship_city", "ship_region",
    "ship_postal_code", "ship_country", "ship_phone", "bill_name", "bill_address1", "bill_city",
    "bill_postal_code", "bill_country", "currency", "total_amount", "shipping_amount", "tax_amount", "ship_method",
)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _paths(spec: str) -> list[tuple[str | int, ...]]:
    return [tuple(int(p) if p.isdigit() else p for p in path.strip().split(".")) for path in spec.split(" | ")]


def _step(parent: str, step: str | int) -> str:
    """Code for one step down from the variable `parent`: a dict key, or a list index (a dict keyed by the
    digits also answers); anything else, or a missing parent, is None."""
    if isinstance(step, int):
        return (f"(({parent}[{step}] if len({parent}) > {step} else None) if isinstance({parent}, list) "
                f"else {parent}.get({str(step)!r}) if isinstance({parent}, dict) else None)")
    return f"({parent}.get({step!r}) if isinstance({parent}, dict) else None)"


def compile_table(table: dict[str, Spec]) -> Callable[[Any], dict]:
    """One function that fills every field of a table from an object, generated as straight-line code: each path
    prefix the fields share is walked once, so mapping costs a few lookups per field, not a generic walk.
    A path spec's value is its first alternative that is not None or blank text."""
    lines, namespace, prefixes = ["def extract(obj):"], {"_filled": _filled}, {(): "obj"}
    values = []
    for index, (name, spec) in enumerate(table.items()):
        if callable(spec):
            namespace[f"fn{index}"] = spec
            values.append(f"{name!r}: fn{index}(obj)")
            continue
        alternatives = []
        for path in _paths(spec):
            for depth in range(1, len(path) + 1):
                if path[:depth] not in prefixes:
                    prefixes[path[:depth]] = variable = f"p{len(prefixes)}"
                    lines.append(f"    {variable} = {_step(prefixes[path[:depth - 1]], path[depth - 1])}")
            alternatives.append(prefixes[path])
        values.append(f"{name!r}: _filled({', '.join(alternatives)})")
    lines.append("    return {" + ", ".join(values) + "}")
    exec("\n".join(lines), namespace)  # noqa: S102 - built from our own field tables, never from data
    return namespace["extract"]


def _filled(*values: Any) -> Any:
    """The first alternative that was sent."""
    for value in values:
        if not _empty(value):
            return value
    return None


def compile_spec(spec: Spec) -> Callable[[Any], Any]:
    """A getter for one spec (see compile_table)."""
    if callable(spec):
        return spec
    extract = compile_table({"value": spec})
    return lambda obj: extract(obj)["value"]


def per_unit(line_total: Any, quantity: Any) -> Any:
    """A unit price from a line total (Amazon, Takealot); an unreadable value is left as sent for the gate."""
    try:
        return str(Decimal(str(line_total)) / Decimal(int(quantity))) if line_total is not None and quantity else line_total
    except (InvalidOperation, ValueError, TypeError, ArithmeticError):
        return line_total


def decimal_sum(values) -> str | None:
    """An order total from its lines' amounts; None when one is unreadable (the gate reports the order)."""
    try:
        return str(sum(Decimal(str(v if v is not None else 0)) for v in values))
    except (InvalidOperation, TypeError, ValueError):
        return None


def iso_time(value: Any, tz: tzinfo) -> datetime:
    """ISO 8601 with an offset or Z (Shopify's shop-local offsets, Amazon's Z); without one, the channel's zone."""
    parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(timezone.utc)


def gmt_time(value: Any, tz: tzinfo) -> datetime:
    """A naive ISO time that is UTC whatever the shop's zone (WooCommerce's *_gmt fields)."""
    return iso_time(value, timezone.utc)


def rfc2822_time(value: Any, tz: tzinfo) -> datetime:
    """RFC 2822 with an offset (BigCommerce's "Wed, 05 Dec 2018 20:16:55 +0000"); "-0000" (UTC, zone unknown)
    is UTC. An unreadable value raises ValueError, so the order becomes INVALID_DATE."""
    parsed = parsedate_to_datetime(str(value).strip())  # ValueError when unreadable (Python 3.10+)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def local_time(fmt: str) -> Callable[[Any, tzinfo], datetime]:
    """A naive time in `fmt`, in the channel's own zone (Takealot's order_date)."""

    def parse(value: Any, tz: tzinfo) -> datetime:
        return datetime.strptime(str(value).strip(), fmt).replace(tzinfo=tz).astimezone(timezone.utc)

    return parse


class OrderTimes(NamedTuple):
    """When an order was placed and last changed, in UTC; `placed_at` is None when the channel sent something
    unreadable, which `placed_at_sent` keeps for the error message."""

    placed_at: datetime | None
    updated_at: datetime | None
    placed_at_sent: Any


def join_names(*specs: str) -> Callable[[Any], str | None]:
    """A name assembled from parts, e.g. first and last name."""

    getters = [compile_spec(s) for s in specs]

    def name(obj: Any) -> str | None:
        parts = [get(obj) for get in getters]
        text = " ".join(str(p).strip() for p in parts if not _empty(p))
        return text or None

    return name


def _nothing(obj: Any) -> None:
    """A canonical field the channel does not have."""
    return None


@dataclass(frozen=True)
class ChannelMapping:
    """How one payload shape becomes a canonical order and its lines."""

    order: dict[str, Spec]
    lines: Spec
    line: dict[str, Spec]
    # The part of the landed payload that holds the order (Amazon lands {"Order", "OrderItems"}).
    order_root: Spec | None = None
    extra: dict[str, str] = field(default_factory=dict)  # channel-specific fields kept as JSON
    # Orders the warehouse must never see whatever their status (Amazon FBA): the reason, or None.
    skip_reason: Callable[[dict], str | None] = lambda order: None
    # Where the creation and modification times sit (paths from the order root) and how they are written.
    placed_at: Spec | None = None
    updated_at: Spec | None = None
    read_time: Callable[[Any, tzinfo], datetime] = iso_time

    def __post_init__(self):
        unknown = set(self.order) - set(ORDER_FIELDS)
        if unknown:
            raise ValueError(f"mapping names fields outside the canonical order: {sorted(unknown)}")
        compiled = {
            "_root": compile_spec(self.order_root) if self.order_root else (lambda payload: payload),
            "_order": compile_table({name: self.order.get(name, _nothing) for name in ORDER_FIELDS}),
            "_lines": compile_spec(self.lines),
            "_line": compile_table(self.line),
            "_extra": compile_table(self.extra),
            "_status": compile_spec(self.order["channel_status"]),
            "_placed_at": compile_spec(self.placed_at) if self.placed_at else (lambda root: None),
            "_updated_at": compile_spec(self.updated_at) if self.updated_at else (lambda root: None),
        }
        for name, value in compiled.items():
            object.__setattr__(self, name, value)

    def status(self, payload: Any) -> Any:
        return self._status(self._root(payload))

    def _read(self, value: Any, tz: tzinfo) -> datetime | None:
        if value is None:
            return None
        try:
            return self.read_time(value, tz)
        except (ValueError, TypeError, OverflowError):
            return None

    def times(self, payload: Any, tz: tzinfo) -> OrderTimes:
        """The order's times, parsed the channel's own way; an unreadable one is None, never a guess."""
        root = self._root(payload)
        sent = self._placed_at(root)
        placed = self._read(sent, tz)
        return OrderTimes(placed, self._read(self._updated_at(root), tz) or placed, sent)

    def map(self, payload: Any) -> tuple[dict, list[dict]]:
        order = self._order(self._root(payload))
        order["channel_fields"] = self._extra(payload)
        order["skip_reason"] = self.skip_reason(order)
        lines = self._lines(payload) or []
        if not isinstance(lines, list):
            lines = []
        mapped = []
        for number, line in enumerate(lines, start=1):
            row = self._line(line)
            row["line_number"] = number
            mapped.append(row)
        return order, mapped
