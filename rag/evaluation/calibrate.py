"""Refit the extractive answerer's abstention model on fit data.

    python -m rag.evaluation.calibrate \
        --set eval/out/cmrc_split/fit.jsonl eval/out/cmrc_index eval/out/cmrc_split/corpus \
        --set eval/qa_seeds.jsonl eval/out/seeds_index seeds \
        --out rag/answerers/calibration.json

Each ``--set QA_FILE INDEX_DIR CORPUS_DIR`` is asked through ``RAG.retrieve`` exactly as
``rag ask`` does. Three models are fitted in the order the data flows: the passage reranker
(``rag.evaluation.fit_rerank``, written to ``--rerank-out``), then, on the reranked passages,
the answerer's sentence ranker and its abstention decision: the answerer's signals for every
question, labelled answerable or not, fit the logistic regression and its threshold (at most
5% wrong abstentions over the answerable questions of each fit set). ``--only rerank`` or
``--only answerer`` fits one part and leaves the other's files as they are; ``--only ranker``
fits the sentence ranker alone and keeps the abstention model of ``--out``; ``--only
abstention`` fits the abstention model alone, over the sentences the shipped ranker
(``--ranking-out``) chooses, so the two can be fitted on different sets. A file named
``report*.jsonl`` (a report half) or ``qa_readers.jsonl`` is refused: report data is never
fitted on.
``--semantic`` (with ``--only abstention``) fits the model that also weighs the meaning
signals (``rag.answerers.semantic``) and writes it to ``calibration_semantic.json``.
``--dry-run`` prints the figures without writing; ``--only abstention --leave-one-out``
prints each set's figures under a model fitted on the other sets (how the fit carries to
questions it was not fitted on) and writes nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answerers.abstention import (
    CALIBRATION_FILE,
    RANKING_FILE,
    SEMANTIC_CALIBRATION_FILE,
    load_calibration,
)
from rag.answerers.extractive import ExtractiveAnswerer
from rag.evaluation.dataset import QAItem, load_qa
from rag.evaluation.fit_answerer import (
    Case,
    balance,
    collect,
    fit_abstention,
    fit_ranker,
    leave_one_out,
    score_cases,
)
from rag.evaluation.fit_rerank import RerankRows, fit_reranker, hit_at_1
from rag.rerank import RERANK_FILE, Reranker

if TYPE_CHECKING:
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

# The frozen sets that are only reported on (besides any report half, ``report*.jsonl``).
REPORT_SETS = ("qa_readers.jsonl",)


def fit_reranker_on(sets: Sequence[tuple[RAG, list[QAItem], str]], l2: float, command: str
                    ) -> Reranker:
    """The passage reranker fitted on ``sets``; prints each set's hit@1 before and after."""
    data = RerankRows()
    for rag, items, source in sets:
        data.add(rag, items, source)
    reranker = fit_reranker(data, balance(data.sources, data.groups), l2=l2, command=command)
    for _, _, source in sets:
        before, after = hit_at_1(None, data, source), hit_at_1(reranker, data, source)
        print(source, "hit@1 of questions with a hit in the candidates: fused "
              f"{before:.3f} -> reranked {after:.3f}")
    return reranker


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag.evaluation.calibrate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", nargs=3, action="append", required=True,
                        metavar=("QA_FILE", "INDEX_DIR", "CORPUS_DIR"))
    parser.add_argument("--only", choices=("rerank", "answerer", "ranker", "abstention"),
                        default=None,
                        help="fit only the passage reranker; or only the answerer's sentence "
                        "ranker and abstention (on passages as RAG_RERANK retrieves them); or "
                        "only the sentence ranker, keeping the abstention model; or only the "
                        "abstention model, keeping the sentence ranker")
    parser.add_argument("--out", default=None, help="the abstention model's file (default: "
                        "calibration.json, or calibration_semantic.json with --semantic)")
    parser.add_argument("--semantic", action="store_true",
                        help="with --only abstention: fit the model with the meaning signals")
    parser.add_argument("--ranking-out", default=str(RANKING_FILE))
    parser.add_argument("--rerank-out", default=str(RERANK_FILE))
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--leave-one-out", action="store_true",
                        help="with --only abstention: print each set's figures under a model "
                        "fitted on the other sets, and write nothing")
    return parser


def _open_sets(args: argparse.Namespace) -> list[tuple[RAG, list[QAItem], str]] | None:
    """Each ``--set`` opened; None (and a message) when one is report data."""
    from rag.pipeline import RAG

    sets = []
    for qa_file, index, corpus in args.set:
        if Path(qa_file).name.startswith("report") or Path(qa_file).name in REPORT_SETS:
            print(f"error: {qa_file} is a report set; fit only on fit data", file=sys.stderr)
            return None
        rag = RAG(index_dir=Path(index), corpus_dir=Path(corpus), top_k=args.top_k)
        sets.append((rag, load_qa(qa_file), qa_file))
    return sets


def _fit_answerer(args: argparse.Namespace, cases: list[Case], command: str
                  ) -> list[tuple[str, str]]:
    """The answerer's files ``--only`` asks for (path, JSON), each set's figures printed."""
    ranker = (load_calibration(args.ranking_out) if args.only == "abstention" else
              fit_ranker(cases, l2=args.l2, command=command))
    if args.leave_one_out:
        for source, figures in leave_one_out(cases, ranker, l2=args.l2,
                                             semantic=args.semantic).items():
            print("left out:", source, figures)
        return []
    calibration = (load_calibration(args.out) if args.only == "ranker" else
                   fit_abstention(cases, ranker, l2=args.l2, command=command,
                                  semantic=args.semantic))
    answerer = ExtractiveAnswerer(calibration, ranker, semantic=args.semantic)
    for source in sorted({c.source for c in cases}):
        print(source, score_cases(answerer, [c for c in cases if c.source == source]))
    print("all", score_cases(answerer, cases))
    written = []
    if args.only != "ranker":
        written.append((args.out, calibration.to_json()))
    if args.only != "abstention":
        written.append((args.ranking_out, ranker.to_json()))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.leave_one_out or args.semantic) and args.only != "abstention":
        parser.error("--leave-one-out and --semantic need --only abstention")
    args.out = args.out or str(SEMANTIC_CALIBRATION_FILE if args.semantic else CALIBRATION_FILE)
    logging.basicConfig(level=logging.WARNING)
    command = "python -m rag.evaluation.calibrate " + " ".join(
        [f"--set {' '.join(t)}" for t in args.set] + ([f"--only {args.only}"] if args.only else [])
        + (["--semantic"] if args.semantic else []))
    sets = _open_sets(args)
    if sets is None:
        return 2
    written: list[tuple[str, str]] = []
    if args.only not in ("answerer", "ranker", "abstention"):
        reranker = fit_reranker_on(sets, args.l2, command)
        written.append((args.rerank_out, reranker.model.to_json()))
        for rag, _, _ in sets:
            rag._live().retriever.reranker = reranker
    if args.only != "rerank":
        cases = [c for rag, items, source in sets for c in collect(rag, items, source, args.top_k)]
        written += _fit_answerer(args, cases, command)
    for path, text in written:
        print(text)
        if not args.dry_run:
            Path(path).write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
