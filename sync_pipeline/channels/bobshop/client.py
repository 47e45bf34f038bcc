"""Bob Shop (formerly bidorbuy) has no public seller order API (channel-apis.md section 8): its orders come in as the
order export files a person downloads from Bob Shop into data/imports/<channel>/. The import step that every channel
type shares (orders/csv_import.py over channels/exports.py: each file once, by checksum; bad rows by file and line)
is this connector's fetch, so its order list calls nothing and its one-order read looks in those files. No HTTP, no
credentials."""

from __future__ import annotations

from collections.abc import Iterator

from sync_pipeline.channels.base import ChannelConnector, CsvExport, RawOrder
from sync_pipeline.channels.bobshop.mapping import BOBSHOP_ORDERS
from sync_pipeline.channels.exports import CsvImportError, imports_dir, read_export

CSV_EXPORT = CsvExport(order_id="Order Number", placed_at="Order Date", updated_at="Last Updated")


class BobShopConnector(ChannelConnector):
    type = "bobshop"
    credential_names = ()
    reauthorize_hint = "Bob Shop takes no API credentials: orders come as export files in {env}"
    csv_export = CSV_EXPORT
    mapping = BOBSHOP_ORDERS
    max_page_size = 1
    no_count_reason = ("Bob Shop has no seller order API: its orders arrive only as export files in "
                       "data/imports/<channel>/, so there is no channel-side count to compare with")

    def authenticate(self, session, secrets) -> None:
        """Nothing to attach: no request is ever sent."""

    def read_rate_limit(self, headers):
        return None

    def pages(self, placed_from, placed_to, updated_since) -> Iterator[list[RawOrder]]:
        """Nothing beyond the export files, which the import step lands once each (orders/csv_import.py)."""
        yield []

    def fetch_order(self, external_order_id: str) -> RawOrder | None:
        """The order as the newest export file holding it shows it (files by modification time), or None."""
        files = sorted(imports_dir(self.config).glob("*.csv"), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
        for path in files:
            try:
                export = read_export(path, self.config, self.csv_export)
            except CsvImportError:
                continue  # a file that is not the export is reported by the import step, not here
            for order in export.orders:
                if order.external_order_id == external_order_id:
                    return order
        return None

    def check_connection(self) -> dict:
        """No API to reach: what the imports folder holds."""
        folder = imports_dir(self.config)
        return {"channel": self.config.name, "type": self.type, "imports_dir": str(folder),
                "export_files": len(list(folder.glob("*.csv"))), "api_calls": 0, "latency_ms": None,
                "rate_limit_header": None, "rate_limit_remaining": None, "rate_limit_capacity": None}
