"""The contract a normalized order must meet before it may go to the warehouse. Like the normalize gate, each
rule is a boolean column whose check is named after the error code its failures become."""

import pandera.pandas as pa
from pandera.typing import Series


class FulfilmentOrderSchema(pa.DataFrameModel):
    order_id: Series[str] = pa.Field(unique=True)
    client_reference: Series[str] = pa.Field(unique=True, str_length={"min_value": 1, "max_value": 200})
    has_shipping_address: Series[bool]
    ship_method_mapped: Series[bool]
    skus_found: Series[bool]
    skus_unambiguous: Series[bool]
    address_valid: Series[bool]

    @pa.check("has_shipping_address", name="NO_SHIPPING_ADDRESS")
    def _has_shipping_address(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    @pa.check("ship_method_mapped", name="SHIP_METHOD_NOT_MAPPED")
    def _ship_method_mapped(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    @pa.check("skus_found", name="SKU_NOT_FOUND")
    def _skus_found(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    @pa.check("skus_unambiguous", name="SKU_AMBIGUOUS")
    def _skus_unambiguous(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    @pa.check("address_valid", name="ADDRESS_INVALID")
    def _address_valid(cls, flag: Series[bool]) -> Series[bool]:
        return flag

    class Config:
        strict = False
        coerce = True


GATE_CODES = {"NO_SHIPPING_ADDRESS", "SHIP_METHOD_NOT_MAPPED", "SKU_NOT_FOUND", "SKU_AMBIGUOUS", "ADDRESS_INVALID"}
