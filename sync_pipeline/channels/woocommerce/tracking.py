"""WooCommerce's tracking push (REST API v3). Where the number goes is the channel's option `shipment_tracking`:

- "true": the paid Shipment Tracking extension, `POST wp-json/wc-shipment-tracking/v3/orders/<id>/shipment-trackings`
  `{tracking_number, tracking_provider, date_shipped}` (or `custom_tracking_provider` + `custom_tracking_link` for
  a carrier outside the extension's list); its id is the item's `tracking_id`.
- otherwise (the default, no plugin needed): a customer note, `POST wp-json/wc/v3/orders/<id>/notes`
  `{"note", "customer_note": true}` (WooCommerce e-mails it to the customer); its id is the note's id. The note
  reads, one item a line (find and the simulator read the number from its "Tracking number:" line):

      Your order has shipped.
      Carrier: <carrier>
      Tracking number: <number>
      Track it: <url>                (when the package has a tracking URL)

The order is read first (`GET wc/v3/orders/<id>`): WooCommerce takes a note or a tracking item on any order, so
its status is what says the order is gone (404, or in the trash: ORDER_NOT_FOUND), cancelled or refunded
(ORDER_CANCELLED), or completed by someone before any of its packages reached it (ALREADY_FULFILLED). After the
package that completes the order, `PUT wc/v3/orders/<id> {"status": "completed"}` (the customer's "Completed
order" e-mail); a refusal there leaves the tracking PUSHED with a message saying to complete the order by hand.

Answers to the write: 201 PUSHED; 404 ORDER_NOT_FOUND (404 rest_no_route: the extension is not installed, a
ChannelRequestError); 403 PERMISSION_DENIED (the key's user may not edit orders); 409 RETRYING (locked); 400 a
request WooCommerce cannot take: ChannelRequestError. The write is sent once: when no answer came,
ChannelUnavailable goes to the flow, which looks for the number (find) before it pushes again. WooCommerce cannot
change a pushed number (`can_update` False): a correction is one more tracking item or note."""

from __future__ import annotations

import re

import requests

from sync_pipeline.channels.http import ChannelError, ChannelRequestError
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
)

TRACKINGS_ENDPOINT = "wc-shipment-tracking/v3/orders/{id}/shipment-trackings"
NOTE_NUMBER = re.compile(r"^\s*Tracking number:\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE)
CANCELLED_STATUSES = ("cancelled", "refunded")
PERMISSION_FIX = (
    "give the REST API key Read/Write permissions and its user a role that may edit orders (Shop manager or "
    "Administrator: the edit_shop_orders capability)"
)


class WooCommerceTracking(TrackingPush):
    # The Shipment Tracking extension's provider names (a note shows the carrier's own name instead).
    carrier_codes = {
        "UPS": "UPS", "USPS": "USPS", "FedEx": "Fedex", "DHL": "DHL", "Royal Mail": "Royal Mail", "DPD": "DPD.co.uk",
    }
    other_carrier_code = "custom"  # sent as custom_tracking_provider = the warehouse's text (package.carrier_name)
    can_update = False

    @property
    def shipment_tracking(self) -> bool:
        value = self.connector.config.options.get("shipment_tracking", False)
        return str(value).strip().lower() in ("true", "1", "yes")

    @property
    def _wp(self) -> str:
        return f"{self.connector.config.base_url}/wp-json"

    # --- the interface --------------------------------------------------------------------------------
    def find(self, package: Package) -> str | None:
        order = package.external_order_id
        if self.shipment_tracking:
            response = self._send("GET", self._trackings_url(order), TRACKINGS_ENDPOINT)
            if response.status_code == 404:
                return None
            for item in response.json():
                if item.get("tracking_number") == package.tracking_number:
                    return str(item["tracking_id"])
            return None
        response = self._send("GET", f"{self._wp}/wc/v3/orders/{order}/notes", "wc/v3/orders/{id}/notes",
                              params={"type": "customer"})
        if response.status_code == 404:
            return None
        for note in response.json():
            found = NOTE_NUMBER.search(note.get("note") or "")
            if found and found.group(1) == package.tracking_number:
                return str(note["id"])
        return None

    def push(self, package: Package) -> Pushed:
        return self._push(package, correcting=False)

    def on_channel(self, package: Package) -> None:
        """Found after a lost reply: the order is still to be marked completed if this package completes it."""
        if package.completes_order:
            self._complete(package)

    def correct(self, package: Package, fulfillment_id: str, previous_number: str) -> Pushed:
        pushed = self._push(package, correcting=True)
        if pushed.status != PUSHED:
            return pushed
        return Pushed(PUSHED, pushed.fulfillment_id, " ".join(filter(None, (
            f"the {self.connector.type} API cannot change a pushed number: {package.tracking_number} was added beside "
            f"{previous_number}, which stays on the order", pushed.message))))

    # --- pushing --------------------------------------------------------------------------------------
    def _push(self, package: Package, correcting: bool) -> Pushed:
        order_id, store = package.external_order_id, self.connector.config.name
        order = self.connector.fetch_order(order_id)
        status = order.payload.get("status") if order is not None else None
        if order is None or status == "trash":
            where = "is in the trash" if status == "trash" else "is not on WooCommerce any more (HTTP 404)"
            return Pushed(ORDER_NOT_FOUND, message=(
                f"order {order_id} {where} ({store}), so its tracking {package.tracking_number} was not pushed. "
                "Check the order in WooCommerce: it may have been deleted; if so, send the customer the tracking "
                "number another way"))
        if status in CANCELLED_STATUSES:
            return Pushed(ORDER_CANCELLED, message=(
                f"order {order_id} is {status} on WooCommerce ({store}) though it shipped; its tracking "
                f"{package.tracking_number} was not pushed and there is nothing to do on WooCommerce"))
        if status == "completed" and not correcting and not package.pushed_before:
            return Pushed(ALREADY_FULFILLED, message=(
                f"order {order_id} was already completed on WooCommerce ({store}) before any of its packages was "
                f"pushed: someone fulfilled it there; its tracking {package.tracking_number} was not added"))
        if self.shipment_tracking:
            response = self._send("POST", self._trackings_url(order_id), TRACKINGS_ENDPOINT,
                                  json=self._tracking_item(package), attempts=1)
            id_field = "tracking_id"
        else:
            response = self._send("POST", f"{self._wp}/wc/v3/orders/{order_id}/notes", "wc/v3/orders/{id}/notes",
                                  json={"note": self.note(package), "customer_note": True}, attempts=1)
            id_field = "id"
        if response.status_code != 201:
            return self._refused(package, response, "add the tracking")
        pushed_id = str(response.json()[id_field])
        message = self._complete(package) if package.completes_order and status != "completed" else None
        return Pushed(PUSHED, pushed_id, message)

    def _complete(self, package: Package) -> str | None:
        """Mark the order completed: None, or why it is not (the tracking is on the order either way)."""
        order_id = package.external_order_id
        try:
            response = self._send("PUT", f"{self._wp}/wc/v3/orders/{order_id}", "wc/v3/orders/{id}",
                                  json={"status": "completed"})
        except ChannelError as exc:
            reason = str(exc)
        else:
            if response.status_code == 200:
                return None
            reason = f"HTTP {response.status_code}: {self.http.redact(_said(response))}"
            if response.status_code == 403:
                reason += f"; {PERMISSION_FIX}"
        return (f"the tracking is on order {order_id}, but WooCommerce did not mark the order completed ({reason}); "
                "mark it Completed in WooCommerce so the customer is told")

    def _tracking_item(self, package: Package) -> dict:
        item = {"tracking_number": package.tracking_number,
                "date_shipped": package.shipped_at.astimezone(self.connector.config.tz).strftime("%Y-%m-%d")}
        if package.other_carrier:
            item.update(custom_tracking_provider=package.carrier_name or "Other",
                        custom_tracking_link=package.tracking_url or "")
        else:
            item["tracking_provider"] = package.carrier_code
        return item

    def note(self, package: Package) -> str:
        """The customer note that carries a package's number (the format find reads)."""
        names = {code: carrier for carrier, code in self.carrier_codes.items()}
        carrier = (package.carrier_name if package.other_carrier
                   else names.get(package.carrier_code, package.carrier_code))
        lines = ["Your order has shipped.", f"Carrier: {carrier}", f"Tracking number: {package.tracking_number}"]
        if package.tracking_url:
            lines.append(f"Track it: {package.tracking_url}")
        return "\n".join(lines)

    # --- HTTP -----------------------------------------------------------------------------------------
    def _trackings_url(self, order_id: str) -> str:
        return f"{self._wp}/wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings"

    def _send(self, method: str, url: str, endpoint: str, **kwargs) -> requests.Response:
        """A call whose refusals are answers; a 404 that is no route at all (the extension missing) is not one."""
        response = self.http.request(method, url, endpoint=endpoint, allowed=(200, 201, 403, 404, 409), **kwargs)
        if response.status_code == 404 and _code(response) == "rest_no_route":
            raise ChannelRequestError(self.connector.config.name, (
                f"{method} {endpoint}: WooCommerce has no such route (404 rest_no_route). With "
                "options.shipment_tracking true the store needs the Shipment Tracking extension: install and "
                "activate it, or set shipment_tracking to false to send the tracking as a customer note"))
        return response

    def _refused(self, package: Package, response: requests.Response, what: str) -> Pushed:
        status, order_id, store = response.status_code, package.external_order_id, self.connector.config.name
        said = self.http.redact(_said(response))
        if status == 404:
            return Pushed(ORDER_NOT_FOUND, message=(
                f"WooCommerce ({store}) does not know order {order_id} any more (HTTP 404: {said}), so its tracking "
                f"{package.tracking_number} was not pushed. Check the order in WooCommerce: it may have been "
                "deleted; if so, send the customer the tracking number another way"))
        if status == 403:
            return Pushed(PERMISSION_DENIED, message=(
                f"WooCommerce ({store}) refused to {what} to order {order_id} (HTTP 403: {said}): {PERMISSION_FIX} "
                f"({self.http.auth_fix}); the package is pushed on the next run after"))
        if status == 409:
            return Pushed(RETRYING, message=(
                f"WooCommerce ({store}) says order {order_id} is locked (HTTP 409: {said}); tried again later"))
        raise ChannelRequestError(store, (
            f"WooCommerce refused to {what} to order {order_id} with HTTP {status}: {said}"))


def _body(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _code(response: requests.Response) -> str | None:
    body = _body(response)
    return body.get("code") if isinstance(body, dict) else None


def _said(response: requests.Response) -> str:
    """WooCommerce's error as `code: message`."""
    body = _body(response)
    if isinstance(body, dict) and "message" in body:
        return f"{body.get('code')}: {body['message']}"
    return response.text[:300]
