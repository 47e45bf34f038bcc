"""A channel's own order export file (CSV) read as orders: the rows of one order become one payload, and a row that
cannot be an order (no order id, an unreadable date, fewer or more values than the header) is kept with its 1-based
line, its whole order held back. orders/csv_import.py lands what this reads, each file once."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from dateutil import parser as dateparser

from sync_pipeline.channels.base import CsvExport, RawOrder
from sync_pipeline.config import DATA_DIR, ChannelConfig

CHECKSUM_IN_SOURCE = 12  # raw_orders.source is "csv:" + this many hex digits of the file's checksum (16 characters)


class CsvImportError(ValueError):
    """An export file that cannot be read as the channel's order export."""


def imports_dir(channel: ChannelConfig) -> Path:
    """data/imports/<channel>/, or SYNC_IMPORTS_DIR/<channel>/."""
    return Path(os.environ.get("SYNC_IMPORTS_DIR", DATA_DIR / "imports")) / channel.name


@dataclass(frozen=True)
class BadRow:
    line: int  # 1-based line of the file where the row starts (the header is line 1)
    order_id: str | None
    day: date | None  # the UTC day the row's order was placed, when that can be read
    message: str


@dataclass
class ExportFile:
    """One export file as read: its orders (rows of one order are one payload) and the rows that cannot land."""

    path: Path
    checksum: str
    rows: int = 0
    orders: list[RawOrder] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    rows_landed: int = 0

    @property
    def source(self) -> str:
        """raw_orders.source of its orders; import_files maps the checksum back to the file's name."""
        return f"csv:{self.checksum[:CHECKSUM_IN_SOURCE]}"

    @property
    def days(self) -> set[date]:
        return {o.placed_at.astimezone(timezone.utc).date() for o in self.orders if o.placed_at}


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _timestamp(value: str, channel: ChannelConfig) -> datetime:
    parsed = dateparser.parse(value)  # ValueError / OverflowError when it is not a date and time
    if parsed.tzinfo is None:  # exports without an offset are in the shop's own time zone
        parsed = parsed.replace(tzinfo=channel.tz)
    return parsed.astimezone(timezone.utc)


def _records(path: Path, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and every data row with the 1-based line it starts on (a quoted value may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvImportError(f"{path}: the file is empty; export the orders again") from None
    rows = []
    line = reader.line_num + 1
    for record in reader:
        if record:  # a blank line is no row
            rows.append((line, record))
        line = reader.line_num + 1
    return [name.strip() for name in header], rows


def read_export(path: Path, channel: ChannelConfig, export: CsvExport, digest: str | None = None) -> ExportFile:
    """Every order of one file, and every row that cannot be one with its line and the fix."""
    data = path.read_bytes()
    found = ExportFile(path, digest or hashlib.sha256(data).hexdigest())
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvImportError(f"{path}: not UTF-8 text (byte {exc.start}); export it again as CSV UTF-8") from None
    header, records = _records(path, text)
    wanted = [c for c in (export.order_id, export.placed_at, export.updated_at) if c]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise CsvImportError(
            f"{path}: column(s) {', '.join(missing)} not found; expected the {channel.type} order export "
            f"with columns {', '.join(wanted)} (found: {', '.join(header[:8])})"
        )
    found.rows = len(records)
    by_order: dict[str, list[tuple[int, dict]]] = {}
    held: dict[str, list[BadRow]] = {}
    times: dict[str, tuple[datetime, datetime]] = {}
    for line, record in records:
        where = f"{path.name} line {line}"
        row = dict(zip(header, record))
        order_id = (row.get(export.order_id) or "").strip()
        problem, placed = None, None
        if len(record) != len(header):
            problem = f"has {len(record)} values where the header has {len(header)} columns"
        elif not order_id:
            problem = f"column {export.order_id} is empty"
        else:
            try:
                placed = _timestamp(row[export.placed_at], channel)
                updated = _timestamp(row[export.updated_at], channel) if export.updated_at and row[export.updated_at] \
                    else placed
            except (ValueError, OverflowError):
                column = export.placed_at if placed is None else export.updated_at
                problem = f"column {column} {row[column]!r} is not a date and time"
        if problem:
            held.setdefault(order_id, []).append(BadRow(line, order_id or None, placed.date() if placed else None,
                                                        f"{where}: {problem}"))
            continue
        by_order.setdefault(order_id, []).append((line, row))
        times.setdefault(order_id, (placed, updated))
    for order_id, bad in held.items():
        siblings = by_order.pop(order_id, []) if order_id else []
        day = next((b.day for b in bad if b.day), None) or (times[order_id][0].date() if order_id in times else None)
        also = f"; order {order_id}'s other {len(siblings)} row(s) (line {', '.join(str(n) for n, _ in siblings)}) " \
               "are held with it" if siblings else ""
        fix = "correct the row in the export and drop the file again (the file's other orders landed)"
        found.bad += [BadRow(b.line, b.order_id, day, f"{b.message}{also}; {fix}") for b in bad]
        found.bad += [BadRow(n, order_id, day, f"{path.name} line {n}: held with order {order_id}, whose line "
                                               f"{bad[0].line} cannot be read; {fix}") for n, _ in siblings]
    for order_id, rows in by_order.items():
        placed, updated = times[order_id]
        found.orders.append(RawOrder(order_id, [row for _, row in rows], placed_at=placed, updated_at=updated))
        found.rows_landed += len(rows)
    return found
