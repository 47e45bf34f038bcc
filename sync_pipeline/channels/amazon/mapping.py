"""Amazon order (getOrders + getOrderItems) -> canonical order: the field table."""

from sync_pipeline.orders.mapping import ChannelMapping, decimal_sum, iso_time, per_unit


def unit_price(item: dict) -> str | None:
    """ItemPrice is the price of the whole quantity ordered."""
    price = item.get("ItemPrice")
    return per_unit(price.get("Amount") if isinstance(price, dict) else None, item.get("QuantityOrdered"))


AMAZON_ORDERS = ChannelMapping(
    order_root="Order",
    order={
        "order_number": "AmazonOrderId",
        "channel_status": "OrderStatus",
        "customer_name": "BuyerInfo.BuyerName | ShippingAddress.Name",
        "customer_email": "BuyerInfo.BuyerEmail",
        "customer_phone": "ShippingAddress.Phone",
        "ship_name": "ShippingAddress.Name",
        "ship_company": "BuyerInfo.BuyerTaxInfo.CompanyLegalName",
        "ship_address1": "ShippingAddress.AddressLine1",
        "ship_address2": "ShippingAddress.AddressLine2",
        "ship_city": "ShippingAddress.City",
        "ship_region": "ShippingAddress.StateOrRegion",
        "ship_postal_code": "ShippingAddress.PostalCode",
        "ship_country": "ShippingAddress.CountryCode",
        "ship_phone": "ShippingAddress.Phone",
        "currency": "OrderTotal.CurrencyCode",
        "total_amount": "OrderTotal.Amount",
        "ship_method": "ShipServiceLevel | ShipmentServiceLevelCategory",
    },
    lines="OrderItems",
    line={
        "channel_sku": "SellerSKU",
        "variant_id": "ASIN | OrderItemId",
        "quantity": "QuantityOrdered",
        "unit_price": unit_price,
        "title": "Title",
    },
    skip_reason=lambda fields: (
        "fulfilled by Amazon (FBA): Amazon ships it, not the warehouse" if fields.get("FulfillmentChannel") == "AFN" else None
    ),
    extra={"FulfillmentChannel": "Order.FulfillmentChannel", "SalesChannel": "Order.SalesChannel", "MarketplaceId": "Order.MarketplaceId", "IsPrime": "Order.IsPrime", "IsBusinessOrder": "Order.IsBusinessOrder"},
    placed_at="PurchaseDate",  # ISO 8601 in UTC with Z
    updated_at="LastUpdateDate",
    read_time=iso_time,
)

# Seller Central "All Orders" report (flat file): one row per item, no buyer contact.
AMAZON_CSV_ORDERS = ChannelMapping(
    order={
        "order_number": "0.amazon-order-id",
        "channel_status": "0.order-status",
        "customer_name": "0.recipient-name | 0.buyer-name",
        "customer_email": "0.buyer-email",
        "customer_phone": "0.buyer-phone-number | 0.ship-phone-number",
        "ship_name": "0.recipient-name",
        "ship_address1": "0.ship-address-1",
        "ship_address2": "0.ship-address-2",
        "ship_city": "0.ship-city",
        "ship_region": "0.ship-state",
        "ship_postal_code": "0.ship-postal-code",
        "ship_country": "0.ship-country",
        "currency": "0.currency",
        "total_amount": lambda rows: decimal_sum(r.get("item-price") for r in rows),
        "ship_method": "0.ship-service-level",
    },
    lines=lambda rows: rows,
    line={"channel_sku": "sku", "variant_id": "asin", "quantity": "quantity", "unit_price": lambda row: per_unit(row.get("item-price"), row.get("quantity")), "title": "product-name"},
    skip_reason=lambda fields: (
        "fulfilled by Amazon (FBA): Amazon ships it, not the warehouse" if fields.get("FulfillmentChannel") == "Amazon" else None
    ),
    extra={"FulfillmentChannel": "0.fulfillment-channel", "SalesChannel": "0.sales-channel"},
)

