"""data/status_map.yaml: channel status -> canonical status, per type with per-channel overrides."""

from pathlib import Path

import yaml

from sync_pipeline.config import DATA_DIR, ChannelConfig, ConfigError

CANONICAL_STATUSES = {
    "placed", "paid", "processing", "on_hold", "shipped", "delivered", "cancelled", "refunded", "failed",
}


def status_map_file() -> Path:
    return DATA_DIR / "status_map.yaml"


def load_status_map(channel: ChannelConfig, path: Path | None = None) -> dict[str, str]:
    path = path or status_map_file()
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    merged = {
        **(document.get("types") or {}).get(channel.type, {}),
        **(document.get("channels") or {}).get(channel.name, {}),
    }
    unknown = sorted({v for v in merged.values() if v not in CANONICAL_STATUSES})
    if unknown:
        raise ConfigError(
            f"{path}: {channel.name!r} maps to unknown canonical status(es) {', '.join(unknown)}; "
            f"use one of {', '.join(sorted(CANONICAL_STATUSES))}"
        )
    return {str(k): v for k, v in merged.items()}
