"""OCR of page images (scanned PDF pages, image files) into text for paragraph repair.

``ocr_pages`` runs the engine (``rag.ocr.engine``: rapidocr, CPU) on the pages that are not in
the cache (``rag.ocr.cache``, keyed by the file's sha256), with a per-page progress bar, and
puts each page's boxes into reading order (``rag.ocr.layout``). Settings arrive from the caller
in ``rag.readers.base.ReadOptions``: ``ocr`` (RAG_OCR), ``ocr_cache_dir``, ``ocr_progress``,
``max_pages``, ``max_image_pixels``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.config import AUTO
from rag.ocr.cache import OcrCache, default_dir
from rag.ocr.layout import Box, page_text
from rag.readers.base import ReadError, ReadOptions


@dataclass(frozen=True)
class OcrOptions:
    enabled: bool
    cache_dir: Path
    progress: bool
    max_pages: int
    max_pixels: int


def ocr_options(s: ReadOptions) -> OcrOptions:
    """The OCR part of a reader's options, with the cache folder and progress bar resolved."""
    if s.ocr_progress == AUTO:
        progress = sys.stderr.isatty()
    else:
        progress = s.ocr_progress.strip().lower() in {"1", "true", "yes", "on"}
    return OcrOptions(s.ocr, Path(s.ocr_cache_dir).expanduser() if s.ocr_cache_dir
                      else default_dir(), progress, s.max_pages, s.max_image_pixels)


def check_page_count(count: int, options: OcrOptions) -> None:
    if count > options.max_pages:
        raise ReadError(
            f"it has {count} pages to OCR, over the {options.max_pages}-page limit (OCR takes "
            f"seconds a page); raise it with RAG_MAX_PAGES={count} (or max_pages in rag.toml) "
            "to index it")


def ocr_pages(key: str, pages: list[int], render: Callable[[int], object], *,
              options: OcrOptions, label: str = "") -> list[str]:
    """Text of ``pages`` (indexes passed to ``render``, which returns a PIL image), in order.

    ``key`` identifies the file's bytes (its sha256); pages already in the cache are not OCR'd.
    """
    from rag.ocr import engine

    check_page_count(len(pages), options)
    cache = OcrCache(options.cache_dir, engine.engine_id())
    found: dict[int, list[Box]] = {}
    for page in pages:
        boxes = cache.get(key, page)
        if boxes is not None:
            found[page] = boxes
    todo = [p for p in pages if p not in found]
    if todo:
        from tqdm import tqdm

        with tqdm(total=len(pages), initial=len(pages) - len(todo), unit="page",
                  desc=f"OCR {label}".strip(), disable=not options.progress,
                  file=sys.stderr, leave=False) as bar:
            for page in todo:
                found[page] = engine.recognise(render(page))
                cache.put(key, page, found[page])
                bar.update()
    return [page_text(found[p]) for p in pages]


__all__ = ["OcrOptions", "check_page_count", "ocr_options", "ocr_pages"]
