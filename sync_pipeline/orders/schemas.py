"""Pandera contracts between stages. Each rule is a column check named after the error code its
failures become, so a failure case is exactly one order and one reason."""

import functools

import pandas as pd
import pandera.errors
import pandera.pandas as pa
from pandera.typing import Series


def failed_checks(schema: type[pa.DataFrameModel], frame: pd.DataFrame, codes: set[str]) -> list[tuple[object, str]]:
    """Validate lazily, so every failing row and reason comes out of one pass: (row index, error code) pairs.
    A failure that is not one of the business rules `codes` is not a row's fault but a bug: it is raised."""
    if frame.empty:
        return []
    # Only the columns the contract names, validated in place: the gate must not copy the whole frame.
    checked = frame[[column for column in _columns(schema) if column in frame.columns]]
    try:
        schema.validate(checked, lazy=True, inplace=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases[["check", "index"]].drop_duplicates()
        if not (cases["check"].isin(codes) & cases["index"].notna()).all():
            raise
        return list(cases[["index", "check"]].itertuples(index=False, name=None))
    return []


@functools.cache
def _columns(schema: type[pa.DataFrameModel]) -> list[str]:
    return list(schema.to_schema().columns)


class NormalizedOrderSchema(pa.DataFrameModel):
    """What a normalized order must satisfy before it may go on to fulfilment."""

    order_id: Series[str] = pa.Field(unique=True)
    channel: Series[str]
    external_order_id: Series[str]
    channel_status: Series[str] = pa.Field(nullable=True)
    canonical_status: Series[str] = pa.Field(nullable=True)
    placed_at: Series[pd.DatetimeTZDtype] = pa.Field(nullable=True, dtype_kwargs={"unit": "us", "tz": "UTC"})
    updated_at: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "us", "tz": "UTC"})
    customer_phone: Series[str] = pa.Field(nullable=True, str_matches=r"^\+[1-9]\d{6,14}$")
    ship_phone: Series[str] = pa.Field(nullable=True, str_matches=r"^\+[1-9]\d{6,14}$")
    ship_country: Series[str] = pa.Field(nullable=True, str_length={"min_value": 2, "max_value": 2})
    bill_country: Series[str] = pa.Field(nullable=True, str_length={"min_value": 2, "max_value": 2})
    # Business rules, derived per order in normalize.py.
    status_mapped: Series[bool]
    customer_reachable: Series[bool]
    country_known: Series[bool]
    text_clean: Series[bool]
    amounts_valid: Series[bool]
    date_readable: Series[bool]

    @pa.check("status_mapped", name="STATUS_NOT_MAPPED")
    def _status_mapped(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    @pa.check("customer_reachable", name="CUSTOMER_INFO_MISSING")
    def _customer_reachable(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    @pa.check("country_known", name="ADDRESS_INVALID")
    def _country_known(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    @pa.check("text_clean", name="MALFORMED_ADDRESS")
    def _text_clean(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    @pa.check("amounts_valid", name="INVALID_AMOUNT")
    def _amounts_valid(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    @pa.check("date_readable", name="INVALID_DATE")
    def _date_readable(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    class Config:
        strict = False
        coerce = True
