"""Citation markers: parsing, renumbering, invalid ones, quotes with line ranges, abstention."""

from __future__ import annotations

import random

import pytest

from rag.answerers.base import NOT_FOUND
from rag.citations import MarkerRewriter, check_citations, is_abstention, renumber
from rag.prompting import Source, build_prompt
from rag.schema import Paragraph, Passage

# Three source lines; the paragraph text joins them (offsets where each line begins).
P0_TEXT = "大会在济宁召开。山东太阳纸业股份有限公司董事长李娜作了发言。会议号召企业扩大投资。"
P0 = Paragraph(doc="d.txt", index=0, text=P0_TEXT, line_start=3, line_end=5,
               line_starts=((0, 3), (P0_TEXT.index("山东"), 4), (P0_TEXT.index("会议号召"), 5)))
P1 = Paragraph(doc="e.txt", index=2, text="兖州区培育三个千亿级产业。重点是高端化工。",
               line_start=10, line_end=10)
PARAGRAPHS = {(p.doc, p.index): p for p in (P0, P1)}


def paragraph(doc: str, index: int) -> Paragraph:
    return PARAGRAPHS[(doc, index)]


def source(n: int, para: Paragraph) -> Source:
    p = Passage(chunk_id=f"c{n}", doc=para.doc, paragraph=para.index, paragraphs=(para.index,),
                text=para.text, score=1.0, lines=para.lines)
    return Source(n, p, p.text)


SOURCES = [source(1, P0), source(2, P1)]


@pytest.mark.parametrize("reply, expected, used, invalid", [
    ("甲[1]。", "甲[1]。", [1], 0),
    ("甲[1,2]。", "甲[1][2]。", [1, 2], 0),
    ("甲[1, 2]。", "甲[1][2]。", [1, 2], 0),
    ("甲[2][1]。", "甲[1][2]。", [2, 1], 0),
    ("甲【2】。乙［1］。", "甲[1]。乙[2]。", [2, 1], 0),
    ("甲[1，2]。", "甲[1][2]。", [1, 2], 0),
    ("甲[2、1]。", "甲[1][2]。", [2, 1], 0),
    ("甲[1-2]。", "甲[1][2]。", [1, 2], 0),
    ("甲[1][1]。乙[1]。", "甲[1]。乙[1]。", [1], 0),
    ("甲[7]。", "甲。", [], 1),
    ("甲 [0] 乙", "甲 乙", [], 1),
    ("甲[2,9]。乙[3][2]。", "甲[1]。乙[1]。", [2], 2),
    ("见[附件]和[2023]年 [x]", "见[附件]和[2023]年 [x]", [], 0),
])
def test_markers_are_parsed_checked_and_renumbered(reply, expected, used, invalid):
    assert renumber(reply, 2) == (expected, used, invalid)


def test_streamed_renumbering_matches_the_whole_reply_for_any_split():
    reply = ("李娜是董事长[2]。另见【1】和［2］以及[1，2]，还有[9]。范围[1-2] [2][7] end "
             "[1,9]. 未完的[1")
    whole = renumber(reply, 2)
    rnd = random.Random(7)
    for _ in range(300):
        cuts = sorted(rnd.sample(range(1, len(reply)), rnd.randint(1, 20)))
        pieces = [reply[a:b] for a, b in zip([0, *cuts], [*cuts, len(reply)], strict=True)]
        rewriter = MarkerRewriter(2)
        streamed = "".join(rewriter.feed(p) for p in pieces) + rewriter.flush()
        assert (streamed, rewriter.used, rewriter.invalid) == whole


def test_a_split_marker_is_held_back_until_complete():
    rewriter = MarkerRewriter(3)
    assert rewriter.feed("李娜是董事长[") == "李娜是董事长"
    assert rewriter.feed("3") == ""
    assert rewriter.feed("]。") == "[1]。"


def test_quote_is_the_best_matching_sentence_with_its_source_lines():
    reply = "李娜是山东太阳纸业股份有限公司的董事长[1]。兖州区重点发展高端化工。[2]"
    checked = check_citations(reply, SOURCES, paragraph)
    first, second = checked.citations
    assert first.n == 1 and first.quote == "山东太阳纸业股份有限公司董事长李娜作了发言。"
    assert first.lines == (4, 4) and first.doc == "d.txt" and first.paragraph == 0
    assert first.text == P0_TEXT and first.score > 0.5
    # A marker after the full stop belongs to the sentence before it.
    assert second.n == 2 and second.quote == "重点是高端化工。" and second.lines == (10, 10)
    assert checked.grounded and not checked.abstained and checked.invalid == 0


def test_one_source_cited_by_two_sentences_gives_two_quotes():
    reply = "大会在济宁召开[1]。会议号召企业扩大投资[1]。"
    checked = check_citations(reply, SOURCES, paragraph)
    assert [(c.n, c.quote, c.lines) for c in checked.citations] == [
        (1, "大会在济宁召开。", (3, 3)), (1, "会议号召企业扩大投资。", (5, 5))]


def test_renumbered_by_first_use():
    checked = check_citations("高端化工[2]。李娜发言[1]。", SOURCES, paragraph)
    assert checked.text == "高端化工[1]。李娜发言[2]。"
    assert [(c.n, c.doc) for c in checked.citations] == [(1, "e.txt"), (2, "d.txt")]


def test_only_invalid_markers_is_not_grounded():
    checked = check_citations("李娜是董事长[5]。", SOURCES, paragraph)
    assert checked.text == "李娜是董事长。" and checked.invalid == 1
    assert not checked.citations and not checked.grounded and not checked.abstained


@pytest.mark.parametrize("gibberish", [
    "qx zzv 喔喔喔 ]]][[ 【】 ［ 12 ))",
    "",
    "\ufffd\ufffd目服推动 u会放位和",
])
def test_gibberish_is_ungrounded_and_does_not_crash(gibberish):
    checked = check_citations(gibberish, SOURCES, paragraph)
    assert not checked.citations and not checked.grounded and not checked.abstained


@pytest.mark.parametrize("reply", [
    NOT_FOUND["zh"],
    NOT_FOUND["en"],
    NOT_FOUND["zh-Hant"],
    "文档中未提及董事长是谁。",
    "The sources do not contain the answer.",
    "I cannot answer this from the documents.",
])
def test_not_in_the_documents_is_an_abstention(reply):
    assert is_abstention(reply)
    checked = check_citations(reply, SOURCES, paragraph)
    assert checked.abstained and checked.grounded and not checked.citations


def test_an_answer_with_citations_is_not_an_abstention():
    checked = check_citations("李娜是董事长[1]。其他信息文档未提及。", SOURCES, paragraph)
    assert not checked.abstained and checked.citations
    assert not is_abstention("李娜是山东太阳纸业股份有限公司董事长。")


def test_quotes_on_the_seed_index_point_at_real_lines(seed_rag):
    question = "山东太阳纸业股份有限公司董事长是谁？"
    passages = seed_rag.retrieve(question)
    prompt = build_prompt(question, passages)
    evidence = seed_rag.evidence(question, passages, ())
    checked = check_citations("山东太阳纸业股份有限公司董事长是李娜【1】。", prompt.sources,
                              evidence.paragraph)
    [citation] = checked.citations
    assert "李娜" in citation.quote and citation.doc == prompt.sources[0].doc
    para = evidence.paragraph(citation.doc, citation.paragraph)
    start = para.text.index(citation.quote)
    assert citation.lines == para.lines_of(start, start + len(citation.quote))
    assert para.line_start <= citation.lines[0] <= citation.lines[1] <= para.line_end
