"""Repair text extracted from PDFs (or typed by hand) into ``Paragraph``s with line ranges.

Extracted newspaper text breaks paragraphs in ways no library undoes for Chinese, so the rules
are written here (each is a small function):

* lines are hard-wrapped at the column width; a line that is (nearly) as wide as its column and
  does not end a sentence continues on the next line, even across a blank line (a column or
  page break), unless the next line starts a paragraph;
* a line that starts with whitespace starts a paragraph; a line clearly shorter than its
  column (a headline, the last line of a paragraph) ends one;
* runs of one-character lines are a caption printed vertically and become one paragraph;
* Markdown bold markers and (in ``.md`` files) headings/links are cleaned from the text.

The column width is estimated per block of consecutive non-blank lines, because one page mixes
narrow and wide columns; a one-line block borrows the width of the nearest multi-line block.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from rag.schema import Paragraph

SENTENCE_END = "。！？!?…"
CLOSERS = "”’」』）)】》\"'"
_MD_STRUCTURE = re.compile(r"^(#{1,6}\s|>\s?|\||[-*+]\s|\d{1,3}[.)]\s)")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MAX_BLANK_GAP = 3
_MIN_WRAP_WIDTH = 8.0
_WINDOW = 4


@dataclass
class _Line:
    no: int  # 1-based line number in the original file
    text: str  # cleaned content, stripped
    indented: bool
    structural: bool
    page: int = 1


def display_width(text: str) -> float:
    """Width in CJK cells: ASCII counts half, everything else one."""
    return sum(0.5 if ord(c) < 128 else 1.0 for c in text)


def clean_line(raw: str, *, markdown: bool) -> str:
    text = raw.replace("**", "")
    if markdown:
        text = _MD_LINK.sub(r"\1", text)
        text = re.sub(r"^#{1,6}\s+", "", text.strip())
        text = text.replace("__", "")
    return re.sub(r"[ \t\u3000\xa0]+", " ", text).strip()


def _parse_lines(text: str, *, markdown: bool) -> list[_Line | None]:
    """One entry per original line: a ``_Line``, or None for a blank line."""
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[_Line | None] = []
    page = 1
    for no, raw in enumerate(raw_lines, start=1):
        page += raw.count("\f")
        raw = raw.replace("\f", "").rstrip()
        content = clean_line(raw, markdown=markdown)
        if not content:
            out.append(None)
            continue
        indented = raw[:1] in (" ", "\t", "\u3000")
        structural = markdown and bool(_MD_STRUCTURE.match(raw.lstrip()))
        out.append(_Line(no, content, indented, structural, page))
    return out


def _vertical_runs(lines: list[_Line | None]) -> list[tuple[int, int]]:
    """Index ranges [i, j) of captions printed one character per line (blank lines allowed)."""
    runs = []
    i = 0
    while i < len(lines):
        if not _is_single_char(lines[i]):
            i += 1
            continue
        j, count, last = i, 0, i
        while j < len(lines):
            if _is_single_char(lines[j]):
                count, last = count + 1, j
            elif lines[j] is not None:
                break
            elif j - last > 1:  # two blank lines in a row end the caption
                break
            j += 1
        if count >= 3:
            runs.append((i, last + 1))
        i = last + 1
    return runs


def _is_single_char(line: _Line | None) -> bool:
    return line is not None and len(line.text) == 1


def _blocks(lines: list[_Line | None], skip: set[int]) -> list[list[_Line]]:
    """Runs of consecutive text lines; an indented line opens a new run (it may be a new column)."""
    blocks: list[list[_Line]] = []
    current: list[_Line] = []
    for i, line in enumerate(lines):
        if line is None or i in skip or line.indented or line.structural:
            if current:
                blocks.append(current)
                current = []
            if line is None or i in skip:
                continue
        current.append(line)
    if current:
        blocks.append(current)
    return blocks


def _line_widths(blocks: list[list[_Line]]) -> dict[int, float | None]:
    """Column width at each line (by line number).

    Inside a multi-line block it is the widest line within ``_WINDOW`` lines, so a column that
    changes width mid-block is followed; a one-line block borrows the width of the nearest
    multi-line block, since a lone line carries no evidence of wrapping.
    """
    widths: dict[int, float | None] = {}
    multi = [b for b in blocks if len(b) > 1]
    spans = [(b[0].no, b[-1].no) for b in multi]  # in document order, disjoint
    multi_widths = [max(display_width(x.text) for x in b) for b in multi]
    for block in blocks:
        sizes = [display_width(x.text) for x in block]
        for k, line in enumerate(block):
            if len(block) > 1:
                lo, hi = max(0, k - _WINDOW), k + _WINDOW + 1
                widths[line.no] = max(sizes[lo:hi])
            else:
                widths[line.no] = _nearest_width(line.no, spans, multi_widths)
    return {no: w if w is not None and w >= _MIN_WRAP_WIDTH else None for no, w in widths.items()}


def _nearest_width(no: int, spans: list[tuple[int, int]], widths: list[float]
                   ) -> float | None:
    """Width of the multi-line block nearest to line ``no`` (the earlier one on a tie), if it
    is within 40 lines. Blocks are sorted, so only the ones just before and after can be
    nearest: a binary search, not a scan (a scan made a 20 MB file take minutes)."""
    i = bisect.bisect_right(spans, (no, no))
    best, best_dist = None, None
    for j in (i - 1, i):
        if 0 <= j < len(spans):
            first, last = spans[j]
            dist = min(abs(no - last), abs(first - no))
            if best_dist is None or dist < best_dist:
                best, best_dist = widths[j], dist
    return best if best_dist is not None and best_dist <= 40 else None


def _is_full(line: _Line, width: float | None) -> bool:
    if width is None:
        return False
    tolerance = max(4.0, 0.2 * width)
    return display_width(line.text) >= width - tolerance


def _ends_sentence(text: str) -> bool:
    stripped = text.rstrip(CLOSERS)
    return bool(stripped) and (stripped[-1] in SENTENCE_END or stripped.endswith("."))


def _mostly_ascii(text: str) -> bool:
    return sum(ord(c) < 128 for c in text) > 0.8 * len(text)


def _continues(prev: _Line, nxt: _Line, widths: dict[int, float | None], gap: int) -> bool:
    """Whether ``nxt`` continues the paragraph whose last line is ``prev``."""
    if nxt.indented or nxt.structural or prev.structural or gap > _MAX_BLANK_GAP:
        return False
    if not _is_full(prev, widths[prev.no]):
        return False
    if _ends_sentence(prev.text):
        # Hard-wrapped English prose often ends a line with a full stop mid-paragraph.
        return gap == 0 and _mostly_ascii(prev.text) and _mostly_ascii(nxt.text)
    return True


def _join(left: str, right: str) -> str:
    if left and right and left[-1].isascii() and right[0].isascii():
        if left[-1].isalnum() or left[-1] in ",.;:!?)\"'":
            return f"{left} {right}"
    return left + right


def split_paragraphs(text: str, doc: str = "", *, markdown: bool | None = None) -> list[Paragraph]:
    """Repair ``text`` into paragraphs; ``doc`` is the path recorded on each paragraph."""
    if markdown is None:
        markdown = doc.lower().endswith((".md", ".markdown"))
    lines = _parse_lines(text, markdown=markdown)
    runs = _vertical_runs(lines)
    in_run = {i for start, end in runs for i in range(start, end)}
    widths = _line_widths(_blocks(lines, in_run))
    run_at = {start: end for start, end in runs}

    pieces: list[_Piece] = []
    prev: _Line | None = None
    prev_index = -1
    i = 0
    while i < len(lines):
        if i in run_at:
            end = run_at[i]
            piece = _Piece()
            for x in lines[i:end]:
                if x is not None:
                    piece.add(x)
            pieces.append(piece)
            prev, i = None, end
            continue
        line = lines[i]
        if line is None:
            i += 1
            continue
        gap = i - prev_index - 1
        if not (prev is not None and _continues(prev, line, widths, gap)):
            pieces.append(_Piece())
        pieces[-1].add(line)
        prev, prev_index = line, i
        i += 1
    paged = "\f" in text
    return [
        Paragraph(doc=doc, index=n, text=pc.text, line_start=pc.starts[0][1],
                  line_end=pc.starts[-1][1], line_starts=tuple(pc.starts),
                  page=pc.page if paged else None)
        for n, pc in enumerate(pieces)
    ]


class _Piece:
    """A paragraph being assembled: its text and where each source line starts in it."""

    def __init__(self) -> None:
        self.text = ""
        self.starts: list[tuple[int, int]] = []
        self.page = 1

    def add(self, line: _Line) -> None:
        if not self.starts:
            self.page = line.page
        joined = _join(self.text, line.text)
        self.starts.append((len(joined) - len(line.text), line.no))
        self.text = joined
