"""The SKU and ship-method maps on their own: scope precedence, variant rows, messages, bad files."""

from __future__ import annotations

import pandas as pd
import pytest

from sync_pipeline.config import load_config
from sync_pipeline.fulfilment.map_files import MapFileError
from sync_pipeline.fulfilment.ship_methods import warehouse_codes
from sync_pipeline.fulfilment.skus import resolve_skus

CHANNEL = load_config().channel("shopify-demo")


def lines(*rows):
    frame = pd.DataFrame(rows, columns=["order_id", "line_number", "channel_sku", "variant_id", "quantity"]).astype(object)
    return frame.where(frame.notna(), None)


def test_skus_resolve_by_variant_then_sku_then_as_sent(tmp_path):
    path = tmp_path / "sku_map.csv"
    path.write_text("channel,channel_sku,variant_id,warehouse_sku\n"
                    "*,OLD-1,,WH-1\nshopify,OLD-1,,WH-2\nshopify-demo,TWIN,7,WH-7\n")
    result = resolve_skus(
        lines(("a", 1, "OLD-1", "1", 1), ("b", 1, "TWIN", "7", 1), ("c", 1, "TWIN", "8", 1), ("d", 1, "WH-3", "9", 1)),
        CHANNEL, catalogue={"WH-1", "WH-2", "WH-3", "WH-7"}, ambiguous={"TWIN": "7"}, path=path,
    )
    assert result["warehouse_sku"].tolist() == ["WH-2", "WH-7", "TWIN", "WH-3"], "the channel's type beats *"
    assert result["sku_error"].tolist() == [None, None, "SKU_AMBIGUOUS", None]
    assert "variant '7', the first it named, goes on as ever; this line's variant '8' is new" in result["sku_message"][2]
    assert "add shopify-demo,TWIN,8,<warehouse SKU> to" in result["sku_message"][2]


def test_an_ambiguous_skus_first_variant_goes_on_and_only_the_newcomer_stops(tmp_path):
    """No row maps either variant: the one the SKU named first goes as the SKU, as it always has."""
    result = resolve_skus(lines(("a", 1, "TWIN", "7", 1), ("b", 1, "TWIN", "8", 1), ("c", 1, "TWIN", None, 1)),
                          CHANNEL, catalogue={"TWIN"}, ambiguous={"TWIN": "7"}, path=tmp_path / "none.csv")
    assert result["sku_error"].tolist() == [None, "SKU_AMBIGUOUS", "SKU_AMBIGUOUS"]
    assert result["warehouse_sku"].tolist()[0] == "TWIN"
    assert "this line carries no variant id" in result["sku_message"][2]


def test_a_line_without_a_sku_and_a_case_slip_each_get_their_own_fix(tmp_path):
    result = resolve_skus(lines(("a", 1, None, "1", 1), ("b", 1, "sku-2", "2", 1), ("c", 1, "DISC-9", "3", 1)),
                          CHANNEL, catalogue={"SKU-2"}, ambiguous={}, path=tmp_path / "none.csv")
    assert result["warehouse_sku"].tolist() == [None, "sku-2", "DISC-9"]
    messages = result["sku_message"].tolist()
    assert messages[0].startswith("the line has no SKU on shopify-demo")
    assert "'SKU-2' is, differing only in case" in messages[1]
    assert "differing only in case" not in messages[2] and "ask the warehouse to add the item" in messages[2]


def test_ship_methods_map_per_channel_and_none_when_unmapped(tmp_path):
    path = tmp_path / "ship_maps.csv"
    path.write_text("channel,channel_ship_method,warehouse_code\n*,Standard,UPS-GND\nshopify-demo,Standard,USPS-PRI\n")
    codes = warehouse_codes(pd.Series(["Standard", "Same Day", "(none)"]), CHANNEL, path)
    assert codes.tolist() == ["USPS-PRI", None, None]


def test_a_bad_map_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "ship_maps.csv"
    path.write_text("channel,channel_ship_method,warehouse_code\nshopify,Standard,\n")
    with pytest.raises(MapFileError, match=r"ship_maps.csv:2: no warehouse_code in 'shopify,Standard,'"):
        warehouse_codes(pd.Series(["Standard"]), CHANNEL, path)
    path.write_text("channel,method\n")  # a header without the columns: line 1
    with pytest.raises(MapFileError, match="ship_maps.csv:1: .*missing: channel_ship_method, warehouse_code"):
        warehouse_codes(pd.Series(["Standard"]), CHANNEL, path)
