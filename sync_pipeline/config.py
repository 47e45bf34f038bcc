"""Channel settings: `data/channels.yaml` plus the environment, validated into typed objects.

The file names the environment variables that hold each channel's credentials; the secrets themselves
only ever live in the environment and are read at the moment a connector is built.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Who answers for every asset, as the UI shows it (a Dagster owner: a team or an email).
ASSET_OWNERS = ["team:order-sync"]
DATA_DIR = Path(os.environ.get("SYNC_DATA_DIR", PROJECT_ROOT / "data"))
CHANNEL_NAME_PATTERN = re.compile(r"^[a-z0-9_-]+$")
WEBHOOK_TYPES = ("shopify", "woocommerce", "bigcommerce")  # the platforms that send order webhooks
ChannelType = Literal["shopify", "woocommerce", "amazon", "takealot", "bigcommerce", "ebay", "magento", "bobshop"]
# Magento's two ways in (channel option `auth`): an admin user's token fetched with its username and password, or an
# integration's access token sent as a bearer token. The credentials each needs:
MAGENTO_CREDENTIALS = {"admin": ("username", "password"), "integration": ("access_token",)}

# Per-type defaults: the platform's own history window and plan limits (channel-apis.md).
TYPE_DEFAULTS: dict[str, dict] = {
    "shopify": {"history_days": 60, "timezone": "America/New_York"},
    "woocommerce": {"history_days": 3650, "timezone": "Europe/London"},
    "amazon": {"history_days": 730, "timezone": "UTC"},
    "takealot": {"history_days": 30, "timezone": "Africa/Johannesburg"},
    "bigcommerce": {"history_days": 3650, "timezone": "America/Chicago"},  # V2 keeps every order; times carry offsets
    "ebay": {"history_days": 730, "timezone": "Europe/London"},  # getOrders searches at most 2 years back
    "magento": {"history_days": 3650, "timezone": "UTC"},  # keeps every order; API times are UTC whatever the zone
    "bobshop": {"history_days": 3650, "timezone": "Africa/Johannesburg"},  # orders arrive as export files, kept here
}


class ConfigError(ValueError):
    """A configuration problem, phrased so the operator knows which file, channel and field to fix."""


class UnknownChannelError(ConfigError, LookupError):
    """A channel name channels.yaml does not have (the CLI answers it as "not found")."""


class RateLimitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class ChannelConfig(BaseModel):
    """One sales channel: where it is, how to authenticate, and how its orders are synced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: ChannelType
    base_url: str
    credentials: dict[str, str] = Field(
        description="credential name -> name of the environment variable holding it"
    )
    timezone: str = "UTC"
    import_statuses: list[str] = Field(default_factory=list)
    history_days: int = Field(gt=0)
    order_sync: bool = True
    inventory_sync: bool = False
    inventory_interval_minutes: int = Field(default=60, gt=0, description="how often the channel's stock is pushed")
    inventory_buffer: int = Field(default=0, ge=0, description="units held back from every listing (a safety margin)")
    sync_interval_minutes: int = Field(default=30, gt=0)
    page_size: int | None = Field(default=None, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    rate_limit: RateLimitConfig | None = None
    options: dict[str, str | bool | int | float] = Field(default_factory=dict)
    # "manual": the channel's orders are entered at the warehouse by a person, so they queue as MANUAL.
    warehouse_posting: Literal["automatic", "manual"] = "automatic"
    poll_seconds: int | None = Field(default=None, ge=30, description=(
        "for a platform without webhooks: read today's and yesterday's orders updated since the cursors this often, "
        "and sync at once when one changed (one list call per poll; the schedule stays)"))
    webhooks: bool = Field(default=False, description=(
        "take the platform's order webhooks (shopify, woocommerce, bigcommerce) at `sync-pipeline webhooks`, checked "
        "with credentials.webhook_secret; the schedule stays as the safety net"))

    @model_validator(mode="after")
    def _webhooks_need_a_platform_that_sends_them_and_a_secret(self) -> "ChannelConfig":
        if self.webhooks and self.type not in WEBHOOK_TYPES:
            raise ValueError(f"webhooks: {self.type} sends no order webhooks (only {', '.join(WEBHOOK_TYPES)} do): "
                             "set webhooks: false; the schedule syncs the channel")
        if self.webhooks and "webhook_secret" not in self.credentials:
            raise ValueError("webhooks: true needs credentials.webhook_secret, the name of the environment variable "
                             "holding the secret the platform signs deliveries with")
        return self

    @model_validator(mode="after")
    def _magento_auth_is_known(self) -> "ChannelConfig":
        if self.type == "magento" and self.options.get("auth", "admin") not in MAGENTO_CREDENTIALS:
            raise ValueError(f"options.auth: {self.options['auth']!r} is not a Magento sign-in; use admin (an admin "
                             "user's username and password) or integration (an integration's access token)")
        return self

    @field_validator("name")
    @classmethod
    def _name_is_partition_safe(cls, value: str) -> str:
        if not CHANNEL_NAME_PATTERN.match(value):
            raise ValueError(
                f"{value!r} may only hold lower-case letters, digits, '_' and '-' "
                "(it becomes a Dagster partition key)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as 'Europe/London'") from None
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with http:// or https://")
        return value.rstrip("/")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def secret(self, credential: str) -> str:
        needs = f"a {self.type} channel"
        if self.type == "magento":  # which credentials depends on how it signs in
            auth = self.options.get("auth", "admin")
            other = next(mode for mode in MAGENTO_CREDENTIALS if mode != auth)
            needs = (f"a magento channel with options.auth {auth} (or {other}, with credentials "
                     f"{' and '.join(MAGENTO_CREDENTIALS[other])} instead)")
        return _secret(self.credentials, credential, f"channel {self.name!r}", needs)


def _secret(credentials: dict[str, str], credential: str, label: str, needs: str) -> str:
    """A credential's value from the environment; the error names the variable, never a value."""
    env_var = credentials.get(credential)
    if env_var is None:
        raise ConfigError(
            f"{label}: credentials.{credential} is missing in channels.yaml; {needs} needs credentials for {credential}"
        )
    value = os.environ.get(env_var)
    if not value:
        raise ConfigError(
            f"{label}: environment variable {env_var} (credential {credential}) is not set; "
            f"export it with the {credential.replace('_', ' ')}"
        )
    return value


class WarehouseConfig(BaseModel):
    """The 3PL's order API. Shaped like a channel where the shared HTTP machinery reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "warehouse"
    type: Literal["warehouse"] = "warehouse"
    base_url: str
    credentials: dict[str, str] = Field(description="api_key -> name of the environment variable holding it")
    timeout_seconds: float = Field(default=30.0, gt=0)
    rate_limit: RateLimitConfig | None = None
    concurrency: int = Field(default=4, ge=1, le=32, description="orders submitted at once")
    claim_expiry_seconds: float = Field(
        default=120.0, gt=0, description="a dead run's claims lapse after this; a live run renews its own meanwhile"
    )
    shipments_poll_seconds: int = Field(
        default=60, ge=10, description="how often the tracking_shipments sensor reads the warehouse's new shipments"
    )

    _http_url = field_validator("base_url")(ChannelConfig._http_url.__func__)

    def secret(self, credential: str) -> str:
        return _secret(self.credentials, credential, f"warehouse {self.name!r}", "the warehouse")


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partitions_start_date: date
    channels: list[ChannelConfig]
    warehouse: WarehouseConfig | None = None

    def credential_variables(self) -> dict[str, dict[str, str]]:
        """Per channel name, and the warehouse's: credential -> the environment variable holding it."""
        endpoints = [*self.channels, *([self.warehouse] if self.warehouse else [])]
        return {endpoint.name: dict(endpoint.credentials) for endpoint in endpoints}

    def channel(self, name: str) -> ChannelConfig:
        for channel in self.channels:
            if channel.name == name:
                return channel
        known = ", ".join(c.name for c in self.channels)
        raise UnknownChannelError(f"unknown channel {name!r}; channels.yaml has: {known}")


def default_channel(name: str, channel_type: str, base_url: str) -> dict:
    """Settings for a channel known only by name and type (a simulator scenario's extra channels)."""
    upper = name.upper().replace("-", "_")
    credential_names = {
        "shopify": ["access_token"],
        "woocommerce": ["consumer_key", "consumer_secret"],
        "amazon": ["refresh_token", "client_id", "client_secret"],
        "takealot": ["api_key"],
        "bigcommerce": ["access_token"],
        "ebay": ["refresh_token", "client_id", "client_secret"],
        "magento": list(MAGENTO_CREDENTIALS["admin"]),  # a scenario's Magento signs in as an admin by default
        "bobshop": [],  # no API: orders come as export files, stock goes out as a feed file Bob Shop pulls
    }[channel_type] + (["webhook_secret"] if channel_type in WEBHOOK_TYPES else [])
    return {
        "name": name,
        "type": channel_type,
        "base_url": base_url,
        "credentials": {c: f"{upper}_{c.upper()}" for c in credential_names},
        **TYPE_DEFAULTS[channel_type],
    }


def _simulated(channel: dict, simulator_url: str) -> dict:
    """Point a channel at the local simulator, which serves every channel under /<name>."""
    base = f"{simulator_url.rstrip('/')}/{channel['name']}"
    options = dict(channel.get("options") or {})
    if channel.get("type") == "amazon":
        options["lwa_url"] = f"{base}/auth/o2/token"  # LWA lives on its own host in production
    return {**channel, "base_url": base, "options": options}


def _validated(model: type[BaseModel], data: dict, where: str):
    """The model, or a ConfigError naming `where` and every field that is wrong."""
    try:
        return model(**data)
    except ValidationError as exc:
        problems = "; ".join(f"field '{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{where}: {problems}") from None


def parse_config(raw: dict, source: str, simulator_url: str | None = None) -> PipelineConfig:
    if not isinstance(raw, dict) or not isinstance(raw.get("channels"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'channels' list")
    channels = []
    for index, entry in enumerate(raw["channels"]):
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: channels[{index}] must be a mapping")
        label = f"channel {entry.get('name', f'#{index}')!r}"
        merged = {**TYPE_DEFAULTS.get(entry.get("type"), {}), **entry}
        if simulator_url:
            merged = _simulated(merged, simulator_url)
        channels.append(_validated(ChannelConfig, merged, f"{source}: {label}"))
    names = [c.name for c in channels]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: channel names must be unique; repeated: {', '.join(duplicates)}")
    warehouse = raw.get("warehouse")
    if warehouse is not None:
        if not isinstance(warehouse, dict):
            raise ConfigError(f"{source}: warehouse must be a mapping with base_url and credentials")
        if simulator_url:
            warehouse = {**warehouse, "base_url": f"{simulator_url.rstrip('/')}/{warehouse.get('name', 'warehouse')}"}
        warehouse = _validated(WarehouseConfig, warehouse, f"{source}: warehouse")
    # The 3PL's calls are logged in api_calls under its name, so no channel may share it (nor, without a
    # warehouse section, the name one would get by default).
    reserved = warehouse.name if warehouse is not None else WarehouseConfig.model_fields["name"].default
    for index, channel in enumerate(channels):
        if channel.name == reserved:
            raise ConfigError(
                f"{source}: channel {channel.name!r} (channels[{index}]): the name {reserved!r} is reserved for the "
                f"warehouse, whose API calls are logged under it in api_calls; rename the channel"
            )
    try:
        return PipelineConfig(
            partitions_start_date=raw.get("partitions_start_date", "2025-01-01"), channels=channels, warehouse=warehouse
        )
    except ValidationError as exc:
        raise ConfigError(f"{source}: partitions_start_date: {exc.errors()[0]['msg']}") from None


def channels_file() -> Path:
    return Path(os.environ.get("SYNC_CHANNELS_FILE", DATA_DIR / "channels.yaml"))


def load_config(path: str | Path | None = None, simulator_url: str | None = None) -> PipelineConfig:
    """Load channels.yaml; `simulator_url` (or SYNC_SIMULATOR_URL) re-points every channel at the simulator."""
    path = Path(path) if path else channels_file()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; set SYNC_CHANNELS_FILE or create data/channels.yaml") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(raw, str(path), simulator_url or os.environ.get("SYNC_SIMULATOR_URL"))
