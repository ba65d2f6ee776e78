"""OCR: scanned PDF pages and images read into paragraphs with pages, reading order from boxes,
the cache, the settings that turn it off or limit it, and an answer cited from a scanned page.

Pages are rendered here from seed-like text with the Noto CJK font (tests/docmaker.py) and
kept to a few lines each, so the suite stays fast; docmaker points RAG_OCR_CACHE_DIR at one
temporary cache for the session."""

from __future__ import annotations

import io
import logging

import pytest
from docmaker import (
    P1,
    P2,
    P3,
    P4,
    image_bytes,
    make_image_pdf,
    make_pdf,
    read_options,
    render_page,
    wrap,
)

from rag.ocr import layout
from rag.ocr.layout import Box, page_text
from rag.paragraphs import split_paragraphs
from rag.readers import ReadError, extract


def _lines(*paragraphs: str, width: int = 16) -> list[str]:
    """Each paragraph wrapped at ``width`` with its first line indented, as printed."""
    out = []
    for p in paragraphs:
        wrapped = wrap("\u3000\u3000" + p, width)
        out.extend(wrapped)
    return out


def _extract(data: bytes, name: str, **settings):
    """``extract`` with the options an index with these ``settings`` passes its readers."""
    return extract(data, name, read_options(**settings))


def _texts(text: str, name: str = "x") -> list[tuple[str, int | None]]:
    return [(p.text, p.page) for p in split_paragraphs(text, name)]


def _cer(got: str, want: str) -> float:
    import difflib

    matcher = difflib.SequenceMatcher(None, want, got, autojunk=False)
    edits = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes()
                if op != "equal")
    return edits / len(want)


# -- reading order from boxes (no OCR) ---------------------------------------------------------

def test_two_columns_are_read_column_by_column():
    # Lines of both columns share baselines; the gutter keeps them apart.
    left = [Box("第一栏第一行文字很长很长", 0, 0, 240, 20), Box("第一栏第二行。", 0, 30, 140, 50)]
    right = [Box("第二栏第一行文字很长很长", 300, 0, 540, 20),
             Box("第二栏第二行。", 300, 30, 440, 50)]
    head = [Box("通栏标题", 200, -60, 280, -40)]
    text = page_text(right + left + head)
    order = [text.index(s) for s in ("通栏标题", "第一栏第一行", "第一栏第二行", "第二栏第一行")]
    assert order == sorted(order)


def test_a_gutter_narrower_than_a_line_gap_still_separates_columns():
    # 18 px type, a 30 px gutter: less than 1.5 line heights, so joining boxes into lines
    # before cutting columns read the columns' lines side by side.
    left = [Box(f"左栏第{n}行文字内容很长", 0, 30 * n, 234, 30 * n + 24) for n in range(4)]
    right = [Box(f"右栏第{n}行文字内容很长", 264, 30 * n, 498, 30 * n + 24) for n in range(4)]
    text = page_text(right + left)
    assert text.index("左栏第3行") < text.index("右栏第0行")
    assert "很长右栏" not in text


def test_sentence_end_at_a_full_line_does_not_end_the_paragraph_and_dashes_are_doubled():
    boxes = [Box("首行缩进的一段文字开头这里", 40, 0, 260, 20),
             Box("一整行文字正好在这里句号。", 0, 30, 260, 50),
             Box("这一行接着上一行—没有缩进", 0, 60, 250, 80),
             Box("另一段开头", 40, 90, 140, 110)]
    lines = page_text(boxes).split("\n")
    assert lines == ["\u3000首行缩进的一段文字开头这里", "一整行文字正好在这里句号",
                     "。这一行接着上一行——没有缩进", "\u3000另一段开头"]
    assert any("句号。这一行接着上一行" in p.text for p in split_paragraphs("\n".join(lines), "x"))


def test_pieces_of_one_line_are_joined_and_vertical_captions_stand_alone():
    boxes = [Box("这是", 0, 0, 40, 20), Box("一行字", 45, 2, 105, 22),
             Box("竖排标题", 400, 0, 20 + 400, 80)]
    text = page_text(boxes)
    assert "这是一行字" in text
    assert "\u3000竖排标题" in text.split("\n")


def test_indented_line_starts_a_paragraph():
    boxes = [Box("首行缩进的段落开头", 40, 0, 220, 20), Box("接着的一整行文字内容", 0, 30, 200, 50),
             Box("另一段的开头", 40, 60, 160, 80)]
    lines = page_text(boxes).split("\n")
    assert [ln.startswith("\u3000") for ln in lines] == [True, False, True]
    assert layout.page_text([]) == ""


# -- images and scanned PDFs ------------------------------------------------------------------

def test_png_page_reads_back_with_paragraphs():
    data = image_bytes(render_page([_lines(P1, P2)]), "PNG")
    extracted = _extract(data, "scan.png")
    assert (extracted.kind, extracted.encoding) == ("image", "ocr")
    paragraphs = [t for t, _ in _texts(extracted.text)]
    assert len(paragraphs) == 2
    assert _cer(paragraphs[0], P1) <= 0.01 and _cer(paragraphs[1], P2) <= 0.01


def test_two_column_page_comes_out_in_reading_order():
    image = render_page([_lines(P1, P2, width=13), _lines(P3, P4, width=13)])
    paragraphs = [t for t, _ in _texts(_extract(image_bytes(image, "PNG"), "cols.png").text)]
    assert len(paragraphs) == 4
    for got, want in zip(paragraphs, [P1, P2, P3, P4], strict=True):
        assert _cer(got, want) <= 0.02, (got, want)


def test_rotated_noisy_photo_of_a_page_is_still_read():
    image = render_page([_lines(P3, P4)], rotate=1.0, noise=0.02, seed=7)
    text = "".join(t for t, _ in _texts(_extract(image_bytes(image, "JPEG"), "photo.jpg").text))
    assert _cer(text, P3 + P4) <= 0.05, text


def test_pdf_mixing_text_and_scanned_pages_keeps_page_numbers(tmp_path):
    from pypdf import PdfReader, PdfWriter

    make_pdf(tmp_path / "text.pdf", [wrap(P1)])
    make_image_pdf(tmp_path / "scan.pdf", [render_page([_lines(P3)])])
    writer = PdfWriter()
    for name in ("text.pdf", "scan.pdf"):
        for page in PdfReader(tmp_path / name).pages:
            writer.add_page(page)
    buffer = io.BytesIO()
    writer.write(buffer)
    extracted = _extract(buffer.getvalue(), "mixed.pdf")
    assert extracted.encoding == "pdf+ocr" and not extracted.warnings
    (t1, page1), (t2, page2) = _texts(extracted.text)
    assert (t1, page1) == (P1, 1)
    assert page2 == 2 and _cer(t2, P3) <= 0.01


def test_ocr_results_are_cached_by_content(monkeypatch):
    from rag.ocr import engine

    data = image_bytes(render_page([_lines(P2)]), "PNG")
    first = _extract(data, "a.png")

    def no_ocr(image):
        raise AssertionError("OCR ran again on a cached page")

    monkeypatch.setattr(engine, "recognise", no_ocr)
    assert _extract(data, "renamed-copy.png") == first


# -- settings and bad input -------------------------------------------------------------------

def test_ocr_off_gives_the_run_ocr_message(tmp_path):
    make_image_pdf(tmp_path / "scan.pdf", [render_page([_lines(P3)])])
    with pytest.raises(ReadError, match="no text layer on any of its 1 page.*Run OCR|RAG_OCR=1"):
        _extract((tmp_path / "scan.pdf").read_bytes(), "scan.pdf", ocr=False)
    with pytest.raises(ReadError, match="OCR is turned off; turn it on with RAG_OCR=1"):
        _extract(image_bytes(render_page([_lines(P3)]), "PNG"), "scan.png", ocr=False)


def test_scan_over_the_page_limit_is_refused_with_the_setting(tmp_path):
    page = render_page([["空白"]], size=12)
    make_image_pdf(tmp_path / "long.pdf", [page, page])
    with pytest.raises(ReadError, match="2 pages to OCR, over the 1-page limit.*RAG_MAX_PAGES=2"):
        _extract((tmp_path / "long.pdf").read_bytes(), "long.pdf", max_pages=1)


def test_image_over_the_pixel_limit_is_refused_before_decoding(monkeypatch):
    from PIL import Image

    data = image_bytes(Image.new("L", (200, 100), 255), "PNG")
    decoded = []
    monkeypatch.setattr(Image.Image, "convert", lambda *a, **k: decoded.append(1))
    with pytest.raises(ReadError, match="200x100 = 20,000 pixels.*RAG_MAX_IMAGE_PIXELS=20000"):
        _extract(data, "big.png", max_image_pixels=10_000)
    assert not decoded


def test_corrupt_and_textless_images_get_clear_messages():
    from PIL import Image

    good = image_bytes(render_page([_lines(P2)]), "PNG")
    with pytest.raises(ReadError, match="not a readable image"):
        _extract(good[: len(good) // 3], "cut.png")
    blank = image_bytes(Image.new("RGB", (320, 200), (250, 250, 250)), "PNG")
    with pytest.raises(ReadError, match="OCR found no text in the image"):
        _extract(blank, "blank.png")


def test_scanned_pdf_without_any_text_is_reported(tmp_path, caplog):
    from PIL import Image

    make_image_pdf(tmp_path / "photo.pdf", [Image.new("RGB", (300, 200), (90, 120, 90))])
    with pytest.raises(ReadError, match="OCR found no text on them"):
        _extract((tmp_path / "photo.pdf").read_bytes(), "photo.pdf")


# -- end to end: a question answered from an image-only PDF, cited by page -------------------

def test_question_answered_from_an_image_only_pdf(tmp_path, caplog):
    from rag.pipeline import RAG

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_image_pdf(corpus / "scan.pdf", [render_page([_lines(P1)]), render_page([_lines(P4)])])
    with caplog.at_level(logging.WARNING):
        rag = RAG(index_dir=tmp_path / "index", corpus_dir=corpus).open()
    answer = rag.ask("牛飞介绍公司今年出口增长多少？")
    assert not answer.abstained, answer.text
    first = answer.citations[0]
    assert (first.doc, first.page) == ("scan.pdf", 2)
    assert "30" in first.text and "出口增长" in first.text


# -- the index's settings reach the readers ---------------------------------------------------

def test_no_reader_loads_settings_itself():
    from pathlib import Path

    import rag

    root = Path(rag.__file__).parent
    sources = [*(root / "readers").glob("*.py"), *(root / "ocr").glob("*.py")]
    assert [p.name for p in sources if "load_settings" in p.read_text(encoding="utf-8")] == []


def test_page_limit_given_in_python_reaches_the_reader(tmp_path):
    from rag.config import load_settings
    from rag.ingest.process import parse_file

    page = render_page([["空白"]], size=12)
    make_image_pdf(tmp_path / "long.pdf", [page, page])
    parsed = parse_file(tmp_path, "long.pdf", load_settings(max_pages=1))
    assert not parsed.chunks and "over the 1-page limit" in parsed.skipped[0].reason


def test_turning_ocr_on_rereads_the_scans_an_index_skipped(tmp_path):
    from rag.pipeline import RAG

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text(P1, encoding="utf-8")
    make_image_pdf(corpus / "scan.pdf", [render_page([_lines(P4)])])
    off = RAG(index_dir=tmp_path / "index", corpus_dir=corpus, ocr=False).open()
    assert [s["path"] for s in off.manifest["skipped"]] == ["scan.pdf"]
    assert off.manifest["reading"]["ocr"] is False
    on = RAG(index_dir=tmp_path / "index", corpus_dir=corpus).open()  # nothing else changed
    assert on.manifest["skipped"] == [] and on.manifest["documents"] == 2
    assert on.manifest["reading"]["ocr"] is True and on.manifest["reading"]["ocr_engine"]
    assert on.ask("牛飞介绍公司今年出口增长多少？").citations[0].doc == "scan.pdf"
