"""Ruled tables in text-layer PDFs read as rows with their header; pages without ruling lines
read by pypdf alone, exactly as before."""

from __future__ import annotations

import pytest
from docmaker import make_pdf, make_table_pdf, wrap

from rag.paragraphs import split_paragraphs
from rag.readers import extract
from rag.readers.pdf_tables import with_rows

P1 = "兖州区培育新能源、造纸包装、橡胶化工三个千亿级产业，企业兴则经济兴，企业强则经济强。"
P4 = "华勤橡胶工业集团有限公司总经理牛飞介绍，公司今年出口增长30%。"
ROWS = [["企业", "产值（亿元）", "增长"], ["华勤橡胶", "150", "12%"], ["太阳纸业", "300", "8%"]]


def test_pdf_table_rows_keep_their_header_and_the_text_around_them(tmp_path):
    path = make_table_pdf(tmp_path / "t.pdf", wrap(P1), ROWS, wrap(P4))
    paragraphs = [p.text for p in split_paragraphs(extract(path.read_bytes(), "t.pdf").text, "t")]
    assert paragraphs == [P1, "企业: 华勤橡胶；产值（亿元）: 150；增长: 12%",
                          "企业: 太阳纸业；产值（亿元）: 300；增长: 8%", P4]


def test_pages_without_ruling_lines_never_reach_the_table_finder(tmp_path, monkeypatch):
    from rag.readers import pdf

    monkeypatch.setattr(pdf, "tables_as_rows", lambda *a: pytest.fail("table finder ran"))
    path = make_pdf(tmp_path / "plain.pdf", [wrap(P1), wrap(P4)])
    paragraphs = split_paragraphs(extract(path.read_bytes(), "plain.pdf").text, "plain")
    assert [(p.text, p.page) for p in paragraphs] == [(P1, 1), (P4, 2)]


def test_table_text_not_found_in_the_lines_leaves_the_page_as_it_was():
    text = "第一行文字\n第二行文字"
    assert with_rows(text, [[["甲", "乙"], ["丙", "丁"]]]) == text
    jumbled = "前文\n企业\n增长\n华勤\n12%\n后文"
    assert with_rows(jumbled, [[["企业", "增长"], ["华勤", "12%"]]]).split("\n") == [
        "前文", "\u3000企业: 华勤；增长: 12%", "\u3000后文"]
