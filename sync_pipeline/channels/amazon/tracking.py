"""Amazon SP-API confirmShipment: a package's tracking as one shipment confirmation of the order's items.

`POST /orders/v0/orders/{orderId}/shipmentConfirmation` {marketplaceId, packageDetail: {packageReferenceId,
carrierCode, carrierName, trackingNumber, shipDate, orderItems: [{orderItemId, quantity}]}} answers 204 with no
body, on its own bucket (confirmShipment: 2/s, burst 10). Amazon documents the packageReferenceId as "any
positive numerical value ... meant for the purpose of editing a shipment after you have confirmed a shipment":
a second confirmation with the same one edits that package. So the reference is fixed per warehouse package
(its id, or a number derived from it), a resend is an edit and not a second package, and a corrected number is
changed in place (can_update). A confirmation of items that have no unshipped quantity left is refused, so
"adding" a corrected number beside the old one, as on eBay, is not possible on Amazon.

Amazon lists no confirmations and no tracking numbers, so `find` can never say a package is there: its items'
QuantityShipped cannot tell whose confirmation, or which number, Amazon holds (taking them for ours would lose a
package a person confirmed first, or a corrected number). It answers None, and the flow resends: with the same
packageReferenceId that is an edit of the package, never a second one."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from urllib.parse import quote

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

ROLE_FIX = (
    "in Seller Central (Apps and Services > Manage Your Apps) give the app the Inventory and Order Tracking role "
    "(or Direct-to-Consumer Delivery), which confirmShipment needs, authorize it again, and put the new refresh "
    "token in {env}; the package is pushed again on the next run"
)


def package_reference(package_id: str) -> str:
    """Amazon takes a positive number: the warehouse's id when it is one, else a number derived from it (the
    same on every run, so a resend edits the package instead of adding one)."""
    if package_id.isdigit() and int(package_id) > 0:
        return package_id
    return str(int(hashlib.sha256(package_id.encode()).hexdigest()[:15], 16) or 1)


def iso_ms(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class AmazonTracking(TrackingPush):
    carrier_codes = {"UPS": "UPS", "USPS": "USPS", "FedEx": "FedEx", "DHL": "DHL", "Royal Mail": "Royal Mail", "DPD": "DPD"}
    other_carrier_code = "Other"  # with carrierName: the carrier as the warehouse wrote it
    can_update = True  # the same packageReferenceId edits the confirmed package (see the module docstring)

    def _order_path(self, order_id: str) -> str:
        return f"/orders/v0/orders/{quote(order_id, safe='')}"

    def _env(self) -> str:
        """The environment variable that holds the refresh token."""
        return self.connector.config.credentials["refresh_token"]

    # --- find ---------------------------------------------------------------------------------------------------
    def find(self, package: Package) -> str | None:
        """Never: resending under the package's reference edits it (see the module docstring)."""
        return None

    # --- push ---------------------------------------------------------------------------------------------------
    def _body(self, package: Package, reference: str) -> dict:
        payload = package.payload or {}
        order = payload.get("Order") or {}
        detail = {
            "packageReferenceId": reference,
            "carrierCode": package.carrier_code,
            "trackingNumber": package.tracking_number,
            "shipDate": iso_ms(package.shipped_at),
            "orderItems": [
                {"orderItemId": str(line_of(payload, "OrderItems", line.line_number)["OrderItemId"]), "quantity": line.quantity}
                for line in package.lines
            ],
        }
        if package.carrier_name.strip():
            detail["carrierName"] = package.carrier_name.strip()  # required with "Other"; Amazon's example sends it always
        return {"marketplaceId": order.get("MarketplaceId") or self.connector.marketplace_id, "packageDetail": detail}

    def _confirm(self, package: Package, reference: str) -> Pushed:
        order_id = package.external_order_id
        try:
            body = self._body(package, reference)
        except (IndexError, KeyError, TypeError) as exc:
            raise ChannelRequestError(self.connector.config.name, (
                f"package {package.package_id} of Amazon order {order_id} names a line the order's stored payload lacks "
                f"({type(exc).__name__}: {exc}); reimport the order, then run the tracking sync again"
            )) from None
        # The write is safe to repeat (the same packageReferenceId edits the same package), so the shared retries apply.
        response = self.connector.request(
            "POST", f"{self._order_path(order_id)}/shipmentConfirmation", endpoint="orders/v0/orders/{id}/shipmentConfirmation",
            bucket="confirmShipment", json=body, allowed=(204, 400, 403, 404, 503),
        )
        status = response.status_code
        if status == 204:
            return Pushed(PUSHED, reference)
        said = self._said(response)
        if status == 404:
            return Pushed(ORDER_NOT_FOUND, message=(
                f"Amazon has no order {order_id} ({said}): it may have been deleted, or belong to another seller account "
                "or marketplace. Look it up in Seller Central; if it is gone, nothing can carry this package's tracking"
            ))
        if status == 403:
            return Pushed(PERMISSION_DENIED, message=(
                f"Amazon refused the shipment confirmation for order {order_id} ({said}): "
                + ROLE_FIX.format(env=self._env())
            ))
        if status == 503:
            return Pushed(RETRYING, message=(
                f"Amazon could not take the confirmation for order {order_id} now ({said}); it is tried again with backoff"
            ))
        text = said.casefold()
        if "cancel" in text:
            return Pushed(ORDER_CANCELLED, message=(
                f"order {order_id} is canceled on Amazon ({said}): there is nothing to confirm, so the package's tracking "
                "is not pushed"
            ))
        if "already shipped" in text or "already fulfilled" in text:
            return Pushed(ALREADY_FULFILLED, message=(
                f"Amazon shows the items of order {order_id} as shipped already ({said}): someone confirmed the shipment "
                "first (in Seller Central or another app); nothing was pushed"
            ))
        if "unshipped" in text:
            return Pushed(ALREADY_FULFILLED, message=(
                f"Amazon shows some of this package's items of order {order_id} as shipped already ({said}): someone "
                f"confirmed part of the order first; number {package.tracking_number} was not pushed"
            ))
        if "carrier" in text:
            return Pushed(CARRIER_NOT_MAPPED, message=(
                f"Amazon refused the carrier code {package.carrier_code!r} for order {order_id} ({said}); put a carrier "
                "code Amazon lists (or Other) for this carrier in data/carrier_map.csv and it is pushed on the next run"
            ))
        raise ChannelRequestError(self.connector.config.name, (
            f"Amazon refused the shipment confirmation of package {package.package_id} for order {order_id} ({said}); "
            "nothing was stored on Amazon"
        ))

    def _said(self, response) -> str:
        """Amazon's words (redacted): 'HTTP 400 InvalidInput: message (details)'."""
        try:
            error = (response.json().get("errors") or [{}])[0]
        except (ValueError, AttributeError, IndexError):
            return self.http.redact(f"HTTP {response.status_code}: {response.text[:200]}")
        details = f" ({error['details']})" if error.get("details") else ""
        return self.http.redact(f"HTTP {response.status_code} {error.get('code', '')}: {error.get('message', '')}{details}")

    def push(self, package: Package) -> Pushed:
        return self._confirm(package, package_reference(package.package_id))

    def correct(self, package: Package, fulfillment_id: str, previous_number: str) -> Pushed:
        """The same packageReferenceId again: Amazon edits the confirmed package, so the old number is gone."""
        reference = fulfillment_id if fulfillment_id.isdigit() else package_reference(package.package_id)
        pushed = self._confirm(package, reference)
        if pushed.status != PUSHED:
            return pushed
        return Pushed(PUSHED, reference, (
            f"changed in place on Amazon: package {reference} now carries {package.tracking_number} instead of {previous_number}"
        ))
