"""Hypothesis mutates real payloads (missing keys, wrong types, empty strings, huge values, odd unicode):
normalization never crashes and every order is normalized, filtered or quarantined, once."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_pipeline_tests.test_normalize import amazon_order, run, shopify_order, takealot_order, woo_order

ODD_VALUES = st.one_of(
    st.none(),
    st.just(""),
    st.just("   "),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.just("\x00\x1f\ufffd"),
    st.just("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202e ﷽"),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def paths(obj, prefix=()):
    """Every key path in a payload, lists included."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield prefix + (key,)
            yield from paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield prefix + (index,)
            yield from paths(value, prefix + (index,))


@st.composite
def mutated(draw, make):
    payload = copy.deepcopy(make())
    candidates = list(paths(payload))
    for path in draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=6)):
        parent = payload
        try:
            for step in path[:-1]:
                parent = parent[step]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)  # a missing key
            else:
                parent[path[-1]] = draw(ODD_VALUES)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced a parent
    return payload


CASES = [("shopify", shopify_order), ("woocommerce", woo_order), ("amazon", amazon_order), ("takealot", takealot_order)]


def _check(channel_type, payload, good):
    result = run(channel_type, ("mutant", payload), ("good", good))
    assert result.raw_orders == 2
    assert result.normalized + result.filtered + result.quarantined == 2
    handled = set(result.orders["external_order_id"]) | set(result.errors["external_order_id"])
    assert handled == {"mutant", "good"}
    assert "good" in set(result.orders["external_order_id"]), "a bad order never blocks a good one"
    assert not set(result.orders["external_order_id"]) & set(result.errors["external_order_id"])


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(payload=mutated(shopify_order))
def test_shopify_mutations(payload):
    _check("shopify", payload, shopify_order())


@SETTINGS
@given(payload=mutated(woo_order))
def test_woocommerce_mutations(payload):
    _check("woocommerce", payload, woo_order())


@SETTINGS
@given(payload=mutated(amazon_order))
def test_amazon_mutations(payload):
    _check("amazon", payload, amazon_order())


@SETTINGS
@given(payload=mutated(takealot_order))
def test_takealot_mutations(payload):
    _check("takealot", payload, takealot_order())
