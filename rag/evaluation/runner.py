"""Run a Q&A set through ``RAG.retrieve`` and ``RAG.ask`` and score every question.

``evaluate`` returns the report (metrics overall and per question type) and one record per
question. Scoring a question (``score_question``) and summing records up (``summarise``) are
pure, so they are tested without a model.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rag.evaluation import metrics as m
from rag.evaluation.dataset import QAItem
from rag.evaluation.split import split_name
from rag.schema import Answer, Citation, Passage

if TYPE_CHECKING:
    from rag.pipeline import RAG

RETRIEVE_K = 10
HIT_KS = (1, 3, 5, 10)
MISS_KINDS = ("retrieval_miss", "wrong_answer", "wrong_abstention", "missed_abstention")


def _citations(citations: Sequence[Citation], evidence: Sequence[str]) -> list[dict[str, Any]]:
    """Cited paragraphs (several quotes of one paragraph count once), each marked supported
    when its paragraph text, or one of its quotes, holds an evidence string."""
    cited: dict[tuple[str, int], dict[str, Any]] = {}
    for c in citations:
        entry = cited.setdefault((c.doc, c.paragraph), {
            "n": c.n, "doc": c.doc, "paragraph": c.paragraph, "lines": list(c.lines),
            "quotes": [], "supported": m.contains_any(c.text, evidence)})
        entry["quotes"].append(c.quote)
        entry["supported"] = entry["supported"] or m.contains_any(c.quote, evidence)
    return list(cited.values())


def _misses(item: QAItem, rank: int | None, answer: Answer, contains: bool) -> list[str]:
    if not item.answerable:
        return [] if answer.abstained else ["missed_abstention"]
    found = [] if rank is not None else ["retrieval_miss"]
    if answer.abstained:
        return [*found, "wrong_abstention"]
    return found if contains else [*found, "wrong_answer"]


def score_question(item: QAItem, passages: Sequence[Passage], answer: Answer, *,
                   retrieve_ms: float, ask_ms: float) -> dict[str, Any]:
    """One question's record: what was retrieved and answered, its scores and its misses."""
    rank = m.first_hit_rank([p.text for p in passages], item.evidence) if item.answerable else None
    prediction = "" if answer.abstained else m.strip_markers(answer.text)
    contains = m.contains_any(prediction, item.answers, m.normalise)
    cited = _citations(answer.citations, item.evidence)
    return {
        "id": item.id, "type": item.qtype, "question": item.question,
        "answerable": item.answerable, "doc": item.doc,
        "gold_answers": list(item.answers), "evidence": list(item.evidence),
        "first_hit_rank": rank,
        "retrieved": [{"rank": i, "doc": p.doc, "paragraph": p.paragraph, "lines": list(p.lines),
                       "score": round(p.score, 4), "text": p.text}
                      for i, p in enumerate(passages, 1)],
        "answer": answer.text, "abstained": answer.abstained, "backend": answer.backend,
        "notice": answer.notice, "invalid_citations": answer.invalid_citations,
        "contains_gold": contains,
        "f1": m.best_of(m.char_f1, prediction, item.answers),
        "exact_match": m.best_of(m.exact_match, prediction, item.answers),
        "citations": cited,
        "evidence_cited": any(c["supported"] for c in cited),
        "latency_ms": {"retrieve": round(retrieve_ms, 3), "ask": round(ask_ms, 3)},
        "misses": _misses(item, rank, answer, contains),
    }


def _retrieval(answerable: list[dict[str, Any]]) -> dict[str, float | None]:
    ranks = [r["first_hit_rank"] for r in answerable]
    out = {f"hit@{k}": m.mean(m.hit_at_k(rank, k) for rank in ranks) for k in HIT_KS}
    out[f"mrr@{RETRIEVE_K}"] = m.mrr(ranks, RETRIEVE_K)
    # what a reader (or an LLM's prompt) gets to read for hit@5: the bar is <= 1,000 characters
    out["top5_chars"] = m.mean(float(sum(len(p["text"]) for p in r["retrieved"][:5]))
                               for r in answerable)
    return out


def _citation(answerable: list[dict[str, Any]]) -> dict[str, float | int | None]:
    cited = [c for r in answerable for c in r["citations"]]
    return {
        "precision": m.ratio(sum(c["supported"] for c in cited), len(cited)),
        "recall": m.mean(float(r["evidence_cited"]) for r in answerable),
        "cited_paragraphs": len(cited),
    }


def _latency(records: list[dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for call in ("retrieve", "ask"):
        for name, value in m.percentiles([r["latency_ms"][call] for r in records]).items():
            out[f"{call}_{name}"] = None if value is None else round(value, 3)
    return out


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Metric groups for a set of question records.

    Retrieval, answer and citation metrics are over answerable questions; ``abstention.correct``
    is the share of unanswerable questions abstained on, ``abstention.wrong`` the share of
    answerable ones. A metric with no questions to average over is None.
    """
    records = list(records)
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    return {
        "n": {"questions": len(records), "answerable": len(answerable),
              "unanswerable": len(unanswerable)},
        "retrieval": _retrieval(answerable),
        "answer": {
            "contains_gold": m.mean(float(r["contains_gold"]) for r in answerable),
            "f1": m.mean(r["f1"] for r in answerable),
            "exact_match": m.mean(r["exact_match"] for r in answerable),
            # Mean characters of the answers given (abstentions excluded): short answers are
            # part of the bar, and a longer quote contains the gold answer more easily.
            "chars": m.mean(float(len(m.strip_markers(r["answer"])))
                            for r in answerable if not r["abstained"]),
        },
        "citation": _citation(answerable),
        "abstention": {
            "correct": m.mean(float(r["abstained"]) for r in unanswerable),
            "wrong": m.mean(float(r["abstained"]) for r in answerable),
        },
        "latency_ms": _latency(records),
    }


def _hit_curve(records: Iterable[dict[str, Any]]) -> list[float] | None:
    ranks = [r["first_hit_rank"] for r in records if r["answerable"]]
    if not ranks:
        return None
    return [m.mean(m.hit_at_k(rank, k) for rank in ranks) for k in range(1, RETRIEVE_K + 1)]


def build_report(records: Sequence[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """The report: metadata, metrics overall and per type, the hit@k curve, miss counts."""
    types = list(dict.fromkeys(r["type"] for r in records))
    by_type = {t: [r for r in records if r["type"] == t] for t in types}
    misses = Counter(kind for r in records for kind in r["misses"])
    return {
        "meta": meta,
        "overall": summarise(records),
        "per_type": {t: summarise(rows) for t, rows in by_type.items()},
        "hit_curve": {"overall": _hit_curve(records),
                      "per_type": {t: _hit_curve(rows) for t, rows in by_type.items()}},
        "misses": {kind: misses.get(kind, 0) for kind in MISS_KINDS},
    }


def _timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return result, (time.perf_counter() - started) * 1000


def evaluate(rag: RAG, items: Sequence[QAItem], top_k: int | None = None, *,
             llm: str | None = None, progress: bool = False, source: str | None = None
             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ask every question through ``rag`` and score it; returns (report, per-question records).

    Each question is retrieved with ``RAG.retrieve(question, 10)`` for the retrieval metrics
    and answered with ``RAG.ask(question, top_k, llm=llm)``, exactly as a user would call them.
    """
    from tqdm import tqdm

    records = []
    for item in tqdm(items, desc="eval", unit="q", disable=not progress, dynamic_ncols=True):
        passages, retrieve_ms = _timed(rag.retrieve, item.question, RETRIEVE_K)
        answer, ask_ms = _timed(rag.ask, item.question, top_k, llm=llm)
        records.append(score_question(item, passages, answer,
                                      retrieve_ms=retrieve_ms, ask_ms=ask_ms))
    meta = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "qa_file": source,
        "split": split_name(source),
        "questions": len(items),
        "index": rag.location,
        "store": rag.settings.store,
        "embed_model": rag.manifest.get("embed_model"),
        "llm": llm or rag.settings.llm,
        "backends": dict(Counter(r["backend"] for r in records)),
        "top_k": top_k or rag.settings.top_k,
        "retrieve_k": RETRIEVE_K,
    }
    return build_report(records, meta), records
