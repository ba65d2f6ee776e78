"""Sentence scoring and answer trimming for the extractive answerer, and its corpus signals.

Kept apart from ``extractive.py`` so the answerer reads as choose -> decide -> compose.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rag.answerers.base import Evidence
from rag.answers_analysis import (
    FRAMING,
    QType,
    is_title,
    key_terms,
    title_modifier,
    type_evidence,
)
from rag.coverage import AspectWeights, QuestionTerms, bigrams
from rag.keyword import bigram_term, tokenize
from rag.language import has_cjk, to_simplified
from rag.sentences import clause_spans, sentence_spans

_SPACE = re.compile(r"\s+")
# Answers longer than this are cut to the clauses around the best match (the bar is an average
# of at most 120 characters; one long CMRC sentence can run to 200).
TRIM_OVER = 120
TRIM_TO = 100


@dataclass(frozen=True)
class SentenceSpan:
    doc: str
    paragraph: int
    start: int
    end: int
    text: str
    passage_score: float
    rank: int
    score: float = 0.0
    coverage: float = 0.0
    char_coverage: float = 0.0
    features: dict[str, float] = field(default_factory=dict, compare=False)


def squeeze(text: str) -> str:
    """``text`` without whitespace or ``**`` (chunks and paragraphs differ in both)."""
    return _SPACE.sub("", text).replace("**", "")


def is_cjk(text: str) -> bool:
    return has_cjk(text)


class Scorer(QuestionTerms):
    """``QuestionTerms`` of the evidence's question, with the evidence's corpus statistics."""

    def __init__(self, evidence: Evidence) -> None:
        super().__init__(evidence.question, evidence.idf, evidence.in_corpus)


def trim_span(s: SentenceSpan, evidence: Evidence, scorer: Scorer, qtype: QType) -> SentenceSpan:
    """``s`` cut to the clauses around its best-matching clause when it is long.

    The answer usually sits in the matching clause or the one after it, so the window grows
    forward first, then backward, up to ``TRIM_TO`` characters.
    """
    if len(s.text) <= TRIM_OVER:
        return s
    para = evidence.paragraph(s.doc, s.paragraph).text
    start = para.find(s.text, s.start)
    if start < 0:
        return s
    clauses = clause_spans(para, start, start + len(s.text))
    if len(clauses) < 2:
        return s
    q = evidence.question

    def clause_score(i: int) -> float:
        text = para[clauses[i][0] : clauses[i][1]]
        return (scorer.coverage(text) + 0.3 * scorer.char_coverage(text)
                + 0.3 * type_evidence(qtype, q, text))

    best = max(range(len(clauses)), key=lambda i: (clause_score(i), -i))
    lo = hi = best
    step = 0
    while True:
        grown = False
        for candidate in ((lo, hi + 1), (lo - 1, hi)) if step % 2 == 0 else ((lo - 1, hi),
                                                                              (lo, hi + 1)):
            a, b = candidate
            if a < 0 or b >= len(clauses):
                continue
            if clauses[b][1] - clauses[a][0] <= TRIM_TO:
                lo, hi, grown = a, b, True
                break
        step += 1
        if not grown:
            break
    a, b = clauses[lo][0], clauses[hi][1]
    text = para[a:b].strip().rstrip("，、,：:")
    if not text:
        return s
    a = para.find(text, a)
    return replace(s, start=a, end=a + len(text), text=text)


def next_sentence(s: SentenceSpan, evidence: Evidence) -> SentenceSpan | None:
    """The sentence after ``s`` in its paragraph."""
    para = evidence.paragraph(s.doc, s.paragraph)
    for start, end in sentence_spans(para.text):
        if start >= s.end and para.text[start:end].strip():
            return replace(s, start=start, end=end, text=para.text[start:end].strip())
    return None


def term_support(evidence: Evidence, text: str) -> tuple[float, float]:
    """(squared-IDF share of the question's key terms absent from ``text``, whether its rarest
    key term is absent). Unlike ``Scorer.coverage`` this counts terms the corpus lacks, at
    their (highest) IDF: a question about an article that is not there names something no
    passage mentions, though its bigrams may occur here and there."""
    terms = {t for t in key_terms(evidence.question)
             if len(t) >= 2 and to_simplified(t) not in FRAMING}
    if not terms:
        return 0.0, 0.0
    text = text.lower()
    weights = {t: evidence.idf(t) ** 2 for t in terms}
    total = sum(weights.values())
    missing = sum(w for t, w in weights.items() if t not in text) / total if total else 0.0
    rarest = max(terms, key=lambda t: (weights[t], t))
    return missing, float(rarest not in text)


def bigrams_missing(evidence: Evidence, text: str) -> float:
    """Squared-IDF share of the question's character bigrams absent from ``text``, counting
    bigrams the corpus lacks at their (highest) IDF. jieba cuts an unknown name (五月艾) into
    pieces that each occur somewhere; its rare bigram (月艾) does not occur in the passage."""
    grams = bigrams(evidence.question)
    if not grams:
        return 0.0
    text = text.lower()
    weights = {g: evidence.idf(bigram_term(g)) ** 2 for g in grams}
    total = sum(weights.values())
    return sum(w for g, w in weights.items() if g not in text) / total if total else 0.0


def anchor_term(evidence: Evidence) -> str | None:
    """The most specific (highest-IDF) term of whatever the question's post belongs to."""
    terms = {
        t for t in key_terms(title_modifier(evidence.question))
        if len(t) >= 2 and not is_title(t) and occurs(t, evidence)
    }
    return min(terms, key=lambda t: (-evidence.idf(t), t)) if terms else None


def keyword_strength(evidence: Evidence, top_keyword: float) -> float:
    """The top BM25 score over the question's total IDF: comparable across questions and
    corpora (a passage holding every question term once scores about 1)."""
    total = sum(evidence.idf(t) for t in set(tokenize(evidence.question)))
    return top_keyword / total if total > 0 else 0.0


def keyword_margin(scores: list[float]) -> float:
    """How far the top keyword score (``scores`` sorted, highest first) stands above the
    second; no keyword match at all is no margin."""
    if not scores or scores[0] <= 0:
        return 0.0
    return (scores[0] - scores[1]) / scores[0] if len(scores) > 1 else 1.0


def occurs(term: str, evidence: Evidence) -> bool:
    if evidence.in_corpus(term):
        return True
    grams = bigrams(term)
    return bool(grams) and all(evidence.in_corpus(bigram_term(g)) for g in grams)


RANK_FEATURES = ("coverage", "word_coverage", "bigram_coverage", "char_coverage", "passage",
                 "passage_rank", "type_evidence", "prev_coverage", "next_coverage", "length",
                 "first", "novelty", "in_chunk", "aspect_chars", "aspect_terms")


def sentence_features(scorer: Scorer, qtype: QType, question: str, texts: list[str], i: int,
                      passage: float, rank: int, aspect: AspectWeights, title: str
                      ) -> dict[str, float]:
    """What the sentence ranker weighs for sentence ``texts[i]`` of a paragraph.

    The neighbours' coverage counts because the answer often sits next to the sentence that
    repeats the question's words; ``novelty`` (characters the question lacks) because a
    sentence that only restates the question cannot answer it.
    """
    text = texts[i]
    words, grams = scorer.parts(text)
    question_chars = set(question)
    aspect_chars, aspect_terms = aspect.coverage(text, title)
    return {
        "coverage": scorer.coverage(text),
        "word_coverage": words or 0.0,
        "bigram_coverage": grams or 0.0,
        "char_coverage": scorer.char_coverage(text),
        "passage": passage,
        "passage_rank": 1.0 / (1 + rank),
        "type_evidence": type_evidence(qtype, question, text),
        "prev_coverage": scorer.coverage(texts[i - 1]) if i > 0 else 0.0,
        "next_coverage": scorer.coverage(texts[i + 1]) if i + 1 < len(texts) else 0.0,
        "length": min(len(text) / 100, 3.0),
        "first": float(i == 0),
        "novelty": sum(c not in question_chars for c in text) / max(len(text), 1),
        "aspect_chars": aspect_chars,
        "aspect_terms": aspect_terms,
    }


# A sentence from another document joins the answer when its ranker share is at least this
# fraction of the best one's.
OTHER_DOC_SHARE = 0.85


def other_document(chosen: list[SentenceSpan], ranked: list[SentenceSpan], evidence: Evidence,
                   scorer: Scorer, qtype: QType, typed_ok: Callable[[str], bool], *,
                   several_share: float, max_chars: int) -> SentenceSpan | None:
    """A sentence from another document nearly as likely as the best; or, when the question
    asks for one fact per subject ("A和B分别…"), the other subject's sentence holding what is
    asked (a date, a name), at ``several_share`` of the best and from further down."""
    best = chosen[0]
    several = "分别" in evidence.question
    others = [s for s in ranked[:20 if several else 6] if s.doc != best.doc]
    if several:
        others.sort(key=lambda s: not typed_ok(s.text))
    share = several_share if several else OTHER_DOC_SHARE
    if not others or others[0].score < share * ranked[0].score:
        return None
    other = trim_span(others[0], evidence, scorer, qtype)
    limit = max_chars * (2 if several else 1)  # one fact per subject
    return other if sum(len(s.text) for s in chosen) + len(other.text) <= limit else None
