"""A citation into a scanned page shown on the page image: ``rag.ocr.locate.cited_boxes`` boxes
the cited lines (from the OCR cache, no second OCR), a text-layer page gives None, and the
chat's source card offers "Show page", whose action returns the boxed page as an <img>.

One small corpus for the module: an image-only PDF of two pages (seed paragraphs rendered with
the Noto CJK font, tests/docmaker.py), a one-page scan as PNG and a text-layer PDF."""

from __future__ import annotations

import io
import re

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

from rag.ocr.layout import Box
from rag.ocr.locate import OUTLINE, cited_boxes, matching_lines, shows_pages

QUESTION = "牛飞介绍公司今年出口增长多少？"


def _lines(*paragraphs: str) -> list[str]:
    return [line for p in paragraphs for line in wrap("\u3000\u3000" + p, 16)]


def _plain(text: str) -> str:
    return re.sub(r"[\s—]+", "", text)


def test_quote_matching_ignores_whitespace_dashes_moved_stops_and_a_misread():
    lines = [Box("\u3000首行缩进的一段文字开头这里", 40, 0, 260, 20),
             Box("一整行文字正好在这里句号", 0, 30, 260, 50),
             Box("。这一行接着上一行——没有缩进", 0, 60, 250, 80)]

    def texts(*quotes):
        return [b.text[:3] for b in matching_lines(lines, quotes)]

    assert texts("一整行文字 正好在这里句号。") == ["一整行"]  # its stop alone is not boxed
    assert texts("句号。这一行接着上一行—没有缩进") == ["一整行", "。这一"]
    assert texts("一段文字开头这里一整行文字正好在X里句号") == ["\u3000首行", "一整行"]
    assert texts("完全无关的一句话") == texts("") == []


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """(RAG over the corpus, the answer to QUESTION); the scan's page 2 holds P2 and P4."""
    from rag.pipeline import RAG

    root = tmp_path_factory.mktemp("scanned")
    corpus = root / "corpus"
    corpus.mkdir()
    make_image_pdf(corpus / "scan.pdf", [render_page([_lines(P1)]),
                                         render_page([_lines(P2, P4)])])
    make_pdf(corpus / "text.pdf", [wrap(P3)])
    rag = RAG(index_dir=root / "index", corpus_dir=corpus).open()
    return rag, rag.ask(QUESTION)


def _outline(png: bytes):
    """The PNG's pixels in the outline colour, as a boolean array (rows, columns)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return (pixels == np.array(OUTLINE, dtype=pixels.dtype)).all(axis=-1)


def _region(mask, box):
    return (slice(int(box.y0), int(box.y1) + 1), slice(int(box.x0), int(box.x1) + 1))


def test_cited_lines_are_boxed_on_the_scanned_page_without_a_second_ocr(scanned, monkeypatch):
    from PIL import Image

    from rag.ocr import engine

    rag, answer = scanned
    first = answer.citations[0]
    assert (first.doc, first.page) == ("scan.pdf", 2) and "出口增长" in first.quote

    def no_ocr(image):
        raise AssertionError("the page was OCR'd again; its boxes are in the cache")

    monkeypatch.setattr(engine, "recognise", no_ocr)
    data = (rag.corpus_dir / "scan.pdf").read_bytes()
    found = cited_boxes(data, first.page, first.quote, read_options())
    assert found is not None
    boxed = _plain("".join(b.text for b in found.boxes))
    assert _plain(first.quote) in boxed
    assert "温金荣" not in boxed  # P2, on the same page, is not cited
    image = Image.open(io.BytesIO(found.png))
    assert image.format == "PNG" and image.width <= 1000
    red = _outline(found.png)
    assert all(red[_region(red, box)].sum() > 20 for box in found.boxes)
    for box in found.boxes:  # the outline lies on the boxes: nothing red elsewhere
        red[_region(red, box)] = False
    assert not red.any()


def test_an_image_page_a_text_layer_page_and_a_missing_quote():
    data = image_bytes(render_page([_lines(P1, P2)]), "PNG")
    found = cited_boxes(data, None, ["强调要坚定不移走生态优先、绿色发展之路。"], read_options(),
                        max_width=300)
    assert found is not None and _outline(found.png).shape[1] == 300
    assert "绿色发展之路" in _plain("".join(b.text for b in found.boxes))
    assert "兖州区" not in "".join(b.text for b in found.boxes)
    assert cited_boxes(data, None, "这句话不在页面上出现过的任何地方", read_options()) is None
    assert cited_boxes(data, 3, P1, read_options()) is None  # no such page


def test_a_text_layer_pdf_page_gives_none(scanned, monkeypatch):
    from rag.ocr import engine

    rag, _ = scanned
    monkeypatch.setattr(engine, "recognise", lambda image: pytest.fail("OCR of a text page"))
    data = (rag.corpus_dir / "text.pdf").read_bytes()
    assert cited_boxes(data, 1, P3[:20], read_options()) is None
    assert shows_pages("a/Scan.PDF") and shows_pages("x.jpeg") and not shows_pages("x.docx")


def test_the_source_card_offers_the_page_and_the_action_returns_it_boxed(scanned):
    from rag.schema import Answer, Citation
    from ui import panels
    from ui.handlers import ChatHandlers
    from ui.session import Turn

    rag, answer = scanned
    history = [Turn(QUESTION, answer.text, answer, "done")]
    card = panels.sources_html(answer, 0)
    assert 'data-rag-action="page:0:1"' in card and "查看原页 · Show page" in card
    _, view = ChatHandlers(rag).act("page:0:1", history)
    assert '<img class="rag-page-image" src="data:image/png;base64,' in view
    assert 'data-view="page:0:1"' in view and "第 2 页" in view
    # A citation into the text-layer PDF: the action says there is no scan to box.
    cited = Citation(1, "text.pdf", 0, (1, 2), P3, P3[:20], 1.0)
    on_text = Answer("q", "总投资一百二十亿元[1]", False, citations=(cited,))
    _, view = ChatHandlers(rag).act("page:0:1", [Turn("q", on_text.text, on_text, "done")])
    assert "<img" not in view and "text layer" in view
