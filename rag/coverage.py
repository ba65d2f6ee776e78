"""How much of a question a text covers: IDF-weighted words and character bigrams, and plain
characters. Used to rerank retrieved passages (``rag.rerank``) and to score the extractive
answerer's sentences (``rag.answerers.sentence_scoring``), so both read a question alike.
"""

from __future__ import annotations

from collections.abc import Callable

from rag.keyword import bigram_term, content_terms
from rag.language import CJK_RUN, cjk_bigrams

# Question scaffolding: characters that say *how* something is asked, not *what* about.
QUESTION_CHARS = frozenset("的了是在和与及或有为么什哪谁几多少吗呢怎样如何请问"
                           "一个中对被把从到该这那其些")


def bigrams(text: str) -> set[str]:
    return set(cjk_bigrams(text.lower()))


class QuestionTerms:
    """IDF-weighted coverage of the question's words, bigrams and characters by a text."""

    def __init__(self, question: str, idf: Callable[[str], float],
                 in_corpus: Callable[[str], bool]) -> None:
        # Terms the corpus never contains cannot separate texts; leaving them out keeps
        # coverage comparable across questions (missing terms are a signal of their own).
        self.words = {t: idf(t) for t in content_terms(question) if in_corpus(t)}
        self.bigrams = {b: idf(bigram_term(b)) for b in bigrams(question)
                        if in_corpus(bigram_term(b))}
        self.chars = {c for c in "".join(CJK_RUN.findall(question)) if c not in QUESTION_CHARS}
        self._totals = tuple(sum(w * w for w in weights.values())
                             for weights in (self.words, self.bigrams))

    def coverage(self, text: str) -> float:
        """Share of the question's squared IDF mass found in ``text`` (words and bigrams averaged).

        Squaring lets the rare, specific terms decide (measured on the seed Q&A set: answer
        sentences found 48 -> 51 of 62 against plain IDF weights).
        """
        parts = [p for p in self.parts(text) if p is not None]
        return sum(parts) / len(parts) if parts else 0.0

    def parts(self, text: str) -> tuple[float | None, float | None]:
        """(word coverage, bigram coverage) of ``text``; None where the question has none."""
        text = text.lower()
        out: list[float | None] = []
        for weights, total in zip((self.words, self.bigrams), self._totals, strict=True):
            out.append(sum(w * w for t, w in weights.items() if t in text) / total
                       if total > 0 else None)
        return out[0], out[1]

    def char_coverage(self, text: str) -> float:
        """Share of the question's content characters present in ``text``.

        A reader's paraphrase keeps characters where it changes words (毫不动摇 / 不动摇,
        翻一番 / 倍增 does not, but 预计要花多久 / 时间 shares nothing either way).
        """
        if not self.chars:
            return 0.0
        return sum(c in text for c in self.chars) / len(self.chars)
