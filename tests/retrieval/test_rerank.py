"""The passage reranker: its features, its ordering, its model file, its fit, and its place in
retrieval over the real seed index."""

from __future__ import annotations

import json

import pytest

from rag.config import Settings
from rag.coverage import QuestionTerms
from rag.evaluation.fit_rerank import RerankRows, fit_reranker, hit_at_1
from rag.linear import LinearModel
from rag.rerank import (
    CANDIDATES,
    FEATURES,
    RERANK_FILE,
    Reranker,
    candidate_features,
    load_reranker,
)

QUESTION = "兖州区计划培育多少个千亿级产业？"
ON_POINT = "会议提出。兖州区计划培育两个千亿级产业集群。其他内容。"
SCATTERED = "兖州区召开会议。计划明年完成。培育新动能。千亿级的目标。"
UNRELATED = "济宁市举办运动会，天气晴朗。"
DOCS = ["a.txt", "b.txt", "c.txt"]  # titles that share nothing with the question


def _terms(question: str = QUESTION) -> QuestionTerms:
    return QuestionTerms(question, idf=lambda t: 1.0, in_corpus=lambda t: True)


def _model(weights: dict[str, float]) -> LinearModel:
    names = tuple(weights)
    return LinearModel(features=names, mean=(0.0,) * len(names), scale=(1.0,) * len(names),
                       weights=tuple(weights.values()), bias=0.0, threshold=0.0, fitted_on={})


def test_features_favour_the_text_answering_in_one_sentence():
    rows = candidate_features(QUESTION, [SCATTERED, ON_POINT, UNRELATED], [1.0, 0.9, 0.2],
                              [5.0, 4.0, 1.0], _terms(), DOCS)
    scattered, on_point, unrelated = rows
    assert set(on_point) == set(FEATURES)
    assert on_point["sentence"] > scattered["sentence"] > unrelated["sentence"]
    assert on_point["common_run"] > scattered["common_run"]
    assert on_point["sentence_pairs"] > scattered["sentence_pairs"]
    # relative to the best candidate, by fused rank
    assert scattered["fused"] == 1.0 and on_point["fused"] == pytest.approx(0.9)
    assert [r["inv_rank"] for r in rows] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert all(0.0 <= v <= 1.0 for r in rows for v in r.values())


def test_title_features_read_the_candidates_document_names():
    question = "蓝鳍花鱼以什么为食？"
    texts = ["蓝鳍花鱼栖息在较深的水域，以小型鱼类为食。", "蓝鳍花鱼为鲈形目笛鲷科的一种。",
             "黄鳍紫鱼以甲壳类为食。"]
    docs = ["0007_蓝鳍花鱼.txt", "0007_蓝鳍花鱼.txt", "0009_黄鳍紫鱼.txt"]
    rows = candidate_features(question, texts, [1.0, 0.9, 0.8], [1.0, 0.9, 0.8],
                              _terms(question), docs)
    food, kind, other = rows
    assert food["title"] == kind["title"] > other["title"]
    # what the question asks beyond the title: 为食 is in the first text, not the second
    assert food["aspect_chars"] > kind["aspect_chars"]
    assert food["aspect_terms"] > kind["aspect_terms"]
    # documents named by hashes have no telling title: every unit counts
    untitled = candidate_features(question, texts, [1.0, 0.9, 0.8], [1.0, 0.9, 0.8],
                                  _terms(question), ["000_714dc78de03cf996.txt"] * 3)
    assert all(r["title"] == 0.0 for r in untitled)
    assert untitled[1]["aspect_chars"] > kind["aspect_chars"]


def test_features_of_no_candidates_and_of_a_question_without_chinese():
    assert candidate_features(QUESTION, [], [], [], _terms(), []) == []
    rows = candidate_features("what is GDP?", ["GDP grew."], [0.0], [0.0], _terms("what is GDP?"),
                              ["report.txt"])
    assert rows[0]["fused"] == 0.0 and rows[0]["sentence_pairs"] == 0.0


def test_rank_gives_shares_of_the_candidates():
    rows = candidate_features(QUESTION, [SCATTERED, ON_POINT, UNRELATED], [1.0, 0.9, 0.2],
                              [5.0, 4.0, 1.0], _terms(), DOCS)
    ranked = Reranker(_model({"sentence": 1.0})).rank(rows)
    assert [i for i, _ in ranked] == [1, 0, 2]
    assert sum(share for _, share in ranked) == pytest.approx(1.0)
    assert ranked[0][1] > ranked[1][1] > ranked[2][1] > 0


def test_order_follows_the_model_and_keeps_fused_order_on_ties():
    rows = candidate_features(QUESTION, [SCATTERED, ON_POINT, UNRELATED], [1.0, 0.9, 0.2],
                              [5.0, 4.0, 1.0], _terms(), DOCS)
    assert Reranker(_model({"sentence": 1.0})).order(rows) == [1, 0, 2]
    assert Reranker(_model({"length": 0.0})).order(rows) == [0, 1, 2]
    assert Reranker(_model({"sentence": 1.0})).order([]) == []


def test_shipped_model_loads_and_bad_files_are_refused(tmp_path):
    shipped = load_reranker()
    assert set(shipped.model.features) <= set(FEATURES) and shipped.candidates == CANDIDATES
    assert "command" in shipped.model.fitted_on  # says how to refit it
    data = json.loads(RERANK_FILE.read_text(encoding="utf-8"))
    bad = tmp_path / "unknown.json"
    bad.write_text(json.dumps({**data, "features": ["no_such_feature"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown reranking features"):
        load_reranker(str(bad))
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"features": ["fused"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a fitted model"):
        load_reranker(str(broken))


def test_model_file_round_trips(tmp_path):
    model = _model({"sentence": 0.5, "fused": 1.5})
    path = tmp_path / "m.json"
    path.write_text(model.to_json(), encoding="utf-8")
    assert LinearModel.from_file(path) == model


def test_fit_learns_to_put_the_answering_passage_first():
    data = RerankRows()
    texts = [SCATTERED, ON_POINT, UNRELATED]
    for n in range(12):  # the answering text sits second in fused order every time
        data.rows += candidate_features(QUESTION, texts, [1.0, 0.9 - n / 100, 0.2],
                                        [5.0, 4.0, 1.0], _terms(), DOCS)
        data.labels += [False, True, False]
        data.groups += [n] * 3
        data.sources += ["fit"] * 3
    assert hit_at_1(None, data) == 0.0
    reranker = fit_reranker(data, [1.0] * len(data.rows), command="test")
    assert hit_at_1(reranker, data) == 1.0
    assert reranker.model.fitted_on["questions"] == 12


def test_retrieval_reranks_the_fused_candidates(seed_index):
    from rag.pipeline import RAG

    on = RAG(index_dir=seed_index, corpus_dir=None)
    off = RAG(index_dir=seed_index, corpus_dir=None, settings=Settings(rerank=False))
    assert on._live().retriever.reranker is not None
    assert off._live().retriever.reranker is None
    fused = on._live().retriever.search(QUESTION, CANDIDATES, rerank=False)
    assert [p.chunk_id for p in off.retrieve(QUESTION, 5)] == [p.chunk_id for p in fused[:5]]
    reranked = on.retrieve(QUESTION, 5)
    assert [p.rank for p in reranked] == list(range(5))
    assert {p.chunk_id for p in reranked} <= {p.chunk_id for p in fused}
    assert "千亿级产业" in reranked[0].text
    # score: the reranker's share of the candidates, best first; the fused score is kept
    assert 1.0 >= reranked[0].score >= reranked[1].score >= reranked[4].score > 0.0
    by_id = {p.chunk_id: p.score for p in fused}
    assert all(p.channel_scores["fused"] == by_id[p.chunk_id] for p in reranked)
    assert "fused" not in off.retrieve(QUESTION, 5)[0].channel_scores
