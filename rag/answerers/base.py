"""The answerer interface every backend implements, and what it is given.

A backend implements ``stream``: it yields text pieces as they are produced and, last, the
final ``Answer``. ``answer`` (whole) is derived from it, so a new backend is one method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from rag.language import NOT_FOUND, language_of, not_found_message
from rag.schema import Answer, Paragraph, Passage

__all__ = ["NOT_FOUND", "Answerer", "Evidence", "language_of", "not_found_message"]


@dataclass(frozen=True)
class Evidence:
    """What an answerer receives: the question, ranked passages and corpus look-ups."""

    question: str
    passages: Sequence[Passage]
    paragraph: Callable[[str, int], Paragraph]
    idf: Callable[[str], float] = lambda term: 1.0
    in_corpus: Callable[[str], bool] = lambda term: True
    history: Sequence[dict[str, str]] = field(default_factory=tuple)
    # the user's own words, where ``question`` may be what was searched instead (a follow-up
    # made standalone, a question written in the corpus's script): they decide the reply's
    # language
    asked: str = ""

    @property
    def own_words(self) -> str:
        """The question as the user asked it."""
        return self.asked or self.question


class Answerer:
    """Base class: subclasses implement ``stream``."""

    name = "base"

    def stream(self, evidence: Evidence) -> Iterator[str | Answer]:
        raise NotImplementedError

    def answer(self, evidence: Evidence) -> Answer:
        final = None
        for item in self.stream(evidence):
            if isinstance(item, Answer):
                final = item
        if final is None:
            raise RuntimeError(f"answerer {self.name!r} produced no final Answer")
        return final
