"""A Chinese question asked in the written form its corpus uses: simplified or traditional.

A question typed in simplified characters (为什么软件) shares almost no keyword term with a
traditional-script corpus (為什麼軟體), and the other way round, so it found little and the
answerer abstained. The question is converted by OpenCC (the maintained converter, with the
phrase tables a character map lacks: 软件 <-> 軟體) into each script, and the variant whose
character pairs the corpus knows best is searched and answered. The corpus is never converted,
so quotes and line numbers stay the document's own.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Protocol

from rag.keyword import bigram_term
from rag.language import CJK_RUN

log = logging.getLogger(__name__)

# simplified, Taiwan phrasing to mainland, traditional, Taiwan with its phrasing, Hong Kong
CONVERSIONS = ("t2s", "tw2sp", "s2t", "s2twp", "s2hk")
_lock = threading.Lock()


class KnownTerms(Protocol):
    def prefetch(self, terms: set[str]) -> None: ...

    def knows(self, term: str) -> bool: ...


@functools.cache
def _converter(config: str) -> Any:  # opencc has no type hints
    import opencc  # loaded on the first Chinese question only (about 30 ms per table)

    return opencc.OpenCC(config)


def variants(question: str) -> list[str]:
    """``question`` as typed, then its other written forms (distinct, in ``CONVERSIONS``
    order); just the question when it has no Chinese characters or OpenCC is not installed."""
    if not CJK_RUN.search(question):
        return [question]
    out = [question]
    try:
        with _lock:  # each table is read once, even when two questions arrive together
            converters = [_converter(c) for c in CONVERSIONS]
    except ImportError:
        log.warning("opencc is not installed: questions are not matched to the corpus's "
                    "script (pip install opencc)")
        return out
    for converter in converters:
        text = converter.convert(question)
        if text not in out:
            out.append(text)
    return out


def _pairs(text: str) -> list[str]:
    return [bigram_term(run[i : i + 2]) for run in CJK_RUN.findall(text.lower())
            for i in range(len(run) - 1)]


def in_corpus_script(question: str, terms: KnownTerms) -> str:
    """The written form of ``question`` whose CJK character pairs the corpus knows the largest
    share of; the question as typed unless another form knows strictly more."""
    typed = _pairs(question)
    terms.prefetch(set(typed))  # one request for a remote store

    def known(pairs: list[str]) -> float:
        return sum(terms.knows(p) for p in pairs) / len(pairs) if pairs else 0.0

    share = known(typed)
    if not typed or share == 1.0:  # nothing to gain: the conversion tables are not even read
        return question
    forms = variants(question)[1:]
    pairs = [_pairs(f) for f in forms]
    terms.prefetch({p for ps in pairs for p in ps})
    shares = [known(ps) for ps in pairs]
    best = max(range(len(forms)), key=lambda i: (shares[i], -i), default=None)
    return forms[best] if best is not None and shares[best] > share else question
