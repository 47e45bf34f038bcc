"""data/status_map.yaml: channel status -> canonical status, per type with per-channel overrides.

Read through PyYAML's node tree so every problem names its YAML line; a problem under one type or channel stops
only the channels it could affect (a file that does not parse stops every channel)."""

from pathlib import Path

import yaml

from sync_pipeline.config import DATA_DIR, ChannelConfig, ConfigError
from sync_pipeline.fulfilment.map_files import MapProblem

CANONICAL_STATUSES = {
    "placed", "paid", "processing", "on_hold", "shipped", "delivered", "cancelled", "refunded", "failed",
}


def status_map_file() -> Path:
    return DATA_DIR / "status_map.yaml"


def read_status_map(
    path: Path, channel_names: set[str] | None = None
) -> tuple[dict[str, dict[str, dict[str, tuple[str, int]]]], list[MapProblem]]:
    """{"types"|"channels": {scope: {status: (canonical, line)}}} and the problems, each with its 1-based line;
    with `channel_names`, a `channels` entry naming none of them is a problem too."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return {}, [MapProblem(path, mark.line + 1 if mark else None,
                               f"not valid YAML: {getattr(exc, 'problem', None) or exc}; fix the line")]
    sections: dict = {"types": {}, "channels": {}}
    problems: list[MapProblem] = []
    if root is None:
        return sections, problems
    if not isinstance(root, yaml.MappingNode):
        return sections, [MapProblem(path, root.start_mark.line + 1, "expected a mapping with 'types' and 'channels'")]
    for key, section in root.value:
        line = key.start_mark.line + 1
        if key.value not in sections:
            problems.append(MapProblem(path, line, f"unknown section {key.value!r}; use 'types' or 'channels'"))
            continue
        if isinstance(section, yaml.ScalarNode) and section.value in ("", "~", "null"):
            continue
        if not isinstance(section, yaml.MappingNode):
            problems.append(MapProblem(path, line, f"{key.value} must map each name to its statuses"))
            continue
        for scope, statuses in section.value:
            if key.value == "channels" and channel_names is not None and scope.value not in channel_names:
                problems.append(MapProblem(path, scope.start_mark.line + 1, (
                    f"channels.{scope.value}: not a configured channel; channels: {', '.join(sorted(channel_names))}")))
            if isinstance(statuses, yaml.ScalarNode) and statuses.value in ("", "~", "null"):
                continue
            if not isinstance(statuses, yaml.MappingNode):
                problems.append(MapProblem(path, scope.start_mark.line + 1, (
                    f"{key.value}.{scope.value} must map each channel status to a canonical status"), scope.value))
                continue
            mapped = sections[key.value].setdefault(scope.value, {})
            for status, canonical in statuses.value:
                status_line = status.start_mark.line + 1
                value = canonical.value if isinstance(canonical, yaml.ScalarNode) else None
                if value not in CANONICAL_STATUSES:
                    problems.append(MapProblem(path, status_line, (
                        f"{key.value}.{scope.value}: {status.value!r} maps to {value!r}, not a canonical status; use "
                        f"one of {', '.join(sorted(CANONICAL_STATUSES))}"), scope.value))
                    continue
                mapped[str(status.value)] = (value, status_line)
    return sections, problems


def load_status_map(channel: ChannelConfig, path: Path | None = None) -> dict[str, str]:
    path = path or status_map_file()
    sections, problems = read_status_map(path)
    mine = [p for p in problems if p.affects(channel)]
    if mine:
        raise ConfigError(f"{channel.name}: " + "; ".join(str(p) for p in mine))
    merged = {**sections["types"].get(channel.type, {}), **sections["channels"].get(channel.name, {})}
    return {status: canonical for status, (canonical, _) in merged.items()}
