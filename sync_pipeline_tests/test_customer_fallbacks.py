"""The buyer's name, email and phone read from every place each platform puts them, and the warehouse's own rule
(a ship-to name and one way to reach the buyer) judging them: from the channels' real payloads (fixtures/payloads)
and variants of them, each asserting what normalization keeps or why it quarantines."""

from __future__ import annotations

import copy

import pytest

from sync_pipeline_tests.test_normalize import errors_of, load, run

SHOPIFY_STATUSES = {"paid": "paid", "partially_refunded": "paid", "authorized": "placed", "pending": "placed"}
AMAZON_STATUSES = {"Unshipped": "paid"}
EBAY_STATUSES = {"NOT_STARTED": "paid"}
BIGCOMMERCE_STATUSES = {"Awaiting Fulfillment": "paid"}
NOTHING = [("CUSTOMER_INFO_MISSING", "ship_name, customer_email/customer_phone")]
NO_CONTACT = [("CUSTOMER_INFO_MISSING", "customer_email/customer_phone")]


def kept(result) -> dict:
    """The one order normalization kept, as a dict; fails with the errors when it was quarantined."""
    assert result.normalized == 1, list(result.errors["message"])
    return result.orders.iloc[0].to_dict()


def contact(order: dict) -> tuple:
    return order["customer_name"], order["customer_email"], order["customer_phone"]


def message(result) -> str:
    (text,) = result.errors.loc[result.errors["error_code"] == "CUSTOMER_INFO_MISSING", "message"]
    return text


# --- Shopify: customer, then shipping_address, then billing_address --------------------------------------

def shopify_order() -> dict:
    return load("shopify_order.json")["orders"][0]


def shopify_legacy_order() -> dict:
    """shopify_python_api's order fixture: no order-level phone, the customer without one either."""
    return load("shopify_order_legacy_python_api_fixture.json")["order"]


def shopify(order: dict):
    return run("shopify", ("450789469", order), status_map=SHOPIFY_STATUSES)


def test_shopify_real_payloads_keep_the_customer_record():
    assert contact(kept(shopify(shopify_order()))) == ("Bob Norman", "bob.norman@mail.example.com", "+557734881234")
    # No order or customer phone: the shipping address's, in E.164.
    assert contact(kept(shopify(shopify_legacy_order()))) == ("Bob Norman", "bob.norman@hostmail.com", "+15556251199")


@pytest.mark.parametrize("guest", [
    lambda o: o["customer"].update(first_name=None, last_name=None),  # a guest's customer record: no name
    lambda o: o["customer"].update(first_name="", last_name="  "),
    lambda o: o.pop("customer"),  # no customer record at all
])
def test_shopify_guest_without_a_customer_name_ships_to_the_shipping_address_name(guest):
    """The issue's example: a guest whose customer record has no name, shipped to "John Doe", with an email."""
    order = copy.deepcopy(shopify_order())
    guest(order)
    order["shipping_address"].update(name="John Doe", first_name="John", last_name="Doe")  # billing stays Bob Norman
    result = shopify(order)
    assert errors_of(result) == []
    kept_order = kept(result)
    assert contact(kept_order) == ("John Doe", "bob.norman@mail.example.com", "+557734881234")
    assert kept_order["ship_name"] == "John Doe"


def test_shopify_name_from_the_shipping_address_parts_then_the_billing_address():
    order = copy.deepcopy(shopify_legacy_order())
    order["customer"].update(first_name=None, last_name=None)
    order["shipping_address"].update(name=None, first_name="John", last_name="Doe")
    assert kept(shopify(order))["customer_name"] == "John Doe", "first and last joined when name is absent"

    order["shipping_address"].update(first_name=None, last_name=None)
    assert kept(shopify(order))["customer_name"] == "Bob Norman", "the billing address's name last"


def test_shopify_no_email_but_a_phone_is_enough():
    order = copy.deepcopy(shopify_legacy_order())
    order.update(email=None, contact_email=None)
    order["customer"]["email"] = None
    order["shipping_address"]["phone"] = None  # only the billing address has one
    order["billing_address"]["phone"] = "555-625-1188"
    result = shopify(order)
    assert errors_of(result) == []
    assert contact(kept(result)) == ("Bob Norman", None, "+15556251188")


def test_shopify_customer_phone_before_the_addresses():
    order = copy.deepcopy(shopify_legacy_order())
    order["customer"]["phone"] = "+16136120707"
    assert kept(shopify(order))["customer_phone"] == "+16136120707"


def shopify_blank(order: dict) -> dict:
    order.update(email=None, contact_email=None, phone=None)
    order["customer"].update(first_name=None, last_name=None, email=None, phone=None)
    for address in ("shipping_address", "billing_address"):
        order[address].update(name=None, first_name=None, last_name=None, phone=None)
    return order


@pytest.mark.parametrize("make", [shopify_order, shopify_legacy_order])
def test_shopify_nothing_anywhere_is_still_customer_info_missing(make):
    result = shopify(shopify_blank(copy.deepcopy(make())))
    assert errors_of(result) == NOTHING
    text = message(result)
    assert text.startswith("no ship-to name and no email or phone (read from the order's email and phone, its customer, "
                           "shipping_address and billing_address)")
    assert "add the name to the shipping address and add the buyer's email or phone on the order in shop-1" in text
    assert "sync-pipeline reimport shop-1 450789469" in text
    assert result.normalized == 0 and result.quarantined == 1


def test_shopify_a_name_without_any_contact_says_only_the_contact_is_missing():
    order = shopify_blank(copy.deepcopy(shopify_order()))
    order["shipping_address"]["name"] = "John Doe"
    result = shopify(order)
    assert errors_of(result) == NO_CONTACT
    assert message(result).startswith("no email or phone (read from")
    assert "ship-to name" not in message(result).split(":")[0]


def test_shopify_an_unreadable_phone_is_named():
    order = shopify_blank(copy.deepcopy(shopify_order()))
    order["shipping_address"].update(name="John Doe", phone="call me")
    result = shopify(order)
    assert errors_of(result) == NO_CONTACT
    assert message(result).startswith("no email, and the phone 'call me' is not a phone number")


# --- WooCommerce: billing, then shipping ----------------------------------------------------------------

def woo_order() -> dict:
    return load("woocommerce_order.json")


def test_woocommerce_name_from_shipping_when_billing_has_none():
    order = copy.deepcopy(woo_order())
    order["billing"].update(first_name="", last_name="")
    order["shipping"].update(first_name="Jane", last_name="Roe")
    result = run("woocommerce", ("727", order))
    assert contact(kept(result)) == ("Jane Roe", "john.doe@example.com", "+15555555555")


def test_woocommerce_no_email_but_a_shipping_phone():
    order = copy.deepcopy(woo_order())
    order["billing"].update(email="", phone="")
    order["shipping"]["phone"] = "(555) 555-1234"  # WooCommerce's shipping phone (absent from the docs' example)
    result = run("woocommerce", ("727", order))
    assert contact(kept(result)) == ("John Doe", None, "+15555551234")


def test_woocommerce_nothing_anywhere():
    order = copy.deepcopy(woo_order())
    for part in ("billing", "shipping"):
        order[part].update(first_name="", last_name="", phone="")
    order["billing"]["email"] = ""
    result = run("woocommerce", ("727", order))
    assert errors_of(result) == NOTHING
    assert "(read from the order's billing, then its shipping)" in message(result)


# --- Amazon: BuyerInfo, then ShippingAddress ------------------------------------------------------------

def amazon_order(**parts) -> dict:
    """Amazon's sandbox getOrders order (no BuyerInfo or ShippingAddress: restricted data) with its items, and
    the given restricted parts as getOrders returns them under a restricted data token."""
    order = copy.deepcopy(load("amazon_order.json")["payload"]["Orders"][0])
    order.update(parts)
    return {"Order": order, "OrderItems": load("amazon_order_items.json")["payload"]["OrderItems"]}


def buyer_info() -> dict:
    info = load("amazon_order_buyerinfo.json")["payload"]
    return {k: v for k, v in info.items() if k != "AmazonOrderId"}


def shipping_address() -> dict:
    return load("amazon_order_address.json")["payload"]["ShippingAddress"]


def amazon(payload: dict):
    return run("amazon", ("902-1845936-5435065", payload), status_map=AMAZON_STATUSES)


def test_amazon_buyer_info_and_shipping_address():
    result = amazon(amazon_order(BuyerInfo=buyer_info(), ShippingAddress=shipping_address()))
    order = kept(result)
    assert contact(order) == ("MFNIntegrationTestMerchant", "fzyrv6gwkhbb15c@example.com", "+14803860930")
    assert order["ship_name"] == "MFNIntegrationTestMerchant"


def test_amazon_without_buyer_info_the_shipping_address_names_and_reaches_the_buyer():
    result = amazon(amazon_order(BuyerInfo={}, ShippingAddress=shipping_address()))
    assert contact(kept(result)) == ("MFNIntegrationTestMerchant", None, "+14803860930")


def test_amazon_doc_example_without_buyer_name_uses_the_shipping_name():
    order = copy.deepcopy(load("amazon_getOrders_doc_example.json")["payload"]["Orders"][0])
    del order["BuyerInfo"]["BuyerName"]
    order.update(OrderStatus="Unshipped", OrderTotal={"CurrencyCode": "USD", "Amount": "10.00"})
    payload = {"Order": order, "OrderItems": load("amazon_order_items.json")["payload"]["OrderItems"]}
    assert contact(kept(amazon(payload))) == ("Michigan address", "user@example.com", None)


def test_amazon_sandbox_order_without_restricted_data_is_customer_info_missing():
    result = amazon(amazon_order())
    assert errors_of(result) == NOTHING
    assert "(read from the order's BuyerInfo, then its ShippingAddress)" in message(result)


# --- eBay: buyer.buyerRegistrationAddress, then the shipTo ----------------------------------------------

SHIP_TO = ("fulfillmentStartInstructions", 0, "shippingStep", "shipTo")


def ebay_order() -> dict:
    return copy.deepcopy(load("ebay_order.json")["orders"][0])


def ship_to(order: dict) -> dict:
    return order["fulfillmentStartInstructions"][0]["shippingStep"]["shipTo"]


def ebay(order: dict):
    return run("ebay", ("1********5", order), status_map=EBAY_STATUSES)


def test_ebay_registration_address_first():
    assert contact(kept(ebay(ebay_order()))) == ("q********r", "2********@********.com", None)


def test_ebay_without_a_registration_address_the_ship_to_names_and_reaches_the_buyer():
    order = ebay_order()
    del order["buyer"]["buyerRegistrationAddress"]
    ship_to(order)["email"] = "buyer@example.com"
    order_kept = kept(ebay(order))
    assert contact(order_kept) == ("B********y", "buyer@example.com", None)
    assert order_kept["ship_name"] == "B********y"


def test_ebay_no_email_but_a_ship_to_phone():
    order = ebay_order()
    del order["buyer"]["buyerRegistrationAddress"]["email"]
    del ship_to(order)["email"]
    ship_to(order)["primaryPhone"] = {"phoneNumber": "612345678"}
    order_kept = kept(ebay(order))
    # The registration phone the example masks ("********") is sent, so read first, and is no number; the
    # ship-to's phone reaches the buyer.
    assert (order_kept["customer_email"], order_kept["ship_phone"]) == (None, "+34612345678")


def test_ebay_nothing_anywhere():
    order = ebay_order()
    del order["buyer"]["buyerRegistrationAddress"]
    for key in ("fullName", "email", "primaryPhone"):
        ship_to(order).pop(key, None)
    result = ebay(order)
    assert errors_of(result) == NOTHING
    assert "(read from the order's buyer.buyerRegistrationAddress, then its shipTo)" in message(result)


# --- BigCommerce: billing_address, then the shipping address --------------------------------------------

def bigcommerce_payload() -> dict:
    sub_resources = load("bigcommerce_order_subresources.json")
    return copy.deepcopy({
        "order": load("bigcommerce_order.json")[0],
        "products": sub_resources["GET /orders/{order_id}/products"],
        "shipping_addresses": sub_resources["GET /orders/{order_id}/shipping_addresses"],
    })


def bigcommerce(payload: dict):
    return run("bigcommerce", ("100", payload), status_map=BIGCOMMERCE_STATUSES)


def test_bigcommerce_billing_first():
    assert contact(kept(bigcommerce(bigcommerce_payload()))) == ("Jane Doe", "janedoe@example.com", "+15551234567")


def test_bigcommerce_name_email_and_phone_from_the_shipping_address():
    payload = bigcommerce_payload()
    payload["order"]["billing_address"].update(first_name="", last_name="", email="", phone="")
    payload["shipping_addresses"][0].update(email="trishy@example.com", phone="555-123-9876")
    assert contact(kept(bigcommerce(payload))) == ("Trishy Smith", "trishy@example.com", "+15551239876")


def test_bigcommerce_no_email_but_a_phone():
    payload = bigcommerce_payload()
    payload["order"]["billing_address"]["email"] = ""
    payload["shipping_addresses"][0]["email"] = ""
    assert contact(kept(bigcommerce(payload))) == ("Jane Doe", None, "+15551234567")


def test_bigcommerce_nothing_anywhere():
    payload = bigcommerce_payload()
    payload["order"]["billing_address"].update(first_name="", last_name="", email="", phone="")
    payload["shipping_addresses"][0].update(first_name="", last_name="", email="", phone="")
    result = bigcommerce(payload)
    assert errors_of(result) == NOTHING
    assert "(read from the order's billing_address, then its shipping address)" in message(result)


# --- Takealot: the DC is the ship-to, so the name must be the buyer's -----------------------------------

def test_takealot_without_a_customer_name_is_missing_even_with_the_dc_ship_to():
    sales = load("takealot_order.SCHEMA_DERIVED_NOT_REAL.json")["sales"]
    sales[0].update(sale_status="Accepted", customer="", order_date="2026-01-05 10:00:00")
    result = run("takealot", ("111222333", sales))
    assert errors_of(result) == [("CUSTOMER_INFO_MISSING", "customer_name")]
    assert message(result).startswith("no buyer's name (read from the sale's customer)")
