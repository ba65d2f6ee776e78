"""A citation shown on its scanned page: the page image with the cited lines boxed.

``cited_boxes`` renders the page as OCR saw it (``rag.ocr.images``: the same resolution, so the
cached boxes fit), takes the page's boxes from the OCR cache (OCR runs only when they are not
there), finds the lines whose text makes up the quote, and draws a box around each. The quote
is matched against the page's lines in reading order (``rag.ocr.layout.reading_lines``, the
order the indexed text was written in), ignoring whitespace and dashes; when it is not there
exactly (it runs onto the next page, the file changed), the runs of at least four characters it
shares with the page are used if they cover most of it.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import re
from collections.abc import Sequence
from typing import NamedTuple

from rag.ocr import ocr_options
from rag.ocr.cache import OcrCache
from rag.ocr.layout import Box, reading_lines
from rag.readers.base import DEFAULT_OPTIONS, ReadOptions

PDF_SUFFIXES = (".pdf",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MAX_WIDTH = 1000
OUTLINE = (220, 20, 60)
_IGNORED = re.compile(r"[\s—―-]+")
# What the layout moves onto the next line when a sentence ends a full line (layout.py, 4.).
_STOPS = set("。！？!?…”’」』）)】》\"'")
_MIN_RUN = 4
_MIN_COVER = 0.6


class CitedPage(NamedTuple):
    """The page as a PNG and the boxes drawn on it (PNG pixels; each with its line's text)."""

    png: bytes
    boxes: list[Box]


def shows_pages(name: str) -> bool:
    """Whether a corpus file of this name is a PDF or image, whose pages ``cited_boxes`` draws."""
    return name.lower().endswith(PDF_SUFFIXES + IMAGE_SUFFIXES)


def cited_boxes(data: bytes, page: int | None, quotes: str | Sequence[str],
                options: ReadOptions = DEFAULT_OPTIONS, *,
                max_width: int = MAX_WIDTH) -> CitedPage | None:
    """Page ``page`` (1-based; None for a one-page image) of a PDF or image file's bytes with
    the lines holding ``quotes`` boxed; None when the page was read from a text layer, does not
    exist, or holds none of the quotes. Raises ``ReadError`` for a file it cannot open."""
    from rag.ocr import engine
    from rag.ocr.images import decode_frame, open_image, open_pdf, render_page

    ocr = ocr_options(options)
    index = (page or 1) - 1
    key = hashlib.sha256(data).hexdigest()
    cache = OcrCache(ocr.cache_dir, engine.engine_id())
    boxes = cache.get(key, index)
    if data[:5] == b"%PDF-":
        from rag.readers.pdf import has_text_layer

        if boxes is None and has_text_layer(data, index):
            return None
        pdf = open_pdf(data)
        try:
            image = render_page(pdf, index, ocr.max_pixels) if 0 <= index < len(pdf) else None
        finally:
            pdf.close()
    else:
        frames, count = open_image(data, ocr.max_pixels)
        image = decode_frame(frames, index) if 0 <= index < count else None
    if image is None or (boxes is None and not ocr.enabled):
        return None
    if boxes is None:
        boxes = engine.recognise(image)
        cache.put(key, index, boxes)
    found = matching_lines(reading_lines(boxes), [quotes] if isinstance(quotes, str) else quotes)
    return _draw(image.convert("RGB"), found, max_width) if found else None


def matching_lines(lines: Sequence[Box], quotes: Sequence[str]) -> list[Box]:
    """The ``lines`` (in reading order) that hold the characters of ``quotes``."""
    chars, owner = [], []
    for i, line in enumerate(lines):
        text = _IGNORED.sub("", line.text)
        chars.append(text)
        owner.extend([i] * len(text))
    page = "".join(chars)
    hit: set[int] = set()
    for quote in quotes:
        q = _IGNORED.sub("", quote)
        if not q:
            continue
        start = page.find(q)
        if start >= 0:
            spans = [(start, start + len(q))]
        else:
            runs = [m for m in difflib.SequenceMatcher(None, q, page, autojunk=False)
                    .get_matching_blocks() if m.size >= min(_MIN_RUN, len(q))]
            enough = sum(m.size for m in runs) >= _MIN_COVER * len(q)
            spans = [(m.b, m.b + m.size) for m in runs] if enough else []
        # A line holding only the quote's closing stop (moved there by the layout) is not boxed.
        hit.update(owner[k] for a, b in spans for k in range(a, b) if page[k] not in _STOPS)
    return [lines[i] for i in sorted(hit)]


def _draw(image, lines: list[Box], max_width: int) -> CitedPage:
    from PIL import Image, ImageDraw

    scale = min(1.0, max_width / image.width)
    if scale < 1.0:
        image = image.resize((max_width, max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(image)
    pad, width = 4, max(2, round(image.width / 300))
    drawn = []
    for line in lines:
        box = Box(line.text, max(0.0, line.x0 * scale - pad), max(0.0, line.y0 * scale - pad),
                  min(image.width - 1.0, line.x1 * scale + pad),
                  min(image.height - 1.0, line.y1 * scale + pad))
        draw.rectangle((box.x0, box.y0, box.x1, box.y1), outline=OUTLINE, width=width)
        drawn.append(box)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return CitedPage(buffer.getvalue(), drawn)


__all__ = ["CitedPage", "cited_boxes", "matching_lines", "shows_pages"]
