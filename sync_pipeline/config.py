"""Channel settings: `data/channels.yaml` plus the environment, validated into typed objects.

The file names the environment variables that hold each channel's credentials; the secrets themselves
only ever live in the environment and are read at the moment a connector is built.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
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


class ConfigProblem(BaseModel):
    """One thing wrong in channels.yaml, with its 1-based line when the file's node tree gives it."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int | None = None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


DISABLED = "; the channel is disabled until the entry is fixed"


class DisabledChannel(BaseModel):
    """A channels.yaml entry that is wrong: it alone is left out (no partitions, schedules or runs) until fixed."""

    model_config = ConfigDict(frozen=True)

    index: int
    name: str | None  # None when the entry's name cannot be read
    problems: tuple[ConfigProblem, ...]

    @property
    def key(self) -> str:
        """How health rows name it: its name, or its place in the list."""
        return (self.name or f"channels[{self.index}]")[:64]

    @property
    def error(self) -> str:
        return "; ".join(str(p) for p in self.problems) + DISABLED


@dataclass
class Lines:
    """1-based lines of channels.yaml's nodes: each channel entry's and each of its keys', the warehouse's."""

    channels: dict[int, tuple[int, dict[str, int]]] = field(default_factory=dict)
    warehouse: tuple[int, dict[str, int]] | None = None
    top: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, root) -> "Lines":
        def keyed(node) -> tuple[int, dict[str, int]]:
            keys = {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)} \
                if isinstance(node, yaml.MappingNode) else {}
            return node.start_mark.line + 1, keys

        if not isinstance(root, yaml.MappingNode):
            return cls()
        lines = cls(top=keyed(root)[1])
        for key, value in root.value:
            if key.value == "channels" and isinstance(value, yaml.SequenceNode):
                lines.channels = {i: keyed(item) for i, item in enumerate(value.value)}
            elif key.value == "warehouse":
                lines.warehouse = keyed(value)
        return lines


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partitions_start_date: date
    channels: list[ChannelConfig]
    warehouse: WarehouseConfig | None = None
    disabled: list[DisabledChannel] = Field(default_factory=list, description="bad entries, left out until fixed")

    def credential_variables(self) -> dict[str, dict[str, str]]:
        """Per channel name, and the warehouse's: credential -> the environment variable holding it."""
        endpoints = [*self.channels, *([self.warehouse] if self.warehouse else [])]
        return {endpoint.name: dict(endpoint.credentials) for endpoint in endpoints}

    def channel(self, name: str) -> ChannelConfig:
        for channel in self.channels:
            if channel.name == name:
                return channel
        for entry in self.disabled:
            if entry.name == name:
                raise ConfigError(entry.error)
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


def _simulated(channel: ChannelConfig, simulator_url: str) -> ChannelConfig:
    """Point a valid channel at the local simulator, which serves every channel under /<name>."""
    base = f"{simulator_url.rstrip('/')}/{channel.name}"
    options = dict(channel.options)
    if channel.type == "amazon":
        options["lwa_url"] = f"{base}/auth/o2/token"  # LWA lives on its own host in production
    return channel.model_copy(update={"base_url": base, "options": options})


def _field_problems(model: type[BaseModel], data: dict, file: str, label: str, lines: tuple[int, dict[str, int]] | None,
                    unless_missing: Iterable[str] = ()) -> tuple[BaseModel | None, list[ConfigProblem]]:
    """The model, or every field that is wrong (but the `unless_missing` ones when missing), each with the bad
    value, its fix and its line."""
    try:
        return model(**data), []
    except ValidationError as exc:
        where, keys = lines or (None, {})
        return None, [ConfigProblem(file=file, line=keys.get(str(err["loc"][0]), where) if err["loc"] else where,
                                    message=f"{label}: {_explained(err, model)}") for err in exc.errors()
                      if not (err["type"] == "missing" and err["loc"] and err["loc"][0] in unless_missing)]


def _explained(error: dict, model: type[BaseModel]) -> str:
    """A pydantic error as an operator reads it: the setting, the value found, and what to put instead."""
    setting = ".".join(str(p) for p in error["loc"])
    value, kind, message = error.get("input"), error["type"], error["msg"]
    if kind == "missing" and setting == "base_url":
        return ("base_url: missing; add the API's address (https://...): SYNC_SIMULATOR_URL re-points a base_url, "
                "it does not stand in for one")
    if kind == "missing":
        return f"{setting}: missing; add it to the entry"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", error["ctx"]["expected"])
        return f"{setting}: {value!r} is not one of {', '.join(choices)}"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(setting, list(model.model_fields), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "remove it or correct its spelling"
        return f"{setting}: not a setting of {'a channel' if model is ChannelConfig else 'this section'}; {hint}"
    if kind == "value_error":
        text = message.removeprefix("Value error, ")
        return f"{setting}: {text}" if setting and not text.startswith(f"{setting}:") else text
    return f"{setting}: {value!r}: {message[0].lower()}{message[1:]}"


FILE_LEVEL = "; every channel is stopped until the file is fixed"


def _read(raw, source: str, simulator_url: str | None, lines: Lines):
    """(settings for PipelineConfig, disabled entries, file-level problems): each entry is judged on its own."""
    def file_problem(message: str, line: int | None = None) -> ConfigProblem:
        return ConfigProblem(file=source, line=line, message=message + FILE_LEVEL)

    if not isinstance(raw, dict) or not isinstance(raw.get("channels"), list):
        return None, [], [file_problem("expected a mapping with a 'channels' list")]
    channels, disabled, problems = [], [], []
    warehouse, warehouse_problems = raw.get("warehouse"), []
    if warehouse is not None and not isinstance(warehouse, dict):
        warehouse, warehouse_problems = None, [file_problem(
            "warehouse must be a mapping with base_url and credentials", lines.warehouse and lines.warehouse[0])]
    elif warehouse is not None:
        warehouse, found = _field_problems(WarehouseConfig, warehouse, source, "warehouse", lines.warehouse)
        warehouse_problems = [file_problem(
            f"{p.message} (the warehouse serves every channel)", p.line) for p in found]
        if warehouse is not None and simulator_url:
            warehouse = warehouse.model_copy(update={"base_url": f"{simulator_url.rstrip('/')}/{warehouse.name}"})
    # The 3PL's calls are logged in api_calls under its name, so no channel may share it (nor, without a
    # warehouse section, the name one would get by default).
    section, reserved = raw.get("warehouse"), WarehouseConfig.model_fields["name"].default
    if warehouse is not None:
        reserved = warehouse.name
    elif isinstance(section, dict) and isinstance(section.get("name"), str):
        reserved = section["name"]
    for index, entry in enumerate(raw["channels"]):
        entry_lines = lines.channels.get(index)
        name = entry.get("name") if isinstance(entry, dict) and isinstance(entry.get("name"), str) else None
        label = f"channel {name!r} (channels[{index}])" if name is not None else f"channels[{index}] (no readable name)"
        if not isinstance(entry, dict):
            found = [ConfigProblem(file=source, line=entry_lines and entry_lines[0],
                                   message=f"{label}: must be a mapping of settings (name, type, base_url, ...)")]
        else:
            # With a wrong type, the settings its defaults would give are missing: the type is the one problem.
            channel, found = _field_problems(
                ChannelConfig, {**TYPE_DEFAULTS.get(entry.get("type"), {}), **entry}, source, label, entry_lines,
                unless_missing=() if entry.get("type") in TYPE_DEFAULTS else TYPE_DEFAULTS["shopify"])
            if channel is not None and channel.name == reserved:
                found = [ConfigProblem(file=source, line=entry_lines and entry_lines[1].get("name", entry_lines[0]),
                                       message=f"{label}: name: the name {reserved!r} is reserved for the warehouse, "
                                               "whose API calls are logged under it in api_calls; rename the channel")]
        if found:
            disabled.append(DisabledChannel(index=index, name=name, problems=tuple(found)))
        else:
            channels.append(_simulated(channel, simulator_url) if simulator_url else channel)
    names = [c.name for c in channels] + [d.name for d in disabled if d.name is not None]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(file_problem(f"channel names must be unique; repeated: {', '.join(duplicates)}"))
    problems += warehouse_problems
    settings = {"partitions_start_date": raw.get("partitions_start_date", "2025-01-01"), "channels": channels,
                "warehouse": warehouse, "disabled": disabled}
    try:
        PipelineConfig(**settings)
    except ValidationError as exc:
        problems += [file_problem(_explained(err, PipelineConfig), lines.top.get(str(err["loc"][0])) if err["loc"]
                                  else None) for err in exc.errors()]
    return settings, disabled, problems


def read_config(raw, source: str, simulator_url: str | None = None, lines: Lines | None = None) -> PipelineConfig:
    """The settings; a bad channel entry is disabled (`PipelineConfig.disabled`) and the others go on. A problem of
    the whole file (no channels list, repeated names, a bad warehouse section) raises ConfigError."""
    settings, _, problems = _read(raw, source, simulator_url, lines or Lines())
    if problems:
        raise ConfigError("; ".join(str(p).removesuffix(FILE_LEVEL) for p in problems) + FILE_LEVEL)
    return PipelineConfig(**settings)


def parse_config(raw: dict, source: str, simulator_url: str | None = None) -> PipelineConfig:
    """Strict: for documents the program writes itself (the demo's, a benchmark's), where any bad entry is a bug."""
    config = read_config(raw, source, simulator_url)
    if config.disabled:
        raise ConfigError("; ".join(d.error for d in config.disabled))
    return config


def channels_file() -> Path:
    return Path(os.environ.get("SYNC_CHANNELS_FILE", DATA_DIR / "channels.yaml"))


def _load(path: str | Path | None):
    """(path, the document, its lines); a file that cannot be read or parsed raises ConfigError."""
    path = Path(path) if path else channels_file()
    try:
        loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
        try:
            root = loader.get_single_node()
            raw = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; set SYNC_CHANNELS_FILE or create data/channels.yaml") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}{FILE_LEVEL}") from None
    return path, raw, Lines.of(root)


def load_config(path: str | Path | None = None, simulator_url: str | None = None) -> PipelineConfig:
    """Load channels.yaml; `simulator_url` (or SYNC_SIMULATOR_URL) re-points every channel at the simulator."""
    path, raw, lines = _load(path)
    return read_config(raw, str(path), simulator_url or os.environ.get("SYNC_SIMULATOR_URL"), lines)


def configuration_problems(path: str | Path | None = None) -> list[str]:
    """Every problem of channels.yaml, the map files and status_map.yaml at once, each by file and 1-based line
    (`sync-pipeline validate`, and the configuration check in the UI)."""
    from sync_pipeline.fulfilment.map_files import map_file_problems  # it reads the channels from here

    try:
        path, raw, lines = _load(path)
    except ConfigError as exc:
        return [str(exc), *(str(p) for p in map_file_problems(None))]
    settings, disabled, problems = _read(raw, str(path), None, lines)
    entries = [f"{p}{DISABLED}" for d in disabled for p in d.problems]
    channels = settings["channels"] if settings and not problems else None
    found = [str(p) for p in map_file_problems(channels, [d.name for d in disabled if d.name])]
    return [*(str(p) for p in problems), *entries, *found]
