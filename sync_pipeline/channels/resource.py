"""The configured channels as a Dagster resource; connectors read their secrets from the environment."""

from __future__ import annotations

import dagster as dg

from sync_pipeline.channels import CONNECTORS, INVENTORY_PUSHES, TRACKING_PUSHES, ChannelConnector
from sync_pipeline.channels.http import ApiCallLog, RetrySettings
from sync_pipeline.channels.inventory import InventoryPush
from sync_pipeline.channels.tracking import TrackingPush
from sync_pipeline.config import ChannelConfig, PipelineConfig, load_config


class ChannelsResource(dg.ConfigurableResource):
    """`config_path` defaults to SYNC_CHANNELS_FILE or data/channels.yaml; `simulator_url` re-points every
    channel at the local simulator (SYNC_SIMULATOR_URL)."""

    config_path: str | None = None
    simulator_url: str | None = None
    max_attempts: int = 6
    backoff_base_s: float = 0.5

    def pipeline_config(self) -> PipelineConfig:
        return load_config(self.config_path, self.simulator_url)

    def connector(self, channel: ChannelConfig, log: ApiCallLog | None = None) -> ChannelConnector:
        retry = RetrySettings(max_attempts=self.max_attempts, backoff_base_s=self.backoff_base_s)
        return CONNECTORS[channel.type](channel, log, retry)

    def tracking(self, channel: ChannelConfig, log: ApiCallLog | None = None) -> TrackingPush | None:
        """The channel's tracking push, on its connector; None where the platform takes no tracking (Takealot)."""
        push = TRACKING_PUSHES.get(channel.type)
        return push(self.connector(channel, log)) if push else None

    def inventory(self, channel: ChannelConfig, log: ApiCallLog | None = None) -> InventoryPush | None:
        """The channel's stock push, on its connector; None where the platform takes no stock from us."""
        push = INVENTORY_PUSHES.get(channel.type)
        return push(self.connector(channel, log)) if push else None
