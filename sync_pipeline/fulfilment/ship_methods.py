"""The ship-method mapping: each channel's ship method, exactly as the channel sends it, -> a warehouse ship code
(data/ship_maps.csv). A method with no row is SHIP_METHOD_NOT_MAPPED naming it; nothing is guessed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sync_pipeline.config import ChannelConfig
from sync_pipeline.db.writes import with_none
from sync_pipeline.fulfilment.map_files import for_channel, map_path, read_map

COLUMNS = ["channel", "channel_ship_method", "warehouse_code"]


def ship_maps_file() -> Path:
    return map_path("SYNC_SHIP_MAPS_FILE", "ship_maps.csv")


def warehouse_codes(methods: pd.Series, channel: ChannelConfig, path: Path | None = None) -> pd.Series:
    """Per order, the warehouse ship code of its method (None when unmapped)."""
    table = for_channel(read_map(path or ship_maps_file(), COLUMNS), channel, ["channel_ship_method"])
    codes = dict(zip(table["channel_ship_method"], table["warehouse_code"]))
    return with_none(methods.map(codes))
