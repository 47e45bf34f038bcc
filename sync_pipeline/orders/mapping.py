"""Field-mapping tables: each channel declares canonical field -> where it sits in the payload.

A spec is a dotted path ("shipping_address.zip", list items by index: "shipping_lines.0.title"),
several paths separated by " | " (the first non-empty wins), parts joined by a space (join_names), the first
non-empty of several specs (first_of: a customer's joined name, else the ship-to's), or a function of the payload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Joined:
    """A value assembled from parts (first and last name): the parts that were sent, joined by a space."""

    parts: tuple[str, ...]


def join_names(*specs: str) -> Joined:
    return Joined(specs)


@dataclass(frozen=True)
class FirstOf:
    """The first of several specs (paths, Joined) that gives a value: where " | " cannot go, between joined names."""

    specs: tuple


def first_of(*specs) -> FirstOf:
    return FirstOf(specs)


def as_text(value: Any) -> str | None:
    """A canonical text value: stripped text, or None when nothing but blanks was sent. A number or anything
    else sent where text belongs is kept as its text, for the gates to judge."""
    if value.__class__ is not str:
        if value is None:
            return None
        value = str(value)
    return value.strip() or None


def _join(*parts: str | None) -> str | None:
    return " ".join(part for part in parts if part is not None) or None


Spec = str | Joined | FirstOf | Callable[[Any], Any]

# The canonical order: every mapping fills what its channel has; the rest stays empty. Amounts come out as
# sent (the normalize gate reads them); every other field comes out as text (as_text).
AMOUNT_FIELDS = ("total_amount", "shipping_amount", "tax_amount")
ORDER_FIELDS = (
    "order_number", "channel_status", "customer_name", "customer_email", "customer_phone",
    "ship_name", "ship_company", "ship_address1", "ship_address2", "ship_city", "ship_region",
    "ship_postal_code", "ship_country", "ship_phone", "bill_name", "bill_address1", "bill_city",
    "bill_postal_code", "bill_country", "currency", *AMOUNT_FIELDS, "ship_method",
)
ORDER_TEXT_FIELDS = frozenset(ORDER_FIELDS) - set(AMOUNT_FIELDS)
# What a mapped order row holds after its fields; a line row holds LINE_FIELDS then its number (from 1).
ORDER_COLUMNS = (*ORDER_FIELDS, "channel_fields", "skip_reason")
LINE_FIELDS = ("channel_sku", "variant_id", "quantity", "unit_price", "title")
LINE_COLUMNS = (*LINE_FIELDS, "line_number")


def _paths(spec: str) -> list[tuple[str | int, ...]]:
    return [tuple(int(p) if p.isdigit() else p for p in path.strip().split(".")) for path in spec.split(" | ")]


def _index(parent: str, index: int) -> str:
    """Code for a list item of the variable `parent` (a dict keyed by the digits also answers), else None."""
    return (f"(({parent}[{index}] if len({parent}) > {index} else None) if isinstance({parent}, list) "
            f"else {parent}.get({str(index)!r}) if isinstance({parent}, dict) else None)")


class _Extractor:
    """Generates one straight-line function over an object: each path prefix the specs share is walked once,
    and the first-sent check is inlined, so a field costs a few lookups rather than generic calls."""

    def __init__(self):
        self.lines = ["def extract(obj):"]
        self.namespace = {"_join": _join, "_text": as_text, "_NOTHING": {}}
        self.prefixes: dict[tuple, str] = {(): "obj"}
        self.dicts: dict[str, str] = {}  # variable -> the same as a dict ({} when it is anything else), once
        self.known: dict[tuple, str] = {}  # a spec used twice (bill_name = customer_name) is read once

    def _variable(self, prefix: str) -> str:
        return f"{prefix}{len(self.lines)}"

    def _step(self, parent: str, step: str | int) -> str:
        """Code for one step down from `parent`: a dict key or a list index; a missing parent gives None."""
        if isinstance(step, int):
            return _index(parent, step)
        if parent not in self.dicts:
            self.dicts[parent] = variable = self._variable("d")
            self.lines.append(f"    {variable} = {parent} if isinstance({parent}, dict) else _NOTHING")
        return f"{self.dicts[parent]}.get({step!r})"

    def _walk(self, path: tuple[str | int, ...]) -> str:
        for depth in range(1, len(path) + 1):
            if path[:depth] not in self.prefixes:
                step = self._step(self.prefixes[path[:depth - 1]], path[depth - 1])
                self.prefixes[path[:depth]] = variable = self._variable("p")
                self.lines.append(f"    {variable} = {step}")
        return self.prefixes[path]

    def _first_sent(self, spec: str, text: bool) -> str:
        """A variable holding the spec's first alternative that is not None or blank text (else None); as text
        (see as_text) when `text`."""
        alternatives = [self._walk(path) for path in _paths(spec)]
        value = self._variable("v")
        if text:  # as_text inlined for the common case, text
            for number, alternative in enumerate(alternatives):
                indent = "    " if number == 0 else "        "
                if number:
                    self.lines.append(f"    if {value} is None:")
                self.lines.append(f"{indent}{value} = {alternative}")
                self.lines.append(f"{indent}{value} = {value}.strip() or None if {value}.__class__ is str else _text({value})")
            return value
        blank = f"{value}.__class__ is str and not {value}.strip()"
        self.lines.append(f"    {value} = {alternatives[0]}")
        for alternative in alternatives[1:]:
            self.lines.append(f"    if {value} is None or {blank}: {value} = {alternative}")
        self.lines.append(f"    if {blank}: {value} = None")
        return value

    def value(self, spec: Spec | None, text: bool = False) -> str:
        """An expression for one spec: None (the channel lacks the field), a path, a Joined, a FirstOf, or a function."""
        if spec is None:
            return "None"
        if callable(spec):
            name = f"fn{len(self.namespace)}"
            self.namespace[name] = spec
            return f"_text({name}(obj))" if text else f"{name}(obj)"
        if (spec, text) not in self.known:
            if isinstance(spec, Joined):
                parts = ", ".join(self.value(part, text=True) for part in spec.parts)
                self.known[spec, text] = variable = self._variable("j")
                self.lines.append(f"    {variable} = _join({parts})")
            elif isinstance(spec, FirstOf):  # every alternative is a few lookups: read them all, keep the first sent
                alternatives = [self.value(part, text) for part in spec.specs]
                self.known[spec, text] = variable = self._variable("f")
                self.lines.append(f"    {variable} = {alternatives[0]}")
                for alternative in alternatives[1:]:
                    self.lines.append(f"    if {variable} is None or {variable}.__class__ is str and not {variable}.strip(): "
                                      f"{variable} = {alternative}")
                self.lines.append(f"    if {variable}.__class__ is str and not {variable}.strip(): {variable} = None")
            else:
                self.known[spec, text] = self._first_sent(spec, text)
        return self.known[spec, text]

    def compile(self, result: str) -> Callable[[Any], Any]:
        self.lines.append(f"    return {result}")
        exec("\n".join(self.lines), self.namespace)  # noqa: S102 - built from our own field tables, never from data
        return self.namespace["extract"]


def compile_table(table: dict[str, Spec]) -> Callable[[Any], dict]:
    """One function that fills every field of a table from an object (see _Extractor), values as sent."""
    extractor = _Extractor()
    values = [f"{name!r}: {extractor.value(spec)}" for name, spec in table.items()]
    return extractor.compile("{" + ", ".join(values) + "}")


def compile_row(fields: tuple[str, ...], table: dict[str, Spec], text: frozenset[str] = frozenset()) -> Callable[[Any], tuple]:
    """As compile_table, but the values of `fields` in order as a tuple (None where the table lacks one): rows
    for a DataFrame, which builds faster from tuples than from dicts."""
    extractor = _Extractor()
    values = [extractor.value(table.get(name), name in text) for name in fields]
    return extractor.compile("(" + ", ".join(values) + ",)")


def compile_spec(spec: Spec, text: bool = False) -> Callable[[Any], Any]:
    """A getter for one spec, as text when `text`."""
    if callable(spec) and not text:
        return spec
    extractor = _Extractor()
    return extractor.compile(extractor.value(spec, text))


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


@dataclass(frozen=True)
class ChannelMapping:
    """How one payload shape becomes a canonical order and its lines."""

    order: dict[str, Spec]
    lines: Spec
    line: dict[str, Spec]
    # The part of the landed payload that holds the order (Amazon lands {"Order", "OrderItems"}).
    order_root: Spec | None = None
    extra: dict[str, str] = field(default_factory=dict)  # channel-specific fields kept as JSON
    # Orders the warehouse must never see whatever their status (Amazon FBA): the reason, or None, from the
    # channel-specific fields (`extra`).
    skip_reason: Callable[[dict], str | None] | None = None
    # Where the creation and modification times sit (paths from the order root) and how they are written.
    placed_at: Spec | None = None
    updated_at: Spec | None = None
    read_time: Callable[[Any, tzinfo], datetime] = iso_time

    def __post_init__(self):
        for names, allowed, what in ((self.order, ORDER_FIELDS, "order"), (self.line, LINE_FIELDS, "order line")):
            if unknown := set(names) - set(allowed):
                raise ValueError(f"mapping names fields outside the canonical {what}: {sorted(unknown)}")
        compiled = {
            "_root": compile_spec(self.order_root) if self.order_root else (lambda payload: payload),
            "_order": compile_row(ORDER_FIELDS, self.order, ORDER_TEXT_FIELDS),
            "_lines": compile_spec(self.lines),
            "_line": compile_row(LINE_FIELDS, self.line),
            "_extra": compile_table(self.extra),
            "_status": compile_spec(self.order["channel_status"], text=True),
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

    def rows(self, payload: Any) -> tuple[tuple, list[tuple]]:
        """The order as a row of ORDER_COLUMNS and its lines as rows of LINE_COLUMNS."""
        fields = self._extra(payload)
        order = (*self._order(self._root(payload)), fields, self.skip_reason(fields) if self.skip_reason else None)
        lines = self._lines(payload)
        if lines.__class__ is not list:
            return order, []
        line_row = self._line
        return order, [(*line_row(line), number) for number, line in enumerate(lines, start=1)]

    def map(self, payload: Any) -> tuple[dict, list[dict]]:
        """rows() by column name: the order and its lines as dicts."""
        order, lines = self.rows(payload)
        return dict(zip(ORDER_COLUMNS, order)), [dict(zip(LINE_COLUMNS, line)) for line in lines]
