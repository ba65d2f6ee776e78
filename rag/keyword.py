"""Keyword retrieval: BM25 (bm25s) over jieba words plus CJK character bigrams.

Words carry meaning; bigrams rescue recall when jieba segments the question and the document
differently (e.g. 千亿级 vs 千亿 / 级). Both sides drop the same function and question words,
so "哪些""是什么" never score. The index is built once, saved beside the vector index and loaded,
never rebuilt per query.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
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


def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def _bm25s():
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on import
    return bm25s


def tokenize(text: str) -> list[str]:
    """Words (jieba, precise mode) plus ``§``-prefixed CJK character bigrams, lower-cased."""
    text = text.lower()
    words = [
        w.strip()
        for w in _jieba().lcut(text)
        if w.strip() and _WORDLIKE.search(w) and w.strip() not in STOPWORDS
    ]
    bigrams = []
    for run in _CJK.findall(text):
        bigrams.extend("§" + run[i : i + 2] for i in range(len(run) - 1))
    return words + bigrams


def content_terms(text: str) -> list[str]:
    """The words of ``text`` that carry meaning (no bigrams, no stopwords)."""
    return [t for t in tokenize(text) if not t.startswith("§")]


class KeywordIndex:
    """BM25 over a fixed list of texts; scores come back in the texts' order."""

    def __init__(self, retriever, size: int) -> None:
        self._retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> KeywordIndex:
        retriever = _bm25s().BM25()
        if texts:
            retriever.index([tokenize(t) or [""] for t in texts], show_progress=False)
        return cls(retriever, len(texts))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._retriever.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, size: int) -> KeywordIndex:
        retriever = _bm25s().BM25.load(str(directory), show_progress=False, verbosity=0)
        return cls(retriever, size)

    def vocabulary(self) -> dict[str, int]:
        return getattr(self._retriever, "vocab_dict", None) or {}

    def knows(self, term: str) -> bool:
        return term.lower() in self.vocabulary()

    def scores(self, query: str) -> np.ndarray:
        tokens = [t for t in tokenize(query) if t in self.vocabulary()]
        if not tokens or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(tokens), dtype=np.float32)

    def document_frequency(self, term: str) -> int:
        """In how many texts ``term`` (a token as ``tokenize`` makes them) occurs."""
        tid = self.vocabulary().get(term.lower())
        indptr = getattr(self._retriever, "scores", {}).get("indptr")
        if tid is None or indptr is None or tid + 1 >= len(indptr):
            return 0
        return int(indptr[tid + 1] - indptr[tid])

    def idf(self, term: str) -> float:
        """BM25-style inverse document frequency; unseen terms get the highest value."""
        n = max(self.size, 1)
        df = self.document_frequency(term)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))
