"""Tokenising a batch of chunks for the keyword build: the terms of ``rag.keyword.tokenize``,
counted per chunk, in a form that is cheap to make and cheap to send between processes.

Words come from jieba's cut chunk by chunk (``rag.fast_cut``: the same words as ``jieba.lcut`` in
less time; made once per build, before worker processes fork, so that they share it). CJK character
bigrams are found for the whole batch at once with numpy (code points of the joined texts; a pair
of adjacent CJK characters is one bigram) and stand as integers, ``first << 21 | second``, instead
of ``§``-prefixed strings: ``tokenize`` spends about a tenth of its time making those strings, the
build never needs them until it writes the vocabulary (``term_text``). Lower-casing never touches
CJK characters, so the bigrams of the raw text are those of the lower-cased text.

Each tokenising process numbers the terms it meets itself (``_Vocabulary``, kept from batch to
batch of one build) and sends a term's text only the first time: the parent, which turns these
numbers into the index's ids, then works with arrays, and its dictionary lookups grow with the
vocabulary, not with the number of tokens.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from rag.fast_cut import Cutter
from rag.keyword import BIGRAM_PREFIX, cut_words, kept_word

_SHIFT = 21  # bits of a code point
_LOW = (1 << _SHIFT) - 1
# rag.language.CJK_CHARS as code point ranges
_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
# Terms a process keeps numbers for before it starts again (~150 MB of dictionaries)
_LIMIT = 1_000_000

Term = str | int  # a word, or a bigram as an integer


class Batch(NamedTuple):
    """The tokens of a batch of chunks, by the tokenising process's own term numbers."""

    process: int  # the tokenising process's id
    first: int  # the number of ``new_terms[0]``; 0 when the process (re)started its numbering
    new_terms: list[Term]  # terms the process met first in this batch, numbered from ``first``
    n_terms: np.ndarray  # distinct terms per chunk
    ids: np.ndarray  # each chunk's terms (words, then bigrams, each in order of first appearance)
    counts: np.ndarray  # their counts in the chunk
    lengths: np.ndarray  # BM25 lengths


def term_text(term: Term) -> str:
    """The term as ``tokenize`` writes it."""
    if isinstance(term, str):
        return term
    return BIGRAM_PREFIX + bigram_chars(term)


def bigram_chars(term: int) -> str:
    """The two characters of a bigram term."""
    return chr(term >> _SHIFT) + chr(term & _LOW)


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


def batch_bigrams(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray, np.ndarray]:
    """(the batch's distinct bigrams, sorted; each chunk's distinct bigrams as positions in
    those, chunk after chunk, each chunk's in order of first appearance; their counts; where
    each chunk's run starts (len(texts) + 1); bigrams per chunk)."""
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
    # numbered within the batch first: a process looks each distinct bigram up once a batch
    distinct, which = np.unique(keys, return_inverse=True)
    chunk_of, positions, counts = _distinct(chunk, which, 32)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(chunk_of, minlength=n), out=offsets[1:])
    return distinct, positions, counts, offsets, np.bincount(chunk, minlength=n)


def _distinct(chunk: np.ndarray, keys: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray,
                                                                        np.ndarray]:
    """(chunk, key, count) of each distinct key of each chunk, chunk by chunk, in order of first
    appearance; ``chunk`` ascending, keys below ``2 ** bits``."""
    combined = chunk.astype(np.int64) << bits | keys
    distinct, first, counts = np.unique(combined, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    distinct = distinct[order]
    return distinct >> bits, distinct & ((1 << bits) - 1), counts[order]


class _Vocabulary:
    """One process's numbers for the terms of one build (``build``), with the terms numbered
    since the last batch. ``raw`` takes jieba's words (lower-cased) straight to numbers, -1 for
    a word that ``tokenize`` drops; bigrams are looked up in a sorted array (a batch's distinct
    bigrams at once, by binary search: a dictionary of integers would cost about three times as
    much here)."""

    def __init__(self, build: str) -> None:
        self.build = build
        self.raw: dict[str, int] = {}
        self.words: dict[str, int] = {}
        self.bigrams = np.empty(0, dtype=np.int64)  # sorted
        self.bigram_numbers = np.empty(0, dtype=np.int64)
        self.size = 0
        self.new: list[Term] = []

    def add(self, word: str) -> int:
        i = self.words.get(word)
        if i is None:
            i = self.words[word] = self.size
            self.size += 1
            self.new.append(word)
        return i

    def word_ids(self, words: list[str]) -> list[int]:
        raw = self.raw
        ids = list(map(raw.get, words))
        if None in ids:  # words not met before: decided once
            for word in words:
                if word not in raw:
                    kept = kept_word(word)
                    raw[word] = -1 if kept is None else self.add(kept)
            ids = list(map(raw.__getitem__, words))
        return ids

    def bigram_ids(self, keys: np.ndarray) -> np.ndarray:
        """The numbers of the distinct, sorted bigrams ``keys`` (new ones numbered in order)."""
        known = self.bigrams
        at = np.searchsorted(known, keys)
        found = np.zeros(len(keys), dtype=bool)
        inside = np.flatnonzero(at < len(known))
        found[inside] = known[at[inside]] == keys[inside]
        ids = np.empty(len(keys), dtype=np.int64)
        ids[found] = self.bigram_numbers[at[found]]
        fresh = ~found
        k = int(np.count_nonzero(fresh))
        if k:
            ids[fresh] = np.arange(self.size, self.size + k)
            self.bigrams = np.insert(known, at[fresh], keys[fresh])
            self.bigram_numbers = np.insert(self.bigram_numbers, at[fresh], ids[fresh])
            self.size += k
            self.new += keys[fresh].tolist()
        return ids


_state = threading.local()  # this thread's _Vocabulary
_cutter: Cutter | None = None  # the build's word cutter (read-only once made)


def prepare() -> Cutter:
    """The build's word cutter, made now if it is not yet (jieba's whole dictionary and its
    table of scores, ~0.2 s): before forking tokenising processes, which then share its pages."""
    global _cutter
    if _cutter is None:
        _cutter = Cutter()
    return _cutter


def forget() -> None:
    """Drop this thread's term numbers and the cutter (a build that tokenised in this process
    has ended; the next one takes a fresh snapshot of jieba's dictionary)."""
    global _cutter
    _state.vocabulary = None
    _cutter = None


def _vocabulary(build: str) -> _Vocabulary:
    vocabulary = getattr(_state, "vocabulary", None)
    if vocabulary is None or vocabulary.build != build or vocabulary.size > _LIMIT:
        vocabulary = _state.vocabulary = _Vocabulary(build)
    return vocabulary


def tokenize_batch(texts: Sequence[str], build: str = "") -> Batch:
    """The batch's terms, by this process's numbers for the build ``build`` (a token the same
    for all batches of one build): each chunk's terms are ``Counter(tokenize(text))``'s, in its
    order: words, then bigrams."""
    vocabulary = _vocabulary(build)
    first = vocabulary.size
    n = len(texts)
    lcut = prepare().lcut
    tokens: list[int] = []
    per_chunk = np.empty(n, dtype=np.int64)
    for i, text in enumerate(texts):
        ids = vocabulary.word_ids(cut_words(text.lower(), lcut))
        tokens += ids
        per_chunk[i] = len(ids)
    token_ids = np.array(tokens, dtype=np.int64)
    chunk = np.repeat(np.arange(n, dtype=np.int64), per_chunk)
    kept = token_ids >= 0
    chunk, token_ids = chunk[kept], token_ids[kept]
    word_chunk, word_ids, word_counts = _distinct(chunk, token_ids, 32)
    bigrams, positions, bigram_counts, offsets, n_bigrams = batch_bigrams(texts)
    bigram_ids = vocabulary.bigram_ids(bigrams)[positions]
    per_chunk_bigrams = np.diff(offsets)
    per_chunk_words = np.bincount(word_chunk, minlength=n)
    n_terms = per_chunk_words + per_chunk_bigrams
    # each chunk's words, then its bigrams: where each one goes
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_terms, out=starts[1:])
    word_starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(per_chunk_words, out=word_starts[1:])
    bigram_chunk = np.repeat(np.arange(n, dtype=np.int64), per_chunk_bigrams)
    at = starts[word_chunk] + np.arange(len(word_chunk)) - word_starts[word_chunk]
    bigram_at = (starts[bigram_chunk] + per_chunk_words[bigram_chunk]
                 + np.arange(len(bigram_chunk)) - offsets[bigram_chunk])
    ids = np.empty(int(starts[-1]), dtype=np.int32)
    counts = np.empty(len(ids), dtype=np.int32)
    ids[at], ids[bigram_at] = word_ids, bigram_ids
    counts[at], counts[bigram_at] = word_counts, bigram_counts
    lengths = np.bincount(chunk, minlength=n) + n_bigrams
    lengths[lengths == 0] = 1  # an empty text counts as one (empty) token, as bm25s did
    new, vocabulary.new = vocabulary.new, []
    return Batch(os.getpid(), first, new, n_terms.astype(np.int32), ids, counts,
                 lengths.astype(np.int32))
