"""Readers: the bytes of one file -> plain text for paragraph repair, chosen by file suffix.

Each format is one short module exposing ``read_<format>(data: bytes) -> Extracted`` that
raises ``ReadError`` (with a reason a user can act on) for a file it cannot use. Readers whose
result depends on settings (OCR, page, pixel and archive limits) also take a ``ReadOptions``
(``read_<format>(data, options)``, defaults when left out); ``extract`` passes the caller's.
The libraries a format needs are imported on first use, so ``import rag`` stays fast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rag.readers.base import DEFAULT_OPTIONS, Extracted, ReadError, ReadOptions, clean_text
from rag.readers.docx import read_docx
from rag.readers.html import read_html
from rag.readers.image import read_image
from rag.readers.pdf import read_pdf
from rag.readers.slides import read_pptx
from rag.readers.tables import read_csv, read_xlsx
from rag.readers.text import decode_bytes, read_markdown, read_text

log = logging.getLogger(__name__)

Reader = Callable[[bytes], Extracted]
# The readers that take ``ReadOptions`` as their second argument.
_TAKE_OPTIONS: frozenset[Reader] = frozenset(
    {read_pdf, read_docx, read_pptx, read_xlsx, read_image})

READERS: dict[str, Reader] = {
    ".txt": read_text,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".html": read_html,
    ".htm": read_html,
    ".pptx": read_pptx,
    ".xlsx": read_xlsx,
    ".csv": read_csv,
    ".png": read_image,
    ".jpg": read_image,
    ".jpeg": read_image,
    ".tif": read_image,
    ".tiff": read_image,
    ".bmp": read_image,
}


def reader_for(name: str) -> Reader | None:
    """The reader for a file name's suffix (case-insensitive), or None if unsupported."""
    dot = name.rfind(".")
    return READERS.get(name[dot:].lower()) if dot > 0 else None


_MB = 1024 * 1024
# Formats whose bytes are their text: checked against max_text_mb before decoding.
_PLAIN = {read_text, read_markdown, read_html, read_csv}


def _too_much_text(size: int, options: ReadOptions) -> ReadError:
    return ReadError(
        f"the file holds {size / _MB:,.1f} MB of text, over the {options.max_text_mb} MB limit "
        "that bounds the memory indexing one file takes; split it, or raise the limit with "
        f"RAG_MAX_TEXT_MB={int(size // _MB) + 1} (or max_text_mb in rag.toml)")


def extract(data: bytes, name: str, options: ReadOptions = DEFAULT_OPTIONS) -> Extracted:
    """Text of a file's bytes, read by its suffix's reader and cleaned of control characters.

    ``options`` (``ReadOptions.from_settings(settings)``) carry the index's reading settings.

    Raises ``ReadError`` for unsupported, empty, binary, damaged, scanned or text-less files.
    """
    reader = reader_for(name)
    if reader is None:
        supported = " ".join(READERS)
        raise ReadError(f"unsupported file type; supported: {supported}")
    if not data:
        raise ReadError("the file is empty (0 bytes)")
    if reader in _PLAIN and len(data) > options.max_text_mb * _MB:
        raise _too_much_text(len(data), options)  # before decoding: bytes >= characters
    try:
        extracted = reader(data, options) if reader in _TAKE_OPTIONS else reader(data)
    except ReadError:
        raise
    except RecursionError as exc:
        raise ReadError("its structure is nested too deeply to read") from exc
    except Exception as exc:  # one odd file must never stop a whole index build
        log.debug("reader for %s failed", name, exc_info=exc)
        raise ReadError(f"reading it failed unexpectedly ({type(exc).__name__}: {exc}); "
                        "please report this with the file") from exc
    text = clean_text(extracted.text)
    size = len(text.encode("utf-8"))
    if size > options.max_text_mb * _MB:
        raise _too_much_text(size, options)
    if not text.strip():
        raise ReadError("the file holds no text (only blank space or control characters)")
    return Extracted(text=text, kind=extracted.kind, encoding=extracted.encoding,
                     warnings=extracted.warnings)


__all__ = ["DEFAULT_OPTIONS", "READERS", "Extracted", "ReadError", "ReadOptions", "Reader",
           "decode_bytes", "extract", "reader_for"]
