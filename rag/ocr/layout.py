"""OCR boxes of one page -> text in reading order, shaped for ``rag.paragraphs``.

The engine returns one box per detected text line (or line piece), in no useful order. Here:

1. boxes much taller than wide (with 2+ characters) are vertical text (captions, mastheads);
2. the page's boxes are cut recursively, XY-cut style: a vertical gutter (an empty stripe at
   least 0.8 character wide from top to bottom of the region) splits it into columns (left to
   right), else a clear horizontal gap splits it into bands (top to bottom); what cannot be
   cut is a block read top-down (vertical captions right to left). Cutting the boxes before
   joining them into lines keeps a narrow gutter from being read as a gap inside a line;
3. in a block, horizontal boxes on the same baseline and close together are joined into lines;
4. in a block, a line indented from the block's left edge, or after a larger gap, starts a
   paragraph (written with a leading U+3000, which paragraph repair reads as a start); in a
   block whose paragraphs are indented, a full line that ends a sentence but is followed by an
   unindented line gives its full stop to that line (paragraph repair would end the paragraph
   there; the joined text is the same); blocks are separated by a blank line, so a full line
   at a column's foot still joins the next column's first line, as in text-layer PDFs.

A lone em dash between Chinese characters is the recogniser's reading of the two-em dash
"——" (破折号), printed as one rule; it is written back as "——".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

_INDENT = "\u3000"
_WORD = re.compile(r"[A-Za-z0-9]$")
# The recogniser puts spaces around digits and signs in Chinese text ("增长30 %"); a space is
# kept only between two ASCII letters or digits.
_STRAY_SPACE = re.compile(r"(?<![A-Za-z0-9]) +| +(?![A-Za-z0-9])")
_LONE_DASH = re.compile(r"(?<=[^\x00-\x7f])(?<!—)—(?!—)(?=[^\x00-\x7f])")
_SENTENCE_END = re.compile(r"[。！？!?…][”’」』）)】》\"']*$")


@dataclass(frozen=True)
class Box:
    """One recognised piece of text and its axis-aligned bounds in page pixels."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def vertical(self) -> bool:
        return len(self.text) >= 2 and self.h > 1.5 * self.w


def box_from_quad(text: str, quad: Sequence[Sequence[float]]) -> Box:
    xs = [float(p[0]) for p in quad]
    ys = [float(p[1]) for p in quad]
    return Box(_STRAY_SPACE.sub("", text.strip()), min(xs), min(ys), max(xs), max(ys))


def page_text(boxes: Sequence[Box]) -> str:
    """The page's text in reading order: blocks separated by blank lines, paragraphs indented."""
    size, blocks = _blocks(boxes)
    text = "\n\n".join(t for t in (_block_text(b, size) for b in blocks) if t)
    return _LONE_DASH.sub("——", text)


def reading_lines(boxes: Sequence[Box]) -> list[Box]:
    """The page's lines (joined boxes, with their bounds) in the order ``page_text`` writes
    them: what a citation's quote is found in (``rag.ocr.locate``)."""
    _, blocks = _blocks(boxes)
    return [line for block in blocks for line in _block_order(block)]


def _blocks(boxes: Sequence[Box]) -> tuple[float, list[list[Box]]]:
    """The character size and the blocks in reading order, horizontal boxes joined into lines."""
    items = [b for b in boxes if b.text.strip()]
    if not items:
        return 0.0, []
    size = median(_size(b) for b in items)
    return size, [_lines([b for b in block if not b.vertical]) + [b for b in block if b.vertical]
                  for block in _cut(items, size)]


def _block_order(block: list[Box]) -> list[Box]:
    """A block's lines as written: vertical captions right to left, then lines top down."""
    return (sorted((b for b in block if b.vertical), key=lambda b: -b.x1)
            + sorted((b for b in block if not b.vertical), key=lambda b: b.y0))


def _size(box: Box) -> float:
    """Character size: a horizontal line's height, a vertical line's width."""
    return box.w if box.vertical else box.h


def _lines(boxes: list[Box]) -> list[Box]:
    """Join boxes on one baseline that are close together (not across a gutter) into lines."""
    lines: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: (b.y0 + b.y1) / 2):
        for line in lines:
            last = line[-1]
            overlap = min(last.y1, box.y1) - max(last.y0, box.y0)
            gap = box.x0 - max(b.x1 for b in line)
            if overlap > 0.5 * min(last.h, box.h) and -0.5 * box.h < gap < 1.5 * box.h:
                line.append(box)
                break
        else:
            lines.append([box])
    return [_join(sorted(line, key=lambda b: b.x0)) for line in lines]


def _join(parts: list[Box]) -> Box:
    text = parts[0].text
    for part in parts[1:]:
        sep = " " if _WORD.search(text) and part.text[:1].isalnum() and part.text.isascii() else ""
        text += sep + part.text
    return Box(text, min(b.x0 for b in parts), min(b.y0 for b in parts),
               max(b.x1 for b in parts), max(b.y1 for b in parts))


def _gaps(spans: list[tuple[float, float]], min_gap: float) -> list[float]:
    """Cut positions: midpoints of the empty stretches at least ``min_gap`` wide."""
    cuts = []
    spans = sorted(spans)
    reach = spans[0][1]
    for start, end in spans[1:]:
        if start - reach >= min_gap:
            cuts.append((reach + start) / 2)
        reach = max(reach, end)
    return cuts


def _split(items: list[Box], cuts: list[float], axis: str) -> list[list[Box]]:
    groups: list[list[Box]] = [[] for _ in range(len(cuts) + 1)]
    for item in items:
        centre = (item.x0 + item.x1) / 2 if axis == "x" else (item.y0 + item.y1) / 2
        groups[sum(centre > c for c in cuts)].append(item)
    return [g for g in groups if g]


def _cut(items: list[Box], size: float, depth: int = 0) -> list[list[Box]]:
    """Blocks in reading order: columns left to right, bands top to bottom, recursively."""
    if len(items) <= 1 or depth > 30:
        return [items]
    columns = _gaps([(b.x0, b.x1) for b in items], 0.8 * size)
    if columns:
        parts = _split(items, columns, "x")
    else:
        bands = _gaps([(b.y0, b.y1) for b in items], 1.2 * size)
        if not bands:
            return [items]
        parts = _split(items, bands, "y")
    if len(parts) == 1:
        return parts
    return [block for part in parts for block in _cut(part, size, depth + 1)]


def _block_text(block: list[Box], size: float) -> str:
    ordered = _block_order(block)
    horizontal = [b for b in ordered if not b.vertical]
    out = [_INDENT + b.text.strip() for b in ordered if b.vertical]  # each caption alone
    if not horizontal:
        return "\n".join(out)
    left = min(b.x0 for b in horizontal)
    right = max(b.x1 for b in horizontal)
    indented = [line.x0 - left > 0.8 * size for line in horizontal]
    for i, line in enumerate(horizontal):
        starts = (len(horizontal) == 1 or indented[i]
                  or (i > 0 and line.y0 - horizontal[i - 1].y1 > 0.8 * size))
        before = horizontal[i - 1] if i else None
        text = line.text.strip()
        end = _SENTENCE_END.search(out[-1]) if out and before is not None else None
        if (not starts and end and any(indented) and right - before.x1 < size
                and end.start() > len(out[-1]) // 2):
            # A sentence ended at the line's end, not the paragraph: its stop moves to the
            # next line, so paragraph repair does not end the paragraph there.
            out[-1], text = out[-1][:end.start()], end.group() + text
        out.append((_INDENT if starts else "") + text)
    return "\n".join(out)
