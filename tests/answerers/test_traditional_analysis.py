"""A question in traditional script is analysed as its simplified form is (type, unit, count),
while the words it returns stay in the question's own script."""

from __future__ import annotations

import opencc
import pytest

from rag.answers_analysis import (
    asked_unit,
    count_match,
    question_type,
    satisfies_type,
    title_modifier,
    type_evidence,
    unit_missing,
)
from rag.language import NOT_FOUND, language_of

TO_TW = opencc.OpenCC("s2twp").convert


@pytest.mark.parametrize("question", ["太阳纸业的董事长是谁？", "为什么要打造产业基地？",
                                      "有几个千亿级产业？", "什么时候开业？", "哪些企业参加了？",
                                      "怎么样实现的？", "新能源产业基地在哪里？"])
def test_type_is_the_simplified_forms(question):
    assert question_type(TO_TW(question)) is question_type(question)


def test_units_and_counts_in_traditional_script():
    assert asked_unit("兗州區有幾個千億級產業？") == asked_unit("兖州区有几个千亿级产业？")
    assert asked_unit("總投資多少億元？") == "亿元"
    assert not unit_missing("兗州區有幾個千億級產業？", "培育3個千億級產業")
    assert unit_missing("總投資多少億元？", "項目占地500畝")
    assert count_match("哪三個千億級產業？", "培育3個千億級產業") == 1.0


def test_who_question_finds_the_name_next_to_the_post():
    question, text = "太陽紙業的董事長是誰？", "太陽紙業董事長李娜在會上發言。"
    qtype = question_type(question)
    assert satisfies_type(qtype, question, text)
    assert type_evidence(qtype, question, text) == 1.0


def test_words_returned_stay_in_the_questions_script():
    assert title_modifier("太陽紙業的董事長是誰？") == "太陽紙業"
    assert title_modifier("太阳纸业的董事长是谁？") == "太阳纸业"


@pytest.mark.parametrize(("text", "language"), [
    ("太阳纸业的董事长是谁？", "zh"), (TO_TW("太阳纸业的董事长是谁？"), "zh-Hant"),
    ("誰？", "zh-Hant"),
    ("兖州区店舖有几家？", "zh"),  # one rare variant character in simplified text
    ("Who chairs Sun Paper?", "en"), ("2024", "en"),
])
def test_the_language_a_question_is_written_in(text, language):
    assert language_of(text) == language


def test_a_traditional_question_is_told_in_traditional_script_that_nothing_was_found():
    from rag.answerers.base import Evidence
    from rag.answerers.extractive import ExtractiveAnswerer

    evidence = Evidence(question="火星上的兗州區有幾個產業？", passages=(),
                        paragraph=lambda doc, i: None)
    answer = ExtractiveAnswerer(semantic=False).answer(evidence)
    assert answer.abstained and answer.text == NOT_FOUND["zh-Hant"]
