"""Keyword retrieval: BM25 over jieba words plus CJK character bigrams (the terms and their
statistics; ``rag.keyword_build`` writes the index, ``rag.keyword_index`` reads it).

Words carry meaning; bigrams rescue recall when jieba segments the question and the document
differently (e.g. 千亿级 vs 千亿 / 级). Both sides drop the same function and question words,
so "哪些""是什么" never score. The index is built once, saved beside the vector index and loaded,
never rebuilt per query.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import threading
from collections.abc import Callable, Collection

from rag.language import CJK_RUN, same_cut, simplified_form, to_simplified
from rag.segmenter import jieba

log = logging.getLogger(__name__)

# Bigram terms carry this prefix so that they never collide with a jieba word of two characters.
BIGRAM_PREFIX = "§"
_WORDLIKE = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)
STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 等 也 都 而 并 或 把 被 对 从 向 以 为 于 之 其 这 那
    这个 那个 这些 那些 有 有的 没有 会 要 就 还 又 将 该 各 个 一 一个 上 下 中 里
    给 让 使 由 着 过 吗 呢 吧 啊 呀
    什么 哪些 哪个 哪 哪里 哪儿 谁 多少 几 几个 怎么 怎样 如何 为什么 为何 何 何时 何地 什么时候
    是否 是不是 请问 请 一下 文中 文章 报道 提到 提及 根据 其中 主要 分别 具体 内容 方面 情况
    the a an of to in on at for and or is are was were be by with what which who whom whose when
    where why how does do did this that these those it its from as about""".split()
)


# What each raw jieba word becomes (the stripped word, or None when it is dropped): words repeat
# so much that a dict lookup beats stripping and matching every occurrence. Per process,
# cleared when it grows past _WORD_CACHE_LIMIT.
_WORD_CACHE: dict[str, str | None] = {}
_WORD_CACHE_LIMIT = 500_000
_UNSEEN = object()  # (compared by identity: no word equals it)


def kept_word(word: str) -> str | None:
    w = word.strip()
    # \w never matches white space, so testing the stripped word is the same test; a stopword
    # written in traditional script (這個, 什麼) is a stopword too
    if not w or w in STOPWORDS or not _WORDLIKE.search(w) or to_simplified(w) in STOPWORDS:
        return None
    return w


def cut_words(lowered: str, cut: Callable[[str], list[str]]) -> list[str]:
    """``cut``'s words of ``lowered`` (jieba's or an equal cut), cut where its simplified form
    is cut (``rag.language.simplified_form``), in the text's own characters."""
    form = simplified_form(lowered)
    words = None if form == lowered else same_cut(lowered, cut(form))
    return cut(lowered) if words is None else words


def content_words(lowered: str) -> list[str]:
    """The words ``tokenize`` keeps from lower-cased text, in order (repeats kept)."""
    raw = cut_words(lowered, jieba().lcut)
    cache = _WORD_CACHE
    kept = list(map(cache.get, raw, itertools.repeat(_UNSEEN)))
    if _UNSEEN in kept:  # words not met before: decide them once
        if len(cache) > _WORD_CACHE_LIMIT:
            cache.clear()
        for word in raw:
            if word not in cache:
                cache[word] = kept_word(word)
        kept = list(map(cache.__getitem__, raw))
    return list(filter(None, kept))  # drops None (a dropped word); a kept word is never ""


def tokenize(text: str) -> list[str]:
    """Words (jieba, precise mode) plus ``§``-prefixed CJK character bigrams, lower-cased."""
    text = text.lower()
    words = content_words(text)
    for run in CJK_RUN.findall(text):
        words += [BIGRAM_PREFIX + run[i : i + 2] for i in range(len(run) - 1)]
    return words


def bigram_term(bigram: str) -> str:
    """The keyword term of a CJK character bigram (as ``tokenize`` writes it)."""
    return BIGRAM_PREFIX + bigram


def content_terms(text: str) -> list[str]:
    """The words of ``text`` that carry meaning (no bigrams, no stopwords)."""
    return [t for t in tokenize(text) if not t.startswith(BIGRAM_PREFIX)]


# BM25 as Lucene scores it (the parameters bm25s uses by default, which built this index before).
K1 = 1.5
B = 0.75


def bm25_idf(n_texts: int, df: int) -> float:
    """BM25's inverse document frequency; a term in no text gets the highest value."""
    n = max(n_texts, 1)
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


class TermStatistics:
    """Document frequencies and IDF of keyword terms over one index snapshot, cached.

    ``lookup`` returns the document frequency of each of a batch of (lower-cased) terms; a
    remote store answers a batch in one request, so callers ``prefetch`` what they will ask.
    Thread-safe.
    """

    _LIMIT = 50_000  # cached terms before the cache starts over

    def __init__(self, lookup: Callable[[list[str]], dict[str, int]], n_texts: int) -> None:
        self._lookup = lookup
        self.n_texts = n_texts
        self._df: dict[str, int] = {}
        self._lock = threading.Lock()

    def prefetch(self, terms: Collection[str]) -> None:
        missing = sorted({t.lower() for t in terms} - self._df.keys())
        if not missing:
            return
        found = self._lookup(missing)
        with self._lock:
            if len(self._df) > self._LIMIT:
                self._df.clear()
            for t in missing:
                self._df[t] = int(found.get(t, 0))

    def document_frequency(self, term: str) -> int:
        term = term.lower()
        if term not in self._df:
            self.prefetch({term})
        return self._df.get(term, 0)

    def knows(self, term: str) -> bool:
        return self.document_frequency(term) > 0

    def idf(self, term: str) -> float:
        return bm25_idf(self.n_texts, self.document_frequency(term))
