"""Reranking retrieved passages with a small fitted model: the fused channel scores plus how
closely each passage's text and its best sentences follow the question.

BM25 scores a chunk by its terms wherever they fall; a question is usually answered by one or
two sentences, and a reader's question shares characters with them even where it changes words.
A listwise linear model over a dozen such features (``rag/rerank.json``, fitted on the fit
data only by ``python -m rag.evaluation.calibrate``) reorders the first ``candidates`` fused
passages (figures in eval/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.coverage import AspectWeights, QuestionTerms, bigrams, doc_title
from rag.linear import LinearModel
from rag.sentences import split_sentences

RERANK_FILE = Path(__file__).with_name("rerank.json")
CANDIDATES = 20  # fused passages the reranker reorders (more cost more, gained nothing)
MAX_TEXT = 400  # characters of a chunk the length feature counts

FEATURES: tuple[str, ...] = (
    "fused",           # fused score / the best candidate's
    "inv_rank",        # 1 / (1 + fused rank)
    "keyword",         # keyword score / the best candidate's
    "words",           # IDF-weighted share of the question's words in the chunk
    "bigrams",         # ... of its character bigrams
    "chars",           # share of its content characters
    "sentence",        # the best sentence's word and bigram coverage
    "pair",            # the best two adjacent sentences' coverage
    "sentence_chars",  # the best sentence's share of content characters
    "sentence_pairs",  # the best sentence's share of the question's bigrams, unweighted
    "common_run",      # the longest run of the question found verbatim / question length
    "length",          # chunk length, up to MAX_TEXT
    "title",           # the question's word and bigram coverage by the document's title
    "aspect_chars",    # share of the question's characters the title lacks (AspectWeights)
    "aspect_terms",    # ... of its words and bigrams the title lacks
)


def candidate_features(question: str, texts: Sequence[str], fused: Sequence[float],
                       keyword: Sequence[float], terms: QuestionTerms,
                       docs: Sequence[str]) -> list[dict[str, float]]:
    """One feature row per candidate text, in the order given (the fused order); ``docs``
    names each candidate's document (its title is read from the name, ``doc_title``)."""
    q = question.lower()
    grams = bigrams(q)
    # the question is difflib's indexed side (b): indexed once, not once per candidate text
    runs = SequenceMatcher(None, autojunk=False)
    runs.set_seq2(q)
    top_fused = max(fused, default=0.0) or 1.0
    top_keyword = max(keyword, default=0.0) or 1.0
    titles = [doc_title(d) for d in docs]
    title_coverage = {t: terms.coverage(t) for t in set(titles)}
    aspect = AspectWeights(terms, texts)
    rows = []
    for rank, (text, f, k, title) in enumerate(zip(texts, fused, keyword, titles, strict=True)):
        low = text.lower()
        aspect_chars, aspect_terms = aspect.coverage(low, title)
        sentences = split_sentences(low) or [low]
        sentence_cov = [terms.coverage(s) for s in sentences]
        pairs = [terms.coverage(a + b) for a, b in zip(sentences, sentences[1:], strict=False)]
        words, grams_covered = terms.parts(low)
        runs.set_seq1(low)
        run = runs.find_longest_match(0, len(low), 0, len(q)).size
        rows.append({
            "fused": f / top_fused, "inv_rank": 1.0 / (1 + rank), "keyword": k / top_keyword,
            "words": words or 0.0, "bigrams": grams_covered or 0.0,
            "chars": terms.char_coverage(low),
            "sentence": max(sentence_cov), "pair": max(pairs, default=max(sentence_cov)),
            "sentence_chars": max(terms.char_coverage(s) for s in sentences),
            "sentence_pairs": (max(sum(g in s for g in grams) for s in sentences) / len(grams)
                               if grams else 0.0),
            "common_run": run / max(len(q), 1),
            "length": min(len(text), MAX_TEXT) / MAX_TEXT,
            "title": title_coverage[title], "aspect_chars": aspect_chars,
            "aspect_terms": aspect_terms,
        })
    return rows


@dataclass(frozen=True)
class Reranker:
    """Reorders fused candidates by the fitted model's score (ties keep the fused order)."""

    model: LinearModel
    candidates: int = CANDIDATES

    def order(self, rows: Sequence[dict[str, float]]) -> list[int]:
        return [i for i, _ in self.rank(rows)]

    def rank(self, rows: Sequence[dict[str, float]]) -> list[tuple[int, float]]:
        """(candidate index, its share of the softmax over all candidates), best first: the
        model's probability that this candidate is the one holding the answer."""
        if not rows:
            return []
        logits = np.array([self.model.vector(r) for r in rows]) @ np.array(self.model.weights)
        shares = np.exp(logits - logits.max())
        shares /= shares.sum()
        # ordered by the logits: shares far below the best can underflow to equal zeros
        order = sorted(range(len(rows)), key=lambda i: (-float(logits[i]), i))
        return [(i, float(shares[i])) for i in order]


@lru_cache(maxsize=4)
def load_reranker(path: str | None = None) -> Reranker:
    """The reranker fitted into ``path`` (default: the one shipped beside this module)."""
    model = LinearModel.from_file(path or RERANK_FILE)
    unknown = sorted(set(model.features) - set(FEATURES))
    if unknown:
        raise ValueError(f"{path or RERANK_FILE}: unknown reranking features {unknown}")
    return Reranker(model)
