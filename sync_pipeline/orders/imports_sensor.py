"""order_imports: a new order export file in data/imports/<channel>/ (Bob Shop's only way in, every API channel's
backup path) starts order_sync for exactly the partitions (channel | UTC day) its orders touch. The run's raw_orders
step imports the file once (orders/csv_import.py) and the steps after it carry those days on; the run key is the
file's checksum with its days, so a file is asked for once however often the sensor looks, and a renamed or
re-dropped copy not at all. A file that cannot be read is named in the skip reason (its run would fail the same way)."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from sync_pipeline.channels import CONNECTORS
from sync_pipeline.channels.exports import CsvImportError, checksum, imports_dir, read_export
from sync_pipeline.channels.resource import ChannelsResource
from sync_pipeline.db.resource import DatabaseResource
from sync_pipeline.orders.csv_import import imported
from sync_pipeline.partitions import run_requests

SENSOR_SECONDS = 60  # how often the imports folders are looked at


def build_imports_sensor(job: dg.JobDefinition) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=SENSOR_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
               description="A new order export file in data/imports/<channel>/ (Bob Shop's orders; any channel's "
                           "backup): an order_sync run of exactly the days its orders were placed on")
    def order_imports(context: dg.SensorEvaluationContext, database: DatabaseResource, channels: ChannelsResource):
        settings = channels.pipeline_config()
        engine = database.engine()
        today = datetime.now(timezone.utc).date()
        requests, unreadable = [], []
        for channel in settings.channels:
            if not channel.order_sync:
                continue
            digests = {}
            for path in sorted(imports_dir(channel).glob("*.csv")):
                digests.setdefault(checksum(path), path)
            with engine.connect() as connection:
                known = imported(connection, channel.name, digests)
            for digest, path in digests.items():
                if digest in known:
                    continue
                try:
                    export = read_export(path, channel, CONNECTORS[channel.type].csv_export, digest)
                except CsvImportError as exc:
                    unreadable.append(str(exc))
                    continue
                days = {d for d in export.days if settings.partitions_start_date <= d <= today}
                # A file of bad rows only still lands its reports: the run of its newest day records them.
                requests += run_requests(channel.name, days or {today}, f"import:{channel.name}:{digest[:16]}",
                                         tags={"sync/trigger": "import", "sync/channel": channel.name})
        if not requests:
            return dg.SkipReason("no new order export file" + (f" ({'; '.join(unreadable)})" if unreadable else ""))
        return requests

    return order_imports
