"""PowerPoint, Excel and CSV: slides and sheets kept like pages, rows written with their header,
and archives checked for size and entry count before anything is inflated."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pptx
import pytest

from rag.paragraphs import split_paragraphs
from rag.readers import ReadError, ReadOptions, extract


def _deck() -> bytes:
    from pptx.util import Inches

    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[5])
    first.shapes.title.text = "兖州区绿色低碳发展"
    first.notes_slide.notes_text_frame.text = "演讲备注：强调三个千亿级产业。"
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "重点项目"
    table = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    rows = [["项目", "投资"], ["宁德时代电池", "120亿元"], ["太阳纸业", "80亿元"]]
    for r, row in enumerate(rows):
        for k, value in enumerate(row):
            table.cell(r, k).text = value
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def test_pptx_slides_are_pages_with_notes_and_table_rows():
    paragraphs = [(p.text, p.page) for p in split_paragraphs(extract(_deck(), "d.pptx").text, "d")]
    assert paragraphs == [
        ("兖州区绿色低碳发展", 1), ("演讲备注：强调三个千亿级产业。", 1), ("重点项目", 2),
        ("项目: 宁德时代电池；投资: 120亿元", 2), ("项目: 太阳纸业；投资: 80亿元", 2)]


def test_xlsx_rows_keep_their_header_and_sheets_their_name():
    book = openpyxl.Workbook()
    book.active.title = "产值"
    book.active.append(["企业", "产值（亿元）", None])
    book.active.append(["华勤橡胶", 150.0, None])
    book.active.append([None, None, None])
    book.active.append(["太阳纸业", 300, "龙头"])
    other = book.create_sheet("空表")
    other.append([None])
    buffer = io.BytesIO()
    book.save(buffer)
    extracted = extract(buffer.getvalue(), "t.xlsx")
    assert [(p.text, p.page) for p in split_paragraphs(extracted.text, "t")] == [
        ("产值", 1), ("企业: 华勤橡胶；产值（亿元）: 150", 1),
        ("企业: 太阳纸业；产值（亿元）: 300；列3: 龙头", 1), ("空表", 2)]


def test_csv_in_gbk_with_semicolons():
    data = "城市;人口\n济宁;830万\n兖州;60万\n".encode("gbk")
    extracted = extract(data, "c.csv")
    assert [p.text for p in split_paragraphs(extracted.text, "c")] == [
        "城市: 济宁；人口: 830万", "城市: 兖州；人口: 60万"]


def _bomb(size: int, entries: int = 1) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", b"\0" * size)
        for n in range(entries - 1):
            z.writestr(f"x{n}.xml", b"")
    return buffer.getvalue()


def test_zip_bomb_is_refused_before_it_is_inflated(monkeypatch):
    bomb = _bomb(3 * 1024 * 1024)
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: pytest.fail("inflated"))
    with pytest.raises(ReadError, match=r"unpacks to 3 MB, over the 1 MB limit.*"
                                        r"RAG_MAX_UNPACKED_MB=4"):
        extract(bomb, "bomb.xlsx", ReadOptions(max_unpacked_mb=1))


def test_archive_with_too_many_entries_is_refused():
    with pytest.raises(ReadError, match="holds 9 entries, over the 5-entry limit.*"
                                        "RAG_MAX_ARCHIVE_ENTRIES=9"):
        extract(_bomb(10, entries=9), "many.pptx", ReadOptions(max_archive_entries=5))
