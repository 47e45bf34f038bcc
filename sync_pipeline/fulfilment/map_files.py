"""The operator-edited mapping files (data/sku_map.csv, data/ship_maps.csv): read strictly, scoped per channel.

Each row's `channel` is a channel name, a channel type (shopify, ...) or `*`; the most specific row wins."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from sync_pipeline.config import DATA_DIR, ChannelConfig


class MapFileError(ValueError):
    """A mapping file that cannot be used; the message names the file, the line and the fix."""


def map_path(env_var: str, file_name: str) -> Path:
    return Path(os.environ.get(env_var) or DATA_DIR / file_name)


def read_map(path: Path, required: list[str], optional: list[str] = ()) -> pd.DataFrame:
    """Every cell as text with surrounding blanks removed; a missing file is an empty map."""
    columns = [*required, *optional]
    if not path.exists():
        return pd.DataFrame(columns=columns, dtype="object")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, comment="#", encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise MapFileError(f"{path}: not a readable CSV file ({exc}); fix the file and the next run uses it") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise MapFileError(f"{path}: the header must name the columns {', '.join(columns)}; missing: {', '.join(missing)}")
    for column in optional:
        if column not in frame.columns:
            frame[column] = ""
    frame = frame[columns].apply(lambda column: column.str.strip())
    for column in required:
        blank = frame.index[frame[column] == ""]
        if len(blank):
            raise MapFileError(f"{path}: line {blank[0] + 2} has no {column}; fill it in or delete the line")
    return frame


def for_channel(frame: pd.DataFrame, channel: ChannelConfig, keys: list[str]) -> pd.DataFrame:
    """The rows that apply to the channel, one per key: its own name beats its type, which beats `*`."""
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
