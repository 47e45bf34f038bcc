"""eBay Sell Fulfillment order -> canonical order: the field table. The ship-to and the ship method sit in the
first fulfillment instruction's shippingStep; buyer contact in buyer.buyerRegistrationAddress."""

from sync_pipeline.orders.mapping import ChannelMapping, iso_time, per_unit

SHIP = "fulfillmentStartInstructions.0.shippingStep"
BUYER = "buyer.buyerRegistrationAddress"
CURRENCY_SYMBOLS = {"£": "GBP", "$": "USD", "€": "EUR"}


def channel_status(order: dict) -> str | None:
    """The payment status until the order is PAID, then its fulfilment status; a cancelled order is CANCELED.
    So import_statuses [NOT_STARTED, IN_PROGRESS] is eBay's "only paid orders" (and not yet shipped)."""
    if (order.get("cancelStatus") or {}).get("cancelState") == "CANCELED":
        return "CANCELED"
    payment = order.get("orderPaymentStatus")
    return order.get("orderFulfillmentStatus") if payment == "PAID" else payment


def line_unit_price(line: dict) -> str | None:
    """lineItemCost is the price of the whole quantity."""
    cost = line.get("lineItemCost")
    return per_unit(cost.get("value") if isinstance(cost, dict) else None, line.get("quantity"))


EBAY_ORDERS = ChannelMapping(
    order={
        "order_number": "orderId",
        "channel_status": channel_status,
        "customer_name": f"{BUYER}.fullName | {SHIP}.shipTo.fullName",
        "customer_email": f"{BUYER}.email | {SHIP}.shipTo.email",
        "customer_phone": f"{BUYER}.primaryPhone.phoneNumber | {SHIP}.shipTo.primaryPhone.phoneNumber",
        "ship_name": f"{SHIP}.shipTo.fullName",
        "ship_company": f"{SHIP}.shipTo.companyName",
        "ship_address1": f"{SHIP}.shipTo.contactAddress.addressLine1",
        "ship_address2": f"{SHIP}.shipTo.contactAddress.addressLine2",
        "ship_city": f"{SHIP}.shipTo.contactAddress.city",
        "ship_region": f"{SHIP}.shipTo.contactAddress.stateOrProvince",
        "ship_postal_code": f"{SHIP}.shipTo.contactAddress.postalCode",
        "ship_country": f"{SHIP}.shipTo.contactAddress.countryCode",
        "ship_phone": f"{SHIP}.shipTo.primaryPhone.phoneNumber",
        "bill_name": f"{BUYER}.fullName",
        "bill_address1": f"{BUYER}.contactAddress.addressLine1",
        "bill_city": f"{BUYER}.contactAddress.city",
        "bill_postal_code": f"{BUYER}.contactAddress.postalCode",
        "bill_country": f"{BUYER}.contactAddress.countryCode",
        "currency": "pricingSummary.total.currency",
        "total_amount": "pricingSummary.total.value",
        "shipping_amount": "pricingSummary.deliveryCost.value",
        "tax_amount": "pricingSummary.tax.value",
        "ship_method": f"{SHIP}.shippingServiceCode",
    },
    lines="lineItems",
    line={
        "channel_sku": "sku",  # optional on eBay: listings without a custom label have none
        "variant_id": "legacyVariationId | legacyItemId",
        "quantity": "quantity",
        "unit_price": line_unit_price,
        "title": "title",
    },
    extra={
        "orderPaymentStatus": "orderPaymentStatus", "orderFulfillmentStatus": "orderFulfillmentStatus",
        "cancelState": "cancelStatus.cancelState", "legacyOrderId": "legacyOrderId",
        "salesRecordReference": "salesRecordReference", "buyerUsername": "buyer.username",
        "shippingCarrierCode": f"{SHIP}.shippingCarrierCode",
    },
    placed_at="creationDate",  # ISO 8601 in UTC with milliseconds and Z
    updated_at="lastModifiedDate",
    read_time=iso_time,
)


def _report_status(rows: list[dict]) -> str:
    """The Orders report has no status column: shipped and paid dates say how far the order got."""
    first = rows[0]
    if first.get("Shipped On Date"):
        return "FULFILLED"
    return "NOT_STARTED" if first.get("Paid On Date") else "PENDING"


def _report_amount(column: str):
    """Amounts are written with the currency symbol, e.g. "£24.00"."""
    return lambda row: str(row.get(column) or "").lstrip("£$€US ").replace(",", "") or None


# Seller Hub "Orders report" (Orders > Download report > All orders) CSV: one row per line item.
EBAY_CSV_ORDERS = ChannelMapping(
    order={
        "order_number": "0.Order Number",
        "channel_status": _report_status,
        "customer_name": "0.Buyer Name | 0.Ship To Name",
        "customer_email": "0.Buyer Email",
        "customer_phone": "0.Ship To Phone",
        "ship_name": "0.Ship To Name",
        "ship_address1": "0.Ship To Address 1",
        "ship_address2": "0.Ship To Address 2",
        "ship_city": "0.Ship To City",
        "ship_region": "0.Ship To State",
        "ship_postal_code": "0.Ship To Zip",
        "ship_country": "0.Ship To Country",
        "ship_phone": "0.Ship To Phone",
        "bill_name": "0.Buyer Name",
        "bill_address1": "0.Buyer Address 1",
        "bill_city": "0.Buyer City",
        "bill_postal_code": "0.Buyer Zip",
        "bill_country": "0.Buyer Country",
        "currency": lambda rows: CURRENCY_SYMBOLS.get(str(rows[0].get("Total Price") or "").lstrip("US ")[:1]),
        "total_amount": lambda rows: _report_amount("Total Price")(rows[0]),
        "shipping_amount": lambda rows: _report_amount("Shipping And Handling")(rows[0]),
        "ship_method": "0.Shipping Service",  # the service's display name, not the API's service code
    },
    lines=lambda rows: rows,
    line={
        "channel_sku": "Custom Label",
        "variant_id": "Item Number",
        "quantity": "Quantity",
        "unit_price": _report_amount("Sold For"),
        "title": "Item Title",
    },
    extra={"buyerUsername": "0.Buyer Username", "salesRecordReference": "0.Sales Record Number"},
)
