"""Sentence splitting for Chinese and English, keeping character offsets.

Chinese sentences end at 。！？；… (closing quotes stay with their sentence); English ones at
. ! ? followed by a space. Offsets let chunks and quotes map back to the exact paragraph text.
"""

from __future__ import annotations

import re

_CLOSERS = "”’」』）)】》\"'"
# A terminator run plus any closing quotes/brackets, or an English terminator before a space.
_BOUNDARY = re.compile(rf"(?:[。！？；…!?]+[{_CLOSERS}]*|[.;](?=\s)[{_CLOSERS}]*)\s*")
_CLAUSE = re.compile(r"[，、：:,]\s*")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences in ``text``; together they cover all of it."""
    spans = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if end > start and text[start:end].strip():
            spans.append((start, end))
        start = end
    if start < len(text) and text[start:].strip():
        spans.append((start, len(text)))
    elif spans and start < len(text):
        spans[-1] = (spans[-1][0], len(text))
    return spans


def split_sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def clause_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Clause offsets (split at ，、： and commas) inside ``text[start:end]``."""
    end = len(text) if end is None else end
    spans = []
    pos = start
    for match in _CLAUSE.finditer(text, start, end):
        if match.end() > pos:
            spans.append((pos, match.end()))
        pos = match.end()
    if pos < end:
        spans.append((pos, end))
    return spans
