"""Mapping and validation from the channels' real example payloads: exact values and error codes."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from sync_pipeline.channels import ORDER_MAPPINGS
from sync_pipeline.config import parse_config
from sync_pipeline.db.writes import records
from sync_pipeline.orders.normalize import normalize

PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"
DAY = date(2026, 1, 5)
NOW = datetime(2026, 1, 6, tzinfo=timezone.utc)
STATUS_MAPS = {
    "shopify": {"paid": "paid", "partially_refunded": "paid", "pending": "placed", "fulfilled": "shipped"},
    "woocommerce": {"processing": "paid", "completed": "shipped"},
    "amazon": {"Unshipped": "paid", "Pending": "placed"},
    "takealot": {"Accepted": "paid"},
}


def load(name: str):
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def shopify_order():
    return load("shopify_order.json")["orders"][0]


def woo_order():
    return load("woocommerce_order.json")


def amazon_order():
    order = load("amazon_getOrders_doc_example.json")["payload"]["Orders"][0]
    order["OrderStatus"] = "Unshipped"
    order["OrderTotal"] = {"CurrencyCode": "USD", "Amount": "10.00"}
    return {"Order": order, "OrderItems": load("amazon_order_items.json")["payload"]["OrderItems"]}


def takealot_order():
    sales = load("takealot_order.SCHEMA_DERIVED_NOT_REAL.json")["sales"]
    sales[0].update(sale_status="Accepted", customer="Thandiwe Nkosi", order_date="2026-01-05 10:00:00")
    return sales


def channel(channel_type: str, import_statuses=()):
    return parse_config(
        {"channels": [{"name": f"{channel_type[:4]}-1", "type": channel_type, "base_url": "https://x.example",
                       "credentials": {}, "import_statuses": list(import_statuses)}]},
        "test.yaml",
    ).channels[0]


def raw_frame(*versions: tuple[str, object], updated_offsets=None, source="api") -> pd.DataFrame:
    rows = []
    for number, (external_id, payload) in enumerate(versions):
        text = json.dumps(payload, ensure_ascii=False)
        updated = NOW + timedelta(minutes=(updated_offsets or [0] * len(versions))[number])
        rows.append({
            "id": number + 1, "channel": "x", "partition_date": DAY, "external_order_id": external_id, "payload": text,
            "payload_sha256": hashlib.sha256(text.encode()).hexdigest(), "channel_updated_at": updated,
            "placed_at": datetime(2026, 1, 5, 15, tzinfo=timezone.utc), "fetched_at": updated, "run_id": "r", "source": source,
        })
    return pd.DataFrame(rows)


def run(channel_type: str, *versions, import_statuses=(), status_map=None, updated_offsets=None, source="api"):
    return normalize(
        raw_frame(*versions, updated_offsets=updated_offsets, source=source), channel(channel_type, import_statuses),
        ORDER_MAPPINGS[channel_type], status_map or STATUS_MAPS[channel_type], "run-1", NOW,
    )


def test_shopify_real_payload_maps_exactly():
    result = run("shopify", ("450789469", shopify_order()))
    order = result.orders.iloc[0]
    assert order["order_id"] == "shop-1:450789469"
    assert order["order_number"] == "#1001"
    assert (order["channel_status"], order["canonical_status"]) == ("partially_refunded", "paid")
    assert order["customer_name"] == "Bob Norman"
    assert order["customer_email"] == "bob.norman@mail.example.com"
    assert order["customer_phone"] == "+557734881234"
    assert order["ship_phone"] == "+15024592181"  # "+1(502)-459-2181" in E.164
    assert (order["ship_address1"], order["ship_city"], order["ship_region"]) == ("Chestnut Street 92", "Louisville", "KY")
    assert (order["ship_postal_code"], order["ship_country"], order["bill_country"]) == ("40202", "US", "US")
    assert (order["currency"], order["total_amount"], order["tax_amount"]) == ("USD", 598.94, 11.94)
    assert order["ship_method"] == "Free Shipping"
    assert json.loads(order["channel_fields"])["source_name"] == "web"
    assert list(result.lines["channel_sku"]) == ["IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"]
    assert list(result.lines["quantity"]) == [1, 1, 1]
    assert list(result.lines["unit_price"]) == [199.0, 199.0, 199.0]


def test_woocommerce_real_payload_maps_exactly():
    result = run("woocommerce", ("727", woo_order()))
    order = result.orders.iloc[0]
    assert (order["order_number"], order["canonical_status"]) == ("727", "paid")
    assert order["customer_name"] == "John Doe"
    assert order["customer_phone"] == "+15555555555"  # "(555) 555-5555" read in the shipping country
    assert (order["ship_country"], order["total_amount"], order["shipping_amount"]) == ("US", 29.35, 10.0)
    assert order["ship_method"] == "Flat Rate"
    lines = records(result.lines)
    assert [(l["channel_sku"], l["variant_id"], l["quantity"], l["unit_price"]) for l in lines] == [
        (None, "93", 2, 3.0),  # empty SKU: the product id is the fallback key
        ("Bar3", "23", 1, 12.0),
    ]


def test_amazon_real_payload_maps_exactly():
    result = run("amazon", ("902-3159896-1390916", amazon_order()))
    order = result.orders.iloc[0]
    assert (order["canonical_status"], order["customer_name"], order["customer_email"]) == ("paid", "John Doe", "user@example.com")
    assert (order["ship_address1"], order["ship_city"], order["ship_postal_code"], order["ship_country"]) == ("1 Cross St.", "Canton", "48817", "US")
    assert order["ship_method"] == "Standard"
    line = result.lines.iloc[0]
    assert (line["channel_sku"], line["variant_id"], line["quantity"], line["unit_price"]) == ("NABetaASINB00551Q3CS", "B00551Q3CS", 1, 10.0)


def test_takealot_shape_maps_lines_and_dc():
    result = run("takealot", ("111222333", takealot_order()))
    order = result.orders.iloc[0]
    assert (order["canonical_status"], order["customer_name"]) == ("paid", "Thandiwe Nkosi")
    assert (order["ship_name"], order["ship_country"], order["currency"], order["total_amount"]) == ("Takealot DC JHB", "ZA", "ZAR", 299.0)
    assert result.lines.iloc[0]["channel_sku"] == "SKU-001"


def errors_of(result) -> list[tuple[str, str]]:
    return sorted(zip(result.errors["error_code"], result.errors["field"]))


def test_unmapped_status_is_an_error_never_a_guess():
    sales = takealot_order()
    sales[0]["sale_status"] = "Customer Received"
    result = run("takealot", ("1", sales))
    assert errors_of(result) == [("STATUS_NOT_MAPPED", "channel_status")]
    assert "'Customer Received' is not mapped" in result.errors.iloc[0]["message"]
    assert "data/status_map.yaml" in result.errors.iloc[0]["message"]
    assert result.normalized == 0 and result.quarantined == 1


def test_filtered_orders_are_counted_with_their_reason():
    pending = woo_order() | {"status": "pending"}
    result = run("woocommerce", ("727", woo_order()), ("728", pending), import_statuses=["processing"])
    assert (result.normalized, result.filtered, result.quarantined) == (1, 1, 0)
    assert errors_of(result) == [("FILTERED", "channel_status")]
    assert "not in import_statuses ['processing']" in result.errors.iloc[0]["message"]


def test_amazon_fba_orders_are_filtered():
    fba = amazon_order()
    fba["Order"]["FulfillmentChannel"] = "AFN"
    result = run("amazon", ("1", fba))
    assert result.filtered == 1
    assert "fulfilled by Amazon" in result.errors.iloc[0]["message"]


def test_a_status_change_updates_the_order_in_place():
    shipped = shopify_order() | {"fulfillment_status": "fulfilled"}
    result = run("shopify", ("1", shopify_order()), ("1", shipped), import_statuses=["partially_refunded"], updated_offsets=[0, 30])
    assert result.normalized == 1 and result.filtered == 0, "once imported, later statuses update the order"
    assert result.orders.iloc[0]["canonical_status"] == "shipped"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda o: o.update(email=None, contact_email=None, phone=None, customer={}, shipping_address=o["shipping_address"] | {"phone": None}, billing_address=o["billing_address"] | {"phone": None}),
         # The ship-to still names the buyer (Bob Norman): only a way to reach them is missing.
         [("CUSTOMER_INFO_MISSING", "customer_email/customer_phone")]),
        (lambda o: o["shipping_address"].update(country_code="XX", country="Atlantis"), [("ADDRESS_INVALID", "ship_country")]),
        (lambda o: o["shipping_address"].update(address1="Chestnut\x00 Street"), [("MALFORMED_ADDRESS", "ship_address1")]),
        (lambda o: o["shipping_address"].update(city="Louisville\ufffd"), [("MALFORMED_ADDRESS", "ship_city")]),
        (lambda o: o.update(total_price="twelve"), [("INVALID_AMOUNT", "total_amount")]),
        (lambda o: o.update(total_price="-5.00"), [("INVALID_AMOUNT", "total_amount")]),
        (lambda o: o.update(currency="XYZ"), [("INVALID_AMOUNT", "currency")]),
        (lambda o: o["line_items"][1].update(quantity=0), [("INVALID_AMOUNT", "line 2 quantity")]),
        (lambda o: o.update(line_items=[]), [("NO_LINE_ITEMS", "lines")]),
        (lambda o: o.update(financial_status="paid", total_price="x", shipping_address=o["shipping_address"] | {"country_code": "ZZ", "country": "Nowhere"}),
         [("ADDRESS_INVALID", "ship_country"), ("INVALID_AMOUNT", "total_amount")]),
    ],
)
def test_each_error_code_from_a_mutated_real_payload(mutate, expected):
    order = copy.deepcopy(shopify_order())
    mutate(order)
    result = run("shopify", ("1", order), ("2", shopify_order()))
    assert errors_of(result) == expected, "every reason is collected at once"
    assert result.normalized == 1, "one bad order never blocks the others"
    assert all(result.errors["message"].str.len() > 40)


def test_a_run_where_no_payload_can_be_mapped_quarantines_them_all():
    result = run("shopify", ("a", [1, 2]), ("b", "just text"))
    assert result.raw_orders == 2 and result.quarantined == 2 and result.normalized == 0
    assert sorted(result.errors["external_order_id"]) == ["a", "b"]
    assert set(result.errors["error_code"]) == {"MAPPING_FAILED"}


def test_unicode_names_are_preserved_exactly():
    order = copy.deepcopy(shopify_order())
    order["customer"].update(first_name="王", last_name="芳")
    order["shipping_address"].update(name="Ελένη Παπαδοπούλου", address1="ул. Тверская, д. 7", city="São Paulo 🚚")
    result = run("shopify", ("1", order))
    row = result.orders.iloc[0]
    assert (row["customer_name"], row["ship_name"], row["ship_address1"], row["ship_city"]) == (
        "王 芳", "Ελένη Παπαδοπούλου", "ул. Тверская, д. 7", "São Paulo 🚚")


def test_the_latest_version_wins():
    older = shopify_order() | {"financial_status": "pending"}
    result = run("shopify", ("1", shopify_order()), ("1", older), updated_offsets=[10, 0])
    assert result.orders.iloc[0]["channel_status"] == "partially_refunded"


def test_a_channel_csv_export_maps_through_its_own_table():
    rows = [
        {"Order ID": "9001", "Order Date": "2026-01-05 10:15:00", "Sale Status": "Accepted", "Customer": "Sipho Dlamini",
         "DC": "CPT", "Product Title": "Braai Tongs", "SKU": "SKU-1", "TSIN": "77", "Qty": "1", "Selling Price": "199"},
        {"Order ID": "9001", "Order Date": "2026-01-05 10:15:00", "Sale Status": "Accepted", "Customer": "Sipho Dlamini",
         "DC": "CPT", "Product Title": "Braai Apron — Ndebele", "SKU": "SKU-2", "TSIN": "78", "Qty": "2", "Selling Price": "498"},
    ]
    result = run("takealot", ("9001", rows), source="csv:sales-export.csv")
    order = result.orders.iloc[0]
    assert (order["customer_name"], order["ship_name"], order["total_amount"]) == ("Sipho Dlamini", "Takealot DC CPT", 697.0)
    assert list(result.lines["title"]) == ["Braai Tongs", "Braai Apron — Ndebele"]
    assert list(result.lines["quantity"]) == [1, 2]
    assert list(result.lines["unit_price"]) == [199.0, 249.0]
