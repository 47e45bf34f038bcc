"""Bob Shop's order export (CSV, one row per order line) -> canonical order: the field table.

No Bob Shop order export, API or payload is public (channel-apis.md section 8), so the columns are synthesised from
what is documented of the platform: a South African marketplace (prices in rand, one time zone), "Buy Now" listings
keyed by the seller's product code (the Store Integrator feed's ProductCode, which is the warehouse SKU), and buyer
details that are not always complete (seed 000, "Limited Order Data"). The fixture is
sync_pipeline_tests/fixtures/payloads/bobshop_orders_export.SCHEMA_DERIVED_NOT_REAL.csv."""

from sync_pipeline.orders.mapping import ChannelMapping, local_time

# The export's columns, in its order; "Order Date" and "Last Updated" are local (Johannesburg) times.
EXPORT_COLUMNS = (
    "Order Number", "Order Date", "Last Updated", "Order Status", "Buyer Name", "Buyer Email", "Buyer Phone",
    "Delivery Name", "Delivery Address 1", "Delivery Address 2", "Delivery City", "Delivery Province",
    "Delivery Postal Code", "Delivery Country", "Shipping Method", "Shipping Cost", "Order Total", "Product Code",
    "Product Title", "Quantity", "Unit Price",
)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

BOBSHOP_CSV_ORDERS = ChannelMapping(
    order={
        "order_number": "0.Order Number",
        "channel_status": "0.Order Status",
        "customer_name": "0.Buyer Name",
        "customer_email": "0.Buyer Email",
        "customer_phone": "0.Buyer Phone",
        "ship_name": "0.Delivery Name | 0.Buyer Name",
        "ship_address1": "0.Delivery Address 1",
        "ship_address2": "0.Delivery Address 2",
        "ship_city": "0.Delivery City",
        "ship_region": "0.Delivery Province",
        "ship_postal_code": "0.Delivery Postal Code",
        "ship_country": "0.Delivery Country",
        "ship_phone": "0.Buyer Phone",
        "bill_name": "0.Buyer Name",
        "currency": lambda rows: "ZAR",  # Bob Shop sells in rand only
        "total_amount": "0.Order Total",
        "shipping_amount": "0.Shipping Cost",
        "ship_method": "0.Shipping Method",
    },
    lines=lambda rows: rows if isinstance(rows, list) else [],
    line={
        "channel_sku": "Product Code",
        "quantity": "Quantity",
        "unit_price": "Unit Price",
        "title": "Product Title",
    },
    placed_at="0.Order Date",
    updated_at="0.Last Updated",
    read_time=local_time(TIME_FORMAT),
)
# An export file is all Bob Shop gives: the connector's orders are the same rows.
BOBSHOP_ORDERS = BOBSHOP_CSV_ORDERS
