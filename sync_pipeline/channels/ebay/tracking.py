"""eBay Sell Fulfillment createShippingFulfillment: a package's tracking as one shipping fulfillment of the
order's line items.

`POST /sell/fulfillment/v1/order/{orderId}/shipping_fulfillment` {lineItems: [{lineItemId, quantity}],
shippedDate, shippingCarrierCode, trackingNumber} answers 201 with body {} and the new fulfillment's URL in
`Location` (its last segment is the fulfillmentId, which eBay makes the tracking number). eBay keeps no
"other carrier" form here: a carrier its codes lack is CARRIER_NOT_MAPPED until data/carrier_map.csv maps it.
A fulfillment's number cannot be changed, so a correction is one more fulfillment of the same line items.
`find` reads `GET .../shipping_fulfillment` and matches shipmentTrackingNumber.

Every POST goes once (attempts=1): a second fulfillment is not refused by eBay, so a resend after a lost reply
would be a duplicate; the flow looks the package up with `find` before sending it again."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote, unquote, urlsplit

from sync_pipeline.channels.ebay.client import ORDERS_PATH
from sync_pipeline.channels.http import ChannelRequestError
from sync_pipeline.channels.tracking import (
    ALREADY_FULFILLED,
    CARRIER_NOT_MAPPED,
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

SCOPE = "https://api.ebay.com/oauth/api_scope/sell.fulfillment"


def iso_ms(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class EbayTracking(TrackingPush):
    carrier_codes = {"UPS": "UPS", "USPS": "USPS", "FedEx": "FedEx", "DHL": "DHL", "Royal Mail": "RoyalMail", "DPD": "DPD"}
    other_carrier_code = None
    can_update = False

    def _path(self, order_id: str) -> str:
        return f"{ORDERS_PATH}/{quote(order_id, safe='')}/shipping_fulfillment"

    def _env(self) -> str:
        """The environment variable that holds the refresh token."""
        return self.connector.config.credentials["refresh_token"]

    def find(self, package: Package) -> str | None:
        response = self.connector.request(
            "GET", self._path(package.external_order_id), endpoint="sell/fulfillment/v1/order/{id}/shipping_fulfillment",
            allowed=(200, 404),  # a 403 raises: unable to look is not "not there"
        )
        if response.status_code == 404:  # the order is gone: nothing of it is there
            return None
        for fulfillment in response.json().get("fulfillments") or []:
            if fulfillment.get("shipmentTrackingNumber") == package.tracking_number:
                return str(fulfillment.get("fulfillmentId"))
        return None

    def _body(self, package: Package) -> dict:
        try:
            lines = [
                {"lineItemId": str(line_of(package.payload, "lineItems", line.line_number)["lineItemId"]),
                 "quantity": line.quantity}
                for line in package.lines
            ]
        except (IndexError, KeyError, TypeError) as exc:
            raise ChannelRequestError(self.connector.config.name, (
                f"package {package.package_id} of eBay order {package.external_order_id} names a line the order's stored "
                f"payload lacks ({type(exc).__name__}: {exc}); reimport the order, then run the tracking sync again"
            )) from None
        return {
            "lineItems": lines,
            "shippedDate": iso_ms(package.shipped_at),
            "shippingCarrierCode": package.carrier_code,
            "trackingNumber": package.tracking_number,
        }

    def push(self, package: Package) -> Pushed:
        order_id = package.external_order_id
        response = self.connector.request(
            "POST", self._path(order_id), endpoint="sell/fulfillment/v1/order/{id}/shipping_fulfillment",
            json=self._body(package), allowed=(201, 400, 403, 404, 409, 503), attempts=1,
        )
        status = response.status_code
        if status == 201:
            location = response.headers.get("Location")
            if location:
                return Pushed(PUSHED, unquote(urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]))
            return Pushed(PUSHED, self.find(package) or package.tracking_number)  # the id eBay makes of the number
        said = self._said(response)
        if status == 404:
            return Pushed(ORDER_NOT_FOUND, message=(
                f"eBay has no order {order_id} ({said}): it may have been deleted or belong to another seller account. "
                "Look it up in Seller Hub; if it is gone, nothing can carry this package's tracking"
            ))
        if status == 403:
            return Pushed(PERMISSION_DENIED, message=(
                f"eBay refused the shipping fulfillment for order {order_id} ({said}): the app's token lacks the scope "
                f"{SCOPE}. Grant the app access again through its eBay consent flow with that scope and put the new "
                f"refresh token in {self._env()}; the package is pushed again on the next run"
            ))
        if status == 409:
            return Pushed(ALREADY_FULFILLED, message=(
                f"eBay says order {order_id} is fulfilled already ({said}): someone marked it shipped first (in Seller "
                "Hub or another app); nothing was pushed"
            ))
        if status == 503:
            # Not taken now (the order is being changed, or eBay is busy); look once in case it was taken after all.
            found = self.find(package)
            if found is not None:
                return Pushed(PUSHED, found)
            return Pushed(RETRYING, message=(
                f"eBay could not take the fulfillment for order {order_id} now ({said}); it is tried again with backoff"
            ))
        text = said.casefold()
        if "cancel" in text:
            return Pushed(ORDER_CANCELLED, message=(
                f"order {order_id} is cancelled on eBay ({said}): there is nothing to fulfil, so the package's tracking "
                "is not pushed"
            ))
        if "carrier" in text:
            return Pushed(CARRIER_NOT_MAPPED, message=(
                f"eBay refused the carrier code {package.carrier_code!r} for order {order_id} ({said}); put the eBay "
                f"shipping carrier code for {package.carrier_name or package.carrier_code!r} in data/carrier_map.csv "
                "and it is pushed on the next run"
            ))
        raise ChannelRequestError(self.connector.config.name, (
            f"eBay refused the shipping fulfillment of package {package.package_id} for order {order_id} ({said}); "
            "nothing was stored on eBay"
        ))

    def _said(self, response) -> str:
        """eBay's words (redacted): 'HTTP 400 error 32400: message (longMessage)'."""
        try:
            error = (response.json().get("errors") or [{}])[0]
        except (ValueError, AttributeError, IndexError):
            return self.http.redact(f"HTTP {response.status_code}: {response.text[:200]}")
        more = f" ({error['longMessage']})" if error.get("longMessage") else ""
        return self.http.redact(f"HTTP {response.status_code} error {error.get('errorId', '')}: {error.get('message', '')}{more}")
