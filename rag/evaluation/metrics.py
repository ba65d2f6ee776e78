"""Evaluation metrics as pure functions over strings, ranks and numbers (no models).

Two normalisations: ``squeeze`` (whitespace and ``**`` removed) decides whether a passage holds
an evidence string, since paragraph repair moves line breaks and strips Markdown bold;
``normalise`` (also punctuation, Chinese and ASCII, removed; NFKC; lower case) is for comparing
answers with gold answers.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

_WHITESPACE = re.compile(r"\s+")
_MARKER = re.compile(r"\[\d+\]")
_ASCII_PUNCT = frozenset(string.punctuation)


def squeeze(text: str) -> str:
    """``text`` without whitespace and ``**`` (how evidence is matched against passages)."""
    return _WHITESPACE.sub("", text).replace("**", "")


def _is_punct(char: str) -> bool:
    return char in _ASCII_PUNCT or unicodedata.category(char).startswith("P")


def normalise(text: str) -> str:
    """``text`` for answer comparison: NFKC, lower case, no whitespace, no punctuation.

    NFKC folds full-width forms (２０２５, ＡＢＣ) into ASCII; punctuation is every Unicode
    ``P*`` character (，。、“”《》…) plus ASCII punctuation and symbols.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in text if not c.isspace() and not _is_punct(c))


def strip_markers(text: str) -> str:
    """An answer's text without its ``[n]`` citation markers."""
    return _MARKER.sub("", text)


def contains(text: str, needle: str, norm: Callable[[str], str] = squeeze) -> bool:
    """Whether ``needle`` occurs in ``text`` after both are normalised (empty never matches)."""
    wanted = norm(needle)
    return bool(wanted) and wanted in norm(text)


def contains_any(text: str, needles: Iterable[str], norm: Callable[[str], str] = squeeze) -> bool:
    return any(contains(text, needle, norm) for needle in needles)


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal (and non-empty), else 0.0."""
    pred, ref = normalise(prediction), normalise(gold)
    return float(bool(ref) and pred == ref)


def char_f1(prediction: str, gold: str) -> float:
    """Character-level F1 of the normalised strings (multiset overlap, as in CMRC 2018)."""
    pred, ref = normalise(prediction), normalise(gold)
    if not pred or not ref:
        return 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_of(metric: Callable[[str, str], float], prediction: str, golds: Sequence[str]) -> float:
    """The best score of ``prediction`` against any of the gold answers (0.0 when none)."""
    return max((metric(prediction, gold) for gold in golds), default=0.0)


def first_hit_rank(texts: Sequence[str], evidence: Sequence[str]) -> int | None:
    """1-based rank of the first text holding an evidence string, or None."""
    for rank, text in enumerate(texts, 1):
        if contains_any(text, evidence):
            return rank
    return None


def hit_at_k(rank: int | None, k: int) -> float:
    """1.0 when the first relevant rank is within the top ``k``."""
    return float(rank is not None and rank <= k)


def reciprocal_rank(rank: int | None, k: int = 10) -> float:
    """1/rank within the top ``k``, else 0.0; its mean over questions is MRR@k."""
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean, or None for no values (a metric that does not apply)."""
    items = list(values)
    return sum(items) / len(items) if items else None


def mrr(ranks: Iterable[int | None], k: int = 10) -> float | None:
    """Mean reciprocal rank at ``k`` over questions (None when there are none)."""
    return mean(reciprocal_rank(rank, k) for rank in ranks)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation, like ``numpy.percentile``."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95)) -> dict[str, float | None]:
    """``{"p50": ..., "p95": ...}`` for the given percentiles."""
    return {f"p{q:g}": percentile(values, q) for q in qs}


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when the denominator is 0."""
    return numerator / denominator if denominator else None
