"""The contract every format reader keeps, checked for each suffix in ``rag.readers.READERS``.

To add a reader, add one file under rag/readers/ and one line to ``READERS`` in
rag/readers/__init__.py, then a maker for its format in ``MAKERS`` below (a test fails until
you do); this test then runs it through the same cases as every other format: a real file
made from a seed paragraph is read back, and empty or damaged bytes are refused with a
``ReadError`` that says why, never with another exception.
"""

from __future__ import annotations

import csv
import difflib
import functools
import html
import io
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from docmaker import image_bytes, make_docx, make_pdf, read_options, render_page, wrap

from rag.documents import read_document
from rag.paragraphs import split_paragraphs
from rag.readers import READERS, ReadError, extract
from rag.readers.base import Extracted

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
TITLE = "兖州区绿色低碳高质量发展大会"
# What rag.readers.base.clean_text removes: C0/C1 controls except tab, LF, CR and form feed.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")
# Bytes that are no format at all (a fixed seed keeps failures reproducible); they include NULs,
# so no text encoding accepts them either.
GARBAGE = random.Random(20240205).randbytes(4096)


@functools.cache
def seed_paragraph() -> str:
    """A real paragraph of the seed corpus (after paragraph repair) that names a person."""
    name = "002_c385dfa94da2c315.txt"
    doc = read_document(SEEDS / name, SEEDS)
    assert doc is not None
    return next(p.text for p in split_paragraphs(doc.text, doc.path) if "李娜" in p.text)


# -- one maker per format --------------------------------------------------------------------

def _text(path: Path, paragraph: str) -> None:
    # A BEL after the title: control characters in a source must not reach the index.
    path.write_text(f"{TITLE}\x07\n\n{paragraph}\n", encoding="utf-8")


def _markdown(path: Path, paragraph: str) -> None:
    path.write_text(f"# {TITLE}\x07\n\n{paragraph}\n", encoding="utf-8")


def _pdf(path: Path, paragraph: str) -> None:
    make_pdf(path, [[TITLE, *wrap(paragraph)]])  # hard-wrapped as a newspaper column


def _docx(path: Path, paragraph: str) -> None:
    make_docx(path, [TITLE, paragraph])


def _html(path: Path, paragraph: str) -> None:
    path.write_text(
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{TITLE}</title></head><body><nav><a href='/'>首页</a></nav>"
        f"<article><h1>{TITLE}\x07</h1><p>{html.escape(paragraph)}</p></article></body></html>",
        encoding="utf-8",
    )


def _image(fmt: str) -> Callable[[Path, str], None]:
    def make(path: Path, paragraph: str) -> None:
        path.write_bytes(image_bytes(render_page([[TITLE, *wrap(paragraph, 28)]]), fmt))
    return make


def _pptx(path: Path, paragraph: str) -> None:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    slide.shapes.title.text = TITLE
    box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(8), Inches(4))
    box.text_frame.text = paragraph
    deck.save(str(path))


def _xlsx(path: Path, paragraph: str) -> None:
    import openpyxl
    book = openpyxl.Workbook()
    book.active.append(["标题", "内容"])
    book.active.append([TITLE, paragraph])
    book.save(path)


def _csv(path: Path, paragraph: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["标题", "内容"], [TITLE, paragraph]])
    path.write_text(buffer.getvalue(), encoding="utf-8")


@dataclass(frozen=True)
class Format:
    """How to make a real file of a format, and what reading it must report."""

    make: Callable[[Path, str], None]
    kind: str
    # A binary container: cutting the file short must be refused, not read as text.
    binary: bool = False
    # Read by OCR: characters may differ slightly (at most 2% edits, see _close_enough).
    ocr: bool = False


MAKERS: dict[str, Format] = {
    ".txt": Format(_text, "text"),
    ".md": Format(_markdown, "markdown"),
    ".markdown": Format(_markdown, "markdown"),
    ".pdf": Format(_pdf, "pdf", binary=True),
    ".docx": Format(_docx, "docx", binary=True),
    ".html": Format(_html, "html"),
    ".htm": Format(_html, "html"),
    ".pptx": Format(_pptx, "pptx", binary=True),
    ".xlsx": Format(_xlsx, "xlsx", binary=True),
    ".csv": Format(_csv, "csv"),
    **{suffix: Format(_image(fmt), "image", binary=True, ocr=True) for suffix, fmt in [
        (".png", "PNG"), (".jpg", "JPEG"), (".jpeg", "JPEG"), (".tif", "TIFF"),
        (".tiff", "TIFF"), (".bmp", "BMP")]},
}
SUFFIXES = sorted(READERS)
BINARY = [s for s in SUFFIXES if s in MAKERS and MAKERS[s].binary]


def _made(tmp_path: Path, suffix: str) -> bytes:
    if suffix not in MAKERS:
        pytest.fail(f"no maker for {suffix} in MAKERS: a new reader must join this contract")
    path = tmp_path / f"seed{suffix}"
    MAKERS[suffix].make(path, seed_paragraph())
    return path.read_bytes()


def _refused(data: bytes, suffix: str) -> ReadError:
    """The error for ``data``, from the reader itself and through ``extract``."""
    with pytest.raises(ReadError) as direct:
        READERS[suffix](data)
    with pytest.raises(ReadError) as through:
        extract(data, f"x{suffix}")
    # extract turns a reader's stray exception into "reading it failed unexpectedly (...);
    # please report this": a reader bug, even though the caller still gets a ReadError.
    assert "failed unexpectedly" not in str(through.value), through.value
    assert str(direct.value).strip()
    return through.value


def test_every_reader_is_under_contract() -> None:
    assert set(MAKERS) == set(READERS), "add a maker to MAKERS for each suffix in READERS"


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_real_file_reads_back_its_paragraph(tmp_path: Path, suffix: str) -> None:
    extracted = extract(_made(tmp_path, suffix), f"seed{suffix}", read_options())
    assert isinstance(extracted, Extracted)
    # Modulo whitespace: formats differ in where they break lines, not in the characters.
    text = _SPACE.sub("", extracted.text)
    if MAKERS[suffix].ocr:
        assert _close_enough(text, _SPACE.sub("", TITLE + seed_paragraph()))
    else:
        assert _SPACE.sub("", seed_paragraph()) in text
        assert TITLE in text
    assert extracted.kind == MAKERS[suffix].kind
    assert extracted.encoding
    assert not _CONTROL.findall(extracted.text)


def _close_enough(got: str, want: str, rate: float = 0.02) -> bool:
    """OCR output within ``rate`` character edits of the text drawn (full-width punctuation
    for half-width counts as the same character)."""
    norm = str.maketrans("()，：；", "（）,:;")
    matcher = difflib.SequenceMatcher(None, want.translate(norm), got.translate(norm),
                                      autojunk=False)
    edits = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes()
                if op != "equal")
    assert edits <= rate * len(want), (edits, got)
    return True


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_upper_case_suffix_reads_the_same(tmp_path: Path, suffix: str) -> None:
    data = _made(tmp_path, suffix)
    options = read_options()
    assert extract(data, f"SEED{suffix.upper()}", options) == extract(data, f"seed{suffix}",
                                                                        options)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_empty_file_is_refused_with_a_reason(suffix: str) -> None:
    with pytest.raises(ReadError, match=r"\S") as info:
        extract(b"", f"empty{suffix}")
    assert "empty" in str(info.value)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_garbage_bytes_are_a_read_error(suffix: str) -> None:
    _refused(GARBAGE, suffix)


@pytest.mark.parametrize("suffix", BINARY)
def test_truncated_file_is_a_read_error(tmp_path: Path, suffix: str) -> None:
    data = _made(tmp_path, suffix)
    for cut in (len(data) // 2, 64):
        _refused(data[:cut], suffix)
