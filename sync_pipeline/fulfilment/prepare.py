"""Normalized orders -> what to do with each at the warehouse: submit it (with its warehouse request), cancel it,
hold it, queue it for manual entry, or stop it with an error that names the fix. Vectorised over a partition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sync_pipeline.config import ChannelConfig
from sync_pipeline.db.writes import with_none
from sync_pipeline.fulfilment.addresses import address_problems, has_shipping_address
from sync_pipeline.fulfilment.schemas import GATE_CODES, FulfilmentOrderSchema
from sync_pipeline.fulfilment.ship_methods import ship_maps_file, warehouse_codes
from sync_pipeline.fulfilment.skus import resolve_skus
from sync_pipeline.orders.schemas import failed_checks

STAGE = "fulfilment"
READY = {"paid", "processing"}
CANCELLED = {"cancelled", "refunded"}
SHIPPED = {"shipped", "delivered"}
NO_SHIP_METHOD = "(none)"  # how an order without a ship method is keyed in data/ship_maps.csv
SHIPPED_ON_CHANNEL, NOT_READY = "SHIPPED_ON_CHANNEL", "NOT_READY"  # why an order is held
MAP_FILE_ERROR = "MAP_FILE_ERROR"  # a broken map-file line stops its channel's orders (fulfilment_orders.py)
ERROR_COLUMNS = ["external_order_id", "partition_date", "error_code", "field", "message", "payload_sha256"]


@dataclass
class Prepared:
    orders: pd.DataFrame  # by order_id: action (submit, cancel, hold, manual, error), error_code, message, ship_code
    requests: dict[str, dict]  # the warehouse request of each order to submit, by order_id
    errors: pd.DataFrame  # order_sync_errors rows (stage fulfilment, plus order_id) for held and stopped orders


def client_reference(order_id: pd.Series) -> pd.Series:
    """The warehouse's order number for a channel order: the same on every run, so a resend is recognised."""
    return order_id


def prepare(
    orders: pd.DataFrame, lines: pd.DataFrame, channel: ChannelConfig, catalogue: set[str], po_box_codes: set[str],
    ambiguous_skus: dict[str, str],
) -> Prepared:
    frame = orders.set_index("order_id", drop=False)
    frame["client_reference"] = client_reference(frame["order_id"])
    methods = frame["ship_method"].fillna(NO_SHIP_METHOD)
    frame["ship_code"] = warehouse_codes(methods, channel)
    lines = resolve_skus(lines, channel, catalogue, ambiguous_skus)
    bad_lines = lines[lines["sku_error"].notna()]
    frame["has_shipping_address"] = has_shipping_address(frame)
    frame["ship_method_mapped"] = frame["ship_code"].notna()
    frame["skus_found"] = ~frame["order_id"].isin(bad_lines.loc[bad_lines["sku_error"] == "SKU_NOT_FOUND", "order_id"])
    frame["skus_unambiguous"] = ~frame["order_id"].isin(bad_lines.loc[bad_lines["sku_error"] == "SKU_AMBIGUOUS", "order_id"])
    frame["address_problem"] = address_problems(frame, po_box_codes)
    frame["address_valid"] = frame["address_problem"].isna() | ~frame["has_shipping_address"]

    failures = pd.DataFrame(failed_checks(FulfilmentOrderSchema, frame, GATE_CODES), columns=["order_id", "error_code"])
    errors = _error_rows(frame, failures, bad_lines, methods, channel)
    first = errors.sort_values("error_code", key=lambda c: c != "NO_SHIPPING_ADDRESS", kind="stable")
    first = first.drop_duplicates("order_id").set_index("order_id")
    gate_code, gate_message = frame["order_id"].map(first["error_code"]), frame["order_id"].map(first["message"])

    status = frame["canonical_status"]
    outcomes = [  # (when, action, code, message): the first that applies decides
        (status.isin(CANCELLED), "cancel", None, f"cancelled on {channel.name}: not sent to the warehouse"),
        (status.isin(SHIPPED), "hold", SHIPPED_ON_CHANNEL,
         "already " + status.astype(str) + f" on {channel.name} before it reached the warehouse (fulfilled by hand "
         "or elsewhere): not sent, so it is not shipped twice"),
        (~status.isin(READY), "hold", NOT_READY,
         "status " + frame["channel_status"].astype(str) + " (" + status.astype(str) + ") is not ready to ship: "
         "it is sent once it is paid"),
        (pd.Series(channel.warehouse_posting == "manual", index=frame.index), "manual", None,
         f"{channel.name} is set to warehouse_posting: manual in channels.yaml: enter the order at the warehouse by hand"),
        (gate_code == "NO_SHIPPING_ADDRESS", "hold", "NO_SHIPPING_ADDRESS", gate_message),
        (gate_code.notna(), "error", gate_code, gate_message),
    ]
    when = [condition.fillna(False).to_numpy(bool) for condition, *_ in outcomes]
    for column, position, default in (("action", 1, "submit"), ("error_code", 2, None), ("message", 3, None)):
        choices = [_column(outcome[position], frame.index) for outcome in outcomes]
        frame[column] = pd.Series(np.select(when, choices, default=default), index=frame.index).astype(object)
    # The errors table shows what a person must fix: stopped orders, and those held for want of an address.
    shown = frame.index[(frame["action"] == "error") | (frame["error_code"] == "NO_SHIPPING_ADDRESS")]
    errors = errors[errors["order_id"].isin(set(shown))]
    requests = _requests(frame[frame["action"] == "submit"], lines, channel)
    return Prepared(
        orders=frame[["order_id", "external_order_id", "partition_date", "payload_sha256", "client_reference", "action",
                      "error_code", "message", "ship_code"]],
        requests=requests,
        errors=errors[["order_id", *ERROR_COLUMNS]],
    )


def _column(value, index) -> np.ndarray:
    values = value if isinstance(value, pd.Series) else pd.Series(value, index=index)
    return values.astype(object).to_numpy()


def _error_rows(
    frame: pd.DataFrame, failures: pd.DataFrame, bad_lines: pd.DataFrame, methods: pd.Series, channel: ChannelConfig
) -> pd.DataFrame:
    """One row per order, code and field, each with its fix. Line errors name the line."""
    path = ship_maps_file()
    rows = []
    for order_id, code in failures.itertuples(index=False):
        order = frame.loc[order_id]
        if code == "NO_SHIPPING_ADDRESS":
            rows.append((order_id, code, "ship_address", (
                "the order has no shipping address (usually a test or in-store order): it is held, not sent; add the "
                f"address on {channel.name} and re-import it if it must ship")))
        elif code == "SHIP_METHOD_NOT_MAPPED":
            method = methods[order_id]
            rows.append((order_id, code, "ship_method", (
                f"Ship method {method!r} is not mapped: add {channel.type},{method},<warehouse code> (or a row for "
                f"{channel.name} only) to {path}; the order is sent automatically once it is there")))
        elif code == "ADDRESS_INVALID":
            fix = f"correct the shipping address on {channel.name}"
            if order["address_problem"].startswith("rule 'po_box'"):
                fix = f"map the ship method to a carrier that delivers to PO boxes in {path}, or {fix}"
            rows.append((order_id, code, "ship_address", f"{order['address_problem']}; {fix} (the order retries on the next run)"))
    for line in bad_lines.itertuples(index=False):
        rows.append((line.order_id, line.sku_error, f"line {line.line_number} sku", line.sku_message))
    errors = pd.DataFrame(rows, columns=["order_id", "error_code", "field", "message"])
    for column in ("external_order_id", "partition_date", "payload_sha256"):
        errors[column] = errors["order_id"].map(frame[column])
    return errors


def _requests(ready: pd.DataFrame, lines: pd.DataFrame, channel: ChannelConfig) -> dict[str, dict]:
    """The warehouse create-order body of each order (its API contract: see simulator/warehouse.py)."""
    by_order: dict[str, list[dict]] = {}
    for line in lines[lines["order_id"].isin(ready.index)].itertuples(index=False):
        by_order.setdefault(line.order_id, []).append(
            {"line_number": int(line.line_number), "sku": line.warehouse_sku, "quantity": int(line.quantity)}
        )
    clean = with_none(ready)
    return {
        o.order_id: {
            "client_reference": o.client_reference,
            "order_number": o.order_number or o.external_order_id,
            "channel": channel.name,
            "channel_order_id": o.external_order_id,
            "ship_method": o.ship_code,
            "ship_to": {
                "name": o.ship_name, "company": o.ship_company, "address1": o.ship_address1, "address2": o.ship_address2,
                "city": o.ship_city, "region": o.ship_region, "postal_code": o.ship_postal_code, "country": o.ship_country,
                "phone": o.ship_phone or o.customer_phone,
            },
            # The warehouse requires customer.name; an order normalized with only a ship-to name sends that.
            "customer": {"name": o.customer_name or o.ship_name, "email": o.customer_email, "phone": o.customer_phone},
            "lines": by_order.get(o.order_id, []),
        }
        for o in clean.itertuples(index=False)
    }
