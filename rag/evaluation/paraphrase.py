"""Paraphrased copies of answerable fit questions, for fitting the abstention model.

Public reading-comprehension questions were written by annotators looking at the passage, so
they copy its words; on such data a question word missing from the passage is a strong sign
that the question is unanswerable, and a model fitted there abstains on every reader who says
it differently (毫不动摇 where the text says 不动摇). Each copy here changes one or two of an
answerable question's words so the document no longer contains them, and keeps the label
*answerable*; the unanswerable fit questions stay as they are. A changed word is, drawn with
a fixed seed per question from the modes asked for (``MODES`` by default):

- ``char``: one character replaced by another of the corpus (a near-synonym's shape:
  预计 -> 预估);
- ``word``: a corpus word of the same length that the document does not hold (not a default);
- ``drop``: the word removed (readers leave out what they take for granted).

The question's most specific word (highest IDF) is kept when it has others: a reader rewords
how a question asks, and keeps what it is about (a name, a title). Deterministic: the same
seed, questions and corpus give the same copies.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from rag.answers_analysis import FRAMING
from rag.evaluation.dataset import QAItem
from rag.keyword import content_terms
from rag.language import CJK_CHAR, CJK_RUN

PARAPHRASE_SEED = 13
# The modes used by default. ``word`` (a random corpus word of the same length) is offered
# but left out: it often turns the question into another one (生命 -> 桓玄), an unanswerable
# question labelled answerable; on the fit data it also costs correct abstentions (CMRC fit
# half .51 -> .42 at <= 5% wrong on every set).
MODES = ("char", "drop")


@lru_cache(maxsize=8)
def _corpus(corpus_dir: str) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
    """(document name -> text, sorted CJK words, sorted CJK characters) of a corpus folder."""
    texts = {p.name: p.read_text(encoding="utf-8", errors="replace")
             for p in sorted(Path(corpus_dir).rglob("*")) if p.is_file()}
    words: set[str] = set()
    chars: set[str] = set()
    for text in texts.values():
        for run in CJK_RUN.findall(text):
            chars.update(run)
        words.update(w for w in content_terms(text) if CJK_RUN.fullmatch(w) and len(w) >= 2)
    return texts, tuple(sorted(words)), tuple(sorted(chars))


def _replace(word: str, mode: str, doc: str, words: Sequence[str], chars: Sequence[str],
             rng: random.Random) -> str | None:
    """``word`` changed by ``mode`` into something ``doc`` does not hold ("" = removed)."""
    if mode == "drop":
        return ""
    for _ in range(30):
        if mode == "char":
            i = rng.randrange(len(word))
            new = word[:i] + rng.choice(chars) + word[i + 1 :]
        else:
            same = [w for w in words if len(w) == len(word)]
            if not same:
                return None
            new = rng.choice(same)
        if new != word and new not in doc:
            return new
    return None


def paraphrase(item: QAItem, doc: str, words: Sequence[str], chars: Sequence[str],
               idf: Callable[[str], float], rng: random.Random,
               modes: Sequence[str] = MODES) -> QAItem | None:
    """One perturbed copy of ``item`` (None when it has no word to change)."""
    terms = sorted({t for t in content_terms(item.question)
                    if CJK_RUN.fullmatch(t) and len(t) >= 2 and t not in FRAMING
                    and t in doc and t in item.question})
    if len(terms) >= 2:
        terms.remove(max(terms, key=lambda t: (idf(t), t)))
    if not terms or not chars:
        return None
    question = item.question
    for term in rng.sample(terms, min(rng.choice((1, 2)), len(terms))):
        new = _replace(term, rng.choice(tuple(modes)), doc, words, chars, rng)
        if new is None:
            continue
        question = question.replace(term, new, 1)
    if question == item.question or not CJK_CHAR.search(question):
        return None
    return replace(item, id=f"{item.id}~p", question=question)


def paraphrases(items: Sequence[QAItem], corpus_dir: Path | str,
                idf: Callable[[str], float], *, seed: int = PARAPHRASE_SEED,
                modes: Sequence[str] = MODES) -> list[QAItem]:
    """A perturbed copy of every answerable item that has a word to change (seeded per item,
    so adding a question does not change the others' copies)."""
    texts, words, chars = _corpus(str(corpus_dir))
    everything = "".join(texts.values())
    out = []
    for item in items:
        if not item.answerable:
            continue
        doc = texts.get(item.doc or "", everything)
        copy = paraphrase(item, doc, words, chars, idf, random.Random(f"{seed}:{item.id}"),
                          modes)
        if copy is not None:
            out.append(copy)
    return out
