"""BigCommerce Orders V2 shipments: a package's tracking as one shipment of the order's products.

`POST /v2/orders/{order_id}/shipments` {order_address_id, items: [{order_product_id, quantity}], tracking_number,
shipping_provider, tracking_carrier} answers 201 with the shipment (its `id` is what a correction names).
shipping_provider takes BigCommerce's own list (usps, ups, fedex, royalmail, ...); any other carrier goes as
shipping_provider "" with tracking_carrier, an AfterShip slug ("dhl", "dpd", or a slug of the carrier's name for
one nobody lists). A corrected number is changed in place: `PUT /v2/orders/{order_id}/shipments/{id}`.
`find` reads `GET .../shipments` (page by page; 204 when there are none) and matches tracking_number. Every call
is on the store's one quota, with the connector's bucket.

The POST goes once (attempts=1): BigCommerce would store a resend as a second shipment, so after a lost reply the
flow looks the package up with `find` first. The PUT sets a value and may be repeated, so it takes the shared
retries."""

from __future__ import annotations

import re

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

# shipping_provider values BigCommerce knows (carrier_<id> names a third-party shipping provider app).
PROVIDERS = frozenset({
    "auspost", "canadapost", "endicia", "usps", "fedex", "ups", "upsready", "upsonline", "shipperhq", "royalmail",
})
PAGE_SIZE = 250
SCOPE_FIX = (
    "the store-level API account lacks the Orders modify scope (store_v2_orders) that creating shipments needs: "
    "in the BigCommerce control panel (Settings > Store-level API accounts) create one with Orders: modify and put "
    "its access token in {env}; the package is pushed again on the next run"
)


def slug(name: str) -> str:
    """An AfterShip-style slug of a carrier's name ("Parcelforce Worldwide" -> "parcelforce-worldwide")."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")


class BigCommerceTracking(TrackingPush):
    # dhl and dpd are not shipping providers of BigCommerce's: they go as tracking_carrier (AfterShip slugs).
    carrier_codes = {"UPS": "ups", "USPS": "usps", "FedEx": "fedex", "Royal Mail": "royalmail", "DHL": "dhl", "DPD": "dpd"}
    other_carrier_code = ""  # shipping_provider "" with tracking_carrier = a slug of the carrier's name
    can_update = True

    def _path(self, order_id: str) -> str:
        return f"{self.connector.api_url}/v2/orders/{order_id}/shipments"

    def _env(self) -> str:
        """The environment variable that holds the access token."""
        return self.connector.config.credentials["access_token"]

    def _carrier(self, package: Package) -> dict:
        code = package.carrier_code or ""
        if package.other_carrier or not code:
            carrier = {"shipping_provider": "", "tracking_carrier": slug(package.carrier_name)}
        elif code in PROVIDERS or re.fullmatch(r"carrier_\d+", code):
            carrier = {"shipping_provider": code, "tracking_carrier": ""}
        else:
            carrier = {"shipping_provider": "", "tracking_carrier": code}
        if not carrier["shipping_provider"] and package.tracking_url:
            carrier["tracking_link"] = package.tracking_url  # BigCommerce has no link of its own for these
        return carrier

    def find(self, package: Package) -> str | None:
        page = 1
        while True:
            response = self.http.request(
                "GET", self._path(package.external_order_id), endpoint="v2/orders/{id}/shipments",
                params={"page": page, "limit": PAGE_SIZE}, allowed=(200, 204, 404),  # a 403 raises: unable to look
            )
            rows = response.json() if response.status_code == 200 else []
            for shipment in rows:
                if shipment.get("tracking_number") == package.tracking_number:
                    return str(shipment["id"])
            if len(rows) < PAGE_SIZE:
                return None
            page += 1

    def _body(self, package: Package) -> dict:
        payload = package.payload or {}
        try:
            products = [line_of(payload, "products", line.line_number) for line in package.lines]
            addresses = [a["id"] for a in payload.get("shipping_addresses") or []]
            address = products[0].get("order_address_id") if products else None
            if address not in addresses:
                address = addresses[0]
        except (IndexError, KeyError, TypeError) as exc:
            raise ChannelRequestError(self.connector.config.name, (
                f"package {package.package_id} of BigCommerce order {package.external_order_id} names a line or a "
                f"shipping address the order's stored payload lacks ({type(exc).__name__}: {exc}); reimport the order, "
                "then run the tracking sync again"
            )) from None
        return {
            "order_address_id": address,
            "tracking_number": package.tracking_number,
            **self._carrier(package),
            "items": [{"order_product_id": product["id"], "quantity": line.quantity}
                      for product, line in zip(products, package.lines, strict=True)],
        }

    def push(self, package: Package) -> Pushed:
        order_id = package.external_order_id
        response = self.http.request(
            "POST", self._path(order_id), endpoint="v2/orders/{id}/shipments", json=self._body(package),
            allowed=(201, 400, 403, 404, 409), attempts=1,
        )
        if response.status_code == 201:
            return Pushed(PUSHED, str(response.json()["id"]))
        return self._refused(package, response, "the shipment")

    def correct(self, package: Package, fulfillment_id: str, previous_number: str) -> Pushed:
        order_id = package.external_order_id
        response = self.http.request(
            "PUT", f"{self._path(order_id)}/{fulfillment_id}", endpoint="v2/orders/{id}/shipments/{id}",
            json={"tracking_number": package.tracking_number, **self._carrier(package)},
            allowed=(200, 400, 403, 404, 409),
        )
        if response.status_code == 200:
            return Pushed(PUSHED, fulfillment_id, (
                f"changed in place on BigCommerce: shipment {fulfillment_id} now carries {package.tracking_number} "
                f"instead of {previous_number}"
            ))
        if response.status_code == 404:
            return Pushed(ORDER_NOT_FOUND, message=(
                f"BigCommerce has no shipment {fulfillment_id} on order {order_id} any more ({self._said(response)}): the "
                "order or its shipment was deleted. Look the order up in the control panel; if the shipment is gone, "
                f"add {package.tracking_number} to the order there by hand"
            ))
        return self._refused(package, response, f"the new number on shipment {fulfillment_id}")

    def _refused(self, package: Package, response, what: str) -> Pushed:
        order_id, status = package.external_order_id, response.status_code
        said = self._said(response)
        if status == 404:
            return Pushed(ORDER_NOT_FOUND, message=(
                f"BigCommerce has no order {order_id} ({said}): it may have been deleted or archived. Look it up in the "
                "control panel; if it is gone, nothing can carry this package's tracking"
            ))
        if status == 403:
            return Pushed(PERMISSION_DENIED, message=(
                f"BigCommerce refused {what} for order {order_id} ({said}): " + SCOPE_FIX.format(env=self._env())
            ))
        if status == 409:
            return Pushed(RETRYING, message=(
                f"BigCommerce could not take {what} for order {order_id} now ({said}); it is tried again with backoff"
            ))
        text = said.casefold()
        if "cancel" in text:
            return Pushed(ORDER_CANCELLED, message=(
                f"order {order_id} is cancelled on BigCommerce ({said}): there is nothing to ship, so the package's "
                "tracking is not pushed"
            ))
        if "already been shipped" in text:
            return Pushed(ALREADY_FULFILLED, message=(
                f"BigCommerce shows this package's products of order {order_id} as shipped already ({said}): someone "
                "created the shipment first (in the control panel or another app); nothing was pushed"
            ))
        if "left to ship" in text:
            return Pushed(ALREADY_FULFILLED, message=(
                f"BigCommerce shows some of this package's products of order {order_id} as shipped already ({said}): "
                f"someone shipped part of the order first; number {package.tracking_number} was not pushed"
            ))
        if "shipping_provider" in text or "tracking_carrier" in text:
            return Pushed(CARRIER_NOT_MAPPED, message=(
                f"BigCommerce refused the carrier {package.carrier_code!r} for order {order_id} ({said}); put a "
                "shipping_provider BigCommerce lists, or an AfterShip slug, for this carrier in data/carrier_map.csv "
                "and it is pushed on the next run"
            ))
        raise ChannelRequestError(self.connector.config.name, (
            f"BigCommerce refused {what} of package {package.package_id} for order {order_id} ({said}); nothing was "
            "stored on BigCommerce"
        ))

    def _said(self, response) -> str:
        """BigCommerce's words (redacted): 'HTTP 400: message'."""
        try:
            body = response.json()
            message = "; ".join(str(e.get("message", "")) for e in body) if isinstance(body, list) else str(body)
        except ValueError:
            message = response.text[:200]
        return self.http.redact(f"HTTP {response.status_code}: {message}")
