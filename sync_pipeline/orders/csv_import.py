"""The manual-import backup path: a channel's own order export (CSV) in data/imports/<channel>/."""

from __future__ import annotations

import os
from datetime import timezone
from pathlib import Path

import pandas as pd
from dateutil import parser as dateparser

from sync_pipeline.channels.base import CsvExport, RawOrder
from sync_pipeline.config import DATA_DIR, ChannelConfig


class CsvImportError(ValueError):
    """An export file that cannot be read as the channel's order export."""


def imports_dir(channel: ChannelConfig) -> Path:
    """data/imports/<channel>/, or SYNC_IMPORTS_DIR/<channel>/."""
    return Path(os.environ.get("SYNC_IMPORTS_DIR", DATA_DIR / "imports")) / channel.name


def _timestamp(value: str, channel: ChannelConfig, where: str):
    try:
        parsed = dateparser.parse(value)
    except (ValueError, OverflowError):
        raise CsvImportError(f"{where}: {value!r} is not a date and time") from None
    if parsed.tzinfo is None:  # exports without an offset are in the shop's own time zone
        parsed = parsed.replace(tzinfo=channel.tz)
    return parsed.astimezone(timezone.utc)


def read_exports(channel: ChannelConfig, export: CsvExport) -> dict[str, list[RawOrder]]:
    """Orders in every export file of the channel, by file name; rows of one order become one payload."""
    folder = imports_dir(channel)
    by_file: dict[str, list[RawOrder]] = {}
    for path in sorted(folder.glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        wanted = [c for c in (export.order_id, export.placed_at, export.updated_at) if c]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise CsvImportError(
                f"{path}: column(s) {', '.join(missing)} not found; expected the {channel.type} order export "
                f"with columns {', '.join(wanted)} (found: {', '.join(frame.columns[:8])})"
            )
        orders = []
        for order_id, rows in frame.groupby(export.order_id, sort=False):
            first = rows.iloc[0]
            line = int(rows.index[0]) + 2  # header is line 1
            if not str(order_id).strip():
                raise CsvImportError(f"{path} line {line}: column {export.order_id} is empty")
            placed = _timestamp(first[export.placed_at], channel, f"{path} line {line} column {export.placed_at}")
            updated = (
                _timestamp(first[export.updated_at], channel, f"{path} line {line} column {export.updated_at}")
                if export.updated_at and first[export.updated_at]
                else placed
            )
            orders.append(
                RawOrder(str(order_id), rows.to_dict(orient="records"), placed_at=placed, updated_at=updated)
            )
        by_file[path.name] = orders
    return by_file
