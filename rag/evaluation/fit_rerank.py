"""Fit the passage reranker (``rag.rerank``) on fit data.

Every answerable fit question is retrieved in fused order (``rerank=False``) for the first
``CANDIDATES`` passages; each passage is labelled by whether it holds one of the question's
evidence strings (``rag eval``'s hit), and a listwise linear model is fitted to put such a
passage first. Questions none of whose candidates holds the evidence teach nothing and are left
out. Run through ``python -m rag.evaluation.calibrate``, which then fits the answerer on the
reranked passages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.evaluation import metrics as m
from rag.evaluation.dataset import QAItem
from rag.linear import LinearModel, fit_model
from rag.rerank import CANDIDATES, FEATURES, Reranker

if TYPE_CHECKING:
    from rag.pipeline import RAG


class RerankRows:
    """Feature rows of the fused candidates of answerable questions, with labels and groups."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.labels: list[bool] = []
        self.groups: list[int] = []
        self.sources: list[str] = []
        self._questions = 0

    def add(self, rag: RAG, items: Sequence[QAItem], source: str) -> None:
        from rag.pipeline import clean_question

        retriever = rag._live().retriever
        for item in items:
            if not item.answerable:
                continue
            question = clean_question(item.question)
            passages = retriever.search(question, CANDIDATES, rerank=False)
            labels = [m.contains_any(p.text, item.evidence) for p in passages]
            if not any(labels):
                continue
            self.rows += retriever.features(
                question, [p.text for p in passages], [p.score for p in passages],
                [p.channel_scores.get("keyword", 0.0) for p in passages],
                [p.doc for p in passages])
            self.labels += labels
            self.groups += [self._questions] * len(passages)
            self.sources += [source] * len(passages)
            self._questions += 1


def fit_reranker(data: RerankRows, weights: Sequence[float], *, l2: float = 1.0,
                 command: str = "") -> Reranker:
    model = fit_model(LinearModel, data.rows, data.labels, features=FEATURES, l2=l2,
                      groups=data.groups, weights=weights, fitted_on={
        "sets": sorted(set(data.sources)), "rows": len(data.rows),
        "questions": len(set(data.groups)), "candidates": CANDIDATES, "l2": l2,
        "command": command})
    return Reranker(model)


def hit_at_1(reranker: Reranker | None, data: RerankRows, source: str | None = None) -> float:
    """Share of ``data``'s questions (of ``source``) whose first passage holds the evidence,
    reranked by ``reranker`` (None: in fused order). Over questions with a hit in the
    candidates only."""
    by_group: dict[int, list[int]] = {}
    for i, (g, s) in enumerate(zip(data.groups, data.sources, strict=True)):
        if source is None or s == source:
            by_group.setdefault(g, []).append(i)
    if not by_group:
        return 0.0
    hits = 0
    for rows in by_group.values():
        order = reranker.order([data.rows[i] for i in rows]) if reranker else range(len(rows))
        hits += data.labels[rows[next(iter(order))]]
    return hits / len(by_group)
