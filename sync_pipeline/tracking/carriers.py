"""The carrier as the warehouse writes it -> the carrier code the channel knows (S28).

data/carrier_map.csv (`channel,warehouse_carrier,channel_carrier_code`; channel = a name, a type or `*`, the most
specific row winning) comes first; then each platform's own list (TrackingPush.carrier_codes) for the carriers
named here. Matching ignores case, spacing and punctuation ("FEDEX" is "FedEx"), and a name followed by a service
("FedEx Ground", "Royal Mail Tracked 48") finds its carrier. A carrier nobody knows goes in the platform's "other
carrier" form where it has one; otherwise it is CARRIER_NOT_MAPPED, naming the text and the file to edit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sync_pipeline.channels.tracking import TrackingPush
from sync_pipeline.config import ChannelConfig
from sync_pipeline.fulfilment.map_files import for_channel, map_path, read_map

COLUMNS = ["channel", "warehouse_carrier", "channel_carrier_code"]

# Each carrier's names as 3PLs write them (the first is the carrier's key in TrackingPush.carrier_codes), and
# the public tracking page for a number.
CARRIERS: dict[str, tuple[tuple[str, ...], str]] = {
    "UPS": (("UPS", "United Parcel Service"), "https://www.ups.com/track?tracknum={}"),
    "USPS": (("USPS", "U.S.P.S.", "United States Postal Service", "US Postal Service"),
             "https://tools.usps.com/go/TrackConfirmAction?tLabels={}"),
    "FedEx": (("FedEx", "Federal Express"), "https://www.fedex.com/fedextrack/?trknbr={}"),
    "DHL": (("DHL", "DHL Express"), "https://www.dhl.com/en/express/tracking.html?AWB={}"),
    "Royal Mail": (("Royal Mail",), "https://www.royalmail.com/track-your-item#/tracking-results/{}"),
    "DPD": (("DPD", "DPD UK"), "https://track.dpd.co.uk/parcels/{}"),
}


def carrier_map_file() -> Path:
    return map_path("SYNC_CARRIER_MAP_FILE", "carrier_map.csv")


def squash(text: str) -> str:
    """Case, spacing and punctuation removed: how carrier names are compared."""
    return re.sub(r"[^0-9a-z]", "", text.casefold())


# Every known spelling, longest first, so "DHL Express Worldwide" finds "DHL Express" before "DHL".
_SPELLINGS = sorted(((squash(name), carrier) for carrier, (names, _) in CARRIERS.items() for name in names),
                    key=lambda pair: len(pair[0]), reverse=True)


def known_carrier(text: str) -> str | None:
    """The carrier a warehouse's text names ("FEDEX", "FedEx Ground" -> "FedEx"), or None."""
    squashed = squash(text)
    for spelling, carrier in _SPELLINGS:
        if squashed.startswith(spelling):
            return carrier
    return None


@dataclass(frozen=True)
class CarrierChoice:
    code: str | None  # None: CARRIER_NOT_MAPPED
    other: bool  # the platform's "other carrier" form
    tracking_url: str | None
    message: str | None = None  # why it is not mapped, and the fix


class CarrierMap:
    """The carriers of one channel: read once per run (a malformed file fails the run naming the file and line)."""

    def __init__(self, channel: ChannelConfig, push: type[TrackingPush], path: Path | None = None):
        self.path = path or carrier_map_file()
        rows = for_channel(read_map(self.path, COLUMNS), channel, ["warehouse_carrier"])
        self.rows = {squash(text): code for text, code in zip(rows["warehouse_carrier"], rows["channel_carrier_code"])}
        self.channel = channel
        self.push = push

    def choose(self, carrier_as_sent: str | None, tracking_number: str | None) -> CarrierChoice:
        text = (carrier_as_sent or "").strip()
        carrier = known_carrier(text) if text else None
        url = CARRIERS[carrier][1].format(tracking_number) if carrier and tracking_number else None
        squashed = squash(text)
        if squashed in self.rows:
            return CarrierChoice(self.rows[squashed], False, url)
        if carrier is not None and squash(carrier) in self.rows:
            return CarrierChoice(self.rows[squash(carrier)], False, url)
        if carrier is not None and carrier in self.push.carrier_codes:
            return CarrierChoice(self.push.carrier_codes[carrier], False, url)
        if self.push.other_carrier_code is not None:
            return CarrierChoice(self.push.other_carrier_code, True, url)
        return CarrierChoice(None, False, url, message=(
            f"the warehouse wrote the carrier as {text or '(nothing)'!r}, which {self.channel.type} does not list; "
            f"add a row '{self.channel.name},{text},<{self.channel.type} carrier code>' to {self.path} and the "
            "package is pushed on the next run"
        ))
