"""``rag eval``: parse the arguments, run the evaluation, write and print the report.

``rag eval [QA_FILE] [--index DIR] [--llm NAME] [--out DIR]`` scores a JSONL Q&A set (default
``eval/qa_seeds.jsonl``) over the index the other commands use; a SQuAD-style ``.json`` file is
converted to ``<out>/squad_corpus`` + ``<out>/qa.jsonl`` and evaluated over its own index in
``<out>/index``. ``rag eval --compare A/report.json B/report.json`` prints every metric's change.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rag.evaluation.dataset import QAItem, convert_squad, load_qa, read_squad
from rag.evaluation.report import (
    compare_reports,
    format_compare,
    format_table,
    load_report,
    write_reports,
)
from rag.evaluation.runner import evaluate
from rag.paths import project_path

if TYPE_CHECKING:
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

DEFAULT_QA = "eval/qa_seeds.jsonl"
DEFAULT_OUT = "eval/out"


def default_out() -> Path:
    """``eval/out`` beside the ``eval/`` folder in use (the CWD's, else the project's)."""
    return project_path("eval") / "out"


def _squad_rag(args: argparse.Namespace, corpus: Path, out: Path) -> RAG:
    from rag.pipeline import RAG

    if getattr(args, "corpus", None):
        log.warning("--corpus is ignored for a SQuAD file: its contexts are the corpus")
    index = Path(args.index) if args.index else out / "index"
    return RAG(index_dir=index, corpus_dir=corpus, progress=True,
               top_k=getattr(args, "top_k", None), llm=getattr(args, "llm", None))


def _load(args: argparse.Namespace, qa_file: Path, out: Path,
          rag_factory: Callable[[], RAG]) -> tuple[list[QAItem], RAG]:
    if read_squad(qa_file) is not None:
        corpus, qa_path = convert_squad(qa_file, out)
        print(f"converted {qa_file} -> {corpus} + {qa_path}", file=sys.stderr)
        return load_qa(qa_path), _squad_rag(args, corpus, out)
    return load_qa(qa_file), rag_factory()


def compare(paths: list[str]) -> int:
    a, b = (load_report(p) for p in paths)
    print(format_compare(compare_reports(a, b), paths[0], paths[1]))
    return 0


def run(args: argparse.Namespace, rag_factory: Callable[[], RAG]) -> int:
    """Run ``rag eval``; returns the exit status (2 for a bad Q&A file or report)."""
    try:
        if getattr(args, "compare", None):
            return compare(args.compare)
        qa_file = Path(args.qa_file) if args.qa_file else project_path(DEFAULT_QA)
        out = Path(args.out) if args.out else default_out()
        items, rag = _load(args, qa_file, out, rag_factory)
    except ValueError as exc:  # DatasetError, a bad report, a bad setting
        print(f"error: {exc}", file=sys.stderr)
        return 2
    llm = getattr(args, "llm", None)
    report, records = evaluate(rag, items, getattr(args, "top_k", None), llm=llm, progress=True,
                               source=str(qa_file))
    paths = write_reports(report, records, out)
    print(format_table(report))
    print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0
