"""raw_orders -> canonical orders, lines and errors for one channel: map, derive, filter, validate.

Every distinct raw order ends up in exactly one place: normalized, filtered (with its reason) or
quarantined (with every error found in it, collected at once)."""

from __future__ import annotations

import contextlib
import functools
import gc
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import orjson
import pandas as pd
import phonenumbers
import pycountry

from sync_pipeline.config import ChannelConfig
from sync_pipeline.db.tables import orders
from sync_pipeline.db.writes import with_none
from sync_pipeline.orders.mapping import AMOUNT_FIELDS, LINE_COLUMNS, ORDER_COLUMNS, ChannelMapping
from sync_pipeline.orders.schemas import NormalizedOrderSchema, failed_checks

STAGE = "normalize"
TEXT_FIELDS = [
    "customer_name", "ship_name", "ship_company", "ship_address1", "ship_address2", "ship_city", "ship_region",
    "ship_postal_code", "bill_name", "bill_address1", "bill_city", "bill_postal_code",
]
# Control characters, and U+FFFD: what a broken encoding leaves behind.
MALFORMED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
MAX_AMOUNT = 10**13  # what NUMERIC(18, 4) holds
CURRENCIES = {c.alpha_3 for c in pycountry.currencies}
# Channels whose buyers are the marketplace's, not the merchant's: a name is all the warehouse gets, and the
# ship-to is the marketplace's own depot, so the name must be the buyer's.
CONTACT_OPTIONAL_TYPES = {"takealot"}
# Where each platform's field table reads the buyer's name, email and phone (in that order of preference), for
# the CUSTOMER_INFO_MISSING message: the places the person can fill in on the channel.
BUYER_PLACES = {
    "shopify": "the order's email and phone, its customer, shipping_address and billing_address",
    "woocommerce": "the order's billing, then its shipping",
    "amazon": "the order's BuyerInfo, then its ShippingAddress",
    "ebay": "the order's buyer.buyerRegistrationAddress, then its shipTo",
    "bigcommerce": "the order's billing_address, then its shipping address",
    "takealot": "the sale's customer",
    "magento": "the order's customer_* fields, its billing_address, then its shipping address",
}
ERROR_COLUMNS = ["external_order_id", "partition_date", "error_code", "field", "message", "payload_sha256"]


@dataclass
class NormalizeResult:
    orders: pd.DataFrame
    lines: pd.DataFrame
    errors: pd.DataFrame  # one row per (order, code, field), FILTERED included
    raw_orders: int
    filtered: int
    quarantined: int

    @property
    def normalized(self) -> int:
        return len(self.orders)


@functools.cache
def iso_country(value: str) -> str | None:
    text = value.strip()
    try:
        if len(text) == 2:
            country = pycountry.countries.get(alpha_2=text.upper())
        elif len(text) == 3:
            country = pycountry.countries.get(alpha_3=text.upper())
        else:
            country = pycountry.countries.lookup(text)
    except LookupError:
        return None
    return country.alpha_2 if country else None


@functools.cache
def e164(number: str, region: str | None) -> str | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _map_unique(series: pd.Series, fn) -> pd.Series:
    """Apply a per-value function to text once per distinct value (countries repeat); None stays None."""
    return with_none(series.map({v: fn(v) for v in series.dropna().unique()}))


def _as_text(series: pd.Series) -> pd.Series:
    """Line fields as text, as sent (a SKU is matched exactly as the channel wrote it)."""
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return with_none(series)
    return pd.Series(
        [v if v.__class__ is str else None if v is None or v != v else str(v) for v in series.tolist()],
        index=series.index, dtype="object",
    )


def _malformed(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Which values of text columns hold control characters or broken encoding. Nearly every frame has none,
    which one search over all their text joined shows."""
    values = frame[columns].to_numpy().ravel().tolist()
    if MALFORMED.search("".join([v for v in values if v.__class__ is str])) is None:
        return pd.DataFrame(False, index=frame.index, columns=columns)
    return frame[columns].map(lambda v: v.__class__ is str and MALFORMED.search(v) is not None)


# What pd.api.types.infer_dtype calls a column of only text or only numbers: to_numeric reads those as they are.
PLAIN_KINDS = {"string", "integer", "floating", "mixed-integer-float", "empty"}


def _number(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(numeric value, invalid mask): a value that was sent but is not a finite non-negative number. Nothing
    sent is None, NaN or only whitespace; any other value, however odd (a bool, a list), was sent."""
    plain = series
    if pd.api.types.infer_dtype(series, skipna=True) not in PLAIN_KINDS:  # odd values are sent but no number
        plain = pd.Series([v if v.__class__ in (str, int, float) else None for v in series.tolist()],
                          index=series.index, dtype="object")
    numbers = pd.to_numeric(plain, errors="coerce").astype("float64")
    sent = series.notna()
    unread = sent & numbers.isna()  # only a value that did not read as a number can be blank text
    if unread.any():
        sent[unread] = [_not_blank(v) for v in series[unread].tolist()]
    invalid = sent & (numbers.isna() | ~np.isfinite(numbers.fillna(0)) | (numbers < 0) | (numbers.abs() >= MAX_AMOUNT))
    return numbers.where(~invalid), invalid


def _not_blank(value) -> bool:
    return not (value.__class__ is str and not value.strip())


def _first_flagged(flags: dict[str, pd.Series], index) -> pd.Series:
    """Per row, the name of the first flagged field, or None."""
    result = pd.Series(None, index=index, dtype="object")
    for name, mask in reversed(list(flags.items())):
        if mask.any():
            result = result.mask(mask, name)
    return result


def source_kind(source: str) -> str:
    """raw_orders.source is "api", "api:webhook" (the API's shape, delivered by webhook) or "csv:<file>"; each kind
    has its own field table."""
    return source.split(":", 1)[0]


@contextlib.contextmanager
def _no_cycle_collection():
    """Parsed JSON and mapped orders hold no reference cycles, so reference counting frees them; the cyclic
    collector would only re-scan the growing result lists again and again (40% of mapping time on Shopify's
    large payloads)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _map_payloads(raw: pd.DataFrame, mappings: dict[str, ChannelMapping]) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """(orders, lines, failures): every payload mapped to rows, as frames of Python objects."""
    orders, order_ids, lines, line_ids, failures = [], [], [], [], []
    by_source = {source: mappings[source_kind(source)] for source in raw["source"].unique()}
    for external_order_id, source, payload in zip(raw["external_order_id"].tolist(), raw["source"].tolist(), raw["payload"].tolist()):
        try:
            order, order_lines = by_source[source].rows(orjson.loads(payload))
        except Exception as exc:  # a payload shape nobody anticipated must not stop the others
            failures.append({"external_order_id": external_order_id, "error": f"{type(exc).__name__}: {exc}"})
            continue
        orders.append(order)
        order_ids.append(external_order_id)
        lines += order_lines
        line_ids += [external_order_id] * len(order_lines)
    order_frame = pd.DataFrame(orders, columns=ORDER_COLUMNS, dtype="object")
    order_frame["external_order_id"] = pd.Series(order_ids, dtype="object")
    line_frame = pd.DataFrame(lines, columns=LINE_COLUMNS, dtype="object")
    line_frame["external_order_id"] = pd.Series(line_ids, dtype="object")
    return order_frame, line_frame, failures


def _ever_importable(
    older: pd.DataFrame, latest_status: pd.Series, mappings: dict[str, ChannelMapping], channel: ChannelConfig
) -> set[str]:
    """Orders any landed version of which passed the import filter: once in, a status change updates them.
    The latest versions' statuses are already mapped; only older versions are read again."""
    if not channel.import_statuses:
        return set(latest_status.index)
    allowed = set(channel.import_statuses)
    importable = set(latest_status.index[latest_status.isin(allowed)])
    return importable | {
        row.external_order_id
        for row in older.itertuples(index=False)
        if row.external_order_id not in importable and _status(mappings[source_kind(row.source)], row.payload) in allowed
    }


def _status(mapping: ChannelMapping, payload: str):
    try:
        return mapping.status(orjson.loads(payload))
    except Exception:  # the latest version's mapping reports what is wrong with it
        return None


def _unreadable_times(latest: pd.DataFrame, mappings: dict[str, ChannelMapping], channel: ChannelConfig) -> pd.Series:
    """For orders landed without a readable creation time: what the channel sent instead (None elsewhere)."""
    sent = pd.Series(None, index=latest.index, dtype="object")
    for row in latest[latest["placed_at"].isna()].itertuples(index=False):
        mapping = mappings[source_kind(row.source)]
        sent[row.external_order_id] = repr(mapping.times(orjson.loads(row.payload), channel.tz).placed_at_sent)
    return sent


def normalize(
    raw: pd.DataFrame, channel: ChannelConfig, mappings: dict[str, ChannelMapping], status_map: dict[str, str],
    run_id: str, now: datetime,
) -> NormalizeResult:
    """`raw` holds every landed version of the channel's orders for some days."""
    with _no_cycle_collection():  # by its end the mapped rows are freed, so no collection ever scans them
        return _normalize(raw, channel, mappings, status_map, run_id, now)


def _normalize(
    raw: pd.DataFrame, channel: ChannelConfig, mappings: dict[str, ChannelMapping], status_map: dict[str, str],
    run_id: str, now: datetime,
) -> NormalizeResult:
    ordered = raw.sort_values(["external_order_id", "channel_updated_at", "fetched_at", "id"])
    is_latest = ~ordered.duplicated("external_order_id", keep="last")
    latest = ordered[is_latest].set_index("external_order_id", drop=False)
    frame, lines, failures = _map_payloads(latest, mappings)

    errors: list[pd.DataFrame] = []
    if failures:
        failed = pd.DataFrame(failures)
        errors.append(failed.assign(
            error_code="MAPPING_FAILED", field="payload",
            message="the payload could not be read (" + failed["error"] + "); compare it with a working order "
                    "(sync-pipeline why) and report the shape",
        ))

    frame = frame.set_index("external_order_id", drop=False)
    importable = _ever_importable(ordered[~is_latest], frame["channel_status"], mappings, channel)
    frame["channel"] = channel.name
    frame["order_id"] = channel.name + ":" + frame["external_order_id"]
    mapped = latest.reindex(frame.index)  # the orders whose payload could be mapped (none, when every one failed)
    for column in ("partition_date", "placed_at", "payload_sha256"):
        frame[column] = mapped[column]
    frame["updated_at"] = mapped["channel_updated_at"]
    frame["placed_at_sent"] = _unreadable_times(mapped, mappings, channel)

    # Filter before judging: a filtered order is not an error.
    not_importable = ~frame["external_order_id"].isin(importable)
    reason = frame["skip_reason"]
    reason = reason.mask(reason.isna() & not_importable,
                         "status " + frame["channel_status"].astype(str) + " is not in import_statuses "
                         + repr(channel.import_statuses) + " of data/channels.yaml")
    filtered = frame[reason.notna()]
    if len(filtered):
        errors.append(pd.DataFrame({
            "external_order_id": filtered["external_order_id"], "error_code": "FILTERED", "field": "channel_status",
            "message": "skipped by the import filter: " + reason[reason.notna()]
                       + "; not an error (change the filter to import such orders)",
        }))
    frame = frame[reason.isna()]

    frame, lines, line_problems = _derive(frame, lines, channel, status_map)
    quarantined = _validate(frame, channel, line_problems)
    if len(quarantined):
        errors.append(quarantined)
    bad = set().union(*(set(e["external_order_id"]) for e in errors)) if errors else set()

    good = frame[~frame["external_order_id"].isin(bad)]
    error_frame = (
        pd.concat(errors, ignore_index=True) if errors else pd.DataFrame(columns=["external_order_id", "error_code", "field", "message"])
    )
    error_frame["partition_date"] = error_frame["external_order_id"].map(latest["partition_date"])
    error_frame["payload_sha256"] = error_frame["external_order_id"].map(latest["payload_sha256"])
    return NormalizeResult(
        orders=_order_rows(good, run_id, now),
        lines=lines[lines["external_order_id"].isin(good["external_order_id"])].drop(columns=["external_order_id"]),
        errors=error_frame[ERROR_COLUMNS],
        raw_orders=len(latest),
        filtered=len(filtered),
        quarantined=len(bad) - len(filtered),
    )


def _derive(frame: pd.DataFrame, lines: pd.DataFrame, channel: ChannelConfig, status_map: dict[str, str]):
    """Vectorised: canonical status, ISO countries, E.164 phones, amounts, text checks; per-line checks. Text
    fields arrive as text from the mapping (as_text)."""
    frame["date_readable"] = frame["placed_at"].notna()
    frame["canonical_status"] = frame["channel_status"].map(status_map)
    frame["status_mapped"] = frame["canonical_status"].notna()

    frame["ship_country_sent"] = frame["ship_country"]
    frame["ship_country"] = _map_unique(frame["ship_country_sent"], iso_country)
    frame["country_known"] = frame["ship_country_sent"].isna() | frame["ship_country"].notna()
    frame["bill_country"] = _map_unique(frame["bill_country"], iso_country)

    region = frame["ship_country"].where(frame["ship_country"].notna(), frame["bill_country"]).tolist()
    frame["customer_phone_sent"] = frame["customer_phone"].where(frame["customer_phone"].notna(), frame["ship_phone"])
    for column in ("customer_phone", "ship_phone"):
        frame[column] = pd.Series(
            [e164(number, country if country.__class__ is str else None) if number.__class__ is str else None
             for number, country in zip(frame[column].tolist(), region)],
            index=frame.index, dtype="object",
        )
    # The warehouse's rule: a name to ship to and one way to reach the buyer. The name is the ship-to's, else the
    # buyer's (each field table falls back from the buyer to the ship-to, so either is the person shipped to).
    frame["has_name"] = frame["customer_name"].notna() | (
        frame["ship_name"].notna() & (channel.type not in CONTACT_OPTIONAL_TYPES))
    frame["has_contact"] = (frame["customer_email"].notna() | frame["customer_phone"].notna() | frame["ship_phone"].notna()
                            | (channel.type in CONTACT_OPTIONAL_TYPES))
    frame["customer_reachable"] = frame["has_name"] & frame["has_contact"]

    amount_flags = {}
    for column in AMOUNT_FIELDS:
        frame[column], amount_flags[column] = _number(frame[column])
    amount_flags["currency"] = ~frame["currency"].isin(CURRENCIES) & (frame["currency"].notna() | frame["total_amount"].notna())
    frame["invalid_amount_field"] = _first_flagged(amount_flags, frame.index)
    frame["amounts_valid"] = frame["invalid_amount_field"].isna()
    malformed = _malformed(frame, TEXT_FIELDS)
    frame["malformed_field"] = _first_flagged({c: malformed[c] for c in TEXT_FIELDS}, frame.index)
    frame["text_clean"] = frame["malformed_field"].isna()

    lines = lines[lines["external_order_id"].isin(frame["external_order_id"])]
    quantity, bad_quantity = _number(lines["quantity"])
    bad_quantity |= quantity.isna() | (quantity <= 0) | (quantity % 1 != 0)
    lines["unit_price"], bad_price = _number(lines["unit_price"])
    lines["quantity"] = quantity.fillna(0).astype("int64")
    for column in ("channel_sku", "variant_id", "title"):
        lines[column] = _as_text(lines[column])
    lines["order_id"] = channel.name + ":" + lines["external_order_id"]
    lines["channel"] = channel.name
    lines["partition_date"] = lines["external_order_id"].map(frame["partition_date"])
    without_lines = frame.loc[~frame["external_order_id"].isin(lines["external_order_id"]), "external_order_id"]
    problems = pd.concat([
        lines.loc[bad_quantity, ["external_order_id", "line_number"]].assign(what="quantity"),
        lines.loc[bad_price, ["external_order_id", "line_number"]].assign(what="unit_price"),
        pd.DataFrame({"external_order_id": without_lines, "line_number": 0, "what": "lines"}),
    ])
    return frame, lines, problems


MESSAGES = {
    "STATUS_NOT_MAPPED": "status {channel_status!r} is not mapped: add it under types.{type} (or channels.{channel}) "
                         "in data/status_map.yaml; the order is retried on the next run",
    "CUSTOMER_INFO_MISSING": "{missing} (read from {places}): the warehouse needs a ship-to name and an email or phone "
                             "to reach the buyer; {fix} on the order in {channel}, then re-import it "
                             "(sync-pipeline reimport {channel} {external_order_id})",
    "ADDRESS_INVALID": "rule 'country': shipping country {country!r} is not an ISO 3166 country; "
                       "correct the shipping address in {channel}",
    "MALFORMED_ADDRESS": "{field} holds control characters or broken encoding; fix the text on the order in {channel}",
    "INVALID_AMOUNT": "{field} is not a non-negative amount in an ISO 4217 currency; correct the order in {channel}",
    "INVALID_DATE": "the order's creation time {sent} is not a time the {type} mapping can read, so the "
                    "order cannot be dated; it is kept under {partition_date} meanwhile. Correct the order in {channel} "
                    "and re-import it (sync-pipeline reimport), or report the format if {type} really writes it so",
}

# Every code this stage can give an order it quarantines (metadata reports each, zero included).
ERROR_CODES = (*MESSAGES, "MAPPING_FAILED", "NO_LINE_ITEMS")


def _customer_missing(order: pd.Series, channel: ChannelConfig) -> tuple[str, str, str]:
    """(what is missing, how to fix it, the field) for CUSTOMER_INFO_MISSING; ("", "", "") when nothing is."""
    parts, fixes, fields = [], [], []
    if not order["has_name"]:
        parts.append("no buyer's name" if channel.type in CONTACT_OPTIONAL_TYPES else "no ship-to name")
        fixes.append("add the name to the shipping address" if channel.type not in CONTACT_OPTIONAL_TYPES
                     else "add the customer's name")
        fields.append("ship_name" if channel.type not in CONTACT_OPTIONAL_TYPES else "customer_name")
    if not order["has_contact"]:
        parts.append("no email or phone" if pd.isna(order["customer_phone_sent"]) else
                     f"no email, and the phone {order['customer_phone_sent']!r} is not a phone number")
        fixes.append("add the buyer's email or phone")
        fields.append("customer_email/customer_phone")
    return " and ".join(parts), " and ".join(fixes), ", ".join(fields)


def _validate(frame: pd.DataFrame, channel: ChannelConfig, line_problems: pd.DataFrame) -> pd.DataFrame:
    """Run the Pandera gate lazily, so every failing order and reason is collected in one pass."""
    rows = []
    for index, code in failed_checks(NormalizedOrderSchema, frame, set(MESSAGES)):
        order = frame.loc[index]
        missing, fix, customer_field = _customer_missing(order, channel)
        field = {
            "STATUS_NOT_MAPPED": "channel_status",
            "CUSTOMER_INFO_MISSING": customer_field,
            "ADDRESS_INVALID": "ship_country",
            "MALFORMED_ADDRESS": order["malformed_field"],
            "INVALID_AMOUNT": order["invalid_amount_field"],
            "INVALID_DATE": "placed_at",
        }[code]
        message = MESSAGES[code].format(
            channel_status=order["channel_status"], type=channel.type, channel=channel.name, field=field,
            country=order["ship_country_sent"], sent=order["placed_at_sent"],
            partition_date=order["partition_date"], missing=missing, fix=fix,
            places=BUYER_PLACES.get(channel.type, "the order"), external_order_id=order["external_order_id"],
        )
        rows.append({"external_order_id": order["external_order_id"], "error_code": code, "field": field, "message": message})
    for problem in line_problems.itertuples(index=False):
        if problem.what == "lines":
            rows.append({
                "external_order_id": problem.external_order_id, "error_code": "NO_LINE_ITEMS", "field": "lines",
                "message": f"the order has no line items, so there is nothing to ship; check it in {channel.name}",
            })
            continue
        rows.append({
            "external_order_id": problem.external_order_id, "error_code": "INVALID_AMOUNT",
            "field": f"line {problem.line_number} {problem.what}",
            "message": f"line {problem.line_number} {problem.what} is not a valid "
                       f"{'whole positive number' if problem.what == 'quantity' else 'non-negative amount'}; "
                       f"correct the order in {channel.name}",
        })
    return pd.DataFrame(rows, columns=["external_order_id", "error_code", "field", "message"]).drop_duplicates()


def _order_rows(frame: pd.DataFrame, run_id: str, now: datetime) -> pd.DataFrame:
    result = frame.assign(channel_fields=[orjson.dumps(v, default=str).decode() for v in frame["channel_fields"].tolist()])
    result["normalized_at"] = now
    result["run_id"] = run_id
    return result[[c.name for c in orders.columns]].reset_index(drop=True)
