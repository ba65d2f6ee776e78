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
``--dry-run`` prints the figures without writing.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rag.answerers.abstention import (
    CALIBRATION_FILE,
    RANKING_FILE,
    Calibration,
    fit_calibration,
    load_calibration,
)
from rag.answerers.base import Evidence
from rag.answerers.extractive import ExtractiveAnswerer
from rag.answerers.sentence_scoring import RANK_FEATURES, Scorer
from rag.answers_analysis import question_type
from rag.evaluation import metrics as m
from rag.evaluation.dataset import QAItem, load_qa
from rag.evaluation.fit_rerank import RerankRows, fit_reranker, hit_at_1
from rag.linear import MAX_WRONG_ABSTENTIONS, choose_threshold
from rag.rerank import RERANK_FILE, Reranker

if TYPE_CHECKING:
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

# The frozen sets that are only reported on (besides any report half, ``report*.jsonl``).
REPORT_SETS = ("qa_readers.jsonl",)


class Case(NamedTuple):
    """One question of a fit set with the evidence the answerer would get for it."""

    source: str
    item: QAItem
    evidence: Evidence


def collect(rag: RAG, items: Sequence[QAItem], source: str, top_k: int | None = None
            ) -> list[Case]:
    """Retrieve for every question once; the evidence is reused by every answerer variant."""
    from rag.pipeline import clean_question

    cases = []
    for item in items:
        question = clean_question(item.question)
        passages = rag.retrieve(question, top_k)
        cases.append(Case(source, item, rag.evidence(question, passages)))
    return cases


def score_cases(answerer: ExtractiveAnswerer, cases: Sequence[Case]) -> dict[str, Any]:
    """The headline figures of ``answerer`` on ``cases`` (as ``rag eval`` defines them)."""
    answerable = [c for c in cases if c.item.answerable]
    unanswerable = [c for c in cases if not c.item.answerable]
    contains = wrong = correct = cited = supported = 0
    chars: list[int] = []
    for case in cases:
        answer = answerer.answer(case.evidence)
        if not case.item.answerable:
            correct += answer.abstained
            continue
        if answer.abstained:
            wrong += 1
            continue
        text = m.strip_markers(answer.text)
        chars.append(len(text))
        for c in {(c.doc, c.paragraph): c for c in answer.citations}.values():
            cited += 1
            supported += m.contains_any(c.text, case.item.evidence)
        contains += m.contains_any(text, case.item.answers, m.normalise)
    return {
        "answerable": len(answerable), "unanswerable": len(unanswerable),
        "contains_gold": round(contains / max(len(answerable), 1), 3),
        "wrong_abstention": round(wrong / max(len(answerable), 1), 3),
        "correct_abstention": round(correct / max(len(unanswerable), 1), 3),
        "answer_chars": round(sum(chars) / max(len(chars), 1), 1),
        "citation_precision": round(supported / max(cited, 1), 3),
    }


def signal_rows(answerer: ExtractiveAnswerer, cases: Sequence[Case]
                ) -> tuple[list[dict[str, float]], list[bool], list[str]]:
    rows, labels, sources = [], [], []
    for case in cases:
        analysis = answerer.analyse(case.evidence) if case.evidence.passages else None
        if analysis is None or analysis.disjoint:  # the answerer abstains by rule
            continue
        rows.append(analysis.signals)
        labels.append(case.item.answerable)
        sources.append(case.source)
    return rows, labels, sources


def per_set_threshold(model: Calibration, rows: Sequence[dict[str, float]],
                      labels: Sequence[bool], sources: Sequence[str], max_wrong: float) -> float:
    """The lowest of each set's own threshold: at most ``max_wrong`` wrong abstentions on
    *every* fit set, not just on their pool (where the larger set would hide the smaller)."""
    p = np.array([model.probability(r) for r in rows])
    y = np.array(labels)
    src = np.array(sources)
    return min(choose_threshold(p[src == s], y[src == s], max_wrong) for s in sorted(set(sources)))


def balance(sources: Sequence[str], per: Sequence[int] | None = None) -> list[float]:
    """Row weights giving every fit set the same total weight (per question when ``per``
    names each row's question): 71 seed questions must not drown in 481 CMRC ones, since
    reader questions on the seeds resemble them and not CMRC."""
    keys = list(per) if per is not None else list(range(len(sources)))
    questions: dict[str, set[int]] = {}
    for source, key in zip(sources, keys, strict=True):
        questions.setdefault(source, set()).add(key)
    rows_per_key: dict[int, int] = {}
    for key in keys:
        rows_per_key[key] = rows_per_key.get(key, 0) + 1
    return [1.0 / len(questions[s]) / (rows_per_key[k] if per is None else 1)
            for s, k in zip(sources, keys, strict=True)]


def ranking_rows(answerer: ExtractiveAnswerer, cases: Sequence[Case]
                 ) -> tuple[list[dict[str, float]], list[bool], list[int]]:
    """Every candidate sentence of answerable questions, labelled: does it hold a gold answer?

    Questions none of whose sentences holds one (retrieval missed) teach nothing and are left
    out.
    """
    rows, labels, groups = [], [], []
    for n, case in enumerate(cases):
        if not case.item.answerable or not case.evidence.passages:
            continue
        ev = case.evidence
        found = [(s.features, m.contains_any(s.text, case.item.answers, m.normalise))
                 for s in answerer._candidates(ev, Scorer(ev), question_type(ev.question))]
        if any(label for _, label in found):
            rows.extend(f for f, _ in found)
            labels.extend(label for _, label in found)
            groups.extend([n] * len(found))
    return rows, labels, groups


def _command(cases: Sequence[Case], command: str) -> str:
    return command or "python -m rag.evaluation.calibrate " + " ".join(
        f"--set {s}" for s in sorted({c.source for c in cases}))


def fit_ranker(cases: Sequence[Case], *, l2: float = 1.0, command: str = "") -> Calibration:
    """The sentence ranker fitted on ``cases``."""
    rows, labels, groups = ranking_rows(ExtractiveAnswerer(), cases)
    weights = balance([cases[g].source for g in groups], groups)
    return fit_calibration(rows, labels, features=RANK_FEATURES, l2=l2, groups=groups,
                           weights=weights, fitted_on={
        "sets": sorted({c.source for c in cases}), "rows": len(rows), "positive": sum(labels),
        "l2": l2, "command": _command(cases, command)})


def fit_abstention(cases: Sequence[Case], ranker: Calibration, *, l2: float = 1.0,
                   max_wrong: float = MAX_WRONG_ABSTENTIONS, command: str = "") -> Calibration:
    """The abstention model fitted on ``cases``, over the sentences ``ranker`` chooses."""
    rows, labels, row_sources = signal_rows(ExtractiveAnswerer(ranker=ranker), cases)
    abstention = fit_calibration(rows, labels, l2=l2, max_wrong=max_wrong,
                                 weights=balance(row_sources), fitted_on={
        "sets": sorted({c.source for c in cases}), "rows": len(rows), "answerable": sum(labels),
        "max_wrong_abstentions": f"{max_wrong} on each set", "l2": l2,
        "command": _command(cases, command)})
    threshold = per_set_threshold(abstention, rows, labels, row_sources, max_wrong)
    # Rounded down: a threshold rounded up could add an abstention the fit did not allow.
    return replace(abstention, threshold=math.floor(threshold * 1e6) / 1e6)


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
    parser.add_argument("--out", default=str(CALIBRATION_FILE))
    parser.add_argument("--ranking-out", default=str(RANKING_FILE))
    parser.add_argument("--rerank-out", default=str(RERANK_FILE))
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--dry-run", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from rag.pipeline import RAG

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    command = "python -m rag.evaluation.calibrate " + " ".join(
        [f"--set {' '.join(t)}" for t in args.set] + ([f"--only {args.only}"] if args.only else []))
    sets: list[tuple[RAG, list[QAItem], str]] = []
    for qa_file, index, corpus in args.set:
        if Path(qa_file).name.startswith("report") or Path(qa_file).name in REPORT_SETS:
            print(f"error: {qa_file} is a report set; fit only on fit data", file=sys.stderr)
            return 2
        rag = RAG(index_dir=Path(index), corpus_dir=Path(corpus), top_k=args.top_k)
        sets.append((rag, load_qa(qa_file), qa_file))
    written: list[tuple[str, str]] = []
    if args.only not in ("answerer", "ranker", "abstention"):
        reranker = fit_reranker_on(sets, args.l2, command)
        written.append((args.rerank_out, reranker.model.to_json()))
        for rag, _, _ in sets:
            rag._live().retriever.reranker = reranker
    if args.only != "rerank":
        cases = [c for rag, items, source in sets for c in collect(rag, items, source, args.top_k)]
        ranker = (load_calibration(args.ranking_out) if args.only == "abstention" else
                  fit_ranker(cases, l2=args.l2, command=command))
        calibration = (load_calibration(args.out) if args.only == "ranker" else
                       fit_abstention(cases, ranker, l2=args.l2, command=command))
        answerer = ExtractiveAnswerer(calibration, ranker)
        for source in sorted({c.source for c in cases}):
            print(source, score_cases(answerer, [c for c in cases if c.source == source]))
        print("all", score_cases(answerer, cases))
        if args.only != "ranker":
            written.append((args.out, calibration.to_json()))
        if args.only != "abstention":
            written.append((args.ranking_out, ranker.to_json()))
    for path, text in written:
        print(text)
        if not args.dry_run:
            Path(path).write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
