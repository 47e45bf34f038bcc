"""Bob Shop's stock: the XML tradefeed that bidorbuy's Store Integrator publishes and Bob Shop pulls (within 24 hours,
channel-apis.md section 8). Bob Shop takes no stock write, so a "write" here rewrites the feed file, atomically: the
whole new feed goes to a temporary file in the feed's own folder and os.replace puts it in place, so Bob Shop (or
anyone) reading the file sees the old feed or the new one, never part of one.

The format is the Store Integrator's (bidorbuy storeintegrator-core src/Tradefeed.php, read via the public
cybugo/bidorbuy-storeintegrator-core mirror): <ROOT><Version>...<SchemaVersion>1.1</SchemaVersion><ExportCreated>
</Version><Products><Product><ID/><ProductCode/><ProductGTIN/><ProductName/>...<AvailableQty/><Condition/></Product>
</Products></ROOT>. The pipeline owns stock, not the catalogue: a product's ID and ProductCode are the SKU as the
feed lists it, AvailableQty the free Good stock the inventory flow decides (the same figure every channel gets), and
ProductName, once set in the feed, is kept; price, category and images are the shop's and are not written here.

- listings: one per SKU the sync looks for (the warehouse's, the SKU map's channel SKUs instead of the warehouse SKUs
  they stand for, and those the feed lists already), its quantity what the feed shows now (None: not in the feed
  yet). Every listing is tracked and active: a feed has no other state.
- write: the feed with these products set to their quantities, the others as they were (batch_size covers every
  listing in one rewrite). A feed that cannot be written (a full disk, no permission) leaves the old one in place
  and every listing RETRYING with the path and the reason."""

from __future__ import annotations

import os
import stat
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterator
from datetime import datetime, timezone
from pathlib import Path

from sync_pipeline.channels.inventory import PUSHED, RETRYING, InventoryPush, Listing, StockUpdate, Written
from sync_pipeline.config import DATA_DIR, ChannelConfig
from sync_pipeline.fulfilment.map_files import read_map
from sync_pipeline.fulfilment.skus import COLUMNS as SKU_MAP_COLUMNS
from sync_pipeline.fulfilment.skus import sku_map_file
from sync_pipeline.inventory.stock import sku_to_warehouse

SCHEMA_VERSION = "1.1"  # Tradefeed::createVersionSection
CONDITION_NEW = "New"  # the warehouse holds new stock (Tradefeed::setProductCondition: New, Secondhand, Refurbished)
FEED_MODE = 0o644  # a new feed file: Bob Shop fetches it through the shop's web server
PRODUCT_FIELDS = ("ID", "ProductCode", "ProductGTIN", "ProductName", "AvailableQty", "Condition")


def feed_path(config: ChannelConfig) -> Path:
    """The channel option `feed_file`, else SYNC_FEEDS_DIR (default data/feeds/) / <channel>.xml."""
    if config.options.get("feed_file"):
        return Path(str(config.options["feed_file"]))
    return Path(os.environ.get("SYNC_FEEDS_DIR", DATA_DIR / "feeds")) / f"{config.name}.xml"


def read_feed(path: Path) -> dict[str, dict[str, str]]:
    """The feed's products by ProductCode, each {field: text}; {} when there is no feed yet."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        return {}
    return {product.findtext("ProductCode") or "": {child.tag: child.text or "" for child in product}
            for product in root.iter("Product")}


def product_xml(product: dict[str, str]) -> bytes:
    """One <Product> element, its fields in the Store Integrator's order."""
    element = ET.Element("Product")
    for name in PRODUCT_FIELDS:
        ET.SubElement(element, name).text = product.get(name, "")
    return b"\t\t" + ET.tostring(element, encoding="utf-8") + b"\n"


def _feed_chunks(products: dict[str, dict[str, str]], created: datetime) -> Iterator[bytes]:
    version = ET.Element("Version")
    for name, value in (("SchemaVersion", SCHEMA_VERSION), ("ExportCreated", created.isoformat(timespec="seconds"))):
        ET.SubElement(version, name).text = value
    yield b"<?xml version='1.0' encoding='UTF-8'?>\n<ROOT>\n\t" + ET.tostring(version, encoding="utf-8") + b"\n"
    yield b"\t<Products>\n"
    for code in sorted(products):
        yield product_xml(products[code])
    yield b"\t</Products>\n</ROOT>\n"


def write_atomically(path: Path, chunks: Iterator[bytes]) -> None:
    """The file replaced whole or not at all: written to a temporary file beside it, synced, then os.replace'd."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        # A temporary file is private (0600); the feed keeps its mode, or is world-readable for the web server.
        os.chmod(handle.name, stat.S_IMODE(path.stat().st_mode) if path.exists() else FEED_MODE)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


class BobShopInventory(InventoryPush):
    batch_size = 100_000  # one rewrite of the feed per run

    @property
    def path(self) -> Path:
        return feed_path(self.connector.config)

    def listings(self, skus: Collection[str] = ()) -> list[Listing]:
        feed = read_feed(self.path)
        table = read_map(sku_map_file(), SKU_MAP_COLUMNS, ["variant_id"])
        mapped = sku_to_warehouse(table, self.connector.config)
        stood_for = set(mapped.values()) - set(mapped)
        codes = (set(skus) - stood_for) | set(feed)
        return [Listing(listing_id=code, sku=code, quantity=_quantity(feed.get(code)), tracked=True, active=True)
                for code in sorted(codes) if code]

    def write(self, updates: list[StockUpdate]) -> list[Written]:
        path = self.path
        products = read_feed(path)
        for update in updates:
            code = update.listing.sku
            earlier = products.get(code, {})
            products[code] = {"ID": code, "ProductCode": code, "ProductGTIN": earlier.get("ProductGTIN", ""),
                              "ProductName": earlier.get("ProductName") or code, "AvailableQty": str(update.quantity),
                              "Condition": earlier.get("Condition") or CONDITION_NEW}
        try:
            write_atomically(path, _feed_chunks(products, datetime.now(timezone.utc)))
        except OSError as exc:
            message = (f"the Bob Shop tradefeed {path} could not be written ({exc.strerror or exc}); the previous feed "
                       "is left as it was. Free space or grant write access there (or set the channel's option "
                       "feed_file); written on the next run")
            return [Written(u.listing.listing_id, RETRYING, message) for u in updates]
        return [Written(u.listing.listing_id, PUSHED) for u in updates]


def _quantity(product: dict[str, str] | None) -> int | None:
    try:
        return int(product["AvailableQty"]) if product else None
    except (KeyError, ValueError):
        return None  # unreadable: written again
