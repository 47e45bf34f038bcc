"""The 3PL warehouse's order API (FCP-like) on the same HTTP machinery as the channels: one session, retries,
api_calls logging. Creating an order is the one write that must never be repeated blindly: after any ambiguous
failure the warehouse is asked for the order's client reference before anything is sent again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from sync_pipeline.channels.http import ApiCallLog, ChannelHttp, ChannelUnavailable, RetrySettings
from sync_pipeline.config import WarehouseConfig

API = "/api/v1"
PAGE_SIZE = 500
# The warehouse's rejection texts (the seeds' vocabulary) -> our error codes.
REJECTION_CODES = {
    "Ship method not mapped": "SHIP_METHOD_NOT_MAPPED",
    "Invalid SKU": "SKU_NOT_FOUND",
    "SKU not found": "SKU_NOT_FOUND",
    "Address validation failed": "ADDRESS_INVALID",
    "Customer information missing": "CUSTOMER_INFO_MISSING",
    "Insufficient inventory": "INSUFFICIENT_INVENTORY",
}
REJECTION_FIXES = {
    "SHIP_METHOD_NOT_MAPPED": "the warehouse does not know the ship code: correct its row in data/ship_maps.csv",
    "SKU_NOT_FOUND": "ask the warehouse to add the item, or map the SKU to one it has in data/sku_map.csv",
    "ADDRESS_INVALID": "correct the shipping address on the channel",
    "CUSTOMER_INFO_MISSING": "the warehouse got no customer name: add the buyer's or the ship-to name on the channel",
    "INSUFFICIENT_INVENTORY": "the warehouse refuses backorders for this item: restock it or ask them to allow backorders",
    "WAREHOUSE_REJECTED": "compare with an accepted order (sync-pipeline why) and ask the warehouse what the text means",
}


@dataclass(frozen=True)
class Submission:
    """What the warehouse made of one order: accepted (new or linked to the one it already had), rejected with
    its reason, or unknown because it never answered (the order stays in doubt and is looked up next run)."""

    outcome: str  # accepted | rejected | unavailable
    attempts: int
    warehouse_order_id: str | None = None
    warehouse_status: str | None = None
    backordered: list = field(default_factory=list)
    linked: bool = False  # the warehouse already had it (an earlier lost reply, or entered by hand)
    error_code: str | None = None
    message: str | None = None


class WarehouseClient:
    def __init__(
        self,
        config: WarehouseConfig,
        log: ApiCallLog | None = None,
        retry: RetrySettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.config = config
        self.log = log or ApiCallLog(config.name)
        api_key = config.secret("api_key")
        self.http = ChannelHttp(
            config,
            self.log,
            secrets=[api_key],
            auth_fix=f"ask the warehouse for a new API key and put it in {config.credentials['api_key']}",
            rate_limits={"default": config.rate_limit} if config.rate_limit else {},
            read_rate_limit=lambda headers: None,
            retry=retry,
            sleep=sleep,
            threads=config.concurrency,
        )
        self.http.session.headers["X-Api-Key"] = api_key
        self._sleep = sleep
        self.base = f"{config.base_url}{API}"

    def _pages(self, path: str, key: str, params: dict | None = None) -> Iterator[dict]:
        page = 1
        while True:
            response = self.http.request(
                "GET", f"{self.base}/{path}", endpoint=path, params={**(params or {}), "page": page, "page_size": PAGE_SIZE}
            )
            body = response.json()
            yield from body[key]
            if not body[key] or page * PAGE_SIZE >= body["total"]:
                return
            page += 1

    def items(self) -> dict[str, dict]:
        """The catalogue by warehouse SKU (case-sensitive), with Good, Hurt and Allocated stock."""
        return {item["sku"]: item for item in self._pages("items", "items")}

    def items_changed(self, updated_since: datetime | None) -> list[dict]:
        """The items whose stock changed since `updated_since` (inclusive; every item when None), each with the
        warehouse's `updated_at`, oldest change first; the newest version of each."""
        return self._changes("items", "items?updated_since", "sku", updated_since, {})

    def ship_methods(self) -> dict[str, dict]:
        """Ship codes with their carrier and whether it delivers to PO boxes."""
        response = self.http.request("GET", f"{self.base}/ship-methods", endpoint="ship-methods")
        return {method["code"]: method for method in response.json()["ship_methods"]}

    def check_connection(self) -> dict:
        """Reachability, the key, and what the fulfilment stage reads from the warehouse (the seeds' Test Connection)."""
        items, methods = self.items(), self.ship_methods()
        return {
            "warehouse": self.config.name,
            "catalogue_items": len(items),
            "items_with_good_stock": sum(1 for item in items.values() if item.get("good", 0) > 0),
            "ship_methods": sorted(methods),
            "api_calls": len(self.log.calls),
            "latency_ms": self.log.calls[-1]["latency_ms"] if self.log.calls else None,
        }

    def orders(self, channel: str) -> list[dict]:
        """Every warehouse order of one channel (for the duplicate check)."""
        return list(self._pages("orders", "orders", {"channel": channel}))

    def orders_created_since(self, since: datetime) -> list[dict]:
        """Every warehouse order created since `since` (inclusive), whatever its channel or none: the ones a person
        keyed in by hand included (reconciliation, S43)."""
        params = {"created_since": since.astimezone(timezone.utc).isoformat(timespec="seconds")}
        return list(self._pages("orders", "orders", params))

    def orders_by_reference(self, channel: str) -> dict[str, dict]:
        """The channel's warehouse orders by client reference (the oldest where a reference is held twice)."""
        found: dict[str, dict] = {}
        for order in self.orders(channel):
            found.setdefault(order["client_reference"], order)
        return found

    def shipments(self, updated_since: datetime | None = None, channel: str | None = None) -> list[dict]:
        """Every package (shipment) changed since `updated_since` (inclusive), oldest change first. A corrected
        number comes back as a change of the same shipment_id."""
        return self._changes("shipments", "shipments", "shipment_id", updated_since,
                             {"channel": channel} if channel is not None else {})

    def _changes(self, path: str, endpoint: str, key: str, updated_since: datetime | None, params: dict) -> list[dict]:
        """A list paged by the warehouse's cursor, by `key`: a record that changed while paging comes again, and its
        newest version wins, in the place of its newest change."""
        params = {**params, "limit": PAGE_SIZE}
        if updated_since is not None:
            params["updated_since"] = updated_since.astimezone(timezone.utc).isoformat(timespec="microseconds")
        found: dict[str, dict] = {}
        while True:
            body = self.http.request("GET", f"{self.base}/{path}", endpoint=endpoint, params=params).json()
            for record in body[path]:
                found.pop(record[key], None)
                found[record[key]] = record
            if not body.get("next_cursor"):
                return list(found.values())
            params = {**params, "cursor": body["next_cursor"]}

    def find(self, client_reference: str) -> dict | None:
        response = self.http.request(
            "GET", f"{self.base}/orders", endpoint="orders?client_reference", params={"client_reference": client_reference}
        )
        found = response.json()["orders"]
        return found[0] if found else None

    def create(self, order: dict) -> Submission:
        """Submit once. A timeout, reset or 5xx may hide an order the warehouse stored: look it up before resending."""
        reference = order["client_reference"]
        backoff = wait_random_exponential(multiplier=self.http.retry.backoff_base_s, max=self.http.retry.backoff_max_s)
        retrying = Retrying(
            stop=stop_after_attempt(self.http.retry.max_attempts),
            # The first look-up is a read and goes at once (a lost reply is the usual case); later ones back off.
            wait=lambda state: 0.0 if state.attempt_number == 1 else backoff(state),
            retry=retry_if_exception_type(ChannelUnavailable),
            sleep=self._sleep,
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    if attempts:
                        self.log.bump("retries")
                        existing = self.find(reference)
                        if existing is not None:
                            return linked_submission(existing, attempts)
                    attempts += 1
                    return self._post(order, attempts)
        except ChannelUnavailable as exc:
            return Submission("unavailable", attempts, message=f"{exc}; the order is looked up and sent on the next run")
        raise AssertionError("unreachable: tenacity either returned or re-raised")

    def _post(self, order: dict, attempts: int) -> Submission:
        response = self.http.request(
            "POST", f"{self.base}/orders", endpoint="orders", json=order, allowed=(201, 409, 422), attempts=1
        )
        body = response.json()
        if response.status_code == 201:
            return _accepted(body, attempts, linked=False)
        if response.status_code == 409:  # "Duplicate order number": it is there already, link it
            existing = self.find(order["client_reference"]) or {"order_id": body.get("order_id")}
            if existing["order_id"]:
                return linked_submission(existing, attempts)
        error = body.get("error", "rejected")
        code = REJECTION_CODES.get(error, "WAREHOUSE_REJECTED")
        detail = f" ({body['detail']})" if body.get("detail") else ""
        return Submission(  # the warehouse's own words, redacted: they land in fulfilment_orders.message
            "rejected", attempts, error_code=code,
            message=self.http.redact(f"the warehouse rejected the order: {error}{detail}") + f"; {REJECTION_FIXES[code]}",
        )

    def cancel(self, warehouse_order_id: str) -> str:
        """'cancelled', or 'shipped' when it is too late (the warehouse says 409). Cancelling twice is harmless."""
        response = self.http.request(
            "POST", f"{self.base}/orders/{warehouse_order_id}/cancel", endpoint="orders/{id}/cancel", allowed=(200, 409)
        )
        return "cancelled" if response.status_code == 200 else "shipped"


def _accepted(body: dict, attempts: int, linked: bool) -> Submission:
    return Submission(
        "accepted", attempts, warehouse_order_id=body["order_id"], warehouse_status=body.get("status"),
        backordered=body.get("backordered") or [], linked=linked,
    )


def linked_submission(existing: dict, attempts: int) -> Submission:
    """The order the warehouse already holds under our reference. A cancelled one will not ship: say so."""
    if existing.get("status") == "cancelled":
        return Submission(
            "rejected", attempts, warehouse_order_id=existing.get("order_id"), warehouse_status="cancelled",
            error_code="WAREHOUSE_ORDER_CANCELLED",
            message=f"the warehouse rejected the order: it already holds {existing.get('order_id')} under this order "
                    "number, cancelled. If it must ship, re-open that order at the warehouse (or have it deleted so "
                    "the order can be sent again)",
        )
    return _accepted(existing, attempts, linked=True)
