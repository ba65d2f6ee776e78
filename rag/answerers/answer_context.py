"""Which sentences an answer shows, around the ones it was decided on.

The answerer decides whether to answer from the sentences the words chose. What it shows may
differ, within the same length budget:

- the lead: the meaning's pick among close calls (``rag.answerers.semantic.by_meaning``), or a
  sentence stating the numbers the question names ("1842年，潘仕成做了什么"); read by the
  decision as well, both cost abstention figures on the fit data, so they only choose what
  is shown;
- a sentence that opens by pointing back (因此, 但, 此时, 该, 他...) is read after the sentence
  it points to, so that one is shown first: "此战奠定了…霸权" is answered with the battle it
  refers to;
- an answer that already runs on into the next sentence (a reason, a list, an introduction)
  keeps going while it fits: such answers in the fit data often span three or four sentences.

Contiguous sentences are shown as one quote, so the citation marks one span of the paragraph.
Chosen on the fit sets; the figures are in eval/README.md ("What an answer shows around its
sentences" and the two sections after it).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from rag.answerers.base import Evidence
from rag.answerers.sentence_scoring import SentenceSpan, next_sentence
from rag.language import to_simplified
from rag.sentences import sentence_spans

# Openings that refer to what came before: result and contrast connectives, demonstratives
# and personal pronouns (matched on the simplified form, so traditional text reads the same).
# 故 alone is left out: 故事 opens sentences too often.
_POINTS_BACK = re.compile(
    r"(?:因此|所以|因而|于是|故而|从而|由此|为此|但是|但|然而|不过|而且|而|并且|结果"
    r"|在此|此时|此后|此|这|该|其|他们|她们|它们|他|她|它|牠们|牠)")


# Digit runs only, not ``rag.answers_analysis.numbers``: Chinese numerals in a question are
# mostly counts (哪三个产业), which ``count_match`` already answers; years are in digits.
_DIGITS = re.compile(r"\d+")
# how far down the ranker's order a sentence stating the question's numbers may come from
NUMBERS_WITHIN = 8


def _digits(text: str) -> set[str]:
    return set(_DIGITS.findall(unicodedata.normalize("NFKC", text)))


def numbers_first(ranked: list[SentenceSpan], question: str) -> list[SentenceSpan]:
    """``ranked`` with the first of its top ``NUMBERS_WITHIN`` sentences that states every
    number the question names (1842年, 4x100米) moved ahead, when the first one does not."""
    named = _digits(question)
    if not named or not ranked or named <= _digits(ranked[0].text):
        return ranked
    for i, s in enumerate(ranked[:NUMBERS_WITHIN]):
        if named <= _digits(s.text):
            return [s, *ranked[:i], *ranked[i + 1:]]
    return ranked


def previous_sentence(s: SentenceSpan, evidence: Evidence) -> SentenceSpan | None:
    """The sentence before ``s`` in its paragraph, when ``s`` starts a sentence."""
    text = evidence.paragraph(s.doc, s.paragraph).text
    before = None
    for start, end in sentence_spans(text):
        if start <= s.start < end and text[start:s.start].strip():
            return None  # ``s`` was cut out of the middle of its sentence
        if end <= s.start and text[start:end].strip():
            before = (start, end)
    if before is None:
        return None
    start, end = before
    return replace(s, start=start, end=end, text=text[start:end].strip())


def points_back(text: str) -> bool:
    return bool(_POINTS_BACK.match(to_simplified(text.lstrip())))


def _chars(spans: list[SentenceSpan]) -> int:
    return sum(len(s.text) for s in spans)


def with_context(chosen: list[SentenceSpan], evidence: Evidence,
                 max_chars: int) -> list[SentenceSpan]:
    """``chosen`` (best first) with the run-on continued and the sentence pointed back to."""
    out = list(chosen)
    after = next_sentence(out[0], evidence) if len(out) == 2 else None
    if after is not None and (after.doc, after.paragraph, after.start) == (
            out[1].doc, out[1].paragraph, out[1].start):  # it runs on into the next sentence
        while (follow := next_sentence(out[-1], evidence)) is not None \
                and _chars(out) + len(follow.text) <= max_chars:
            out.append(follow)
    before = previous_sentence(out[0], evidence) if points_back(out[0].text) else None
    if (before is not None and not any(s.start == before.start for s in out)
            and len(before.text) + len(out[0].text) <= max_chars):
        while len(before.text) + _chars(out) > max_chars:
            out.pop()  # the tail gives way; the best sentence stays (it fits, checked above)
        out.insert(0, before)
    return _merge(out, evidence)


def _merge(spans: list[SentenceSpan], evidence: Evidence) -> list[SentenceSpan]:
    """Adjacent spans of one paragraph joined into one (one quote, one citation mark)."""
    out: list[SentenceSpan] = []
    for s in spans:
        last = out[-1] if out else None
        if last is not None and (last.doc, last.paragraph) == (s.doc, s.paragraph):
            text = evidence.paragraph(s.doc, s.paragraph).text
            if last.end <= s.start and not text[last.end:s.start].strip():
                out[-1] = replace(last, end=s.end, text=text[last.start:s.end].strip())
                continue
        out.append(s)
    return out


ELLIPSIS = "…"


def elided(text: str, start: int, end: int) -> tuple[bool, bool]:
    """Whether the quote ``text[start:end]`` leaves out the start of the sentence it begins in,
    and the end of the sentence it ends in (a long sentence trimmed to the clauses that
    answer). The answer marks each cut with an ellipsis, so that a clipped quote does not read
    as the whole sentence; the quote itself stays the paragraph's exact words."""
    head = tail = False
    for a, b in sentence_spans(text):
        sentence = text[a:b]
        if a <= start < b:
            head = start > a + len(sentence) - len(sentence.lstrip())
        if a < end <= b:
            tail = end < b - (len(sentence) - len(sentence.rstrip()))
    return head, tail
