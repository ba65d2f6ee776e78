"""Follow-up questions rewritten into standalone ones, by rule and by an LLM."""

from __future__ import annotations

import pytest

from rag.rewrite import (
    REWRITE_INSTRUCTIONS,
    clean_history,
    main_entity,
    rewrite_by_rule,
    rewrite_question,
)

SUN_PAPER = [
    {"role": "user", "content": "山东太阳纸业股份有限公司的代表在大会上做了什么？"},
    {"role": "assistant", "content": "作了现场发言或视频发言[1]。"},
]


@pytest.mark.parametrize("follow_up, expected", [
    ("它的董事长是谁？", "山东太阳纸业股份有限公司的董事长是谁？"),
    ("那它的董事长是谁？", "山东太阳纸业股份有限公司的董事长是谁？"),
    ("该公司的董事长是谁？", "山东太阳纸业股份有限公司的董事长是谁？"),
    ("这家公司的董事长是谁？", "山东太阳纸业股份有限公司的董事长是谁？"),
    ("其董事长是谁？", "山东太阳纸业股份有限公司董事长是谁？"),
    ("董事长是谁？", "董事长是谁？"),  # no pronoun: left alone
    ("她是谁？", "她是谁？"),  # no person to refer to: left alone
])
def test_leading_pronoun_becomes_the_previous_questions_entity(follow_up, expected):
    assert rewrite_by_rule(follow_up, SUN_PAPER) == expected


def test_a_follow_up_in_traditional_script():
    history = [{"role": "user", "content": "山東太陽紙業股份有限公司的代表在大會上做了什麼？"}]
    assert (rewrite_by_rule("該公司的董事長是誰？", history)
            == "山東太陽紙業股份有限公司的董事長是誰？")
    asked = [{"role": "user", "content": "溫金榮在會上提出了什麼要求？"}]
    assert rewrite_by_rule("這位的職務是什麼？", asked) == "溫金榮的職務是什麼？"


def test_short_company_name_is_the_entity_too():
    history = [{"role": "user", "content": "太阳纸业在大会上做了什么发言？"}]
    assert rewrite_by_rule("它的董事长是谁？", history) == "太阳纸业的董事长是谁？"


def test_person_pronoun_takes_a_person_from_the_question_or_the_answer():
    asked = [{"role": "user", "content": "温金荣在会上提出了什么要求？"}]
    assert rewrite_by_rule("他的职务是什么？", asked) == "温金荣的职务是什么？"
    answered = [{"role": "user", "content": "太阳纸业的董事长是谁？"},
                {"role": "assistant", "content": "山东太阳纸业股份有限公司董事长李娜[1]。"}]
    assert rewrite_by_rule("她在大会上做了什么？", answered) == "李娜在大会上做了什么？"


def test_organisation_with_brackets_in_its_name():
    assert main_entity("珞石(山东)机器人集团有限公司的董事长是谁？") == \
        "珞石(山东)机器人集团有限公司"


def test_english_follow_up():
    history = [{"role": "user", "content": "What does Shandong Sun Paper make?"}]
    assert rewrite_by_rule("Who is its chairman?", history) == \
        "Who is Shandong Sun Paper's chairman?"


def test_without_history_nothing_changes():
    assert rewrite_question("它的董事长是谁？", []) == "它的董事长是谁？"
    assert rewrite_question("它的董事长是谁？", [{"role": "assistant", "content": "你好"}]) == \
        "它的董事长是谁？"


def test_llm_rewrite_is_used_and_sees_the_conversation():
    seen = []

    def complete(messages):
        seen.append(messages)
        return "Standalone question: 山东太阳纸业股份有限公司董事长是谁？\n"

    out = rewrite_question("它的董事长是谁？", SUN_PAPER, complete=complete)
    assert out == "山东太阳纸业股份有限公司董事长是谁？"
    [messages] = seen
    assert messages[0]["content"] == REWRITE_INSTRUCTIONS
    user = messages[1]["content"]
    assert "User: 山东太阳纸业股份有限公司的代表在大会上做了什么？" in user
    assert "[1]" not in user and "Follow-up question: 它的董事长是谁？" in user


@pytest.mark.parametrize("reply", ["", "   \n", "x" * 5000])
def test_unusable_llm_rewrite_falls_back_to_the_rule(reply):
    out = rewrite_question("它的董事长是谁？", SUN_PAPER, complete=lambda m: reply)
    assert out == "山东太阳纸业股份有限公司的董事长是谁？"


def test_llm_errors_propagate_for_the_caller_to_handle():
    def broken(messages):
        raise TimeoutError("slow")

    with pytest.raises(TimeoutError):
        rewrite_question("它的董事长是谁？", SUN_PAPER, complete=broken)


def test_history_formats():
    turns = clean_history([
        ("问一", "答一"),
        {"role": "user", "content": "问二"},
        {"role": "system", "content": "ignored"},
        {"role": "assistant", "content": None},
        "junk",
    ])
    assert turns == ({"role": "user", "content": "问一"}, {"role": "assistant", "content": "答一"},
                     {"role": "user", "content": "问二"})


def test_rag_ask_rewrites_the_follow_up_before_retrieval(seed_rag):
    history = [{"role": "user", "content": "太阳纸业在大会上做了什么发言？"},
               {"role": "assistant", "content": "作了现场发言或视频发言[1]。"}]
    answer = seed_rag.ask("它的董事长是谁？", history=history)
    assert answer.question == "它的董事长是谁？"
    assert answer.rewritten_question == "太阳纸业的董事长是谁？"
    assert "李娜" in answer.text and not answer.abstained
    # Retrieval used the rewrite, not the user's words.
    assert [p.chunk_id for p in answer.related] == \
        [p.chunk_id for p in seed_rag.retrieve("太阳纸业的董事长是谁？")]
    assert [p.chunk_id for p in answer.related] != \
        [p.chunk_id for p in seed_rag.retrieve("它的董事长是谁？")]
    assert seed_rag.ask("它的董事长是谁？").rewritten_question is None


def test_rag_ask_stream_with_history_ends_in_the_rewritten_answer(seed_rag):
    items = list(seed_rag.ask_stream("该公司的董事长是谁？", history=SUN_PAPER))
    final = items[-1]
    assert final.rewritten_question == "山东太阳纸业股份有限公司的董事长是谁？"
    assert "李娜" in final.text and final.citations
