"""Shopify's tracking push (REST Admin API): one fulfillment per package, on the order's fulfillment orders.

- push: `GET orders/<id>/fulfillment_orders.json`, then `POST fulfillments.json` with
  `line_items_by_fulfillment_order` (each package line is the order's `line_items[line_number - 1]`, matched to
  the fulfillment order line items by `line_item_id`) and `tracking_info {number, company[, url]}`.
- find: `GET orders/<id>/fulfillments.json`, the fulfillment whose tracking numbers hold the package's.
- correct: `POST fulfillments/<id>/update_tracking.json`: Shopify changes the number in place.

Carriers: Shopify takes any tracking company text. The six carriers go by the names Shopify knows (it derives
their tracking URL); any other carrier is sent as the warehouse wrote it (`package.carrier_name`) with the
package's tracking URL, if it has one. `other_carrier_code` "Other" only marks such a package in the flow.
Shopify e-mails the customer the shipment unless the channel's option `notify_customer` is "false".

Answers: 201 PUSHED (the fulfillment's id); 404 ORDER_NOT_FOUND; 403 PERMISSION_DENIED (the app lacks the
fulfillment scope); 409 / 423 RETRYING (locked); 422 ORDER_CANCELLED when Shopify says the order is cancelled,
ALREADY_FULFILLED when the fulfillment order is closed or holds fewer unfulfilled units than the package (someone
fulfilled them on Shopify first). Any other refusal is a request Shopify cannot take: ChannelRequestError. A
create is sent once (after a 429 again, Shopify having refused it unseen): when no answer came, ChannelUnavailable
goes to the flow, which looks for the number (find) before it pushes again."""

from __future__ import annotations

from collections import defaultdict

import requests

from sync_pipeline.channels.http import ChannelRequestError, ChannelUnavailable
from sync_pipeline.channels.tracking import (
    ALREADY_FULFILLED,
    ORDER_CANCELLED,
    ORDER_NOT_FOUND,
    PERMISSION_DENIED,
    PUSHED,
    RETRYING,
    Package,
    Pushed,
    TrackingPush,
    line_of,
)

FULFILLMENT_SCOPE = "write_merchant_managed_fulfillment_orders"
REFUSED = (403, 404, 409, 422, 423)
DEAD_FULFILLMENTS = ("cancelled", "error", "failure")


class ShopifyTracking(TrackingPush):
    carrier_codes = {
        "UPS": "UPS", "USPS": "USPS", "FedEx": "FedEx", "DHL": "DHL Express", "Royal Mail": "Royal Mail", "DPD": "DPD",
    }
    other_carrier_code = "Other"  # the company sent is then the warehouse's own text (package.carrier_name)
    can_update = True

    @property
    def _api(self) -> str:
        return self.connector.api_url

    @property
    def _notify(self) -> bool:
        """Whether Shopify e-mails the customer the shipment (channel option notify_customer, default true)."""
        return str(self.connector.config.options.get("notify_customer", "true")).strip().lower() in ("true", "1", "yes")

    # --- the interface --------------------------------------------------------------------------------
    def find(self, package: Package) -> str | None:
        response = self.http.request(
            "GET", f"{self._api}/orders/{package.external_order_id}/fulfillments.json",
            endpoint="orders/{id}/fulfillments.json", params={"limit": 250}, allowed=(200, 404),
        )
        if response.status_code == 404:
            return None
        for fulfillment in response.json()["fulfillments"]:
            numbers = fulfillment.get("tracking_numbers") or [fulfillment.get("tracking_number")]
            if fulfillment.get("status") not in DEAD_FULFILLMENTS and package.tracking_number in numbers:
                return str(fulfillment["id"])
        return None

    def push(self, package: Package) -> Pushed:
        response = self.http.request(
            "GET", f"{self._api}/orders/{package.external_order_id}/fulfillment_orders.json",
            endpoint="orders/{id}/fulfillment_orders.json", allowed=(200, 404),
        )
        if response.status_code == 404:
            return self._refused(package, response, "create its fulfillment")
        body = {"fulfillment": {
            "notify_customer": self._notify,
            "tracking_info": self._tracking_info(package),
            "line_items_by_fulfillment_order": self._groups(package, response.json()["fulfillment_orders"]),
        }}
        response = self._create(body)
        if response.status_code == 201:
            return Pushed(PUSHED, str(response.json()["fulfillment"]["id"]))
        return self._refused(package, response, "create its fulfillment")

    def correct(self, package: Package, fulfillment_id: str, previous_number: str) -> Pushed:
        response = self.http.request(
            "POST", f"{self._api}/fulfillments/{fulfillment_id}/update_tracking.json",
            endpoint="fulfillments/{id}/update_tracking.json", allowed=(200, *REFUSED),
            json={"fulfillment": {"notify_customer": self._notify, "tracking_info": self._tracking_info(package)}},
            attempts=1,  # a repeat would e-mail the customer again: after no answer the flow looks first
        )
        if response.status_code == 200:
            return Pushed(PUSHED, str(response.json()["fulfillment"]["id"]), (
                f"fulfillment {fulfillment_id} now carries {package.tracking_number} instead of {previous_number} "
                "(changed in place on Shopify)"))
        return self._refused(package, response, f"change the number on fulfillment {fulfillment_id}")

    # --- the request ----------------------------------------------------------------------------------
    def _tracking_info(self, package: Package) -> dict:
        company = (package.carrier_name or self.other_carrier_code) if package.other_carrier else package.carrier_code
        info = {"number": package.tracking_number, "company": company}
        if package.tracking_url and company not in self.carrier_codes.values():
            info["url"] = package.tracking_url  # Shopify derives the URL only for the companies it knows
        return info

    def _groups(self, package: Package, fulfillment_orders: list[dict]) -> list[dict]:
        """The package's lines on the fulfillment order line items that still hold them. Units none holds (someone
        fulfilled them on Shopify, or the order is closed) go on the line's first item, and Shopify says why."""
        channel, order = self.connector.config.name, package.external_order_id
        if not package.lines:
            raise ChannelRequestError(channel, f"package {package.package_id} of order {order} names no order lines; "
                                               "nothing was pushed: check the warehouse's shipment")
        items = [(fo, item) for fo in fulfillment_orders for item in fo.get("line_items", [])]
        items.sort(key=lambda pair: pair[0].get("status") == "closed")  # open ones first
        taken: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for line in package.lines:
            try:
                line_item_id = line_of(package.payload, "line_items", line.line_number)["id"]
            except (IndexError, KeyError, TypeError):
                raise ChannelRequestError(channel, (
                    f"package {package.package_id} names line {line.line_number} of order {order}, which its Shopify "
                    "payload does not have; nothing was pushed: fetch the order again (reimport) or check the "
                    "warehouse's shipment")) from None
            holding = [(fo, item) for fo, item in items if item.get("line_item_id") == line_item_id]
            if not holding:
                raise ChannelRequestError(channel, (
                    f"line item {line_item_id} (line {line.line_number}) of order {order} is on none of its "
                    "fulfillment orders; nothing was pushed: the order was probably edited on Shopify, so check it "
                    "and push this package's tracking there by hand"))
            left = line.quantity
            for fo, item in holding:
                take = min(left, max(0, int(item.get("fulfillable_quantity", 0)) - taken[fo["id"]][item["id"]]))
                taken[fo["id"]][item["id"]] += take
                left -= take
            if left:
                fo, item = holding[0]
                taken[fo["id"]][item["id"]] += left
        return [
            {"fulfillment_order_id": fo_id,
             "fulfillment_order_line_items": [{"id": item_id, "quantity": q} for item_id, q in lines.items() if q]}
            for fo_id, lines in taken.items() if any(lines.values())
        ]

    def _create(self, body: dict) -> requests.Response:
        """POST fulfillments.json once; again only after a 429, which Shopify answers without taking the request
        (the drained bucket waits for room first)."""
        for _ in range(self.http.retry.max_attempts):
            response = self.http.request("POST", f"{self._api}/fulfillments.json", endpoint="fulfillments.json",
                                         json=body, allowed=(201, *REFUSED, 429), attempts=1)
            if response.status_code != 429:
                return response
            self.http.log.bump("http_429")
            self.http.log.bump("retries")
            limiter = self.http.buckets.get("default")
            if limiter is not None:
                limiter.drain()
        raise ChannelUnavailable(self.connector.config.name, (
            f"POST fulfillments.json was rate limited {self.http.retry.max_attempts} times (HTTP 429); Shopify took "
            "none of them: the next run pushes the package"))

    # --- answers --------------------------------------------------------------------------------------
    def _refused(self, package: Package, response: requests.Response, what: str) -> Pushed:
        status, order = response.status_code, package.external_order_id
        said = self.http.redact(_errors(response))
        shop = self.connector.config.name
        if status == 404:
            return Pushed(ORDER_NOT_FOUND, message=(
                f"Shopify ({shop}) does not know order {order} any more (HTTP 404: {said}), so its tracking "
                f"{package.tracking_number} was not pushed. Check the order in Shopify admin: it may have been "
                "deleted; if so, send the customer the tracking number another way"))
        if status == 403:
            return Pushed(PERMISSION_DENIED, message=(
                f"Shopify ({shop}) refused to {what} for order {order} (HTTP 403: {said}). Re-authorize the app with "
                f"the {FULFILLMENT_SCOPE} scope ({self.http.auth_fix}); the package is pushed on the next run after"))
        if status in (409, 423):
            return Pushed(RETRYING, message=(
                f"Shopify ({shop}) says order {order} is locked (HTTP {status}: {said}); tried again later"))
        text = said.lower()
        if status == 422 and "cancel" in text:
            return Pushed(ORDER_CANCELLED, message=(
                f"order {order} was cancelled on Shopify after it shipped ({said}); its tracking "
                f"{package.tracking_number} was not pushed and there is nothing to do on Shopify"))
        if status == 422 and any(word in text for word in ("closed", "unfulfillable", "quantity", "already")):
            return Pushed(ALREADY_FULFILLED, message=(
                f"order {order} was already fulfilled on Shopify by someone else ({said}); its tracking "
                f"{package.tracking_number} was not pushed: the fulfillment made there stays"))
        raise ChannelRequestError(shop, (
            f"Shopify refused to {what} for order {order} with HTTP {status}: {said}; nothing was pushed"))


def _errors(response: requests.Response) -> str:
    """Shopify's `errors` (a text, a list or a field -> messages object) as one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    errors = body.get("errors", body) if isinstance(body, dict) else body
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in errors.items())
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors)
    return str(errors)[:300]
