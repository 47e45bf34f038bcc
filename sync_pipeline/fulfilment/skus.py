"""The SKU mapping: channel SKU -> warehouse SKU (data/sku_map.csv), matched case-sensitively as the warehouse does.

With no row a SKU goes to the warehouse as it is. A row with a `variant_id` maps one variant only: the fix for a
channel SKU that names two variants. Of those, the variant the SKU named first goes on as ever; a newcomer's lines
are SKU_AMBIGUOUS until such a row maps it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sync_pipeline.config import ChannelConfig
from sync_pipeline.db.writes import with_none
from sync_pipeline.fulfilment.map_files import LINE, for_channel, map_path, read_map

COLUMNS = ["channel", "channel_sku", "warehouse_sku"]


def sku_map_file() -> Path:
    return map_path("SYNC_SKU_MAP_FILE", "sku_map.csv")


def resolve_skus(
    lines: pd.DataFrame, channel: ChannelConfig, catalogue: set[str], ambiguous: dict[str, str], path: Path | None = None
) -> pd.DataFrame:
    """`lines` with warehouse_sku, sku_error (SKU_NOT_FOUND, SKU_AMBIGUOUS or None) and sku_hint per line;
    `ambiguous`: channel SKU -> the variant it named first (fulfilment_orders.ambiguous_skus)."""
    path = path or sku_map_file()
    table = read_map(path, COLUMNS, ["variant_id"])
    per_variant = for_channel(table[table["variant_id"] != ""], channel, ["channel_sku", "variant_id"])
    per_sku = for_channel(table[table["variant_id"] == ""], channel, ["channel_sku"])
    result = lines.copy()
    sku = result["channel_sku"]
    variant = result["variant_id"].astype("object").map(_text)
    variant_key = pd.Series(list(zip(sku, variant)), index=result.index)
    by_variant = variant_key.map(dict(zip(zip(per_variant["channel_sku"], per_variant["variant_id"]), per_variant["warehouse_sku"]))).astype(object)
    by_sku = sku.map(dict(zip(per_sku["channel_sku"], per_sku["warehouse_sku"]))).astype(object)
    line_by_variant = variant_key.map(dict(zip(zip(per_variant["channel_sku"], per_variant["variant_id"]), per_variant[LINE])))
    rows = {int(line): ",".join(values) for line, *values in table[[LINE, "channel", "channel_sku", "variant_id",
                                                                     "warehouse_sku"]].itertuples(index=False)}
    result["map_row"] = line_by_variant.fillna(sku.map(dict(zip(per_sku["channel_sku"], per_sku[LINE])))).map(
        lambda line: None if pd.isna(line) else f"{path}:{int(line)} ({rows[int(line)]})")
    first_variant = sku.map(ambiguous).astype(object)
    result["first_variant"] = first_variant
    is_ambiguous = by_variant.isna() & first_variant.notna() & (variant != first_variant)
    result["warehouse_sku"] = with_none(by_variant.fillna(by_sku).fillna(sku))
    found = result["warehouse_sku"].isin(catalogue)
    result["sku_error"] = None
    result.loc[~found, "sku_error"] = "SKU_NOT_FOUND"
    result.loc[is_ambiguous, "sku_error"] = "SKU_AMBIGUOUS"
    by_lower = {s.lower(): s for s in catalogue}
    near = result["warehouse_sku"].map(lambda s: by_lower.get(s.lower()) if isinstance(s, str) else None)
    result["sku_hint"] = with_none(near.where(~found))
    result["sku_message"] = [
        _message(row, channel, path)
        for row in result[["channel_sku", "variant_id", "warehouse_sku", "sku_error", "sku_hint", "first_variant",
                           "map_row"]].itertuples()
    ]
    return result.drop(columns=["first_variant", "map_row"])


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _message(row, channel: ChannelConfig, path: Path) -> str | None:
    if row.sku_error is None:
        return None
    first = f"variant {row.first_variant!r}" if _text(row.first_variant) else "lines without a variant id"
    if row.sku_error == "SKU_AMBIGUOUS" and not _text(row.variant_id):
        return (
            f"channel SKU {row.channel_sku!r} names more than one variant on {channel.name} ({first}, the first it "
            f"named, goes on as ever), and this line carries no variant id to tell them apart: give the variants their "
            f"own SKUs in {channel.name}, then re-import the order"
        )
    if row.sku_error == "SKU_AMBIGUOUS":
        return (
            f"channel SKU {row.channel_sku!r} names more than one variant on {channel.name}: {first}, the first it "
            f"named, goes on as ever; this line's variant {_text(row.variant_id)!r} is new, so its warehouse item "
            f"cannot be told: add {channel.name},{row.channel_sku},{_text(row.variant_id)},<warehouse SKU> to {path}, "
            "or give the new variant its own SKU"
        )
    if row.warehouse_sku is None:
        return f"the line has no SKU on {channel.name}: set the SKU on the product in {channel.name}, then re-import the order"
    sent = f"SKU {row.warehouse_sku!r}" + (f" (channel SKU {row.channel_sku!r})" if row.warehouse_sku != row.channel_sku else "")
    if row.map_row:
        near = f" ({row.sku_hint!r} is, differing only in case)" if row.sku_hint else ""
        return (
            f"{sent} is not in the warehouse catalogue{near}; it comes from the row {row.map_row}: correct that row's "
            "warehouse SKU, or ask the warehouse to add the item"
        )
    if row.sku_hint:
        return (
            f"{sent} is not in the warehouse catalogue; {row.sku_hint!r} is, differing only in case, and SKUs match "
            f"case-sensitively: add {channel.name},{row.channel_sku},,{row.sku_hint} to {path} or fix the SKU in {channel.name}"
        )
    return (
        f"{sent} is not in the warehouse catalogue: add {channel.name},{row.channel_sku},,<warehouse SKU> to {path}, "
        f"fix the SKU in {channel.name}, or ask the warehouse to add the item"
    )
