"""The extractive answerer's fitted parts, fitted on fit-set questions: the sentence ranker
(``ranking.json``) and the abstention model (``calibration.json``; with ``semantic``, the one
that also weighs the meaning signals, ``calibration_semantic.json``), with the figures
``rag eval`` would print for them. ``rag.evaluation.calibrate`` is the command."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rag.answerers.abstention import FEATURES, Calibration, fit_calibration
from rag.answerers.base import Evidence
from rag.answerers.extractive import ExtractiveAnswerer
from rag.answerers.semantic import MEANING
from rag.answerers.sentence_scoring import RANK_FEATURES, Scorer
from rag.answers_analysis import question_type
from rag.evaluation import metrics as m
from rag.evaluation.dataset import QAItem
from rag.linear import MAX_WRONG_ABSTENTIONS, choose_threshold

if TYPE_CHECKING:
    from rag.pipeline import RAG


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
    rows, labels, groups = ranking_rows(ExtractiveAnswerer(semantic=False), cases)
    weights = balance([cases[g].source for g in groups], groups)
    return fit_calibration(rows, labels, features=RANK_FEATURES, l2=l2, groups=groups,
                           weights=weights, fitted_on={
        "sets": sorted({c.source for c in cases}), "rows": len(rows), "positive": sum(labels),
        "l2": l2, "command": _command(cases, command)})


# The top BM25 score's scale is the store's own (Milvus scores the seed questions ~2.4x what
# the FAISS store's keyword index does). The words-only model gives it a small weight; next to
# the meaning signals it took a large negative one (collinear with them), which refused Milvus's
# answerable questions. The meaning signals carry what it said about the topic, so it is left
# out of the model that has them.
STORE_SCALED = ("keyword_strength",)


def _features(semantic: bool) -> tuple[str, ...]:
    if not semantic:
        return tuple(FEATURES)
    return tuple(f for f in FEATURES if f not in STORE_SCALED) + MEANING


def fit_abstention(cases: Sequence[Case], ranker: Calibration, *, l2: float = 1.0,
                   max_wrong: float = MAX_WRONG_ABSTENTIONS, command: str = "",
                   semantic: bool = False) -> Calibration:
    """The abstention model fitted on ``cases``, over the sentences ``ranker`` chooses (with
    ``semantic``, over the meaning signals too)."""
    answerer = ExtractiveAnswerer(ranker=ranker, semantic=semantic)
    rows, labels, sources = signal_rows(answerer, cases)
    return _abstention(rows, labels, sources, l2=l2, max_wrong=max_wrong,
                       features=_features(semantic), fitted_on={
        "sets": sorted({c.source for c in cases}), "rows": len(rows), "answerable": sum(labels),
        "max_wrong_abstentions": f"{max_wrong} on each set", "l2": l2,
        "command": _command(cases, command)})


def _abstention(rows: Sequence[dict[str, float]], labels: Sequence[bool],
                sources: Sequence[str], *, l2: float, max_wrong: float,
                features: tuple[str, ...], fitted_on: dict[str, Any]) -> Calibration:
    model = fit_calibration(rows, labels, features=features, l2=l2, max_wrong=max_wrong,
                            weights=balance(sources), fitted_on=fitted_on)
    threshold = per_set_threshold(model, rows, labels, sources, max_wrong)
    # Rounded down: a threshold rounded up could add an abstention the fit did not allow.
    return replace(model, threshold=math.floor(threshold * 1e6) / 1e6)


def leave_one_out(cases: Sequence[Case], ranker: Calibration, *, l2: float = 1.0,
                  max_wrong: float = MAX_WRONG_ABSTENTIONS, semantic: bool = False
                  ) -> dict[str, dict[str, Any]]:
    """Each fit set's figures under an abstention model fitted (weights and threshold) on the
    *other* sets: how the fit carries to questions it has not seen. The signals are computed
    once; each fold fits on the other sets' rows."""
    rows, labels, sources = signal_rows(ExtractiveAnswerer(ranker=ranker, semantic=semantic),
                                        cases)
    out = {}
    for held in sorted(set(sources)):
        keep = [i for i, s in enumerate(sources) if s != held]
        model = _abstention([rows[i] for i in keep], [labels[i] for i in keep],
                            [sources[i] for i in keep], l2=l2, max_wrong=max_wrong,
                            features=_features(semantic), fitted_on={})
        out[held] = score_cases(ExtractiveAnswerer(model, ranker, semantic=semantic),
                                [c for c in cases if c.source == held])
    return out
