"""What every platform's tracking push offers. The tracking flow (sync_pipeline/tracking/) decides what to push
and keeps it exactly once; a platform module (channels/<platform>/tracking.py) says only how its API takes a
package: how to find the fulfillments it already holds, how to push one, and how to correct a number.

A push never raises for what the channel answers about the order: every answer is a `Pushed` with the status the
flow records. Only a failure to get an answer at all (ChannelUnavailable after the shared HTTP retries) is raised,
so the flow keeps the package in doubt and reads the channel's fulfillments before it pushes again."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sync_pipeline.channels.base import ChannelConnector

PUSHED = "PUSHED"
ALREADY_FULFILLED = "ALREADY_FULFILLED"  # S29: fulfilled on the channel by someone else; an outcome, not an error
ORDER_NOT_FOUND = "ORDER_NOT_FOUND_ON_CHANNEL"  # S30: for a person
ORDER_CANCELLED = "ORDER_CANCELLED"  # S32: nothing to push; an outcome
PERMISSION_DENIED = "PERMISSION_DENIED"  # S33: for a person; read by channel health
RETRYING = "RETRYING"  # S31: locked or timed out; tried again with backoff, in the run and on the next run
CARRIER_NOT_MAPPED = "CARRIER_NOT_MAPPED"  # the channel refused the carrier code: a person maps it (carrier_map.csv)
REFUSED = "REFUSED_BY_CHANNEL"  # the channel refused the request as invalid (raised as ChannelRequestError): for a person


@dataclass(frozen=True)
class PackageLine:
    line_number: int  # 1-based position in the channel payload's lines, as in order_lines.line_number
    quantity: int


@dataclass(frozen=True)
class Package:
    """One warehouse package of one channel order, ready for the channel."""

    external_order_id: str
    package_id: str  # the warehouse's shipment id: the same on every run
    tracking_number: str
    carrier_code: str  # the channel's own code for the carrier (or its "other carrier" code, see other_carrier)
    carrier_name: str  # the carrier as the warehouse wrote it ("FEDEX", "FedEx Ground", ...)
    other_carrier: bool  # the carrier is not in the channel's list: carrier_code is the platform's "other" form
    tracking_url: str | None
    shipped_at: datetime  # aware, UTC
    lines: tuple[PackageLine, ...]
    payload: Any  # the channel's order as last fetched (raw_orders): where its line, address and item ids are
    pushed_before: tuple[PackageLine, ...] = ()  # what this order's packages already on the channel carried
    completes_order: bool = False  # with this package every line of the order has shipped and is on the channel


@dataclass(frozen=True)
class Pushed:
    status: str  # one of the constants above
    fulfillment_id: str | None = None  # the channel's id for what holds the number (to correct it later)
    message: str | None = None  # what happened and, for a person, what to do


class TrackingPush(ABC):
    """A channel's tracking API, on the channel's own connector (its one session, retries, throttle and call log)."""

    # Carrier -> the channel's code, for each carrier in tracking/carriers.py CARRIERS ("UPS", "USPS", "FedEx",
    # "DHL", "Royal Mail", "DPD"). data/carrier_map.csv rows win over these.
    carrier_codes: ClassVar[dict[str, str]]
    # The code sent for a carrier the list lacks (with carrier_name beside it), or None: then the package is
    # CARRIER_NOT_MAPPED until data/carrier_map.csv maps it.
    other_carrier_code: ClassVar[str | None]
    # Whether a fulfillment's number can be changed in place (Shopify update_tracking); otherwise a correction
    # is pushed as one more fulfillment and the row says so.
    can_update: ClassVar[bool]

    def __init__(self, connector: ChannelConnector):
        self.connector = connector
        self.http = connector.http

    @abstractmethod
    def find(self, package: Package) -> str | None:
        """The id of the fulfillment on the channel that already holds this package's tracking number, or None.
        Read before any resend of a package whose earlier push got no answer."""

    @abstractmethod
    def push(self, package: Package) -> Pushed:
        """Put the package's tracking on the channel once (one fulfillment, shipment or confirmation)."""

    def on_channel(self, package: Package) -> None:
        """The package was found on the channel without its push's answer (a lost reply, a killed run): finish what
        a successful push would have finished. Nothing by default."""

    def correct(self, package: Package, fulfillment_id: str, previous_number: str) -> Pushed:
        """The warehouse corrected the package's number: change it on the channel. Where a platform cannot,
        the corrected number is pushed as one more fulfillment, and the message says so."""
        pushed = self.push(package)
        if pushed.status != PUSHED:
            return pushed
        return Pushed(PUSHED, pushed.fulfillment_id,
                      f"the {self.connector.type} API cannot change a pushed number: {package.tracking_number} was added "
                      f"beside {previous_number}, which stays on the channel")


def line_of(payload: Any, lines_key: str, line_number: int) -> dict:
    """The channel line a package line names (1-based position in the payload's list of lines)."""
    return payload[lines_key][line_number - 1]
