"""Order export files (CSV) in data/imports/<channel>/: the backup path of the API channels and the only way in for a
channel without an order API (Bob Shop).

Each file is imported once, known by the sha256 of its bytes (the `import_files` ledger): a copy renamed or dropped
again is not read twice, a changed file is a new one. A row that cannot be an order (no order id, an unreadable
date, fewer or more values than the header) is reported by file and 1-based line as an order_sync_errors row (stage
import), its order is held back whole (never half its lines), and the rest of the file lands. A file that is not the
channel's export at all (its columns are missing, it is not UTF-8 text) stops the channel's import with one line
naming the file, and is read again once it is fixed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa

from sync_pipeline.channels.base import CsvExport
from sync_pipeline.channels.exports import ExportFile, checksum, imports_dir, read_export
from sync_pipeline.config import ChannelConfig
from sync_pipeline.db.tables import import_files, order_sync_errors
from sync_pipeline.db.writes import insert_new, upsert

STAGE = "import"
BAD_ROW = "IMPORT_ROW_INVALID"


def new_exports(connection: sa.Connection, channel: ChannelConfig, export: CsvExport) -> list[ExportFile]:
    """The channel's export files whose bytes were never imported (a copy of one file is read once, by name order)."""
    paths = sorted(imports_dir(channel).glob("*.csv"))
    digests: dict[str, Path] = {}
    for path in paths:
        digests.setdefault(checksum(path), path)
    known = imported(connection, channel.name, digests)
    return [read_export(path, channel, export, digest) for digest, path in digests.items() if digest not in known]


def imported(connection: sa.Connection, channel: str, digests: Iterable[str]) -> set[str]:
    """Which of these checksums the channel's ledger holds."""
    digests = list(digests)
    if not digests:
        return set()
    return set(connection.execute(sa.select(import_files.c.checksum).where(
        import_files.c.channel == channel, import_files.c.checksum.in_(digests))).scalars())


def imported_span(connection: sa.Connection, channel: str) -> tuple[date, date] | None:
    """The first and last UTC day of placement the channel's imported files cover, or None."""
    first, last = connection.execute(sa.select(sa.func.min(import_files.c.first_day), sa.func.max(import_files.c.last_day))
                                     .where(import_files.c.channel == channel)).one()
    return (first, last) if first else None


def record_imports(connection: sa.Connection, channel: str, files: list[ExportFile], run_id: str, now: datetime,
                   fallback_day: date) -> None:
    """The files into the ledger and their bad rows into order_sync_errors (one per row, by file and line). A file
    imported again under its name (corrected) resolves the reports of its earlier version; so does an order landing."""
    if not files:
        return
    insert_new(connection, import_files, [{
        "channel": channel, "file_name": f.path.name, "checksum": f.checksum, "rows": f.rows,
        "rows_landed": f.rows_landed, "rows_bad": len(f.bad), "orders_landed": len(f.orders),
        "first_day": min(f.days, default=None), "last_day": max(f.days, default=None), "imported_at": now,
        "run_id": run_id} for f in files], ["channel", "checksum"])
    errors = order_sync_errors.c
    landed = [o.external_order_id for f in files for o in f.orders]
    stale = sa.or_(errors.external_order_id.in_(landed or [""]),
                   *[errors.message.startswith(f"{f.path.name} line ", autoescape=True) for f in files])
    connection.execute(order_sync_errors.update().where(
        errors.channel == channel, errors.stage == STAGE, errors.resolved_at.is_(None), stale).values(resolved_at=now))
    upsert(connection, order_sync_errors, [{
        "channel": channel, "partition_date": bad.day or fallback_day, "external_order_id": bad.order_id or "",
        "stage": STAGE, "error_code": BAD_ROW, "field": f"file {f.checksum[:12]} line {bad.line}",
        "message": bad.message, "payload_sha256": None, "first_seen_at": now, "last_seen_at": now,
        "resolved_at": None} for f in files for bad in f.bad],
        ["channel", "external_order_id", "stage", "error_code", "field"])
