"""BigCommerce order (V2 order + its products and shipping addresses) -> canonical order: the field table.
The connector lands {"order", "products", "shipping_addresses"}; an order ships to its first shipping address."""

from sync_pipeline.orders.mapping import ChannelMapping, first_of, join_names, rfc2822_time

BIGCOMMERCE_ORDERS = ChannelMapping(
    order={
        "order_number": "order.id",
        "channel_status": "order.status",  # the status text, e.g. "Awaiting Fulfillment" (status_id 11)
        "customer_name": first_of(join_names("order.billing_address.first_name", "order.billing_address.last_name"),
                                  join_names("shipping_addresses.0.first_name", "shipping_addresses.0.last_name")),
        "customer_email": "order.billing_address.email | shipping_addresses.0.email",
        "customer_phone": "order.billing_address.phone | shipping_addresses.0.phone",
        "ship_name": join_names("shipping_addresses.0.first_name", "shipping_addresses.0.last_name"),
        "ship_company": "shipping_addresses.0.company",
        "ship_address1": "shipping_addresses.0.street_1",
        "ship_address2": "shipping_addresses.0.street_2",
        "ship_city": "shipping_addresses.0.city",
        "ship_region": "shipping_addresses.0.state",
        "ship_postal_code": "shipping_addresses.0.zip",
        "ship_country": "shipping_addresses.0.country_iso2 | shipping_addresses.0.country",
        "ship_phone": "shipping_addresses.0.phone",
        "bill_name": join_names("order.billing_address.first_name", "order.billing_address.last_name"),
        "bill_address1": "order.billing_address.street_1",
        "bill_city": "order.billing_address.city",
        "bill_postal_code": "order.billing_address.zip",
        "bill_country": "order.billing_address.country_iso2 | order.billing_address.country",
        "currency": "order.currency_code",
        "total_amount": "order.total_inc_tax",
        "shipping_amount": "order.shipping_cost_inc_tax",
        "tax_amount": "order.total_tax",
        "ship_method": "shipping_addresses.0.shipping_method",
    },
    lines="products",
    line={
        "channel_sku": "sku",
        "variant_id": "variant_id | product_id",  # variant_id is absent from the documented example
        "quantity": "quantity",
        "unit_price": "price_ex_tax",
        "title": "name",
    },
    extra={
        "status_id": "order.status_id", "payment_method": "order.payment_method", "payment_status": "order.payment_status",
        "customer_message": "order.customer_message", "order_source": "order.order_source", "channel_id": "order.channel_id",
    },
    placed_at="order.date_created",  # RFC 2822 with an offset
    updated_at="order.date_modified",
    read_time=rfc2822_time,
)

# Control panel "Export orders" CSV (the Default template with one row per product): order columns on every row.
BIGCOMMERCE_CSV_ORDERS = ChannelMapping(
    order={
        "order_number": "0.Order ID",
        "channel_status": "0.Order Status",
        "customer_name": first_of("0.Customer Name | 0.Billing Name",
                                  join_names("0.Shipping First Name", "0.Shipping Last Name")),
        "customer_email": "0.Customer Email",
        "customer_phone": "0.Customer Phone | 0.Shipping Phone",
        "ship_name": join_names("0.Shipping First Name", "0.Shipping Last Name"),
        "ship_company": "0.Shipping Company",
        "ship_address1": "0.Shipping Street 1",
        "ship_address2": "0.Shipping Street 2",
        "ship_city": "0.Shipping Suburb",
        "ship_region": "0.Shipping State",
        "ship_postal_code": "0.Shipping Zip",
        "ship_country": "0.Shipping Country ISO2 | 0.Shipping Country",
        "ship_phone": "0.Shipping Phone",
        "currency": "0.Order Currency Code",
        "total_amount": "0.Order Total (inc tax)",
        "shipping_amount": "0.Shipping Cost (inc tax)",
        "tax_amount": "0.Tax Total",
        "ship_method": "0.Ship Method",
    },
    lines=lambda rows: rows,
    line={"channel_sku": "Product SKU", "variant_id": "Product ID", "quantity": "Product Qty", "unit_price": "Product Unit Price", "title": "Product Name"},
    extra={"payment_method": "0.Payment Method"},
)
