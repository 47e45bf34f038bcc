"""The field-table compiler and normalize's column checks: exact values for paths, alternatives, text and joined
names; and each column check gives a value the same verdict whatever values share its column (the fast paths
for plain columns agree with the per-value paths)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_pipeline.channels import ORDER_MAPPINGS
from sync_pipeline.orders.mapping import (
    LINE_COLUMNS,
    ORDER_COLUMNS,
    ChannelMapping,
    compile_row,
    compile_spec,
    compile_table,
    join_names,
)
from sync_pipeline.orders.normalize import _as_text, _malformed, _number
from sync_pipeline_tests.test_normalize import shopify_order, takealot_order
from sync_pipeline_tests.test_normalize_properties import ODD_VALUES


def test_paths_walk_dicts_and_lists_and_give_none_for_anything_else():
    get = compile_table({"zip": "shipping_address.zip", "first": "lines.0.sku", "keyed": "lines.1.sku"})
    assert get({"shipping_address": {"zip": "40202"}, "lines": [{"sku": "A"}]}) == {"zip": "40202", "first": "A", "keyed": None}
    assert get({"shipping_address": ["not", "a", "dict"], "lines": {"0": {"sku": "B"}, "1": {"sku": "C"}}}) == {
        "zip": None, "first": "B", "keyed": "C",
    }
    assert get("a string payload") == {"zip": None, "first": None, "keyed": None}
    assert get({"shipping_address": None, "lines": []}) == {"zip": None, "first": None, "keyed": None}


def test_the_first_alternative_sent_wins_and_blank_text_is_not_sent():
    get = compile_spec("a | b | c")
    assert get({"a": "  ", "b": None, "c": "C"}) == "C"
    assert get({"a": 0, "b": "B"}) == 0, "a number is sent, even zero"
    assert get({"a": " A ", "b": "B"}) == " A ", "outside text mode a value comes as sent"
    assert get({"a": "", "b": " "}) is None


@pytest.mark.parametrize(
    "sent, expected",
    [(" Ada ", "Ada"), ("   ", None), (None, None), (42, "42"), (1.5, "1.5"), (True, "True"), ([1], "[1]"), ("王芳", "王芳")],
)
def test_text_fields_come_out_as_stripped_text(sent, expected):
    assert compile_spec("a", text=True)({"a": sent}) == expected
    assert compile_spec(lambda obj: obj["a"], text=True)({"a": sent}) == expected, "a function's value too"


def test_text_alternatives_skip_what_is_blank_after_stripping():
    assert compile_spec("a | b", text=True)({"a": " \t", "b": " B "}) == "B"


def test_joined_names_join_the_parts_sent():
    get = compile_spec(join_names("first", "last"), text=True)
    assert get({"first": " Ada ", "last": "Lovelace"}) == "Ada Lovelace"
    assert get({"first": None, "last": "Lovelace"}) == "Lovelace"
    assert get({"first": " ", "last": ""}) is None


def test_rows_put_each_field_in_its_column_and_missing_fields_are_none():
    row = compile_row(("a", "b", "c"), {"c": "x.y", "a": lambda obj: "fn"})
    assert row({"x": {"y": 3}}) == ("fn", None, 3)


def test_map_is_rows_by_column_name():
    mapping = ORDER_MAPPINGS["shopify"]["api"]
    payload = shopify_order()
    order, lines = mapping.rows(payload)
    as_dicts, line_dicts = mapping.map(payload)
    assert as_dicts == dict(zip(ORDER_COLUMNS, order))
    assert [tuple(d.values()) for d in line_dicts] == lines
    assert list(line_dicts[0]) == list(LINE_COLUMNS)
    assert [d["line_number"] for d in line_dicts] == list(range(1, len(payload["line_items"]) + 1))
    assert as_dicts["customer_name"] == "Bob Norman"
    assert as_dicts["channel_fields"]["financial_status"] == payload["financial_status"]


def test_lines_that_are_not_a_list_give_no_lines():
    mapping = ORDER_MAPPINGS["takealot"]["api"]
    _, lines = mapping.rows(takealot_order())
    assert lines and all(len(line) == len(LINE_COLUMNS) for line in lines)
    assert ORDER_MAPPINGS["shopify"]["api"].rows({"line_items": {"not": "a list"}})[1] == []


def test_a_table_naming_a_field_outside_the_canonical_model_is_refused():
    with pytest.raises(ValueError, match="canonical order line.*'colour'"):
        ChannelMapping(order={"channel_status": "status"}, lines="items", line={"colour": "c"})
    with pytest.raises(ValueError, match="canonical order: .*'gift_wrap'"):
        ChannelMapping(order={"channel_status": "status", "gift_wrap": "g"}, lines="items", line={})


def _same(a, b) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b


COLUMN_VALUES = st.lists(st.one_of(ODD_VALUES, st.sampled_from(["12.50", "0", "7", " 3 ", "1e3", "x"])), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(values=COLUMN_VALUES)
def test_an_amounts_verdict_does_not_depend_on_its_column(values):
    series = pd.Series(values, dtype="object")
    numbers, invalid = _number(series)
    for position, value in enumerate(values):
        alone_number, alone_invalid = _number(pd.Series([value], dtype="object"))
        assert bool(invalid.iloc[position]) == bool(alone_invalid.iloc[0]), value
        assert _same(numbers.iloc[position], alone_number.iloc[0]), value


@pytest.mark.parametrize(
    "value, number, invalid",
    [("12.50", 12.5, False), (3, 3.0, False), (None, None, False), ("  ", None, False), ("x", None, True),
     (True, None, True), ([1], None, True), (-1, None, True), (10**13, None, True), (float("inf"), None, True)],
)
def test_amount_values(value, number, invalid):
    # Beside plain numbers and beside text alike.
    for neighbours in (["1.00"], [2], [True]):
        numbers, flags = _number(pd.Series([value, *neighbours], dtype="object"))
        assert bool(flags.iloc[0]) is invalid
        assert (pd.isna(numbers.iloc[0]) if number is None else numbers.iloc[0] == number)


@settings(max_examples=200, deadline=None)
@given(values=COLUMN_VALUES)
def test_line_text_does_not_depend_on_its_column(values):
    together = _as_text(pd.Series(values, dtype="object")).tolist()
    alone = [_as_text(pd.Series([value], dtype="object")).iloc[0] for value in values]
    assert together == alone
    assert all(v is None or isinstance(v, str) for v in together)


def test_malformed_text_is_found_in_any_column_and_row():
    frame = pd.DataFrame({"a": ["fine", None, "ok\x00"], "b": [float("nan"), "bad\ufffd", "王芳"]}, dtype="object")
    assert _malformed(frame, ["a", "b"]).values.tolist() == [[False, False], [False, True], [True, False]]
    clean = pd.DataFrame({"a": ["fine", None, "ok"], "b": [float("nan"), "bad", "王芳"]}, dtype="object")
    assert not _malformed(clean, ["a", "b"]).values.any()
