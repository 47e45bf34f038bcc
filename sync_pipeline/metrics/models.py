"""The SQL models of `dbt_like_sql/`, read as dbt reads them: one SELECT per `.sql` file naming other models with
`{{ ref('name') }}` and the pipeline's tables with `{{ source('sync', 'table') }}`; YAML beside them giving
descriptions and tests (`not_null`, `unique`, `accepted_values`, `relationships`, and dbt_utils'
`unique_combination_of_columns`; their arguments beside `config:` or, as dbt >= 1.10 writes them, under `arguments:`;
`config:` may give `severity` and `where`). Every mistake in the folder is reported with its file (and line where
there is one) and the fix, all at once, before anything runs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import jinja2
import yaml

from sync_pipeline.config import PROJECT_ROOT

MODELS_DIR = Path(os.environ.get("SYNC_SQL_MODELS_DIR", PROJECT_ROOT / "dbt_like_sql"))
LAYERS = ("staging", "marts")  # the folders models live in, in the order they build
TESTS = ("not_null", "unique", "accepted_values", "relationships", "unique_combination_of_columns")
SEVERITIES = ("error", "warn")  # dbt's, for a failing test: a failed check of severity ERROR or WARN
TEST_CONFIGS = ("severity", "where")


class ModelError(ValueError):
    """What is wrong in the models folder: every problem found, each with where it is and how to fix it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Source:
    """A pipeline table the models read, and the assets that write it (`meta.written_by`)."""

    name: str
    description: str
    written_by: tuple[str, ...]


@dataclass(frozen=True)
class DataTest:
    """One YAML test: `kind` on `column` (or on the model, for unique_combination_of_columns), over the model's rows
    that `where` selects (all when None)."""

    kind: str
    model: str
    column: str | None
    arguments: dict
    severity: str = "error"
    where: str | None = None

    @property
    def name(self) -> str:
        """dbt's name for it, which is also its asset check's: `not_null_<model>_<column>`."""
        target = "__".join(self.arguments["combination_of_columns"]) if self.column is None else self.column
        return f"{self.kind}_{self.model}_{target}"

    @property
    def description(self) -> str:
        """Its asset check's description."""
        target = self.column or ", ".join(self.arguments["combination_of_columns"])
        if self.kind == "relationships":
            target += f" -> {self.arguments['to']}.{self.arguments['field']}"
        return f"dbt test {self.kind} on {target}" + (f" where {self.where}" if self.where else "")

    def failing_rows_sql(self) -> str:
        """A SELECT of the rows that break the test (in the models' Postgres SQL): none means it passes."""
        column, model = self.column, self.model
        # The rows tested, under the model's own name, so the queries below read the same with `where` or without.
        table = model if self.where is None else f"(SELECT * FROM {model} WHERE {self.where}) AS {model}"
        if self.kind == "not_null":
            return f"SELECT * FROM {table} WHERE {column} IS NULL"
        if self.kind == "unique":
            return f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL GROUP BY {column} HAVING COUNT(*) > 1"
        if self.kind == "accepted_values":
            values = ", ".join(_literal(v) for v in self.arguments["values"])
            return f"SELECT * FROM {table} WHERE {column} IS NOT NULL AND {column} NOT IN ({values})"
        if self.kind == "relationships":
            parent, parent_column = self.arguments["to"], self.arguments["field"]
            return (f"SELECT {model}.{column} FROM {table} LEFT JOIN {parent} AS parent "
                    f"ON {model}.{column} = parent.{parent_column} "
                    f"WHERE {model}.{column} IS NOT NULL AND parent.{parent_column} IS NULL")
        columns = ", ".join(self.arguments["combination_of_columns"])
        return f"SELECT {columns} FROM {table} GROUP BY {columns} HAVING COUNT(*) > 1"


@dataclass
class Model:
    """One `.sql` file: its SELECT as written, what it reads, and its YAML."""

    name: str
    path: Path
    layer: str
    template: str
    refs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # name -> description
    tests: list[DataTest] = field(default_factory=list)

    @property
    def tested_against(self) -> tuple[str, ...]:
        """The models its relationships tests compare it with."""
        return tuple(dict.fromkeys(t.arguments["to"] for t in self.tests if t.kind == "relationships"))


@dataclass
class SqlProject:
    """Every model and source, in build order."""

    directory: Path
    models: dict[str, Model]
    sources: dict[str, Source]

    def build_order(self) -> list[str]:
        """Refs first, and the models a relationships test compares with before the model tested, so its check reads
        them as built in the same run."""
        return list(TopologicalSorter({name: (*m.refs, *m.tested_against)
                                       for name, m in self.models.items()}).static_order())

    def select_sql(self, name: str) -> str:
        """The model's SELECT with its refs and sources resolved to table names (still in Postgres SQL)."""
        model = self.models[name]
        environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        return environment.from_string(model.template).render(
            ref=lambda other: other, source=lambda _source, table: table).strip().rstrip(";")


def load_project(directory: Path = MODELS_DIR) -> SqlProject:
    """Reads the folder; raises ModelError naming every problem in it."""
    problems: list[str] = []
    sources = _load_sources(directory / "sources.yml", problems)
    models: dict[str, Model] = {}
    for layer in LAYERS:
        for path in sorted((directory / layer).glob("*.sql")):
            if path.stem in models:
                problems.append(f"{path}: a model named {path.stem!r} is already in {models[path.stem].path}: "
                                "rename one file (model names are table names, so they must be unique)")
                continue
            models[path.stem] = _read_model(path, layer, sources, problems)
    if not models:
        problems.append(f"{directory}: no models found: put SELECT statements in {' or '.join(LAYERS)}/<name>.sql")
    for layer in LAYERS:
        for path in sorted((directory / layer).glob("*.yml")):
            _read_properties(path, models, problems)
    for model in models.values():
        for other in model.refs:
            if other not in models:
                problems.append(f"{model.path}: ref({other!r}) names no model: known models are "
                                f"{', '.join(sorted(models))}")
        for other in model.tested_against:
            if other not in models:
                problems.append(f"{model.name}: a relationships test's ref({other!r}) names no model: known models "
                                f"are {', '.join(sorted(models))}")
    project = SqlProject(directory, models, sources)
    if not problems:
        try:
            project.build_order()
        except CycleError as cycle:
            problems.append(f"{directory}: models refer to each other in a circle ({' -> '.join(cycle.args[1])}): "
                            "a model may only ref models that do not ref it back")
    if problems:
        raise ModelError(problems)
    return project


def _load_sources(path: Path, problems: list[str]) -> dict[str, Source]:
    document = _yaml(path, problems)
    sources: dict[str, Source] = {}
    for source in document.get("sources") or []:
        if source.get("name") != "sync":
            problems.append(f"{path}: source {source.get('name')!r}: the models read one source, 'sync' (the "
                            "pipeline's own tables)")
            continue
        for table in source.get("tables") or []:
            written_by = (table.get("meta") or {}).get("written_by") or []
            sources[table["name"]] = Source(table["name"], table.get("description", ""), tuple(written_by))
    return sources


def _read_model(path: Path, layer: str, sources: dict[str, Source], problems: list[str]) -> Model:
    template = path.read_text(encoding="utf-8")
    refs: list[str] = []
    read: list[str] = []

    def ref(name: str) -> str:
        refs.append(name)
        return name

    def source(source_name: str, table: str) -> str:
        if source_name != "sync" or table not in sources:
            problems.append(f"{path}: source({source_name!r}, {table!r}) is not declared: add the table under the "
                            "'sync' source in sources.yml")
        read.append(table)
        return table

    try:
        jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(ref=ref, source=source)
    except jinja2.TemplateSyntaxError as error:
        problems.append(f"{path}:{error.lineno}: {error.message}: write {{{{ ref('model') }}}} or "
                        "{{ source('sync', 'table') }}")
    except jinja2.UndefinedError as error:
        problems.append(f"{path}: {error.message}: the models know only ref() and source()")
    return Model(path.stem, path, layer, template, tuple(dict.fromkeys(refs)), tuple(dict.fromkeys(read)))


def _read_properties(path: Path, models: dict[str, Model], problems: list[str]) -> None:
    """A dbt properties file: each model's description, its columns' descriptions, and its tests."""
    for entry in _yaml(path, problems).get("models") or []:
        name = entry.get("name")
        model = models.get(name)
        if model is None:
            problems.append(f"{path}: model {name!r} has no .sql file: add {name}.sql or remove its entry")
            continue
        model.description = (entry.get("description") or "").strip()
        for test in entry.get("data_tests", entry.get("tests")) or []:
            _add_test(path, model, None, test, problems)
        for column in entry.get("columns") or []:
            model.columns[column["name"]] = (column.get("description") or "").strip()
            for test in column.get("data_tests", column.get("tests")) or []:
                _add_test(path, model, column["name"], test, problems)


def _add_test(path: Path, model: Model, column: str | None, test, problems: list[str]) -> None:
    kind, properties = (test, {}) if isinstance(test, str) else next(iter(test.items()))
    kind = kind.removeprefix("dbt_utils.")
    properties = dict(properties or {})
    config = dict(properties.pop("config", None) or {})
    arguments = {**(properties.pop("arguments", None) or {}), **properties}
    place = f"{path}: model {model.name}" + (f", column {column}" if column else "")
    if kind not in TESTS:
        problems.append(f"{place}: test {kind!r} is not one of {', '.join(TESTS)}")
        return
    unknown = sorted(set(config) - set(TEST_CONFIGS))
    if unknown:
        problems.append(f"{place}: {kind} config {', '.join(unknown)} is not supported: only {', '.join(TEST_CONFIGS)}")
        return
    severity = str(config.get("severity", "error")).lower()
    if severity not in SEVERITIES:
        problems.append(f"{place}: {kind} severity {config['severity']!r} is not one of {', '.join(SEVERITIES)}")
        return
    if (kind == "unique_combination_of_columns") != (column is None):
        problems.append(f"{place}: {kind} belongs " + ("under the model's data_tests" if column else "under a column"))
        return
    if kind == "accepted_values" and not arguments.get("values"):
        problems.append(f"{place}: accepted_values needs `values: [...]`")
        return
    if kind == "relationships":
        target = str(arguments.get("to", ""))
        if not target.startswith("ref(") or "field" not in arguments:
            problems.append(f"{place}: relationships needs `to: ref('model')` and `field: column`")
            return
        arguments["to"] = target.removeprefix("ref(").removesuffix(")").strip("'\"")
    if kind == "unique_combination_of_columns" and not arguments.get("combination_of_columns"):
        problems.append(f"{place}: unique_combination_of_columns needs `combination_of_columns: [...]`")
        return
    model.tests.append(DataTest(kind, model.name, column, arguments, severity, config.get("where")))


def _yaml(path: Path, problems: list[str]) -> dict:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        problems.append(f"{path}: missing: declare the pipeline tables the models read under `sources: - name: sync`")
        return {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problems.append(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML: {getattr(error, 'problem', error)}")
        return {}
    if not isinstance(document, dict):
        problems.append(f"{path}: expected a mapping with `version: 2` and `models:` or `sources:`")
        return {}
    return document


def _literal(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "'" + str(value).replace("'", "''") + "'"
    return str(value)
