"""Paragraph repair on the real seed files and on small hand-made texts."""

from __future__ import annotations

import re

import pytest
from conftest import SEEDS

from rag.paragraphs import split_paragraphs

DOC0 = "000_714dc78de03cf996.txt"
DOC2 = "002_c385dfa94da2c315.txt"


def _paragraphs(name: str):
    return split_paragraphs((SEEDS / name).read_text(encoding="utf-8"), name)


def _original_span(name: str, start: int, end: int) -> str:
    lines = (SEEDS / name).read_text(encoding="utf-8").split("\n")[start - 1 : end]
    return re.sub(r"\s+", "", "".join(lines).replace("**", ""))


@pytest.mark.parametrize(
    "phrase",
    [
        "突破制约产业发展的“卡脖子”技术",
        "离不开广大企业的支持参与，也必将为广大企业发展带来更大广阔空间",
        "山东联诚精密制造股份有限公司自动浇注生产线",
    ],
)
def test_phrase_lies_inside_one_paragraph(phrase):
    hits = [p for p in _paragraphs(DOC0) if phrase in p.text]
    assert len(hits) == 1, phrase


def test_headline_stands_alone():
    texts = [p.text for p in _paragraphs(DOC0)]
    assert "实干兴区，绿色发展铸未来" in texts


def test_bold_markers_removed():
    assert not [p for p in _paragraphs(DOC2) if "**" in p.text]
    assert any("华勤橡胶工业集团有限公司总经理牛飞" in p.text for p in _paragraphs(DOC2))


@pytest.mark.parametrize("name", [DOC0, DOC2])
def test_line_ranges_cover_the_text(name):
    paragraphs = _paragraphs(name)
    assert [p.index for p in paragraphs] == list(range(len(paragraphs)))
    for p in paragraphs:
        assert 1 <= p.line_start <= p.line_end
        assert re.sub(r"\s+", "", p.text) in _original_span(name, p.line_start, p.line_end)


def test_quote_line_range_is_exact():
    para = next(p for p in _paragraphs(DOC0) if "卡脖子" in p.text)
    start = para.text.index("破制约产业发展")
    assert para.lines_of(start, start + 15) == (140, 140)
    start = para.text.index("大院大所加强产学研合作")
    assert para.lines_of(start, para.text.index("卡脖子")) == (138, 140)


def test_vertical_caption_line_range():
    para = next(p for p in _paragraphs(DOC0) if p.text.startswith("山东联诚"))
    assert para.lines == (41, 68)
    assert para.text == "山东联诚精密制造股份有限公司自动浇注生产线■李梅摄"


def test_sections_with_narrower_columns_are_joined():
    para = next(p for p in _paragraphs(DOC0) if p.text.startswith("在兖州高质量发展的道路上"))
    assert para.text.endswith("真心实意支持企业做大做强。")
    assert para.lines == (14, 22)


def test_unwrapped_text_is_not_joined():
    long_line = "这是一整段没有硬换行的文字，它自己就是一段，而且相当长，不会与下一行相连接起来的"
    text = f"第一段标题\n\n{long_line}\n\n短标题\n"
    assert [p.text for p in split_paragraphs(text, "x.txt")] == [
        "第一段标题",
        long_line,
        "短标题",
    ]


def test_english_hard_wrap_and_markdown():
    text = (
        "# Title here\n\n"
        "This paragraph was wrapped by an editor at a fixed width so that\n"
        "it continues on the next line. It ends here and the line is full\n"
        "until the final words.\n\n"
        "- a list item\n- another **bold** item with a [link](http://x)\n"
    )
    paras = [p.text for p in split_paragraphs(text, "notes.md")]
    assert paras[0] == "Title here"
    assert paras[1].startswith("This paragraph was wrapped") and paras[1].endswith("final words.")
    assert "fixed width so that it continues" in paras[1]
    assert paras[2:] == ["- a list item", "- another bold item with a link"]


def test_crlf_and_leading_space_paragraphs():
    row = "一二三四五六七八九十" * 2
    text = f"{row}\r\n{row}\r\n 新段落开始，一二三四五六七八九十一二三\r\n四五。\r\n"
    paras = split_paragraphs(text, "a.txt")
    assert len(paras) == 2
    assert paras[1].lines == (3, 4)
