"""Fusion math with hand-made scores (no models)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.fusion import MIN_DENSE_WEIGHT, dense_weight_for, fuse_scores, ranks_from_scores


def test_ranks_from_scores_drops_zero_and_keeps_order():
    assert ranks_from_scores(np.array([0.0, 2.0, 1.0, 2.0]), 10) == [1, 3, 2]
    assert ranks_from_scores(np.array([]), 3) == []


def test_small_dense_weight_only_breaks_near_ties():
    keyword = {0: 10.0, 1: 9.9, 2: 5.0}
    dense = {0: 0.1, 1: 0.9, 2: 0.95}
    fused = [i for i, _ in fuse_scores(keyword, dense, dense_weight=0.1)]
    assert fused == [1, 0, 2]  # 0/1 were nearly tied; 2 is far behind on keywords


def test_dense_weight_zero_is_pure_keyword_and_scores_are_normalised():
    fused = fuse_scores({0: 2.0, 1: 4.0}, {0: 0.9, 1: 0.1}, dense_weight=0.0)
    assert fused == [(1, 1.0), (0, 0.5)]


def test_dense_only_candidates_are_kept():
    fused = dict(fuse_scores({0: 1.0}, {0: 0.2, 5: 0.8}, dense_weight=1.0))
    assert set(fused) == {0, 5}
    assert all(0.0 <= s <= 1.0 for s in fused.values())


@pytest.mark.parametrize(
    ("unk", "expected"),
    [(0.0, 1.0), (0.25, 0.55), (0.66, MIN_DENSE_WEIGHT), (1.0, MIN_DENSE_WEIGHT)],
)
def test_dense_weight_follows_unknown_rate(unk, expected):
    assert dense_weight_for(unk) == pytest.approx(expected)


def test_partial_selection_matches_a_full_stable_sort():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 20, size=5000).astype(np.float32)  # many ties
    expected = [int(i) for i in np.argsort(-scores, kind="stable")[:50] if scores[i] > 0]
    assert ranks_from_scores(scores, 50) == expected


def test_partial_selection_with_few_positive_scores():
    scores = np.zeros(100_000, dtype=np.float32)
    scores[[7, 99, 5000]] = [1.0, 3.0, 1.0]
    assert ranks_from_scores(scores, 50) == [99, 7, 5000]
