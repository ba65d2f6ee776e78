"""Who-questions are answered by a person's name, including transliterated ones (jieba tags
those nrt, not nr)."""

from __future__ import annotations

from rag.answers_analysis import QType, person_names, satisfies_type, type_evidence


def test_transliterated_names_count_as_names():
    assert {"约翰", "麦克唐纳"} <= person_names("加拿大的第一位总理是约翰·A·麦克唐纳。")
    assert "努尔哈赤" in person_names("后金由努尔哈赤建立。")


def test_who_question_is_satisfied_by_a_transliterated_name():
    question = "加拿大的第一位总理是谁？"
    text = "加拿大的第一位总理是约翰·A·麦克唐纳。"
    assert satisfies_type(QType.PERSON, question, text)
    assert type_evidence(QType.PERSON, question, text) > 0
    assert not satisfies_type(QType.PERSON, question, "加拿大的第一位总理任期很长。")
