"""The warehouse's API as a Dagster resource; its key comes from the environment variable channels.yaml names."""

from __future__ import annotations

import dagster as dg

from sync_pipeline.channels.http import ApiCallLog, RetrySettings
from sync_pipeline.config import ConfigError, PipelineConfig
from sync_pipeline.warehouse.client import WarehouseClient


class WarehouseApiResource(dg.ConfigurableResource):
    max_attempts: int = 6
    backoff_base_s: float = 0.5

    def client(self, settings: PipelineConfig, log: ApiCallLog | None = None) -> WarehouseClient:
        if settings.warehouse is None:
            raise ConfigError(
                "channels.yaml has no warehouse section: add warehouse: {base_url, credentials: {api_key: ENV_VAR}}"
            )
        retry = RetrySettings(max_attempts=self.max_attempts, backoff_base_s=self.backoff_base_s)
        return WarehouseClient(settings.warehouse, log, retry)
