"""WooCommerce order -> canonical order: the field table. Email lives only on billing, the phone on billing and shipping."""

from sync_pipeline.orders.mapping import ChannelMapping, first_of, gmt_time, join_names

WOOCOMMERCE_ORDERS = ChannelMapping(
    order={
        "order_number": "number | id",
        "channel_status": "status",
        "customer_name": first_of(join_names("billing.first_name", "billing.last_name"),
                                  join_names("shipping.first_name", "shipping.last_name")),
        "customer_email": "billing.email",  # shipping has no email
        "customer_phone": "billing.phone | shipping.phone",
        "ship_name": join_names("shipping.first_name", "shipping.last_name"),
        "ship_company": "shipping.company",
        "ship_address1": "shipping.address_1",
        "ship_address2": "shipping.address_2",
        "ship_city": "shipping.city",
        "ship_region": "shipping.state",
        "ship_postal_code": "shipping.postcode",
        "ship_country": "shipping.country",
        "ship_phone": "shipping.phone",
        "bill_name": join_names("billing.first_name", "billing.last_name"),
        "bill_address1": "billing.address_1",
        "bill_city": "billing.city",
        "bill_postal_code": "billing.postcode",
        "bill_country": "billing.country",
        "currency": "currency",
        "total_amount": "total",
        "shipping_amount": "shipping_total",
        "tax_amount": "total_tax",
        "ship_method": "shipping_lines.0.method_title | shipping_lines.0.method_id",
    },
    lines="line_items",
    line={
        "channel_sku": "sku",
        "variant_id": lambda line: line.get("variation_id") or line.get("product_id"),  # 0 = no variation
        "quantity": "quantity",
        "unit_price": "price",
        "title": "name",
    },
    extra={"payment_method": "payment_method", "customer_note": "customer_note", "created_via": "created_via"},
    placed_at="date_created_gmt",  # naive UTC; date_created is the same time in the site's zone
    updated_at="date_modified_gmt",
    read_time=gmt_time,
)

# WooCommerce "Order Export" CSV: one row per line item.
WOOCOMMERCE_CSV_ORDERS = ChannelMapping(
    order={
        "order_number": "0.Order Number | 0.Order ID",
        "channel_status": lambda rows: str(rows[0].get("Order Status") or "").removeprefix("wc-").lower() or None,
        "customer_name": first_of(join_names("0.Billing First Name", "0.Billing Last Name"),
                                  join_names("0.Shipping First Name", "0.Shipping Last Name")),
        "customer_email": "0.Billing Email",
        "customer_phone": "0.Billing Phone | 0.Shipping Phone",
        "ship_name": join_names("0.Shipping First Name", "0.Shipping Last Name"),
        "ship_company": "0.Shipping Company",
        "ship_address1": "0.Shipping Address 1",
        "ship_address2": "0.Shipping Address 2",
        "ship_city": "0.Shipping City",
        "ship_region": "0.Shipping State",
        "ship_postal_code": "0.Shipping Postcode",
        "ship_country": "0.Shipping Country",
        "currency": "0.Order Currency",
        "total_amount": "0.Order Total",
        "shipping_amount": "0.Shipping Total",
        "ship_method": "0.Shipping Method",
    },
    lines=lambda rows: rows,
    line={"channel_sku": "SKU", "quantity": "Quantity", "unit_price": "Item Cost", "title": "Item Name"},
)
