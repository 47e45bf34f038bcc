"""Bob Shop (formerly bidorbuy): no seller API at all (channel-apis.md section 8), so nothing is served over HTTP.

- Orders: as orders are placed (the scenario's at construction, live ones by place_order, a silent change when it
  happens), the seller's order export is written into the channel's imports folder, one CSV file per batch, one row
  per order line, in the columns of the synthesised export (no real one is public; see
  sync_pipeline_tests/fixtures/payloads/bobshop_orders_export.SCHEMA_DERIVED_NOT_REAL.csv). A file is written
  whole to a temporary name and renamed, as a browser's finished download appears. Each order's payload is its
  rows exactly as written, so what the pipeline lands can be compared with the file.
- Stock: Bob Shop pulls the Store Integrator's XML tradefeed; `listings` is this platform's own reading of that
  file (Tradefeed.php's ROOT/Products/Product with ProductCode and AvailableQty), what Bob Shop would list.
- Tracking: none; status updates are made on Bob Shop's site (seed 000: they take 15-30 minutes to show).

Folders: `exports_dir` (default SYNC_IMPORTS_DIR or <project>/data/imports, then /<channel>) and `feed_file`
(default SYNC_FEEDS_DIR or <project>/data/feeds, then /<channel>.xml): where the pipeline reads and writes by default.
Either may be set on the platform before orders are placed or the feed is read."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sync_pipeline.simulator.orders import Market, SimOrder, SimOrderRecord
from sync_pipeline.simulator.platforms.base import AdminError, ApiRequest, ApiResponse, OrderStore, Platform, Route

PROJECT_DATA = Path(__file__).resolve().parents[3] / "data"
COLUMNS = (
    "Order Number", "Order Date", "Last Updated", "Order Status", "Buyer Name", "Buyer Email", "Buyer Phone",
    "Delivery Name", "Delivery Address 1", "Delivery Address 2", "Delivery City", "Delivery Province",
    "Delivery Postal Code", "Delivery Country", "Shipping Method", "Shipping Cost", "Order Total", "Product Code",
    "Product Title", "Quantity", "Unit Price",
)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # the seller's local (Johannesburg) time
ZERO_DATE = "0000-00-00 00:00:00"  # invalid_date
UNMAPPED_STATUS = "Awaiting Collection"  # [U] a status data/status_map.yaml leaves out (unmapped_status)
SHIPPING = {"free": "Free Courier", "economy": "Post Office", "standard": "Courier", "express": "Express Courier",
            "overnight": "Overnight Courier", "same_day": "Same Day Courier"}  # same_day: not in the ship map
ORDER_NUMBER_OFFSET = 30_000_000
INAPPLICABLE = frozenset()


def _folder(variable: str, default: Path) -> Path:
    return Path(os.environ.get(variable, default))


class ExportingStore(OrderStore):
    """The orders Bob Shop holds; every batch put here is also written out as an order export file."""

    def __init__(self, platform: BobShop):
        super().__init__()
        self._platform = platform
        self.files: list[Path] = []  # every export file written, in order

    def put(self, records: Iterable[SimOrderRecord]) -> None:
        records = list(records)
        super().put(records)
        if records:
            self._platform.write_export(records)


class PublishedFeed:
    """What Bob Shop sees of the seller's stock: its own reading of the tradefeed file, every time it is asked."""

    def __init__(self, platform: BobShop):
        self._platform = platform
        self._reads: list[dict] = []

    def all(self) -> list[dict]:
        """Every product of the feed as a listing (listing_id and sku its ProductCode), by code; [] with no feed."""
        path = self._platform.feed_file
        try:
            root = ET.parse(path).getroot()
        except FileNotFoundError:
            return []
        listings = []
        for product in root.iter("Product"):
            code = product.findtext("ProductCode") or ""
            listings.append({"listing_id": code, "sku": code, "warehouse_sku": code, "name": product.findtext("ProductName"),
                             "quantity": int(product.findtext("AvailableQty")), "condition": product.findtext("Condition"),
                             "tracked": True, "active": True, "deleted": False})
        self._reads.append({"at": datetime.now(timezone.utc).isoformat(), "created": root.findtext("Version/ExportCreated"),
                            "products": len(listings)})
        return sorted(listings, key=lambda listing: listing["listing_id"])

    def history(self) -> list[dict]:
        return list(self._reads)


class BobShop(Platform):
    type = "bobshop"
    credential_names = ()
    market = Market({"ZAR": 1}, inapplicable=INAPPLICABLE)
    errors = {404: ("", "Bob Shop has no seller API")}

    def __init__(self, spec, credentials, scenario):
        self.exports_dir = _folder("SYNC_IMPORTS_DIR", PROJECT_DATA / "imports") / spec.name
        self.feed_file = _folder("SYNC_FEEDS_DIR", PROJECT_DATA / "feeds") / f"{spec.name}.xml"
        super().__init__(spec, credentials, scenario)
        self.store = ExportingStore(self)
        self.listings = PublishedFeed(self)

    # --- HTTP: none -----------------------------------------------------------------------------------
    def route(self, request: ApiRequest) -> Route | None:
        return None

    def authorized(self, request: ApiRequest) -> bool:
        return True

    def error(self, status: int, message: Any = None, code: str | None = None) -> ApiResponse:
        return ApiResponse(status, {"error": message or self.errors.get(status, ("", "Not Found"))[1]})

    # --- orders ---------------------------------------------------------------------------------------
    def render(self, order: SimOrder) -> SimOrderRecord:
        number = str(ORDER_NUMBER_OFFSET + order.seq)
        if order.has("unmapped_status"):
            status = UNMAPPED_STATUS
        else:
            status = {"cancelled": "Cancelled", "shipped": "Shipped"}.get(order.status, "Paid" if order.paid else "Awaiting Payment")
        customer, ship_to = order.customer, order.ship_to
        placed = ZERO_DATE if order.has("invalid_date") else self._local(order.placed_at)
        total = -order.total if order.has("invalid_amount") else order.total
        head = {
            "Order Number": number, "Order Date": placed, "Last Updated": self._local(order.updated_at),
            "Order Status": status, "Buyer Name": customer.name, "Buyer Email": customer.email,
            "Buyer Phone": customer.phone or "",
            "Delivery Name": customer.name if ship_to else "",
            "Delivery Address 1": ship_to.address1 if ship_to else "", "Delivery Address 2": ship_to.address2 if ship_to else "",
            "Delivery City": ship_to.city if ship_to else "", "Delivery Province": ship_to.province if ship_to else "",
            "Delivery Postal Code": ship_to.postcode if ship_to else "",
            "Delivery Country": ship_to.country if ship_to else "",
            "Shipping Method": SHIPPING[order.shipping], "Shipping Cost": order.money(order.shipping_price),
            "Order Total": order.money(total),
        }
        rows = [{**head, "Product Code": line.product.sku, "Product Title": f"{line.product.title} - {line.product.variant}",
                 "Quantity": str(line.quantity), "Unit Price": order.money(line.unit_price)} for line in order.lines]
        return SimOrderRecord(number, order.placed_at, order.updated_at, rows)

    def _local(self, value: datetime) -> str:
        return value.astimezone(self.tz).strftime(TIME_FORMAT)

    def write_export(self, records: list[SimOrderRecord]) -> Path:
        """One export file of these orders' rows, written under a temporary name and renamed into the folder."""
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for record in records:
            for row in record.payload:
                writer.writerow([row[c] for c in COLUMNS])
        data = buffer.getvalue().encode("utf-8")
        newest = max(r.updated_at for r in records).astimezone(timezone.utc)
        path = self.exports_dir / f"{self.name}-orders-{newest:%Y%m%dT%H%M%S}-{hashlib.sha256(data).hexdigest()[:10]}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.part")
        partial.write_bytes(data)
        os.replace(partial, path)
        self.store.files.append(path)
        return path

    def parse_admin(self, body: Any) -> list[SimOrderRecord]:
        """Rows of an order export posted to /_admin: a list of {column: value} (all columns), one per order line."""
        rows = body if isinstance(body, list) else [body]
        by_order: dict[str, list[dict]] = {}
        for index, row in enumerate(rows):
            what = f"bobshop export row #{index}"
            if not isinstance(row, dict) or set(row) != set(COLUMNS):
                raise AdminError(f"{what}: expected an object with exactly the export's columns: {', '.join(COLUMNS)}")
            by_order.setdefault(str(row["Order Number"]), []).append({c: str(row[c]) for c in COLUMNS})
        records = []
        for number, lines in by_order.items():
            try:
                placed = datetime.strptime(lines[0]["Order Date"], TIME_FORMAT).replace(tzinfo=self.tz)
                updated = datetime.strptime(lines[0]["Last Updated"], TIME_FORMAT).replace(tzinfo=self.tz)
            except ValueError:
                raise AdminError(f"bobshop order {number}: 'Order Date' and 'Last Updated' must look like "
                                 "2024-01-31 14:05:00 (local time)") from None
            records.append(SimOrderRecord(number, placed.astimezone(timezone.utc), updated.astimezone(timezone.utc), lines))
        return records
