"""What every platform's stock push offers. The inventory flow (sync_pipeline/inventory/) decides each listing's
quantity and which listings changed; a platform module (channels/<platform>/inventory.py) says only how its API
lists listings with their stock and how it sets them, in its bulk form where it has one.

Setting stock is absolute (the quantity, never a difference), so a repeated write is harmless and the shared HTTP
retries may repeat one. What the channel answers about a listing is a `Written` status; only a failure to get an
answer at all (ChannelUnavailable after the retries) is raised, and the listing is written again on the next run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from sync_pipeline.channels.base import ChannelConnector

PUSHED = "PUSHED"
UNCHANGED = "UNCHANGED"
PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"  # deleted on the channel, or no listing has the SKU (S36: near match named)
INVENTORY_NOT_TRACKED = "INVENTORY_NOT_TRACKED"  # "Inventory management disabled" for the listing
NOT_ACTIVE = "NOT_ACTIVE"  # S41: a draft, archived or disabled listing is not written
NOT_SUPPORTED = "NOT_SUPPORTED"  # S37: the platform, or this listing, takes no stock from us
INVALID_QUANTITY = "INVALID_QUANTITY"  # S39: the warehouse's figure is impossible; nothing is written
RETRYING = "RETRYING"  # the channel could not take it now; written on the next run
HELD_BACK = "HELD_BACK"  # a per-listing cap (eBay: 250 revisions a day) would be passed; the latest target waits


@dataclass(frozen=True)
class Listing:
    """One listing as the channel keeps it."""

    listing_id: str  # the channel's id for what holds the stock (inventory item, product or variant, offer, SKU)
    sku: str  # as the channel holds it (it may differ from the warehouse's, S36)
    quantity: int | None  # what it shows now; None when the channel keeps no stock for it
    tracked: bool  # the channel keeps stock for it (else INVENTORY_NOT_TRACKED)
    active: bool  # live for sale and sync (else NOT_ACTIVE, S41)
    ids: dict[str, Any] = field(default_factory=dict)  # what a write needs besides listing_id (location, offer, level)
    # When the channel says its stock last changed (Shopify: the inventory level's updated_at; WooCommerce: the
    # product's date_modified_gmt); None where its answers do not say.
    changed_at: datetime | None = None


@dataclass(frozen=True)
class StockUpdate:
    listing: Listing
    quantity: int  # >= 0


@dataclass(frozen=True)
class Written:
    listing_id: str
    status: str  # PUSHED, or why not: the constants above
    message: str | None = None  # what happened and, where a person must act, how to fix it


class InventoryPush(ABC):
    """A channel's stock API, on the channel's own connector (its one session, retries, throttle and call log)."""

    # Listings per write call: the platform's bulk form (Shopify GraphQL 250, WooCommerce batch 100, eBay 25,
    # BigCommerce many), or 1 where it has none (Amazon Listings Items, Takealot offers).
    batch_size: ClassVar[int]
    # Writes a listing may take per UTC day (eBay 250), or None.
    daily_writes_per_listing: ClassVar[int | None] = None
    # Where a person finds who changed a listing's stock: no platform's stock API names them.
    change_history: ClassVar[str] = ("the channel's stock API does not say who: ask who edits listings there, or which "
                                     "app writes stock")

    def __init__(self, connector: ChannelConnector):
        self.connector = connector
        self.http = connector.http

    @abstractmethod
    def listings(self, skus: Collection[str] = ()) -> list[Listing]:
        """Every listing the channel has for sale (deleted ones are not there), with its stock, every page. `skus`
        are the SKUs the sync looks for (the warehouse's, the SKU map's and those listed before): a platform that
        pages every listing ignores them; one whose list is capped (Amazon) asks for those past the cap by SKU."""

    @abstractmethod
    def write(self, updates: list[StockUpdate]) -> list[Written]:
        """Set these listings' stock in one call (at most batch_size): one Written per update, in order."""


def write_whole(updates: list[StockUpdate], send: Callable[[list[StockUpdate], list[int]], tuple[str | None, dict]],
                refusal: Callable[[StockUpdate, str], Written]) -> list[Written]:
    """A bulk write the channel takes whole or not at all (BigCommerce's absolute adjustment, Magento's source items):
    `send(updates, indexes)` makes one call for those updates and answers (None, {}) when it was taken, else the
    channel's words and {index: Written} for the items they name. Those are taken out and the rest sent again; a
    refusal naming none sends each alone (`refusal` words the one it was), so one bad item never holds back others."""
    results: dict[int, Written] = {}
    pending = list(range(len(updates)))
    while pending:
        said, refused = send(updates, pending)
        if said is None:
            results.update({i: Written(updates[i].listing.listing_id, PUSHED) for i in pending})
            break
        if not refused:
            if len(pending) == 1:
                results[pending[0]] = refusal(updates[pending[0]], said)
            else:
                results.update({i: write_whole([updates[i]], send, refusal)[0] for i in pending})
            break
        results.update(refused)
        pending = [i for i in pending if i not in refused]
    return [results[i] for i in range(len(updates))]
