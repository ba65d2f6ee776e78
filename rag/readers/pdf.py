"""PDF text layer -> text with one "\\f" per page break, so paragraphs know their page.

Library: pypdf. Tried here on reportlab-made Chinese PDFs (CID font STSong-Light) next to
pdfplumber and PyMuPDF: all three give the same characters and line breaks, so paragraph repair
(``rag.paragraphs``) does the joining either way; pdfplumber drops leading spaces, and PyMuPDF
2.0 pulled in onnxruntime and took 1.7 s to import and open a file. pypdf is pure Python with
no required dependencies (pdfplumber needs pdfminer.six and pypdfium2; PyMuPDF is a large AGPL
binary), BSD-licensed, actively maintained, imports in 0.1 s, and decrypts RC4 and
empty-password PDFs by itself. It is imported only when the first PDF is read.

Decided per page: a page with a usable text layer is read as text; a page without one (a scan)
or whose text layer decodes to garbage is OCR'd (``rag.ocr``: rendered by pypdfium2, read by
rapidocr, cached by the file's sha256), so a PDF mixing both works. With OCR off (RAG_OCR=0) a
PDF with no text on any page is refused with a ``ReadError`` that says to OCR it, and one where
only some pages are images is indexed with a warning naming those pages.

Ruled tables on text-layer pages are read as rows with their header (``rag.readers.pdf_tables``,
through pdfplumber); pages without ruling lines are read by pypdf alone, as before.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re

from rag.readers.base import (
    DEFAULT_OPTIONS,
    Extracted,
    ReadError,
    ReadOptions,
    missing_library,
)
from rag.readers.pdf_tables import has_rules, tables_as_rows

# A line that is only a page number ("12", "- 12 -", "第12页", "Page 3 of 9", "3/9").
_PAGE_NUMBER = re.compile(
    r"^[\s\-–—·.]*(?:page\s*|第\s*)?\d{1,4}(?:\s*(?:页|/\s*\d{1,4}|of\s*\d{1,4}))?[\s\-–—·.]*$",
    re.IGNORECASE,
)
# Private-use characters and U+FFFD are what a text layer without a Unicode map decodes to.
_GARBLE = re.compile("[\ue000-\uf8ff\ufffd]")


def read_pdf(data: bytes, options: ReadOptions = DEFAULT_OPTIONS) -> Extracted:
    try:
        from pypdf import PdfReader
    except ImportError as exc:
        raise missing_library("pypdf", "PDF") from exc
    quiet = logging.getLogger("pypdf")
    if quiet.level == logging.NOTSET:
        # pypdf warns about every repaired flaw without naming the file; ReadError and the
        # per-page warnings below say what matters, with the file name.
        quiet.setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        _unlock(reader)
        pages = [_page_text(reader, n) for n in range(len(reader.pages))]
        ruled = [n for n, (t, error) in enumerate(pages)
                 if not error and _usable(t) and has_rules(reader.pages[n])]
    except ReadError:
        raise
    except Exception as exc:  # pypdf raises many exception types on damaged files
        raise ReadError(f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if pages and all(error for _, error in pages):
        raise ReadError(f"none of its {len(pages)} page(s) could be read ({pages[0][1]})")
    texts = [t for t, _ in pages]
    if ruled:
        tables_as_rows(data, texts, ruled)
    scanned = [n for n, (t, error) in enumerate(pages) if not error and not _usable(t)]
    ocr_on = _ocr(data, texts, scanned, options)
    text = _assemble(texts, ocr_on)
    warnings = [f"page {n} could not be read ({error}); it is not indexed"
                for n, (_, error) in enumerate(pages, start=1) if error]
    empty = [n for n, (t, (_, error)) in enumerate(zip(texts, pages, strict=True), start=1)
             if not t.strip() and not error]
    if empty:
        warnings.append(f"page(s) {_ranges(empty)} have no text layer (scanned images?) and "
                        + ("OCR found no text on them; they are not indexed" if ocr_on else
                           "are not indexed; turn OCR on (RAG_OCR=1) to include them"))
    encoding = "pdf+ocr" if ocr_on and len(empty) < len(scanned) else "pdf"
    return Extracted(text=text, kind="pdf", encoding=encoding, warnings=tuple(warnings))


def has_text_layer(data: bytes, index: int) -> bool:
    """Whether ``read_pdf`` reads page ``index`` (0-based) from its text layer, not by OCR."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        _unlock(reader)
        text, error = _page_text(reader, index)
    except Exception:  # noqa: BLE001 - unreadable here means not read as text either
        return False
    return error is None and _usable(text)


def _usable(text: str) -> bool:
    """A text layer worth indexing: some text, not mostly undecodable glyphs."""
    visible = re.sub(r"\s+", "", text)
    return bool(visible) and len(_GARBLE.findall(visible)) <= 0.3 * len(visible)


def _ocr(data: bytes, texts: list[str], scanned: list[int], read: ReadOptions) -> bool:
    """OCR the ``scanned`` pages (0-based) into ``texts``; False when OCR is turned off."""
    if not scanned:
        return False
    from rag.ocr import ocr_options, ocr_pages
    from rag.ocr.images import open_pdf, render_page

    options = ocr_options(read)
    if not options.enabled:
        return False
    pdf = open_pdf(data)
    try:
        found = ocr_pages(hashlib.sha256(data).hexdigest(), scanned,
                          lambda n: render_page(pdf, n, options.max_pixels),
                          options=options, label="PDF")
    finally:
        pdf.close()
    for n, text in zip(scanned, found, strict=True):
        lines = text.split("\n")
        texts[n] = "\n".join(_drop_page_numbers(lines)).strip("\n") if text else texts[n]
    return True


def _unlock(reader) -> None:
    if not reader.is_encrypted:
        return
    try:
        opened = reader.decrypt("")  # many PDFs are "encrypted" with an empty user password
    except Exception as exc:  # AES without the cryptography package, unknown handlers, ...
        raise ReadError(
            f"the PDF is encrypted and cannot be opened here ({exc}); "
            "save an unencrypted copy (print to PDF) and index that"
        ) from exc
    if not opened:
        raise ReadError("the PDF is password-protected; save an unprotected copy and index that")


def _page_text(reader, n: int) -> tuple[str, str | None]:
    """The page's text (page numbers at its edges removed), or "" and why it failed."""
    try:
        text = reader.pages[n].extract_text() or ""
    except Exception as exc:  # one broken page must not lose the rest of the document
        return "", f"{type(exc).__name__}: {exc}"
    lines = [ln.rstrip() for ln in text.replace("\f", "\n").split("\n")]
    return "\n".join(_drop_page_numbers(lines)).strip("\n"), None


def _drop_page_numbers(lines: list[str]) -> list[str]:
    """Remove a bare page number printed as the first or last line of a page."""
    filled = [i for i, ln in enumerate(lines) if ln.strip()]
    drop = {i for i in (filled[:1] + filled[-1:]) if _PAGE_NUMBER.match(lines[i])}
    if len(filled) <= len(drop):
        return lines  # a page holding only a number keeps it
    return [ln for i, ln in enumerate(lines) if i not in drop]


def _assemble(pages: list[str], ocr_on: bool) -> str:
    if not pages:
        raise ReadError("the PDF has no pages")
    empty = [n for n, text in enumerate(pages, start=1) if not text.strip()]
    if len(empty) == len(pages) and ocr_on:
        raise ReadError(
            f"no text layer on any of its {len(pages)} page(s), and OCR found no text on them; "
            "it looks like a scanned or image-only PDF of pictures without readable words")
    if len(empty) == len(pages):
        raise ReadError(
            f"no text layer on any of its {len(pages)} page(s); it looks like a scanned or "
            "image-only PDF. Turn OCR on (RAG_OCR=1, or ocr = true in rag.toml) or run OCR on "
            "it first (for example: ocrmypdf -l chi_sim in.pdf out.pdf) and index the result"
        )
    text = "\n\f".join(pages)  # "\f" opens every page after the first
    visible = re.sub(r"\s+", "", text)
    if len(_GARBLE.findall(visible)) > 0.3 * len(visible):
        raise ReadError(
            "its text layer cannot be decoded (fonts without a Unicode map give garbage); "
            "run OCR on it and index the result"
        )
    return text


def _ranges(numbers: list[int]) -> str:
    """1, 2, 3, 5 -> '1-3, 5'."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)
