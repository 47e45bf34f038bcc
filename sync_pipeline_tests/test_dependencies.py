"""Every third-party package the code imports is declared in pyproject.toml: the pipeline's own imports in
[project.dependencies] (what `pip install .` brings), the tests' there or in the `test` extra. A package that
only arrives as some other package's dependency can vanish with that package's next release."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"sync_pipeline", "sync_pipeline_tests"}


def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()  # PEP 503


def _declared() -> tuple[set[str], set[str]]:
    """Distribution names of [project.dependencies] and of [project.optional-dependencies].test."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {_normalized(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r).group(1)) for r in requirements}

    return names(project["dependencies"]), names(project.get("optional-dependencies", {}).get("test", []))


def _imports(path: Path) -> dict[str, int]:
    """Top-level module names a file imports (absolute imports only), with the first line of each."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


def undeclared_imports(files: dict[str, list[Path]], runtime: set[str], test: set[str]) -> list[str]:
    """One line per third-party import not declared where its file needs it."""
    distributions = importlib.metadata.packages_distributions()
    allowed = {"sync_pipeline": runtime, "sync_pipeline_tests": runtime | test}
    problems = []
    for package, paths in files.items():
        for path in paths:
            for module, line in sorted(_imports(path).items()):
                if module in sys.stdlib_module_names or module in FIRST_PARTY:
                    continue
                where = f"{path.relative_to(ROOT)}:{line} imports {module}"
                candidates = {_normalized(d) for d in distributions.get(module, [])}
                if not candidates:
                    problems.append(f"{where}, which no installed distribution provides: add it to pyproject.toml")
                elif not candidates & allowed[package]:
                    section = "[project.dependencies]" if package == "sync_pipeline" else "[project.optional-dependencies].test"
                    problems.append(f"{where} (distribution {' or '.join(sorted(candidates))}), not declared in {section}")
    return problems


def _python_files() -> dict[str, list[Path]]:
    return {package: sorted((ROOT / package).rglob("*.py")) for package in ("sync_pipeline", "sync_pipeline_tests")}


def test_every_third_party_import_is_declared_in_pyproject():
    files = _python_files()
    assert len(files["sync_pipeline"]) > 20 and len(files["sync_pipeline_tests"]) > 10
    runtime, test = _declared()
    assert not undeclared_imports(files, runtime, test), "\n".join(undeclared_imports(files, runtime, test))


def test_the_check_sees_an_undeclared_import(tmp_path, monkeypatch):
    """The scan itself: numpy and dateutil undeclared, a test-only package in the pipeline, all named."""
    runtime, test = _declared()
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "sync_pipeline").mkdir()
    (tmp_path / "sync_pipeline_tests").mkdir()
    code = tmp_path / "sync_pipeline" / "x.py"
    code.write_text("import os\nimport numpy as np\nfrom dateutil import parser\nimport pytest\nfrom . import y\n", encoding="utf-8")
    tests = tmp_path / "sync_pipeline_tests" / "test_x.py"
    tests.write_text("import pytest\nfrom sync_pipeline import x\nimport no_such_module_anywhere\n", encoding="utf-8")
    problems = undeclared_imports(
        {"sync_pipeline": [code], "sync_pipeline_tests": [tests]}, runtime - {"numpy", "python-dateutil"}, test
    )
    assert problems == [
        "sync_pipeline/x.py:3 imports dateutil (distribution python-dateutil), not declared in [project.dependencies]",
        "sync_pipeline/x.py:2 imports numpy (distribution numpy), not declared in [project.dependencies]",
        "sync_pipeline/x.py:4 imports pytest (distribution pytest), not declared in [project.dependencies]",
        "sync_pipeline_tests/test_x.py:3 imports no_such_module_anywhere, which no installed distribution provides: "
        "add it to pyproject.toml",
    ]
