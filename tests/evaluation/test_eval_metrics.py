"""Evaluation metrics on hand-made inputs (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.evaluation import metrics as m


def test_squeeze_drops_whitespace_and_bold_only():
    assert m.squeeze("企业是 经济的\n**基本细胞**，\t企业兴") == "企业是经济的基本细胞，企业兴"


def test_normalise_drops_chinese_and_ascii_punctuation_and_folds_width():
    assert m.normalise("“高效办成 一件事”！") == "高效办成一件事"
    assert m.normalise("《逐梦新程、绿色领航》——(专题片)") == "逐梦新程绿色领航专题片"
    assert m.normalise("ＡＢＣ－２０２５, Hello!") == "abc2025hello"
    assert m.normalise("…，。；：？") == ""


def test_strip_markers_removes_citation_numbers_only():
    assert m.strip_markers("企业兴则经济兴。[1]兖州[2]的发展[a]") == "企业兴则经济兴。兖州的发展[a]"


def test_contains_ignores_whitespace_and_bold_by_default():
    assert m.contains("坚定扛牢**经济大区**、\n工业强县责任担当", "经济大区、工业 强县")
    assert not m.contains("经济大区", "工业强县")
    assert not m.contains("任何文本", "  ")  # an empty needle never matches


def test_contains_with_answer_normalisation_ignores_punctuation():
    assert m.contains("深化“高效办成一件事”，对各类", "高效办成一件事", m.normalise)
    # evidence matching (squeeze) keeps punctuation; answer matching (normalise) does not
    assert not m.contains("深化“高效办成一件事，对", "“高效办成一件事”", m.squeeze)
    assert m.contains("深化“高效办成一件事，对", "“高效办成一件事”", m.normalise)
    assert m.contains_any("答案是三年", ["五年", "三年"], m.normalise)
    assert not m.contains_any("答案是三年", [], m.normalise)


def test_exact_match_after_normalisation():
    assert m.exact_match("“制造业立区”。", "制造业立区") == 1.0
    assert m.exact_match("制造业立区不动摇", "制造业立区") == 0.0
    assert m.exact_match("", "") == 0.0


def test_char_f1_counts_character_overlap():
    # prediction 4 chars, gold 2 chars, 2 in common: p = 1/2, r = 1, f1 = 2/3
    assert m.char_f1("基本细胞", "细胞") == pytest.approx(2 / 3)
    assert m.char_f1("细胞。", "细胞") == 1.0
    assert m.char_f1("甲乙", "丙丁") == 0.0
    assert m.char_f1("", "细胞") == 0.0
    # repeated characters count as many times as they occur in both
    assert m.char_f1("倍倍增", "倍增增") == pytest.approx(2 / 3)


def test_best_of_takes_the_best_gold():
    golds = ["经济大区、工业强县", "经济大区"]
    assert m.best_of(m.exact_match, "经济大区", golds) == 1.0
    assert m.best_of(m.char_f1, "经济大区", golds) == 1.0
    assert m.best_of(m.char_f1, "经济大区", []) == 0.0


def test_first_hit_rank_and_hit_at_k():
    texts = ["无关段落", "另一段\n无关", "企业是经济的**基本细胞**，企业兴则经济兴"]
    evidence = ["企业是经济的基本细胞，企业兴则经济兴"]
    rank = m.first_hit_rank(texts, evidence)
    assert rank == 3
    assert [m.hit_at_k(rank, k) for k in (1, 2, 3, 10)] == [0.0, 0.0, 1.0, 1.0]
    assert m.first_hit_rank(texts, ["不存在的证据"]) is None
    assert m.hit_at_k(None, 10) == 0.0


def test_reciprocal_rank_and_mrr():
    assert m.reciprocal_rank(4) == 0.25
    assert m.reciprocal_rank(11, k=10) == 0.0
    assert m.reciprocal_rank(None) == 0.0
    assert m.mrr([1, 2, None, 4]) == pytest.approx((1 + 0.5 + 0 + 0.25) / 4)
    assert m.mrr([]) is None


def test_mean_and_ratio_return_none_when_nothing_applies():
    assert m.mean([1.0, 0.0, 0.5]) == 0.5
    assert m.mean([]) is None
    assert m.ratio(3, 4) == 0.75
    assert m.ratio(0, 0) is None


@pytest.mark.parametrize("values", [[5.0], [3.0, 1.0], [10, 1, 7, 3, 250, 8, 2], list(range(71))])
@pytest.mark.parametrize("q", [0, 50, 95, 100])
def test_percentile_matches_numpy_linear_interpolation(values, q):
    assert m.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentiles_names_and_edge_cases():
    assert m.percentiles([1.0, 2.0, 3.0, 4.0]) == {"p50": 2.5, "p95": pytest.approx(3.85)}
    assert m.percentiles([]) == {"p50": None, "p95": None}
    with pytest.raises(ValueError):
        m.percentile([1.0], 101)
