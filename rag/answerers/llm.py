"""What every LLM backend shares: grounded prompt in, checked citations out.

A backend implements ``stream_text(messages, max_tokens=...)`` (text pieces as the model
produces them) and may override ``complete`` (the whole reply at once). The base class builds
the prompt, renumbers markers while streaming and turns the reply into an ``Answer``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from rag.answerers.base import Answerer, Evidence, not_found_message
from rag.citations import CheckedReply, MarkerRewriter, check_citations
from rag.errors import RAGError
from rag.prompting import Prompt, build_prompt
from rag.schema import Answer

log = logging.getLogger(__name__)

Messages = Sequence[dict[str, str]]
REWRITE_TOKENS = 128


class LLMError(RAGError, OSError):
    """The language model could not answer (server, key, model, timeout); the message says why.

    An ``OSError`` because it is a failure of an outside service: edges that report I/O
    failures (the CLI) show its message instead of a traceback.
    """


class LLMAnswerer(Answerer):
    """Base class for LLM backends; subclasses implement ``stream_text``."""

    name = "llm"

    def __init__(self, *, context_tokens: int = 4096, answer_tokens: int = 512) -> None:
        self.context_tokens = context_tokens
        self.answer_tokens = answer_tokens

    # -- what a backend provides -----------------------------------------------------------

    def stream_text(self, messages: Messages, *, max_tokens: int) -> Iterator[str]:
        raise NotImplementedError

    def complete(self, messages: Messages, *, max_tokens: int = REWRITE_TOKENS) -> str:
        """The whole reply to ``messages`` (backends may use a non-streaming call)."""
        return "".join(self.stream_text(messages, max_tokens=max_tokens))

    # -- the answerer interface ------------------------------------------------------------

    def prompt(self, evidence: Evidence) -> Prompt:
        return build_prompt(evidence.question, evidence.passages, reply_to=evidence.own_words,
                            context_tokens=self.context_tokens, answer_tokens=self.answer_tokens)

    def stream(self, evidence: Evidence) -> Iterator[str | Answer]:
        if not evidence.passages:
            yield self._nothing_retrieved(evidence)
            return
        prompt = self.prompt(evidence)
        rewriter = MarkerRewriter(len(prompt.sources))
        reply: list[str] = []
        for piece in self.stream_text(prompt.messages, max_tokens=self.answer_tokens):
            reply.append(piece)
            shown = rewriter.feed(piece)
            if shown:
                yield shown
        tail = rewriter.flush()
        if tail:
            yield tail
        yield self._finish(evidence, prompt, "".join(reply))

    def answer(self, evidence: Evidence) -> Answer:
        if not evidence.passages:
            return self._nothing_retrieved(evidence)
        prompt = self.prompt(evidence)
        return self._finish(evidence, prompt,
                            self.complete(prompt.messages, max_tokens=self.answer_tokens))

    def _finish(self, evidence: Evidence, prompt: Prompt, reply: str) -> Answer:
        if not reply.strip():
            raise LLMError(f"{self.name}: the model returned an empty reply")
        if prompt.dropped or prompt.trimmed:
            log.info("prompt of %d tokens: %d passage(s) left out, last one trimmed: %s",
                     prompt.tokens, prompt.dropped, prompt.trimmed)
        checked = check_citations(reply, prompt.sources, evidence.paragraph)
        return Answer(
            question=evidence.question,
            text=checked.text,
            abstained=checked.abstained,
            citations=checked.citations,
            grounded=checked.grounded,
            related=tuple(evidence.passages),
            backend=self.name,
            notice=_notice(checked),
            invalid_citations=checked.invalid,
        )

    def _nothing_retrieved(self, evidence: Evidence) -> Answer:
        return Answer(question=evidence.question, text=not_found_message(evidence.own_words),
                      abstained=True, backend=self.name, notice="abstained: nothing retrieved")


def _notice(checked: CheckedReply) -> str | None:
    notes = []
    if checked.invalid:
        notes.append(f"removed {checked.invalid} citation(s) naming no source")
    if not checked.grounded:
        notes.append("the answer cites no source; check it against the passages")
    return "; ".join(notes) or None
