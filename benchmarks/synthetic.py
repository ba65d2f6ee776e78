"""A Chinese corpus generated from the seed documents, of any size, offline and reproducible.

The seeds hold ~130 sentences. Each generated sentence is one of them with its clauses
shuffled, its numbers redrawn, its person and place names replaced, and about a third of its
nouns, verbs and adjectives swapped for words of the same part of speech drawn from jieba's
dictionary by frequency. That keeps the grammar and punctuation of real news text while giving
the vocabulary a long tail, so BM25 posting lists and the vocabulary grow with the corpus the way
they do on real text instead of repeating 130 sentences.

Two outputs:

* ``write_documents(folder, n_docs)``: ``.txt`` files (title plus paragraphs) for the ingest and
  peer benchmarks, which read files like a user's corpus;
* ``SentencePool`` + ``compose_chunks``: chunk texts of about the seeds' chunk length (2-4
  sentences, ~125 characters) for indexes published directly as one ``Delta``
  (``scale_index.py``); the pool tokenizes each sentence once so a million chunks do not need a
  million jieba calls (a chunk's tokens are its sentences' tokens, because jieba and the bigrams
  never cross the sentence-ending punctuation; ``check_composed_tokens`` verifies that on a sample).
"""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from common import SEEDS, WORK

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国志红金荣海波宏成新广宇兆祥嘉昊飞梅庆"
PLACES = ("兖州 曲阜 邹城 泗水 微山 鱼台 金乡 嘉祥 汶上 梁山 济宁 泰安 临沂 枣庄 菏泽 聊城 德州 "
          "滨州 东营 潍坊 淄博 日照 威海 烟台 青岛 济南 莱芜 宁阳 肥城 新泰 沂水 费县 郯城 莒县 "
          "五莲 诸城 寿光 青州 昌乐 临朐 高密 平度 莱西 即墨 胶州 章丘 平阴 商河").split()
KNOWN_NAMES = ("温金荣 张海波 林武 李梅 王庆 霍媛媛 王宏伟 陈成华 牛飞 李娜 卢嘉昊 张新 张广宇 "
               "庾华 李兆祥").split()
KNOWN_PLACES = ("兖州 济宁 山东 宁德").split()
_DIGITS = re.compile(r"\d+")
_ENDS = "。！？；…!?"
SWAP_SHARE = 0.35


def seed_sentences() -> list[str]:
    """The seed documents' sentences, after the project's own paragraph repair."""
    from rag.paragraphs import split_paragraphs
    from rag.sentences import split_sentences

    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        for p in split_paragraphs(path.read_text(encoding="utf-8"), path.name):
            out.extend(s.strip() for s in split_sentences(p.text) if len(s.strip()) >= 8)
    return out


@lru_cache(maxsize=1)
def _dictionary_words() -> dict[str, tuple[list[str], list[float]]]:
    """jieba dictionary words by part of speech (n, v, vn, a) with cumulative weights.

    A word's weight is its dictionary frequency to the 0.75 (a flatter Zipf tail)."""
    from rag.segmenter import jieba

    by_tag: dict[str, tuple[list[str], list[float]]] = {t: ([], []) for t in ("n", "v", "vn", "a")}
    path = Path(os.path.dirname(jieba().__file__)) / "dict.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[2] not in by_tag or not 2 <= len(parts[0]) <= 4:
            continue
        if not all("\u4e00" <= c <= "\u9fff" for c in parts[0]):
            continue
        words, cumulative = by_tag[parts[2]]
        words.append(parts[0])
        cumulative.append((cumulative[-1] if cumulative else 0.0)
                          + math.pow(int(parts[1]), 0.75))
    return by_tag


@dataclass(frozen=True)
class _Template:
    clauses: tuple[tuple[tuple[str, str], ...], ...]  # clauses of (word, kind) pairs
    end: str  # the sentence's closing punctuation


def _kind(word: str, flag: str) -> str:
    if word in KNOWN_NAMES or flag == "nr" and len(word) in (2, 3):
        return "name"
    if word in KNOWN_PLACES:
        return "place"
    if _DIGITS.fullmatch(word):
        return "num"
    return flag if flag in ("n", "v", "vn", "a") else "keep"


def _template(sentence: str) -> _Template:
    from rag.segmenter import posseg

    pseg = posseg()
    body = sentence.rstrip()
    cut = len(body)
    while cut > 0 and (body[cut - 1] in _ENDS or body[cut - 1] in "”’」』）)"):
        cut -= 1
    end = body[cut:] or "。"
    if not any(c in _ENDS for c in end):
        end += "。"
    clauses, current = [], []
    for word, flag in pseg.lcut(body[:cut]):
        current.append((word, _kind(word, flag)))
        if word in "，；":
            clauses.append(tuple(current))
            current = []
    if current:
        clauses.append(tuple(current))
    return _Template(tuple(clauses), end)


class SentenceGenerator:
    """Draws varied sentences from the seed sentences; deterministic for a given seed."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.templates = [_template(s) for s in seed_sentences()]
        self.words = _dictionary_words()

    def _name(self) -> str:
        rng = self.rng
        return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))

    def _fill(self, word: str, kind: str) -> str:
        rng = self.rng
        if kind == "name":
            return self._name()
        if kind == "place":
            return rng.choice(PLACES)
        if kind == "num":
            return str(rng.randint(10 ** (len(word) - 1) if len(word) > 1 else 1,
                                   10 ** len(word) - 1))
        if kind in self.words and rng.random() < SWAP_SHARE:
            words, cumulative = self.words[kind]
            return rng.choices(words, cum_weights=cumulative)[0]
        return word

    def sentence(self) -> str:
        t = self.rng.choice(self.templates)
        clauses = list(t.clauses)
        if len(clauses) > 2 and self.rng.random() < 0.5:
            # shuffle all but the last clause; each keeps its own trailing comma
            head = clauses[:-1]
            self.rng.shuffle(head)
            clauses = head + clauses[-1:]
        text = "".join(self._fill(w, k) for clause in clauses for w, k in clause)
        return text.rstrip("，；、：") + t.end

    def paragraph(self, min_chars: int = 100, max_chars: int = 220) -> str:
        parts: list[str] = []
        while sum(map(len, parts)) < min_chars:
            s = self.sentence()
            if parts and sum(map(len, parts)) + len(s) > max_chars:
                break
            parts.append(s)
        return "".join(parts)


def write_documents(folder: Path, n_docs: int, *, paragraphs: int = 12, seed: int = 0) -> Path:
    """``n_docs`` generated news-like ``.txt`` files in ``folder`` (rewritten deterministically)."""
    gen = SentenceGenerator(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_docs):
        title = gen.rng.choice(PLACES) + gen.sentence()[:14].rstrip("，。；")
        body = [gen.paragraph(80, 400) for _ in range(paragraphs)]
        text = title + "\n\n" + "\n\n".join("  " + p for p in body) + "\n"
        (folder / f"gen_{i:05d}.txt").write_text(text, encoding="utf-8")
    return folder


def corpus_folder(n_docs: int) -> Path:
    """The seeds plus ``n_docs`` generated documents, written once under ``WORK``."""
    import shutil

    folder = WORK / f"corpus-seeds+{n_docs}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        write_documents(folder / "generated", n_docs, seed=3)
        for path in SEEDS.glob("*.txt"):
            shutil.copy(path, folder / path.name)
        (folder / ".complete").write_text("ok")
    return folder


class SentencePool:
    """``size`` generated sentences, each tokenized once with ``rag.keyword.tokenize``."""

    def __init__(self, size: int, seed: int = 0) -> None:
        from rag.keyword import tokenize

        gen = SentenceGenerator(seed)
        self.sentences = [gen.sentence() for _ in range(size)]
        self.words: list[list[str]] = []
        self.bigrams: list[list[str]] = []
        for s in self.sentences:
            tokens = tokenize(s)
            self.words.append([t for t in tokens if not t.startswith("§")])
            self.bigrams.append([t for t in tokens if t.startswith("§")])

    def tokens(self, members: Sequence[int]) -> list[str]:
        """Exactly ``tokenize("".join(sentences))``: all words first, then all bigrams."""
        out = [w for i in members for w in self.words[i]]
        out += [b for i in members for b in self.bigrams[i]]
        return out


def compose_chunks(pool: SentencePool, n: int, *, seed: int = 1, min_chars: int = 100,
                   max_chars: int = 200) -> list[tuple[int, ...]]:
    """``n`` chunks as tuples of pool sentence ids, 2-4 sentences, ~``min_chars``+ characters."""
    rng = random.Random(seed)
    size = len(pool.sentences)
    lengths = [len(s) for s in pool.sentences]
    chunks = []
    for _ in range(n):
        members = [rng.randrange(size)]
        total = lengths[members[0]]
        while total < min_chars and len(members) < 4:
            j = rng.randrange(size)
            if total + lengths[j] > max_chars and len(members) >= 2:
                break
            members.append(j)
            total += lengths[j]
        chunks.append(tuple(members))
    return chunks


def chunk_text(pool: SentencePool, members: Sequence[int]) -> str:
    return "".join(pool.sentences[i] for i in members)


def check_composed_tokens(pool: SentencePool, chunks: Sequence[tuple[int, ...]],
                          sample: int = 300) -> None:
    """Assert that composed token bags equal ``tokenize`` of the chunk text on a sample."""
    from collections import Counter

    from rag.keyword import tokenize

    rng = random.Random(7)
    for members in rng.sample(list(chunks), min(sample, len(chunks))):
        composed = Counter(pool.tokens(members))
        real = Counter(tokenize(chunk_text(pool, members)))
        if composed != real:
            diff = (composed - real) + (real - composed)
            raise AssertionError(f"composed tokens differ for {chunk_text(pool, members)!r}: "
                                 f"{dict(diff)}")
