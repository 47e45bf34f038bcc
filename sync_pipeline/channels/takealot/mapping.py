"""Takealot sales (one row per order line) -> canonical order: the field table. Takealot orders ship
to a Takealot distribution centre, so the DC is the ship-to and the customer is only a name."""

from sync_pipeline.orders.mapping import ChannelMapping, decimal_sum, local_time, per_unit

# Where the warehouse delivers lead-time orders, by Takealot DC code: (street, city, postal code). The street is
# the DC's name as the carrier books it; update it here if Takealot moves a DC.
DC_ADDRESSES = {
    "JHB": ("Takealot JHB Distribution Centre", "Johannesburg", "2001"),
    "CPT": ("Takealot CPT Distribution Centre", "Cape Town", "8001"),
    "DBN": ("Takealot DBN Distribution Centre", "Durban", "4001"),
}


def dc_address(part: int):
    """One part of the ship-to DC's address, from the DC code on the order's first sale row."""

    def get(rows: list[dict]) -> str | None:
        first = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}
        dc = first.get("dc") or first.get("DC")
        return DC_ADDRESSES[dc][part] if dc in DC_ADDRESSES else None

    return get


TAKEALOT_ORDERS = ChannelMapping(
    order={
        "order_number": "0.order_id",
        "channel_status": "0.sale_status",
        "customer_name": "0.customer",
        "ship_name": lambda sales: f"Takealot DC {sales[0]['dc']}" if sales and sales[0].get("dc") else None,
        "ship_address1": dc_address(0),
        "ship_city": dc_address(1),
        "ship_postal_code": dc_address(2),
        "ship_region": "0.dc",
        "ship_country": lambda sales: "ZA",
        "currency": lambda sales: "ZAR",
        "total_amount": lambda sales: decimal_sum(s.get("selling_price") for s in sales),
        "ship_method": lambda sales: "Takealot lead-time delivery",
    },
    lines=lambda sales: sales if isinstance(sales, list) else [],
    line={
        "channel_sku": "sku",
        "variant_id": "offer_id | tsin",
        "quantity": "quantity",
        "unit_price": lambda sale: per_unit(sale.get("selling_price"), sale.get("quantity")),  # a line total
        "title": "product_title",
    },
    extra={"dc": "0.dc", "customer_dc": "0.customer_dc", "po_number": "0.po_number", "shipment_id": "0.shipment_id", "promotion": "0.promotion"},
    placed_at="0.order_date",  # local time of the seller's zone; sales carry no modification time
    read_time=local_time("%Y-%m-%d %H:%M:%S"),
)

# Seller Portal sales export: one row per order line.
TAKEALOT_CSV_ORDERS = ChannelMapping(
    order={
        "order_number": "0.Order ID",
        "channel_status": "0.Sale Status",
        "customer_name": "0.Customer",
        "ship_name": lambda rows: f"Takealot DC {rows[0]['DC']}" if rows and rows[0].get("DC") else None,
        "ship_address1": dc_address(0),
        "ship_city": dc_address(1),
        "ship_postal_code": dc_address(2),
        "ship_region": "0.DC",
        "ship_country": lambda rows: "ZA",
        "currency": lambda rows: "ZAR",
        "total_amount": lambda rows: decimal_sum(r.get("Selling Price") for r in rows),
        "ship_method": lambda rows: "Takealot lead-time delivery",
    },
    lines=lambda rows: rows,
    line={
        "channel_sku": "SKU",
        "variant_id": "TSIN",
        "quantity": "Qty",
        "unit_price": lambda row: per_unit(row.get("Selling Price"), row.get("Qty")),
        "title": "Product Title",
    },
)
