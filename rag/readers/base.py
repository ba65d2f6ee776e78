"""What every reader returns or raises, and the clean-up all extracted text gets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.config import Settings
from rag.errors import RAGError

# C0/C1 control characters other than tab, newline, carriage return and form feed (page break).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_LINE_SEPARATORS = re.compile("[\u2028\u2029\x85]")


class ReadError(RAGError):
    """A file that cannot be indexed; ``str(exc)`` says why and, where it can, what to do."""


@dataclass(frozen=True)
class Extracted:
    """Plain text from one file, ready for ``rag.paragraphs.split_paragraphs``.

    Pages of paged formats are separated by "\\f" (each page starts with it but the first);
    a line that starts with whitespace is a known paragraph start. ``encoding`` is the text
    encoding the bytes were decoded with, or the format name for binary formats.
    """

    text: str
    kind: str
    encoding: str
    # Problems that did not stop the file from being indexed (e.g. PDF pages without text).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadOptions:
    """The settings that change what a reader extracts or refuses, passed in by the caller
    (``parse_file`` builds them from the index's ``Settings``); readers never load settings
    themselves. The defaults are ``Settings``' defaults."""

    ocr: bool = Settings.ocr
    ocr_cache_dir: str = Settings.ocr_cache_dir
    ocr_progress: str = Settings.ocr_progress
    max_pages: int = Settings.max_pages
    max_image_pixels: int = Settings.max_image_pixels
    max_unpacked_mb: int = Settings.max_unpacked_mb
    max_archive_entries: int = Settings.max_archive_entries
    max_text_mb: int = Settings.max_text_mb

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadOptions:
        return cls(ocr=settings.ocr, ocr_cache_dir=settings.ocr_cache_dir,
                   ocr_progress=settings.ocr_progress, max_pages=settings.max_pages,
                   max_image_pixels=settings.max_image_pixels,
                   max_unpacked_mb=settings.max_unpacked_mb,
                   max_archive_entries=settings.max_archive_entries,
                   max_text_mb=settings.max_text_mb)


DEFAULT_OPTIONS = ReadOptions()


def clean_text(text: str) -> str:
    """Drop control characters (keeping tab, CR, LF and form feed); line separators become LF."""
    return _CONTROL.sub("", _LINE_SEPARATORS.sub("\n", text))


def missing_library(package: str, fmt: str) -> ReadError:
    return ReadError(
        f"reading {fmt} files needs the {package} package, which is not installed; "
        f"install it with: pip install {package}  (or pip install rag-zh)"
    )


def paragraph_lines(blocks: list[str]) -> str:
    """Text in which every block starts a paragraph: for formats with known paragraphs.

    The first line of each block, and of each run of lines after a blank line inside a block
    (``<br><br>`` in HTML), is indented, which paragraph repair reads as a paragraph start;
    other lines of a block (single line breaks) are left to the repair to join or keep.
    """
    out = []
    for block in blocks:
        for group in re.split(r"\n[ \t\u3000\xa0]*\n", block.replace("\f", "\n")):
            lines = [ln.strip() for ln in group.split("\n")]
            lines = [ln for ln in lines if ln]
            if lines:
                out.append("\u3000" + "\n".join(lines))
    return "\n".join(out)
