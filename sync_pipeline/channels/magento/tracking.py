"""Magento 2 shipments: a package's tracking as one shipment of the order's items.

`POST /V1/order/{entity_id}/ship` {items: [{order_item_id, qty}], notify: true, tracks: [{track_number, title,
carrier_code}]} answers the new shipment's id as a bare JSON string. A shipment names what Magento's order grid
shows: a configurable or bundle product by its PARENT item, so each package line names its line's `ship_item_id`
(mapping.shippable_lines). magento2's ShipmentFactory::prepareItems passes a configurable's child id over (the docs'
shipment tutorial names child 11, which ships nothing of that configurable; a body of children only is "You can't
create a shipment without products."), and Bundle's BundleShipmentTypeValidator refuses a component of a bundle
shipped together (magento/magento2#9762, fixed by #30813). A bundle ships whole: the package that carries the first
of a bundle's components names the bundle (as many as it starts); a later package with only components of bundles
already shipped adds its number to the shipment that holds them (`POST /V1/shipment/track`). Carrier codes are
Magento's own (ups, usps, fedex, dhl); any other carrier goes as `custom` with the carrier's name as title.

`find` reads `GET /V1/shipments` (searchCriteria order_id eq) and matches a track's number. The ship POST goes
once (attempts=1): Magento would store a resend as a second shipment, so after a lost reply (or a 500: a deadlock
rolls the save back) the flow looks first.

Refusals are 400 "Shipment Document Validation Error(s):" with Validation\\CanShip's words: "A shipment cannot be
created when an order has a status of <status>" (canceled, on hold, payment review) and "The order does not allow a
shipment to be created." (nothing left to ship): the order's state (re-read) tells which; "You can't create a
shipment without products." when the items named have nothing left (someone shipped them). A missing ACL resource
is a 401 like an expired token: one that persists after the token was renewed is PERMISSION_DENIED."""

from __future__ import annotations

import math
from collections import defaultdict

from sync_pipeline.channels.http import ChannelRequestError
from sync_pipeline.channels.magento.mapping import shippable_lines
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

SHIPMENTS_PAGE_SIZE = 100
# Magento's own carriers' titles (Stores > Configuration > Sales > Delivery Methods), shown to the customer.
TITLES = {"ups": "United Parcel Service", "usps": "United States Postal Service", "fedex": "Federal Express",
          "dhl": "DHL"}
ACL_FIX = (
    "the admin user's role, or the integration, lacks the Sales > Operations > Orders > Actions > Ship resource "
    "(Magento_Sales::ship) that creating shipments needs: add it in System > Permissions > User Roles (or the "
    "integration's API tab) and the package is pushed again on the next run"
)


class MagentoTracking(TrackingPush):
    carrier_codes = {"UPS": "ups", "USPS": "usps", "FedEx": "fedex", "DHL": "dhl"}
    other_carrier_code = "custom"  # with the carrier's name as the track's title
    can_update = False  # a track cannot be edited: a correction is one more track on the same shipment

    def _track(self, package: Package) -> dict:
        code = package.carrier_code or "custom"
        title = TITLES.get(code) if not package.other_carrier else None
        return {"track_number": package.tracking_number, "title": title or package.carrier_name or code,
                "carrier_code": code}

    # --- what the order holds -----------------------------------------------------------------------------------
    def _shipments(self, order_id: str) -> list[dict]:
        return [shipment for page in self.connector.search(
            "/shipments", "V1/shipments", [("order_id", "eq", order_id)], SHIPMENTS_PAGE_SIZE) for shipment in page]

    def find(self, package: Package) -> str | None:
        for shipment in self._shipments(package.external_order_id):
            if any(t.get("track_number") == package.tracking_number for t in shipment.get("tracks") or []):
                return str(shipment["entity_id"])
        return None

    # --- the items a package ships ----------------------------------------------------------------------------
    def _items(self, package: Package) -> tuple[dict[int, int], set]:
        """{order_item_id: qty} this package ships in Magento's terms, and the parents of bundles it carries
        components of that earlier packages already shipped."""
        try:
            lines = shippable_lines(package.payload)
            mine = [(lines[line.line_number - 1], line.quantity) for line in package.lines]
            before = [(lines[line.line_number - 1], line.quantity) for line in package.pushed_before]
        except (IndexError, TypeError) as exc:
            raise ChannelRequestError(self.connector.config.name, (
                f"package {package.package_id} of Magento order {package.external_order_id} names a line the order's "
                f"stored payload lacks ({type(exc).__name__}: {exc}); reimport the order, then run the tracking sync "
                "again"
            )) from None
        items: dict[int, int] = defaultdict(int)
        bundles = defaultdict(lambda: ([], []))  # parent id -> (its components' units before, with this package)
        for line, quantity in mine:
            if line.get("ship_item_qty_ordered"):
                bundles[line["ship_item_id"]][1].append((line, quantity))
            else:
                items[line["ship_item_id"]] += quantity
        for line, quantity in before:
            if line.get("ship_item_id") in bundles:
                bundles[line["ship_item_id"]][0].append((line, quantity))
        joined = set()
        for parent, (earlier, now) in bundles.items():
            started = self._bundles_started(earlier + now) - self._bundles_started(earlier)
            if started > 0:
                items[parent] += started
            else:
                joined.add(parent)
        return dict(items), joined

    @staticmethod
    def _bundles_started(units: list[tuple[dict, int]]) -> int:
        """Bundles a set of component units reaches into: a component's qty_ordered covers all the bundles ordered."""
        shipped = defaultdict(int)
        per_bundle = {}
        for line, quantity in units:
            shipped[line["item_id"]] += quantity
            per_bundle[line["item_id"]] = float(line["qty_ordered"]) / float(line["ship_item_qty_ordered"])
        return max((math.ceil(shipped[item] / per_bundle[item]) for item in shipped), default=0)

    # --- push ---------------------------------------------------------------------------------------------------
    def push(self, package: Package) -> Pushed:
        order_id = package.external_order_id
        items, joined = self._items(package)
        if not items:
            return self._add_track(package, joined)
        response = self.connector.request(
            "POST", f"/order/{order_id}/ship", endpoint="V1/order/{id}/ship", attempts=1,
            json={"items": [{"order_item_id": item, "qty": qty} for item, qty in items.items()], "notify": True,
                  "tracks": [self._track(package)]},
            allowed=(200, 400, 401, 404),
        )
        if response.status_code == 200:
            return Pushed(PUSHED, str(response.json()))
        return self._refused(package, response, "the shipment")

    def _add_track(self, package: Package, parents: set) -> Pushed:
        """A package of bundle components whose bundles an earlier shipment holds: its number joins that shipment."""
        order_id = package.external_order_id
        holding = [s for s in self._shipments(order_id)
                   if parents & {item.get("order_item_id") for item in s.get("items") or []}]
        if not holding:
            raise ChannelRequestError(self.connector.config.name, (
                f"package {package.package_id} of Magento order {order_id} carries only components of bundles "
                f"(order items {sorted(parents)}) that no shipment on Magento holds, and Magento ships a bundle only "
                "whole; create the shipment in the admin (Sales > Orders > Ship) with this package's number"
            ))
        shipment = holding[-1]
        return self.correct(package, str(shipment["entity_id"]), None)

    def correct(self, package: Package, fulfillment_id: str, previous_number: str | None) -> Pushed:
        """`POST /V1/shipment/track` {entity: {order_id, parent_id: shipment id, track_number, title, carrier_code}}
        adds the number to the shipment; Magento cannot change a track, so an earlier number stays beside it."""
        order_id = package.external_order_id
        response = self.connector.request(
            "POST", "/shipment/track", endpoint="V1/shipment/track", attempts=1,
            json={"entity": {"order_id": int(order_id), "parent_id": int(fulfillment_id), **self._track(package)}},
            allowed=(200, 400, 401, 404),
        )
        if response.status_code != 200:
            return self._refused(package, response, f"the number on shipment {fulfillment_id}")
        if previous_number is None:
            return Pushed(PUSHED, fulfillment_id, (
                f"added to Magento shipment {fulfillment_id}, which holds the bundles this package's components "
                "belong to (Magento ships a bundle whole)"
            ))
        return Pushed(PUSHED, fulfillment_id, (
            f"the Magento API cannot change a track: {package.tracking_number} was added to shipment {fulfillment_id} "
            f"beside {previous_number}, which stays on the shipment"
        ))

    def _refused(self, package: Package, response, what: str) -> Pushed:
        order_id, status = package.external_order_id, response.status_code
        said = f"HTTP {status}: {self.connector.said(response)}"
        if status == 404:
            return Pushed(ORDER_NOT_FOUND, message=(
                f"Magento has no order {order_id} ({said}): it may have been deleted. Look it up in the admin (Sales > "
                "Orders); if it is gone, nothing can carry this package's tracking"
            ))
        if status == 401:
            return Pushed(PERMISSION_DENIED, message=f"Magento refused {what} for order {order_id} ({said}): {ACL_FIX}")
        text = said.casefold()
        if "does not allow a shipment" in text or "cannot be created when an order has a status" in text:
            return self._not_shippable(package, said, nothing_left="does not allow a shipment" in text)
        if "without products" in text:
            return Pushed(ALREADY_FULFILLED, message=(
                f"Magento shows this package's items of order {order_id} as shipped already ({said}): someone shipped "
                f"them first (in the admin or another app); number {package.tracking_number} was not pushed"
            ))
        raise ChannelRequestError(self.connector.config.name, (
            f"Magento refused {what} of package {package.package_id} for order {order_id} ({said}); nothing was "
            "stored on Magento"
        ))

    def _not_shippable(self, package: Package, said: str, nothing_left: bool) -> Pushed:
        """Cancelled or closed, shipped already, or on hold / in payment review: the order's state says which."""
        order_id = package.external_order_id
        order = self.connector.fetch_order(order_id)
        state = (order.payload or {}).get("state") if order else None
        if state in ("canceled", "closed"):
            return Pushed(ORDER_CANCELLED, message=(
                f"order {order_id} is {state} on Magento ({said}): there is nothing to ship, so the package's tracking "
                "is not pushed"
            ))
        if nothing_left:
            return Pushed(ALREADY_FULFILLED, message=(
                f"Magento shows every item of order {order_id} as shipped already (state {state}; {said}): someone "
                f"shipped it first (in the admin or another app); number {package.tracking_number} was not pushed"
            ))
        return Pushed(RETRYING, message=(
            f"Magento will not ship order {order_id} while it is {state or 'in this state'} ({said}): release the hold "
            "or finish the payment review in the admin (Sales > Orders) and it is pushed on a later run"
        ))
