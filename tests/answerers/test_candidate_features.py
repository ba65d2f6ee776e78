"""The sentence ranker's candidate-relative features and the paraphrase-tolerant term support."""

from __future__ import annotations

from rag.answerers.base import Evidence
from rag.answerers.candidate_features import CANDIDATE_FEATURES, candidate_features
from rag.answerers.extractive import ExtractiveAnswerer
from rag.answerers.sentence_scoring import RANK_FEATURES, term_support
from rag.schema import Paragraph, Passage

QUESTION = "黄鳍紫鱼体长多少？"
# The subject is named in most sentences; only one says what is asked.
SENTENCES = ["黄鳍紫鱼，又称黄鳍姬鲷，为笛鲷科的一个种。", "黄鳍紫鱼栖息在较深的水域。",
             "黄鳍紫鱼是肉食性鱼类。", "体长可达50公分。", "黄鳍紫鱼可作为食用鱼。"]


def _features() -> list[dict[str, float]]:
    windows = ["".join(SENTENCES[max(i - 1, 0) : i + 2]) for i in range(len(SENTENCES))]
    return candidate_features(QUESTION, SENTENCES, windows)


def test_every_candidate_gets_every_feature_in_range():
    rows = _features()
    assert len(rows) == len(SENTENCES)
    for row in rows:
        assert set(row) == set(CANDIDATE_FEATURES)
        assert all(0.0 <= v <= 1.0 for v in row.values()), row
    assert set(CANDIDATE_FEATURES) <= set(RANK_FEATURES)


def test_the_asked_part_outweighs_the_subject_most_candidates_share():
    rows = _features()
    answer = SENTENCES.index("体长可达50公分。")
    assert max(range(len(rows)), key=lambda i: rows[i]["focus"]) == answer
    assert rows[answer]["focus_topic"] == 0.0  # it does not name the subject
    assert all(rows[i]["focus_topic"] > 0 for i in range(len(rows)) if i != answer)
    # Its neighbours' window holds the asked part too.
    assert rows[answer - 1]["focus_window"] > rows[0]["focus_window"]


def test_numbers_and_dates_asked_for():
    texts = ["1992年4月，任区委副书记。", "1993年3月当选区长。", "他曾在天津工作。"]
    rows = candidate_features("1992年4月，他担任什么职务？", texts, texts)
    assert [r["number_match"] for r in rows] == [1.0, 0.0, 0.0]
    rows = candidate_features("他什么时候当选区长？", texts, texts)
    assert [r["time_date"] for r in rows] == [1.0, 1.0, 0.0]


def test_the_ranker_prefers_the_sentence_about_the_asked_part():
    text = "".join(SENTENCES)
    para = Paragraph("fish.txt", 0, text, 1, 1)
    passage = Passage("c1", "fish.txt", 0, (0,), text, 1.0, (1, 1),
                      channel_scores={"keyword": 5.0})
    evidence = Evidence(question=QUESTION, passages=(passage,), paragraph=lambda d, i: para,
                        idf=lambda t: 2.0, in_corpus=lambda t: t.lstrip("§") in text)
    analysis = ExtractiveAnswerer().analyse(evidence)
    assert analysis is not None
    assert "50公分" in analysis.chosen[0].text


def _evidence(question: str) -> Evidence:
    para = Paragraph("d.txt", 0, "", 1, 1)
    return Evidence(question=question, passages=(), paragraph=lambda d, i: para)


def test_a_term_partly_present_counts_in_part():
    # 济宁市 is not in the text as a whole, but one of its two character pairs is (济宁).
    evidence = _evidence("济宁市的新能源产业规模有多大？")
    missing, _ = term_support(evidence, "济宁新能源产业规模扩大")
    assert missing == 0.5 / 4  # four key terms of equal weight, one half there
    assert term_support(evidence, "济宁市新能源产业规模扩大") == (0.0, 0.0)
    assert term_support(evidence, "天气很好") == (1.0, 1.0)
