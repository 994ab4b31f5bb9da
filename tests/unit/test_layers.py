"""Every import in service/ points down the layers (issue #11): building blocks never
import what is built on them, so a change low down cannot be broken from above."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service"

# Lowest first. A module may import its own package and any package of a lower layer.
LAYERS = [
    {"service.observability"},  # request ids, logs, metrics, traces: reported to from anywhere
    {"service.settings", "service.errors", "service.domain", "service.lru"},
    {"service.text"},
    {"service.retrieval", "service.store", "service.shared"},
    {"service.grounding", "service.llm"},
    {"service.prompts"},
    {"service.pipeline"},
    {"service.api", "service.web"},
    {"service.app"},
    {"service.server"},
    {"service.cli"},
]


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def _layer(module: str) -> int:
    package = _package(module)
    for level, packages in enumerate(LAYERS):
        if package in packages:
            return level
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SERVICE.rglob("*.py")):
        parts = path.relative_to(SERVICE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name != "service":
            found.append((name, path))
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.startswith("service.")}


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_imports_point_down(module, path):
    own = _layer(module)
    for imported in _imports(path):
        if _package(imported) == _package(module):
            continue
        assert _layer(imported) < own, f"{module} imports {imported}, which is not below it"
