"""Magento 2 order (`GET /rest/<store>/V1/orders`, one of `items`) -> canonical order: the field table.

The ship-to and the carrier_method code (`tablerate_bestway`, what data/ship_maps.csv keys on) sit under
`extension_attributes.shipping_assignments.0.shipping`; street is a list. `status` is the merchant-editable label
(Stores > Order Status), not the fixed `state`, so data/status_map.yaml lists labels as the store shows them.

Magento writes one item row per product AND per component: a configurable product is a parent row (the chosen
simple's sku, the price) with a child row (`parent_item_id`, same sku, price 0); a bundle is a parent row (the
bundle's own sku) with a child row per component (its sku and its qty_ordered, already multiplied by the bundles
ordered). `shippable_lines` turns those rows into one warehouse line per thing that goes in a box: a simple item
without parent, a configurable's child (the parent's price and qty), each bundle component. Virtual and downloadable
items ship nothing and are left out. Each line keeps `ship_item_id`, the order_item_id a shipment must name: the
PARENT's for configurable and bundle lines (Magento passes a configurable's child id over and refuses a bundle
component's: see tracking.py), the item's own otherwise."""

from __future__ import annotations

from typing import Any

from sync_pipeline.orders.mapping import ChannelMapping, first_of, gmt_time, join_names

PARENT_TYPES = frozenset({"configurable", "bundle"})
VIRTUAL_TYPES = frozenset({"virtual", "downloadable"})
SHIPPING = "extension_attributes.shipping_assignments.0.shipping"
SHIP_TO = f"{SHIPPING}.address"


def _line(row: dict, ship_item: dict, *, qty: Any, price: Any, parent_qty: Any = None) -> dict:
    return {
        "item_id": row.get("item_id"),
        "ship_item_id": ship_item.get("item_id"),
        "ship_item_qty_ordered": parent_qty,  # a bundle component's: the bundles ordered, to ship its parent by
        "sku": row.get("sku"),
        "name": row.get("name"),
        "product_id": row.get("product_id"),
        "product_type": row.get("product_type"),
        "qty_ordered": qty,
        "price": price,
    }


def shippable_lines(order: Any) -> list[dict]:
    """The order's warehouse lines, in item order (their 1-based positions are the lines' numbers everywhere)."""
    rows = order.get("items") if isinstance(order, dict) else None
    if not isinstance(rows, list):
        return []
    rows = [row for row in rows if isinstance(row, dict)]
    parents = {row.get("item_id"): row for row in rows if row.get("product_type") in PARENT_TYPES}
    with_children = {row.get("parent_item_id") for row in rows if row.get("parent_item_id") in parents}
    lines = []
    for row in rows:
        if row.get("is_virtual") in (1, True, "1") or row.get("product_type") in VIRTUAL_TYPES:
            continue
        parent = parents.get(row.get("parent_item_id"))
        if parent is None:
            if row.get("item_id") in with_children:
                continue  # its children are the lines
            lines.append(_line(row, row, qty=row.get("qty_ordered"), price=row.get("price")))
        elif parent.get("product_type") == "configurable":
            lines.append(_line(row, parent, qty=parent.get("qty_ordered"), price=parent.get("price")))
        else:
            lines.append(_line(row, parent, qty=row.get("qty_ordered"), price=row.get("price"),
                               parent_qty=parent.get("qty_ordered")))
    return lines


MAGENTO_ORDERS = ChannelMapping(
    order={
        "order_number": "increment_id",  # the customer-facing "000000003"; entity_id (in URLs) is the external id
        "channel_status": "status",  # the label, e.g. "pending" for state new, or the merchant's own
        "customer_name": first_of(join_names("customer_firstname", "customer_lastname"),
                                  join_names("billing_address.firstname", "billing_address.lastname"),
                                  join_names(f"{SHIP_TO}.firstname", f"{SHIP_TO}.lastname")),
        "customer_email": f"customer_email | billing_address.email | {SHIP_TO}.email",
        "customer_phone": f"billing_address.telephone | {SHIP_TO}.telephone",
        "ship_name": join_names(f"{SHIP_TO}.firstname", f"{SHIP_TO}.middlename", f"{SHIP_TO}.lastname"),
        "ship_company": f"{SHIP_TO}.company",
        "ship_address1": f"{SHIP_TO}.street.0",
        "ship_address2": join_names(f"{SHIP_TO}.street.1", f"{SHIP_TO}.street.2", f"{SHIP_TO}.street.3"),
        "ship_city": f"{SHIP_TO}.city",
        "ship_region": f"{SHIP_TO}.region_code | {SHIP_TO}.region",
        "ship_postal_code": f"{SHIP_TO}.postcode",
        "ship_country": f"{SHIP_TO}.country_id",
        "ship_phone": f"{SHIP_TO}.telephone",
        "bill_name": join_names("billing_address.firstname", "billing_address.middlename", "billing_address.lastname"),
        "bill_address1": "billing_address.street.0",
        "bill_city": "billing_address.city",
        "bill_postal_code": "billing_address.postcode",
        "bill_country": "billing_address.country_id",
        "currency": "order_currency_code",
        "total_amount": "grand_total",
        "shipping_amount": "shipping_incl_tax | shipping_amount",
        "tax_amount": "tax_amount",
        "ship_method": f"{SHIPPING}.method",  # the carrier_method code; shipping_description is its label
    },
    lines=shippable_lines,
    line={
        "channel_sku": "sku",
        "variant_id": "product_id",
        "quantity": "qty_ordered",
        "unit_price": "price",
        "title": "name",
    },
    extra={
        "entity_id": "entity_id", "state": "state", "shipping_description": "shipping_description",
        "customer_is_guest": "customer_is_guest", "payment_method": "payment.method", "store_id": "store_id",
    },
    placed_at="created_at",  # "2017-08-21 22:22:19": UTC, no offset, whatever the store's display zone
    updated_at="updated_at",
    read_time=gmt_time,
)

# No export of Magento's own carries items (the admin order grid's "Export CSV" has one row per order and no
# products), so the manual-import file is the common one-row-per-item export of order-export extensions: order
# columns repeated on every row. Expected columns: Order Id (entity_id), Order Number (increment_id), Purchase Date,
# Status (the label), Customer Name, Customer Email, Shipping Name, Shipping Company, Shipping Street 1, Shipping
# Street 2, Shipping City, Shipping Region, Shipping Postcode, Shipping Country (ISO 2), Shipping Phone, Billing Name,
# Billing Street 1, Billing City, Billing Postcode, Billing Country, Currency, Grand Total, Shipping Amount, Tax
# Amount, Shipping Method (the carrier_method code), Payment Method; and per row Item SKU, Item Product Id, Item Qty,
# Item Price, Item Name: one row per shippable item (the export's "simple products only" setting).
MAGENTO_CSV_ORDERS = ChannelMapping(
    order={
        "order_number": "0.Order Number",
        "channel_status": "0.Status",
        "customer_name": first_of("0.Customer Name | 0.Billing Name", "0.Shipping Name"),
        "customer_email": "0.Customer Email",
        "customer_phone": "0.Shipping Phone",
        "ship_name": "0.Shipping Name",
        "ship_company": "0.Shipping Company",
        "ship_address1": "0.Shipping Street 1",
        "ship_address2": "0.Shipping Street 2",
        "ship_city": "0.Shipping City",
        "ship_region": "0.Shipping Region",
        "ship_postal_code": "0.Shipping Postcode",
        "ship_country": "0.Shipping Country",
        "ship_phone": "0.Shipping Phone",
        "bill_name": "0.Billing Name",
        "bill_address1": "0.Billing Street 1",
        "bill_city": "0.Billing City",
        "bill_postal_code": "0.Billing Postcode",
        "bill_country": "0.Billing Country",
        "currency": "0.Currency",
        "total_amount": "0.Grand Total",
        "shipping_amount": "0.Shipping Amount",
        "tax_amount": "0.Tax Amount",
        "ship_method": "0.Shipping Method",
    },
    lines=lambda rows: rows,
    line={"channel_sku": "Item SKU", "variant_id": "Item Product Id", "quantity": "Item Qty", "unit_price": "Item Price",
          "title": "Item Name"},
    extra={"payment_method": "0.Payment Method"},
)
