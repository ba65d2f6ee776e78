"""A standardised linear model kept as a JSON data file, and the small fits that make one.

Three parts of the product are such a model, each fitted on the fit data only and kept beside
its code: the passage reranker (``rag/rerank.json``), the extractive answerer's sentence ranker
and its abstention decision (``rag/answerers/``). Hand-written rather than scikit-learn: a few
thousand rows and a dozen features need nothing bigger, the listwise loss is not in
scikit-learn, and a dependency-free fit refits identically anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

MAX_WRONG_ABSTENTIONS = 0.05
M = TypeVar("M", bound="LinearModel")


@dataclass(frozen=True)
class LinearModel:
    """score = b + w . (x - mean) / scale; p = sigmoid(score) for a classifier."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    fitted_on: Mapping[str, object]

    def vector(self, signals: Mapping[str, float]) -> np.ndarray:
        x = np.array([float(signals.get(f, 0.0)) for f in self.features])
        return (x - np.array(self.mean)) / np.array(self.scale)

    def logit(self, signals: Mapping[str, float]) -> float:
        return self.bias + float(self.vector(signals) @ np.array(self.weights))

    def probability(self, signals: Mapping[str, float]) -> float:
        return float(1.0 / (1.0 + np.exp(-self.logit(signals))))

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_file(cls: type[M], path: str | Path) -> M:
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data) - {"fitted_on"})
        if missing:
            raise ValueError(f"{path}: not a fitted model (missing {', '.join(missing)})")
        return cls(features=tuple(data["features"]), mean=tuple(data["mean"]),
                   scale=tuple(data["scale"]), weights=tuple(data["weights"]),
                   bias=float(data["bias"]), threshold=float(data["threshold"]),
                   fitted_on=data.get("fitted_on", {}))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, steps: int = 3000,
                 lr: float = 0.5, weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (plain gradient descent).

    ``x`` must be standardised already; a few hundred rows and ten features need nothing
    bigger, and a dependency-free fit refits identically anywhere.
    """
    n, d = x.shape
    sw = np.ones(n) if weights is None else weights * n / weights.sum()
    w = np.zeros(d)
    b = float(np.log(max(y.mean(), 1e-6) / max(1 - y.mean(), 1e-6)))
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        grad_w = x.T @ (sw * (p - y)) / n + l2 * w / n
        grad_b = float(np.mean(sw * (p - y)))
        w -= lr * grad_w
        b -= lr * grad_b
    return w, b


def fit_listwise(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, l2: float = 1.0,
                 steps: int = 2000, lr: float = 0.5,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """Weights of a softmax-over-sentences ranker: maximise the probability mass each
    question's candidate set gives to its sentences holding the answer.

    Pointwise logistic loss is dominated by the many easy negatives and ranked the answer
    sentence first less often on the fit data (260 vs 273 of 405) than the old hand weights;
    only the order within a question matters, so the loss is per question.
    """
    ids, inverse = np.unique(groups, return_inverse=True)
    n_groups = len(ids)
    # A row's weight is its question's (every row of a group carries the same one).
    sw = np.ones(len(y)) if weights is None else weights * len(y) / weights.sum()
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        s = x @ w
        s = s - np.bincount(inverse, weights=s)[inverse] / np.bincount(inverse)[inverse]
        e = np.exp(np.clip(s, -50, 50))
        total = np.bincount(inverse, weights=e)[inverse]
        pos_total = np.bincount(inverse, weights=e * y)[inverse]
        # d/dw of -log(sum_pos e / sum_all e) = E_all[x] - E_pos[x]
        coef = e / total - np.where(y > 0, e / np.maximum(pos_total, 1e-300), 0.0)
        grad = x.T @ (sw * coef) / n_groups + l2 * w / n_groups
        w -= lr * grad
    return w


def choose_threshold(p: np.ndarray, answerable: np.ndarray,
                     max_wrong: float = MAX_WRONG_ABSTENTIONS) -> float:
    """The highest threshold whose abstentions on answerable rows stay <= ``max_wrong``.

    Abstaining when p < t, the share of answerable rows below t must not exceed max_wrong; the
    highest such t abstains on as many unanswerable rows as that budget allows.
    """
    pos = np.sort(p[answerable.astype(bool)])
    allowed = int(np.floor(max_wrong * len(pos)))
    if len(pos) == 0:
        return 0.5
    # Abstaining below pos[allowed] hits exactly `allowed` answerable rows (ties aside).
    return float(pos[min(allowed, len(pos) - 1)])


def fit_model(cls: type[M], rows: Sequence[Mapping[str, float]], labels: Sequence[bool], *,
              features: Sequence[str], l2: float = 1.0,
              max_wrong: float = MAX_WRONG_ABSTENTIONS, groups: Sequence[int] | None = None,
              weights: Sequence[float] | None = None,
              fitted_on: Mapping[str, object] | None = None) -> M:
    """Fit a model of class ``cls`` on feature rows (label True = positive) and pick its
    threshold (at most ``max_wrong`` of the positive rows below it).

    With ``groups`` (one id per row: the question) it is a listwise ranker instead, whose bias
    and threshold mean nothing.
    """
    x = np.array([[float(r.get(f, 0.0)) for f in features] for r in rows])
    y = np.array([1.0 if label else 0.0 for label in labels])
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    sw = None if weights is None else np.asarray(weights, dtype=float)
    if groups is not None:
        w, b = fit_listwise((x - mean) / scale, y, np.asarray(groups), l2=l2, weights=sw), 0.0
    else:
        w, b = fit_logistic((x - mean) / scale, y, l2=l2, weights=sw)
    p = 1.0 / (1.0 + np.exp(-(((x - mean) / scale) @ w + b)))
    threshold = choose_threshold(p, y, max_wrong)
    return cls(
        features=tuple(features), mean=tuple(np.round(mean, 6)),
        scale=tuple(np.round(scale, 6)), weights=tuple(np.round(w, 6)), bias=round(b, 6),
        threshold=float(np.floor(threshold * 1e6) / 1e6), fitted_on=dict(fitted_on or {}),
    )
