"""A deterministic answerer with no model, for tests and examples (name ``fake``).

It does not read the question: the answer is always the first sentence of the paragraph the
best-ranked passage is cited at, marked ``[1]`` and backed by a ``Citation`` with that
sentence's exact line range. With no passages it abstains, as the real backends do. Because
its output follows directly from the evidence, a test can predict every character of it, and
code that consumes answers (streaming, citation rendering, JSON) can be exercised without an
index-quality answerer or a language model.
"""

from __future__ import annotations

from collections.abc import Iterator

from rag.answerers.base import Answerer, Evidence, not_found_message
from rag.markers import inert
from rag.schema import Answer, Citation, Passage
from rag.sentences import sentence_spans


class FakeAnswerer(Answerer):
    """Quotes the first sentence of the top passage's paragraph; abstains without passages."""

    name = "fake"

    def stream(self, evidence: Evidence) -> Iterator[str | Answer]:
        answer = self._answer(evidence)
        if answer.abstained:
            yield answer.text
        else:
            # Two pieces, split inside the sentence, so consumers see real streaming; the
            # marker stays whole in the last piece, as a backend's renumbered stream keeps it.
            quoted = inert(answer.citations[0].quote)
            middle = max(1, len(quoted) // 2)
            yield quoted[:middle]
            yield answer.text[middle:]
        yield answer

    def _answer(self, evidence: Evidence) -> Answer:
        if not evidence.passages:
            return self._abstain(evidence, "nothing retrieved")
        top = min(evidence.passages, key=lambda p: p.rank)  # stable: the first of equal ranks
        citation = self._first_sentence(top, evidence)
        if citation is None:
            return self._abstain(evidence, "the top passage's paragraph holds no text")
        # The quote's own "[2]"-like text is made inert: only the answerer's marker is one.
        return Answer(question=evidence.question, text=f"{inert(citation.quote)}[1]",
                      abstained=False,
                      citations=(citation,), related=tuple(evidence.passages),
                      backend=self.name)

    @staticmethod
    def _first_sentence(passage: Passage, evidence: Evidence) -> Citation | None:
        para = evidence.paragraph(passage.doc, passage.paragraph)
        spans = sentence_spans(para.text)
        if not spans:
            return None
        start, end = spans[0]
        # Offsets of the stripped sentence, so the line range fits the quote exactly.
        sentence = para.text[start:end]
        start += len(sentence) - len(sentence.lstrip())
        end -= len(sentence) - len(sentence.rstrip())
        return Citation(n=1, doc=passage.doc, paragraph=passage.paragraph,
                        lines=para.lines_of(start, end), text=para.text,
                        quote=para.text[start:end], score=round(passage.score, 4),
                        page=para.page)

    def _abstain(self, evidence: Evidence, reason: str) -> Answer:
        return Answer(question=evidence.question, text=not_found_message(evidence.own_words),
                      abstained=True, related=tuple(evidence.passages[:3]),
                      backend=self.name, notice=f"abstained: {reason}")
