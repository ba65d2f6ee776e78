"""Every name a benchmark script imports from ``rag`` exists: the scripts are not run by the
suite (most take minutes), and two of them broke when a class they imported was replaced."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def _rag_imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) for ``from rag... import name``; (module, None) for ``import rag...``,
    at any depth of the script (most import inside their functions)."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rag":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names
                      if alias.name.split(".")[0] == "rag"]
    return found


def test_the_scripts_are_found():
    assert len(BENCHMARKS) > 15
    assert any(_rag_imports(p) for p in BENCHMARKS)


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_every_rag_name_a_benchmark_imports_exists(script):
    for module, name in _rag_imports(script):
        imported = importlib.import_module(module)
        if name is not None and not hasattr(imported, name):
            importlib.import_module(f"{module}.{name}")  # a submodule: raises if missing
