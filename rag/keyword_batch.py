"""Tokenising a batch of chunks for the keyword build: the terms of ``rag.keyword.tokenize``,
counted per chunk, in a form that is cheap to make and cheap to send between processes.

Words come from jieba chunk by chunk. CJK character bigrams are found for the whole batch at
once with numpy (code points of the joined texts; a pair of adjacent CJK characters is one
bigram) and stand as integers, ``first << 21 | second``, instead of ``§``-prefixed strings:
``tokenize`` spends about a tenth of its time making those strings, the build never needs them
until it writes the vocabulary (``term_text``). Lower-casing never touches CJK characters, so the
bigrams of the raw text are those of the lower-cased text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from rag.keyword import BIGRAM_PREFIX, content_words

_SHIFT = 21  # bits of a code point
_LOW = (1 << _SHIFT) - 1
# rag.language.CJK_CHARS as code point ranges
_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))

Term = str | int  # a word, or a bigram as an integer
Batch = tuple[list[Term], np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def term_text(term: Term) -> str:
    """The term as ``tokenize`` writes it."""
    if isinstance(term, str):
        return term
    return BIGRAM_PREFIX + chr(term >> _SHIFT) + chr(term & _LOW)


def term_key(text: str) -> Term:
    """The inverse of ``term_text`` (a word never starts with ``§``: jieba cuts that symbol off
    as a word of its own, and ``tokenize`` drops it)."""
    if len(text) == 3 and text[0] == BIGRAM_PREFIX:
        return ord(text[1]) << _SHIFT | ord(text[2])
    return text


def _is_cjk(cp: np.ndarray) -> np.ndarray:
    out = np.zeros(len(cp), dtype=bool)
    for lo, hi in _CJK_RANGES:
        out |= (cp >= lo) & (cp <= hi)
    return out


def batch_bigrams(texts: Sequence[str]) -> tuple[list[int], list[int], np.ndarray, np.ndarray]:
    """(distinct bigrams of each chunk, chunk after chunk, each in order of first appearance;
    their counts; where each chunk's run starts (len(texts) + 1); bigrams per chunk)."""
    n = len(texts)
    joined = "\n".join(texts)  # a line break is no CJK character: no bigram spans two chunks
    cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cjk = _is_cjk(cp)
    at = np.flatnonzero(cjk[:-1] & cjk[1:])
    keys = cp[at].astype(np.int64) << _SHIFT | cp[at + 1]
    starts = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(np.fromiter((len(t) + 1 for t in texts[:-1]), dtype=np.int64, count=n - 1),
                  out=starts[1:])
    chunk = np.searchsorted(starts, at, side="right") - 1
    combined = chunk << (2 * _SHIFT) | keys
    distinct, first, counts = np.unique(combined, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")  # chunk by chunk, in order of first appearance
    distinct, counts = distinct[order], counts[order]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(distinct >> (2 * _SHIFT), minlength=n), out=offsets[1:])
    per_chunk = np.bincount(chunk, minlength=n)
    return ((distinct & ((1 << 2 * _SHIFT) - 1)).tolist(), counts.tolist(), offsets, per_chunk)


def tokenize_batch(texts: Sequence[str]) -> Batch:
    """(batch vocabulary in order of first appearance, terms per chunk, local term ids, counts,
    BM25 lengths) of ``texts``. Each chunk's terms are ``Counter(tokenize(text))``'s, in its
    order: words, then bigrams."""
    bigrams, bigram_counts, offsets, n_bigrams = batch_bigrams(texts)
    chunk_terms: list[Term] = []
    n_terms, counts, lengths = [], [], []
    for i, text in enumerate(texts):
        words = Counter(content_words(text.lower()))
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        chunk_terms += words
        chunk_terms += bigrams[lo:hi]
        counts += words.values()
        counts += bigram_counts[lo:hi]
        n_terms.append(len(words) + hi - lo)
        # an empty text counts as one (empty) token, as the bm25s index this replaces did
        lengths.append(words.total() + int(n_bigrams[i]) or 1)
    # the batch's vocabulary in order of first appearance, and each term's position in it
    local = {t: i for i, t in enumerate(dict.fromkeys(chunk_terms))}
    ids = list(map(local.__getitem__, chunk_terms))
    return (list(local), np.array(n_terms, dtype=np.int32), np.array(ids, dtype=np.int32),
            np.array(counts, dtype=np.int32), np.array(lengths, dtype=np.int32))
