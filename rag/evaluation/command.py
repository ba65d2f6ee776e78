"""``rag eval``: run the evaluation, write and print the report (the CLI parses the arguments).

``rag eval [QA_FILE] [--index DIR] [--llm NAME] [--out DIR]`` scores a JSONL Q&A set (default
``eval/qa_seeds.jsonl``) over the index the other commands use; a SQuAD-style ``.json`` file is
converted to ``<out>/squad_corpus`` + ``<out>/qa.jsonl`` and evaluated over its own index in
``<out>/index``. ``rag eval --compare A/report.json B/report.json`` prints every metric's change.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.evaluation.dataset import convert_squad, load_qa, read_squad
from rag.evaluation.report import (
    compare_reports,
    format_compare,
    format_table,
    load_report,
    write_reports,
)
from rag.evaluation.runner import evaluate
from rag.evaluation.split import split_squad
from rag.paths import project_path

if TYPE_CHECKING:
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

DEFAULT_QA = "eval/qa_seeds.jsonl"
DEFAULT_OUT = "eval/out"


def default_out() -> Path:
    """``eval/out`` beside the ``eval/`` folder in use (the CWD's, else the project's)."""
    return project_path("eval") / "out"


def _squad_rag(corpus: Path, out: Path, index: str | None, given_corpus: str | None,
               overrides: dict[str, Any]) -> RAG:
    from rag.pipeline import RAG

    if given_corpus:
        log.warning("--corpus is ignored for a SQuAD file: its contexts are the corpus")
    return RAG(index_dir=Path(index) if index else out / "index", corpus_dir=corpus,
               progress=True, **overrides)


def compare(paths: list[str]) -> int:
    """Print every metric of two reports side by side; 2 for a report that cannot be read."""
    try:
        a, b = (load_report(p) for p in paths)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_compare(compare_reports(a, b), paths[0], paths[1]))
    return 0


def run(qa_file: str | None = None, *, out: str | None = None, index: str | None = None,
        corpus: str | None = None, overrides: dict[str, Any] | None = None,
        split: str | None = None, seed: int = 13, holdout: float = 0.15,
        default_rag: Callable[[], RAG]) -> int:
    """Run ``rag eval``; returns the exit status (2 for a bad Q&A file or report).

    ``default_rag`` makes the RAG for a JSONL set; a SQuAD file gets its own index under
    ``out`` (or ``index``) built with ``overrides``. With ``split`` ("fit" or "report") a
    SQuAD file is first split by article (``rag.evaluation.split``, ``seed``, ``holdout``
    share of articles left out of the corpus) and that half's questions are asked.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    qa_path = Path(qa_file) if qa_file else project_path(DEFAULT_QA)
    out_dir = Path(out) if out else default_out()
    try:
        if split is not None:
            paths = split_squad(qa_path, out_dir / "split", seed=seed, holdout_share=holdout)
            print(f"split {qa_path} (seed {seed}) -> {paths.corpus}; asking the {split} half",
                  file=sys.stderr)
            qa_path = paths.fit if split == "fit" else paths.report
            items = load_qa(qa_path)
            rag = _squad_rag(paths.corpus, out_dir, index, corpus, overrides)
        elif read_squad(qa_path) is not None:
            squad_corpus, converted = convert_squad(qa_path, out_dir)
            print(f"converted {qa_path} -> {squad_corpus} + {converted}", file=sys.stderr)
            items = load_qa(converted)
            rag = _squad_rag(squad_corpus, out_dir, index, corpus, overrides)
        else:
            items, rag = load_qa(qa_path), default_rag()
    except ValueError as exc:  # DatasetError, a bad setting
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report, records = evaluate(rag, items, overrides.get("top_k"), llm=overrides.get("llm"),
                               progress=True, source=str(qa_path))
    paths = write_reports(report, records, out_dir)
    print(format_table(report))
    print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0
