"""A Chinese question asked in the written form its corpus uses: simplified or traditional.

A question typed in simplified characters (为什么软件) shares almost no keyword term with a
traditional-script corpus (為什麼軟體), and the other way round, so it found little and the
answerer abstained. The question is converted by OpenCC (the maintained converter, with the
phrase tables a character map lacks: 软件 <-> 軟體) into each script, and the variant whose
character pairs the corpus knows best is searched and answered. The corpus is never converted,
so quotes and line numbers stay the document's own.
"""

from __future__ import annotations

from typing import Protocol

from rag.keyword import bigram_term
from rag.language import CJK_RUN, cjk_bigrams, script_converter

# to simplified (Taiwan phrasing to mainland's), a few ms to read
TO_SIMPLIFIED = ("t2s", "tw2sp")
# to traditional, Taiwan's with its phrasing, Hong Kong's: ~0.5 s to read, so only read for a
# corpus that holds traditional text
TO_TRADITIONAL = ("s2t", "s2twp", "s2hk")
# Common character pairs written only in traditional script: a corpus that knows none of them
# holds (next to) no traditional text.
TRADITIONAL_PAIRS = ("這個", "我們", "們的", "時間", "發展", "國家", "為了", "對於", "這些",
                     "沒有", "問題", "時候", "經濟", "開始", "進行")


class KnownTerms(Protocol):
    def prefetch(self, terms: set[str]) -> None: ...

    def knows(self, term: str) -> bool: ...


def variants(question: str, *, traditional: bool = True) -> list[str]:
    """``question`` as typed, then its other written forms (distinct; the traditional ones only
    with ``traditional``); just the question when it has no Chinese characters or OpenCC is not
    installed."""
    if not CJK_RUN.search(question):
        return [question]
    out = [question]
    for config in TO_SIMPLIFIED + (TO_TRADITIONAL if traditional else ()):
        converter = script_converter(config)
        if converter is None:
            break
        text = converter.convert(question)
        if text not in out:
            out.append(text)
    return out


def _pairs(text: str) -> list[str]:
    return [bigram_term(g) for g in cjk_bigrams(text.lower())]


def in_corpus_script(question: str, terms: KnownTerms) -> str:
    """The written form of ``question`` whose CJK character pairs the corpus knows the largest
    share of; the question as typed unless another form knows strictly more."""
    typed = _pairs(question)
    probe = [bigram_term(p) for p in TRADITIONAL_PAIRS]
    terms.prefetch(set(typed) | set(probe))  # one request for a remote store

    def known(pairs: list[str]) -> float:
        return sum(terms.knows(p) for p in pairs) / len(pairs) if pairs else 0.0

    share = known(typed)
    if not typed or share == 1.0:  # nothing to gain: the conversion tables are not even read
        return question
    forms = variants(question, traditional=any(terms.knows(p) for p in probe))[1:]
    pairs = [_pairs(f) for f in forms]
    terms.prefetch({p for ps in pairs for p in ps})
    shares = [known(ps) for ps in pairs]
    best = max(range(len(forms)), key=lambda i: (shares[i], -i), default=None)
    return forms[best] if best is not None and shares[best] > share else question
