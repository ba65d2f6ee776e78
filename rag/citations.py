"""Checked citations: parse ``[n]`` markers in a model's reply and tie them to the sources.

Markers may be ``[1]``, ``[1,2]``, ``[1][2]``, ``[1-3]``, full-width ``【1】`` ``［1］`` or
``[1，2]``. A number that names no source is removed and counted; the rest are renumbered
1..k in order of first use and written as ``[k]``. Each kept marker becomes a ``Citation``
quoting the sentence of the cited paragraph(s) that best matches the answer sentence carrying
the marker. ``MarkerRewriter`` does the renumbering piece by piece, so streamed text and the
final ``Answer.text`` agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.language import CJK_CHAR, NOT_FOUND
from rag.markers import ONE, OPEN, SEPARATORS
from rag.prompting import Source
from rag.schema import Citation, Paragraph
from rag.sentences import sentence_spans

_OPEN, _SEP, _ONE = OPEN, SEPARATORS, ONE
# A run of adjacent markers ("[1][2]", "[1] [1]") is one citation group.
MARKER = re.compile(rf"(\s*)((?:\s*{_ONE})+)")
_ONE_RE = re.compile(_ONE)
# What may still grow (a marker run, a half-written marker) at the end of a streamed buffer:
# held back until the next piece shows how it ends.
_PENDING = re.compile(rf"(?:\s*{_ONE})*\s*(?:[{_OPEN}][\d\s{_SEP}\-–~]{{0,40}})?$")
_RANGE = re.compile(r"(\d+)\s*[-–~]\s*(\d+)")
_OUT_MARKER = re.compile(r"\[(\d+)\]")
_WORD = re.compile(r"[a-z]+|\d+")
MAX_RANGE = 10

_ABSTAIN = re.compile(
    r"没有找到|未找到|找不到|没有提到|未提到|没有提及|未提及|并未提及|没有涉及|未涉及|无法回答|无法确定|"
    r"不包含|未包含|没有包含|没有相关|无相关|不能回答|"
    r"not (?:be )?found|(?:do|does) not (?:contain|mention|say|include)|don't (?:contain|mention)|"
    r"doesn't (?:contain|mention)|cannot (?:be )?answer|can't answer|no information|"
    r"not (?:mentioned|stated|provided)",
    re.IGNORECASE,
)


class MarkerRewriter:
    """Renumber citation markers in text that arrives piece by piece.

    ``feed`` returns the text that is safe to show; a trailing fragment that could still become
    a marker is held back until the next piece (or ``flush``). ``used`` lists the original
    source numbers in order of first use; ``invalid`` counts numbers that named no source.
    """

    def __init__(self, n_sources: int) -> None:
        self.n_sources = n_sources
        self.used: list[int] = []
        self.invalid = 0
        self._pending = ""

    def feed(self, piece: str) -> str:
        text = self._pending + piece
        cut = _PENDING.search(text).start()
        self._pending = text[cut:]
        return MARKER.sub(self._replace, text[:cut])

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return MARKER.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        numbers = [n for spec in _ONE_RE.findall(match.group(2)) for n in _expand(spec)]
        out = []
        for n in dict.fromkeys(numbers):
            if not 1 <= n <= self.n_sources:
                self.invalid += 1
                continue
            if n not in self.used:
                self.used.append(n)
            out.append(f"[{self.used.index(n) + 1}]")
        return match.group(1) + "".join(out) if out else ""


def _expand(spec: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(rf"[{_SEP}]", spec):
        ranged = _RANGE.fullmatch(part.strip())
        if ranged:
            a, b = int(ranged.group(1)), int(ranged.group(2))
            numbers.extend(range(a, b + 1) if 0 <= b - a <= MAX_RANGE else (a, b))
        elif part.strip():
            numbers.append(int(part.strip()))
    return numbers


def renumber(reply: str, n_sources: int) -> tuple[str, list[int], int]:
    """(text with markers renumbered, original numbers in order of use, invalid count)."""
    rewriter = MarkerRewriter(n_sources)
    text = rewriter.feed(reply) + rewriter.flush()
    return text, rewriter.used, rewriter.invalid


def is_abstention(text: str) -> bool:
    """Whether a reply says the sources hold no answer (the fixed sentence, or words to it)."""
    plain = _OUT_MARKER.sub("", text)
    return any(s in plain for s in NOT_FOUND.values()) or bool(_ABSTAIN.search(plain))


@dataclass(frozen=True)
class CheckedReply:
    """A model reply after marker checking: what ``Answer`` needs."""

    text: str
    citations: tuple[Citation, ...]
    invalid: int
    abstained: bool

    @property
    def grounded(self) -> bool:
        """Backed by at least one valid citation (an abstention needs none)."""
        return bool(self.citations) or self.abstained


def check_citations(reply: str, sources: Sequence[Source],
                    paragraph: Callable[[str, int], Paragraph]) -> CheckedReply:
    """Renumber, drop invalid markers and quote the cited sentence for each kept marker."""
    text, used, invalid = renumber(reply, len(sources))
    text = text.strip()
    finder = _QuoteFinder(paragraph)
    citations: dict[tuple[int, str, int, str], Citation] = {}
    for n, sentence in _cited_sentences(text):
        source = sources[used[n - 1] - 1]
        citation = finder.best(n, source, sentence)
        citations.setdefault((n, citation.doc, citation.paragraph, citation.quote), citation)
    ordered = tuple(sorted(citations.values(), key=lambda c: c.n))
    abstained = not ordered and is_abstention(text)
    return CheckedReply(text, ordered, invalid, abstained)


def _cited_sentences(text: str) -> list[tuple[int, str]]:
    """(marker number, the answer sentence it belongs to) for every ``[n]`` in ``text``.

    A marker opening a sentence span (after "。") belongs to the sentence before it.
    """
    spans = sentence_spans(text)
    out = []
    for match in _OUT_MARKER.finditer(text):
        i = next((k for k, (a, b) in enumerate(spans) if a <= match.start() < b), 0)
        head = _OUT_MARKER.sub("", text[spans[i][0] : match.start()]) if spans else ""
        if i > 0 and not _has_content(head):
            i -= 1
        sentence = _OUT_MARKER.sub("", text[spans[i][0] : spans[i][1]]) if spans else ""
        out.append((int(match.group(1)), sentence.strip()))
    return out


def _has_content(text: str) -> bool:
    return any(c.isalnum() for c in text)


def grams(text: str) -> set[str]:
    """Matching units: CJK characters and character bigrams, plus Latin words and numbers."""
    text = text.lower()
    out = set(_WORD.findall(text))
    cjk = "".join(c if CJK_CHAR.match(c) else " " for c in text)
    for run in cjk.split():
        out.update(run)
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    return out


class _QuoteFinder:
    """Best-matching sentence of a source's paragraphs for an answer sentence."""

    def __init__(self, paragraph: Callable[[str, int], Paragraph]) -> None:
        self._paragraph = paragraph
        self._sentences: dict[tuple[str, int], list[tuple[int, int, set[str]]]] = {}

    def _spans(self, doc: str, index: int) -> list[tuple[int, int, set[str]]]:
        key = (doc, index)
        if key not in self._sentences:
            text = self._paragraph(doc, index).text
            spans = []
            for a, b in sentence_spans(text):
                # Offsets of the stripped sentence, so line ranges fit the quote exactly.
                a += len(text[a:b]) - len(text[a:b].lstrip())
                b -= len(text[a:b]) - len(text[a:b].rstrip())
                if b > a:
                    spans.append((a, b, grams(text[a:b])))
            self._sentences[key] = spans
        return self._sentences[key]

    def best(self, n: int, source: Source, sentence: str) -> Citation:
        wanted = grams(sentence)
        best: tuple[float, float, int, int, int] | None = None  # score, support, para, a, b
        for index in source.paragraphs:
            text = self._paragraph(source.doc, index).text
            for a, b, have in self._spans(source.doc, index):
                support = len(wanted & have) / len(wanted) if wanted else 0.0
                # Prefer sentences shown to the model, then tighter ones.
                shown = 0.05 if text[a:b] in source.text else 0.0
                precision = 0.01 * len(wanted & have) / len(have) if have else 0.0
                score = support + shown + precision
                if best is None or score > best[0]:
                    best = (score, support, index, a, b)
        if best is None:  # an empty paragraph: cite it whole
            para = self._paragraph(source.doc, source.paragraphs[0])
            return Citation(n, source.doc, para.index, para.lines, para.text, para.text, 0.0,
                            page=para.page)
        _, support, index, a, b = best
        para = self._paragraph(source.doc, index)
        return Citation(n=n, doc=source.doc, paragraph=index, lines=para.lines_of(a, b),
                        text=para.text, quote=para.text[a:b], score=round(support, 4),
                        page=para.page)
