"""Shopify order -> canonical order: the field table."""

from sync_pipeline.orders.mapping import ChannelMapping, first_of, iso_time, join_names


def channel_status(order: dict) -> str | None:
    """Shopify spreads status over three fields; the most advanced one speaks for the order."""
    if order.get("cancelled_at"):
        return "cancelled"
    return order.get("fulfillment_status") or order.get("financial_status")


SHOPIFY_ORDERS = ChannelMapping(
    order={
        "order_number": "name | order_number",
        "channel_status": channel_status,
        # The buyer as the customer record, else the shipping, else the billing address has them (a guest's
        # customer record may have no name); the order's own email and phone (from checkout) come first.
        "customer_name": first_of(
            join_names("customer.first_name", "customer.last_name"),
            "shipping_address.name", join_names("shipping_address.first_name", "shipping_address.last_name"),
            "billing_address.name", join_names("billing_address.first_name", "billing_address.last_name"),
        ),
        "customer_email": "email | contact_email | customer.email",
        "customer_phone": "phone | customer.phone | shipping_address.phone | billing_address.phone",
        "ship_name": "shipping_address.name",
        "ship_company": "shipping_address.company",
        "ship_address1": "shipping_address.address1",
        "ship_address2": "shipping_address.address2",
        "ship_city": "shipping_address.city",
        "ship_region": "shipping_address.province_code | shipping_address.province",
        "ship_postal_code": "shipping_address.zip",
        "ship_country": "shipping_address.country_code | shipping_address.country",
        "ship_phone": "shipping_address.phone",
        "bill_name": "billing_address.name",
        "bill_address1": "billing_address.address1",
        "bill_city": "billing_address.city",
        "bill_postal_code": "billing_address.zip",
        "bill_country": "billing_address.country_code | billing_address.country",
        "currency": "currency",
        "total_amount": "total_price",
        "shipping_amount": "total_shipping_price_set.shop_money.amount",
        "tax_amount": "total_tax",
        "ship_method": "shipping_lines.0.title | shipping_lines.0.code",
    },
    lines="line_items",
    line={
        "channel_sku": "sku",
        "variant_id": "variant_id | product_id",
        "quantity": "quantity",
        "unit_price": "price",
        "title": "name | title",
    },
    extra={"financial_status": "financial_status", "fulfillment_status": "fulfillment_status", "tags": "tags", "note": "note", "source_name": "source_name"},
    placed_at="created_at",  # ISO 8601 in the shop's own offset
    updated_at="updated_at",
    read_time=iso_time,
)

# Shopify admin "Export orders" CSV: one row per line item, order fields on every row.
SHOPIFY_CSV_ORDERS = ChannelMapping(
    order={
        "order_number": "0.Name",
        "channel_status": lambda rows: "cancelled" if rows[0].get("Cancelled at") else (
            rows[0].get("Fulfillment Status") if rows[0].get("Fulfillment Status") not in (None, "", "unfulfilled")
            else rows[0].get("Financial Status")),
        "customer_name": "0.Billing Name | 0.Shipping Name",
        "customer_email": "0.Email",
        "customer_phone": "0.Phone | 0.Shipping Phone | 0.Billing Phone",
        "ship_name": "0.Shipping Name",
        "ship_company": "0.Shipping Company",
        "ship_address1": "0.Shipping Address1 | 0.Shipping Street",
        "ship_address2": "0.Shipping Address2",
        "ship_city": "0.Shipping City",
        "ship_region": "0.Shipping Province",
        "ship_postal_code": "0.Shipping Zip",
        "ship_country": "0.Shipping Country",
        "ship_phone": "0.Shipping Phone",
        "bill_name": "0.Billing Name",
        "bill_address1": "0.Billing Address1 | 0.Billing Street",
        "bill_city": "0.Billing City",
        "bill_postal_code": "0.Billing Zip",
        "bill_country": "0.Billing Country",
        "currency": "0.Currency",
        "total_amount": "0.Total",
        "shipping_amount": "0.Shipping",
        "tax_amount": "0.Taxes",
        "ship_method": "0.Shipping Method",
    },
    lines=lambda rows: rows,
    line={"channel_sku": "Lineitem sku", "quantity": "Lineitem quantity", "unit_price": "Lineitem price", "title": "Lineitem name"},
    extra={"source": "0.Source", "tags": "0.Tags"},
)
