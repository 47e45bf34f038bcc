"""The operator-edited mapping files (data/sku_map.csv, data/ship_maps.csv, data/carrier_map.csv): read line by line,
scoped per channel.

Each row's `channel` is a channel name, a channel type (shopify, ...) or `*`; the most specific row wins. A broken
line is kept as a problem with its 1-based file line (the header is line 1) and stops only the channels it could
affect: those its `channel` names (all of them for `*`, or for a line whose channel cannot be read)."""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sync_pipeline.config import DATA_DIR, TYPE_DEFAULTS, ChannelConfig

LINE = "_line"  # the column holding each row's 1-based file line


class MapFileError(ValueError):
    """A mapping file that cannot be used; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class MapProblem:
    """One broken line (or file): `channel` is the channel, type or `*` it affects; None when it cannot be told."""

    file: Path
    line: int | None
    message: str
    channel: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"

    def affects(self, channel: ChannelConfig) -> bool:
        return self.channel in (None, "*", channel.name, channel.type)


def map_path(env_var: str, file_name: str) -> Path:
    return Path(os.environ.get(env_var) or DATA_DIR / file_name)


def read_map(path: Path, required: list[str], optional: list[str] = (), keys: list[str] | None = None) -> pd.DataFrame:
    """The usable rows, every cell as text with surrounding blanks removed, with their file line in `_line`; the
    broken lines are in `frame.attrs["problems"]`. `keys` (default: every required column but the value, the last):
    two rows with the same channel and keys but another value are both broken. A missing file is an empty map."""
    columns = [*required, *optional]
    rows, problems = [], []
    empty = pd.DataFrame(columns=[*columns, LINE], dtype="object")
    if not path.exists():
        empty.attrs["problems"] = []
        return empty
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        empty.attrs["problems"] = [MapProblem(path, None, f"not UTF-8 text ({exc}); save it as UTF-8")]
        return empty
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        empty.attrs["problems"] = []
        return empty
    header_line, header_text = lines[0]
    header = [cell.strip() for cell in next(csv.reader([header_text]))]
    missing = [c for c in required if c not in header]
    if missing:
        empty.attrs["problems"] = [MapProblem(path, header_line, (
            f"the header must name the columns {', '.join(columns)}; missing: {', '.join(missing)}"))]
        return empty
    for number, line in lines[1:]:
        try:
            cells = [cell.strip() for cell in next(csv.reader([line], strict=True))]
        except csv.Error as exc:
            problems.append(MapProblem(path, number, f"not readable as CSV ({exc}): {line.strip()!r}; fix the line"))
            continue
        row = dict(zip(header, cells))
        scope = row.get("channel") or None
        if len(cells) != len(header):
            problems.append(MapProblem(path, number, (
                f"{len(cells)} values where the header has {len(header)} ({', '.join(header)}): {line.strip()!r}; "
                "fix the line or delete it"), scope))
            continue
        blank = [c for c in required if not row[c]]
        if blank:
            problems.append(MapProblem(path, number, (
                f"no {', '.join(blank)} in {line.strip()!r}; fill it in or delete the line"), scope))
            continue
        rows.append({**{c: row.get(c, "") for c in columns}, LINE: number})
    frame = pd.DataFrame(rows, columns=[*columns, LINE]).astype({c: "object" for c in columns})
    keys = ["channel", *(keys or [c for c in columns if c not in ("channel", required[-1])])]
    clash = frame[frame.duplicated(keys, keep=False)]
    for _, group in clash.groupby(keys, sort=False):
        if group[required[-1]].nunique() > 1:
            where = ", ".join(str(n) for n in group[LINE])
            for _, row in group.iterrows():
                problems.append(MapProblem(path, int(row[LINE]), (
                    f"{', '.join(f'{k}={row[k]!r}' for k in keys)} is mapped more than once with different "
                    f"{required[-1]} (lines {where}); keep one of them"), row["channel"]))
            frame = frame.drop(group.index)
    frame.attrs["problems"] = sorted(problems, key=lambda p: p.line or 0)
    return frame


def unknown_channels(frame: pd.DataFrame, path: Path, channels: list[ChannelConfig],
                     disabled: Iterable[str] = ()) -> list[MapProblem]:
    """Rows whose `channel` names no configured channel, no type of one and not `*`: a typo, never ignored (a row
    for a channel disabled by a bad channels.yaml entry is not: it applies once the entry is fixed)."""
    names = sorted(c.name for c in channels)
    types = list(TYPE_DEFAULTS)  # a type no channel has yet is a default for the next one: not a typo
    known = {*names, *types, *disabled, "*"}
    return [MapProblem(path, int(line), (
        f"channel {value!r} is not a channel, a channel type or '*'; channels: {', '.join(names)}; types: "
        f"{', '.join(types)}"), None)
        for value, line in zip(frame["channel"], frame[LINE]) if value not in known]


def for_channel(frame: pd.DataFrame, channel: ChannelConfig, keys: list[str]) -> pd.DataFrame:
    """The rows that apply to the channel, one per key: its own name beats its type, which beats `*`. A broken line
    that could affect the channel raises MapFileError naming the file and every such line."""
    problems = [p for p in frame.attrs.get("problems", []) if p.affects(channel)]
    if problems:
        raise MapFileError(f"{channel.name}: " + "; ".join(str(p) for p in problems))
    return usable_rows(frame, channel, keys)


def usable_rows(frame: pd.DataFrame, channel: ChannelConfig, keys: list[str]) -> pd.DataFrame:
    """for_channel's rows whatever broken lines the file has: for a reader that must go on for the other channels
    (the broken lines map nothing)."""
    rank = frame["channel"].map({channel.name: 0, channel.type: 1, "*": 2})
    scoped = frame.assign(_rank=rank).dropna(subset=["_rank"]).sort_values("_rank", kind="stable")
    return scoped.drop_duplicates(keys).drop(columns=["_rank", "channel"])


def fingerprint(*paths: Path) -> str:
    """Changes whenever one of the files changes (the repair sensor's cursor)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


def _map_files() -> list[tuple[Path, list[str], list[str]]]:
    """Each CSV map file with its required and optional columns."""
    # Imported here: each of these modules reads its file through this one.
    from sync_pipeline.fulfilment.ship_methods import COLUMNS as SHIP_COLUMNS
    from sync_pipeline.fulfilment.ship_methods import ship_maps_file
    from sync_pipeline.fulfilment.skus import COLUMNS as SKU_COLUMNS
    from sync_pipeline.fulfilment.skus import sku_map_file
    from sync_pipeline.tracking.carriers import COLUMNS as CARRIER_COLUMNS
    from sync_pipeline.tracking.carriers import carrier_map_file

    return [(sku_map_file(), SKU_COLUMNS, ["variant_id"]), (ship_maps_file(), SHIP_COLUMNS, []),
            (carrier_map_file(), CARRIER_COLUMNS, [])]


def unknown_channel_rows(channels: list[ChannelConfig], disabled: Iterable[str] = ()) -> list[MapProblem]:
    """The rows of every CSV map file that name no channel: they stop nothing (they can affect no channel), so a
    run logs them as errors and the configuration_valid check fails on them."""
    return [problem for path, required, optional in _map_files()
            for problem in unknown_channels(read_map(path, required, optional), path, channels, disabled)]


def map_file_problems(channels: list[ChannelConfig] | None, disabled: Iterable[str] = ()) -> list[MapProblem]:
    """Every problem of every map file at once, by file and line (for `sync-pipeline validate`); `channels` None
    (channels.yaml itself unreadable): the files' own lines only, no row judged by the channel it names."""
    from sync_pipeline.orders.status_map import read_status_map, status_map_file

    problems: list[MapProblem] = []
    for path, required, optional in _map_files():
        frame = read_map(path, required, optional)
        unknown = unknown_channels(frame, path, channels, disabled) if channels is not None else []
        problems += sorted([*frame.attrs["problems"], *unknown], key=lambda p: p.line or 0)
    names = {*(c.name for c in channels), *disabled} if channels is not None else None
    _, status_problems = read_status_map(status_map_file(), names)
    return problems + sorted(status_problems, key=lambda p: p.line or 0)
