"""What an answer shows around the sentences it was decided on (rag.answerers.answer_context):
the sentence a pointing-back opening refers to, a run-on continued within the budget, adjacent
sentences quoted as one span, and the sentence stating the question's numbers leading."""

from __future__ import annotations

import pytest

from rag.answerers.answer_context import (
    ELLIPSIS,
    NUMBERS_WITHIN,
    elided,
    numbers_first,
    points_back,
    previous_sentence,
    with_context,
)
from rag.answerers.base import Evidence
from rag.answerers.extractive import MAX_ANSWER_CHARS, ExtractiveAnswerer
from rag.answerers.sentence_scoring import Scorer, SentenceSpan, trim_span
from rag.answers_analysis import QType
from rag.schema import Paragraph, Passage
from rag.sentences import sentence_spans

BATTLE = ("元亲的铁炮队从侧翼攻击，兼定担心被两面夹击而后退。"
          "元亲见状便命令全军渡河突击，一条军溃败，战死两百余人。"
          "此战奠定了元亲在土佐的霸权。"
          "此后兼定逃往海边隐居，十年后去世。"
          "元亲随后出兵阿波。")
DOC = "battle.txt"


def _evidence(text: str, question: str = "为什么此战奠定了元亲在土佐的霸权？") -> Evidence:
    para = Paragraph(doc=DOC, index=0, text=text, line_start=1, line_end=1)
    passage = Passage(chunk_id="c0", doc=DOC, paragraph=0, paragraphs=(0,), text=text,
                      score=1.0, lines=(1, 1), rank=0)
    return Evidence(question=question, passages=(passage,), paragraph=lambda d, i: para)


def _sentence(text: str, i: int) -> SentenceSpan:
    start, end = sentence_spans(text)[i]
    return SentenceSpan(DOC, 0, start, end, text[start:end].strip(), 1.0, 0)


@pytest.mark.parametrize(("text", "expected"), [
    ("因此，畜牧业发达。", True),
    ("但楚昭辅不愿侵占民地。", True),
    ("此时韩遂逝世。", True),
    ("在此背景下，各家经纪商决定协商。", True),
    ("他在五人之中最早开悟。", True),
    ("於是他們撤退了。", True),  # traditional script reads as its simplified form
    ("這場比賽改期。", True),
    ("故事讲述一个少年。", False),  # 故 alone is not a connective here
    ("元亲随后出兵阿波。", False),
    ("2012年，博物馆被核定为一级博物馆。", False),
])
def test_openings_that_point_back(text, expected):
    assert points_back(text) is expected


def test_a_sentence_pointing_back_is_shown_after_the_one_it_refers_to():
    evidence = _evidence(BATTLE)
    best = _sentence(BATTLE, 2)  # 此战奠定了…
    shown = with_context([best], evidence, MAX_ANSWER_CHARS)
    assert len(shown) == 1  # adjacent sentences become one quote
    assert shown[0].text == ("元亲见状便命令全军渡河突击，一条军溃败，战死两百余人。"
                             "此战奠定了元亲在土佐的霸权。")
    assert BATTLE[shown[0].start:shown[0].end].strip() == shown[0].text


def test_a_sentence_that_stands_alone_is_shown_alone():
    evidence = _evidence(BATTLE)
    last = _sentence(BATTLE, 4)
    assert with_context([last], evidence, MAX_ANSWER_CHARS) == [last]


def test_no_previous_sentence_for_a_span_cut_from_the_middle_of_a_sentence():
    text = "甲乙两地相距很远。" + "为了保存体力，" * 20 + "因此队伍在中途休息，随后继续前进。"
    evidence = _evidence(text, "队伍为什么在中途休息？")
    long_one = _sentence(text, 1)
    cut = trim_span(long_one, evidence, Scorer(evidence), QType.REASON)
    assert cut.start > long_one.start  # the clauses around the match
    assert previous_sentence(cut, evidence) is None
    start = text.index("因此")
    clause = SentenceSpan(DOC, 0, start, len(text), text[start:], 1.0, 0)
    assert points_back(clause.text)
    assert with_context([clause], evidence, MAX_ANSWER_CHARS) == [clause]


def test_a_run_on_answer_continues_while_it_fits_the_budget():
    evidence = _evidence(BATTLE)
    first, second = _sentence(BATTLE, 0), _sentence(BATTLE, 1)
    budget = len(first.text) + len(second.text) + len(_sentence(BATTLE, 2).text)
    shown = with_context([first, second], evidence, budget)
    assert [s.text for s in shown] == ["".join(_sentence(BATTLE, i).text for i in range(3))]
    # one character less and the third sentence stays out
    shown = with_context([first, second], evidence, budget - 1)
    assert [s.text for s in shown] == [first.text + second.text]


def test_a_runner_up_further_on_does_not_start_a_run():
    evidence = _evidence(BATTLE)
    first, third = _sentence(BATTLE, 0), _sentence(BATTLE, 2)
    shown = with_context([first, third], evidence, MAX_ANSWER_CHARS)
    assert [s.text for s in shown] == [first.text, third.text]


def test_the_sentence_pointed_back_to_outranks_the_tail_of_a_run_on():
    evidence = _evidence(BATTLE)
    best, follow = _sentence(BATTLE, 2), _sentence(BATTLE, 3)
    before = _sentence(BATTLE, 1)
    budget = len(before.text) + len(best.text) + 1  # no room for the follow-up
    shown = with_context([best, follow], evidence, budget)
    assert [s.text for s in shown] == [before.text + best.text]
    # and nothing is prepended, nor taken away, when best and the previous one do not fit
    assert with_context([best], evidence, len(best.text) + 2) == [best]
    budget = len(best.text) + len(follow.text) + 4
    assert len(before.text) + len(best.text) > budget
    shown = with_context([best, follow], evidence, budget)
    assert [s.text for s in shown] == [best.text + follow.text]


def test_the_answerer_decides_on_its_sentence_and_shows_the_reason_before_it():
    evidence = _evidence(BATTLE)
    analysis = ExtractiveAnswerer().analyse(evidence)
    assert analysis is not None
    shown = "".join(s.text for s in analysis.chosen)
    assert "渡河突击" in shown and "此战奠定了元亲在土佐的霸权" in shown
    assert len(shown) <= MAX_ANSWER_CHARS


def test_sentences_of_different_paragraphs_stay_separate_quotes():
    first = Paragraph(doc=DOC, index=0, text="甲队先出发。", line_start=1, line_end=1)
    second = Paragraph(doc=DOC, index=1, text="因此乙队随后跟上。", line_start=3, line_end=3)
    evidence = Evidence(question="乙队为什么随后跟上？", passages=(),
                        paragraph=lambda d, i: (first, second)[i])
    spans = [SentenceSpan(DOC, 0, 0, 6, first.text, 1.0, 0),
             SentenceSpan(DOC, 1, 0, 9, second.text, 1.0, 0)]
    assert with_context(spans, evidence, MAX_ANSWER_CHARS) == spans


def _ranked(*texts: str) -> list[SentenceSpan]:
    return [SentenceSpan(DOC, 0, i * 100, i * 100 + len(t), t, 1.0, 0, score=1.0 / (i + 2))
            for i, t in enumerate(texts)]


BORN = "清嘉庆九年(1804年)，潘仕成出生。"
MINES = "道光二十二年（1842年）十月，潘仕成出资在广州研发水雷。"


def test_the_sentence_stating_the_questions_numbers_leads():
    ranked = _ranked(BORN, "潘仕成是晚清巨富。", MINES)
    led = numbers_first(ranked, "1842年，潘仕成做了什么事情？")
    assert [s.text for s in led] == [MINES, BORN, "潘仕成是晚清巨富。"]


def test_the_order_stands_when_the_first_states_them_or_none_does():
    ranked = _ranked(MINES, BORN)
    assert numbers_first(ranked, "1842年，潘仕成做了什么事情？") == ranked
    assert numbers_first(ranked, "潘仕成做了什么事情？") == ranked  # no number named
    assert numbers_first(_ranked(BORN), "1842年，潘仕成做了什么事情？") == _ranked(BORN)
    far = _ranked(*(["潘仕成是晚清巨富。"] * NUMBERS_WITHIN), MINES)
    assert numbers_first(far, "1842年，潘仕成做了什么？") == far  # too far down


def test_every_named_number_counts_in_either_width():
    ranked = _ranked("1970年4月至1971年11月任连长。", "１９６９年９月至１９７０年４月任参谋。")
    led = numbers_first(ranked, "1969年9月至1970年4月，他担任什么职务？")
    assert led[0].text.endswith("任参谋。")


LONG = ("渡川之战中，一条兼定带着三千五百人攻打长宗我部元亲，原本预期农忙期间对方无法派出大量军队"
        "出战，但由于对方在领内实行一领具足制度，因此集结约七千三百名士兵，在渡川迎击，元亲将军队"
        "分成两股，一部直接渡河，一部迂回至北方，兼定又担心被两面夹击而后退，一条军溃败，战死两百余人。"
        "此后兼定逃往海边隐居。")


def test_a_quote_cut_from_its_sentence_is_marked_where_it_was_cut():
    first_end = sentence_spans(LONG)[0][1]
    assert elided(LONG, 0, first_end) == (False, False)  # the whole sentence
    middle = LONG.index("元亲将军队")
    assert elided(LONG, middle, LONG.index("，兼定又")) == (True, True)
    assert elided(LONG, 0, LONG.index("，因此集结")) == (False, True)
    assert elided(LONG, middle, first_end) == (True, False)
    # a quote spanning two sentences is cut only where it starts or ends mid-sentence
    assert elided(LONG, 0, len(LONG)) == (False, False)
    assert elided(" " + LONG, 1, first_end + 1) == (False, False)  # leading space is no cut


def test_the_answer_marks_a_trimmed_sentence_and_quotes_it_exactly():
    evidence = _evidence(LONG, "元亲把军队分成了几股？")
    answer = ExtractiveAnswerer(semantic=False).answer(evidence)
    assert not answer.abstained and "分成两股" in answer.text
    (citation,) = answer.citations
    start = LONG.index(citation.quote)
    assert len(citation.quote) < sentence_spans(LONG)[0][1]  # trimmed: over TRIM_OVER
    head, tail = elided(LONG, start, start + len(citation.quote))
    assert head or tail
    assert answer.text == f"{ELLIPSIS * head}{citation.quote}{ELLIPSIS * tail}[1]"
    assert ELLIPSIS not in citation.quote  # the quote stays the paragraph's own words
