"""The shape of the ``automl`` package: few deferred imports, only the dependencies it imports."""

from __future__ import annotations

import ast
import inspect
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("automl", "searchspace", "pipelines")


def _imports_inside_functions(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            module = None
            if isinstance(inner, ast.ImportFrom) and inner.level == 0:
                module = inner.module
            elif isinstance(inner, ast.Import):
                module = inner.names[0].name
            if module and module.split(".")[0] in PROJECT_PACKAGES:
                found.append(f"{path.relative_to(ROOT)}:{inner.lineno} {module}")
    return sorted(set(found))


def test_at_most_three_project_imports_are_deferred_outside_the_cli():
    deferred = [
        hit
        for path in sorted((ROOT / "automl").rglob("*.py"))
        if "cli" not in path.relative_to(ROOT / "automl").parts
        for hit in _imports_inside_functions(path)
    ]
    assert len(deferred) <= 3, deferred


def test_runtime_dependencies_are_what_the_packages_import():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {
        dep.split(";")[0].split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower()
        for dep in project["dependencies"]
    }
    assert not {"keras-tuner", "tensorboard", "optuna-integration"} & names
    assert "keras-tuner==1.4.8" in project["optional-dependencies"]["bench"]


def test_every_public_name_is_what_its_module_defines_and_what_it_returns_is_public_too():
    import automl

    returned = set()
    for name in automl.__all__:
        obj = getattr(automl, name)
        assert (obj.__name__, obj.__module__.split(".")[0]) == (name, "automl"), name
        if inspect.isfunction(obj):
            namespace = vars(sys.modules[obj.__module__])
            words = re.findall(r"[A-Z]\w+", str(inspect.signature(obj).return_annotation))
            returned |= {w for w in words if getattr(namespace.get(w), "__module__", "").startswith("automl.")}
    # a caller can name (annotate, isinstance) what a public function hands back without a private import
    assert {"StudyRun", "ExportResult", "Exported", "FinalistsResult"} <= returned
    assert returned <= set(automl.__all__), returned - set(automl.__all__)
