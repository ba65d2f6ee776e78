"""One question's way through retrieval and an answerer: the follow-up rewrite, the passages,
the evidence the answerer gets, a deadline, an LLM's extractive fallback, and the timings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from rag.answerers.base import Answerer, Evidence
from rag.answerers.llm import LLMAnswerer, LLMError
from rag.bases import label_answer
from rag.keyword import tokenize
from rag.live import Live
from rag.question import QuestionError, QuestionTimeout, clean_question
from rag.rewrite import rewrite_question
from rag.schema import Answer, Passage
from rag.script import in_corpus_script

log = logging.getLogger(__name__)


@dataclass
class Run:
    """What one ``ask_stream`` call has done so far (so a fallback can reuse it)."""

    question: str
    started: float
    live: Live
    top_k: int
    turns: Sequence[dict[str, str]]
    timeout: float = 0.0  # seconds from ``started``; 0: none
    kb: str | None = None
    match_script: bool = True  # search in the corpus's Chinese script (rag.script)
    standalone: str | None = None
    passages: list[Passage] | None = None
    retrieved: float | None = None

    def check_deadline(self) -> None:
        if self.timeout and time.perf_counter() - self.started > self.timeout:
            raise QuestionTimeout(f"the question took longer than {self.timeout:g} s and was "
                                  "stopped; ask again, or raise request_timeout "
                                  "(RAG_REQUEST_TIMEOUT)")


def evidence_for(live: Live, question: str, passages: Sequence[Passage],
                 history: Sequence[dict[str, str]], asked: str = "") -> Evidence:
    """``question`` is what was searched; ``asked`` the user's own words."""
    live.terms.prefetch(set(tokenize(question)))  # one request for a remote store
    return Evidence(question=question, passages=tuple(passages),
                    paragraph=live.snapshot.paragraph, idf=live.terms.idf,
                    in_corpus=live.terms.knows, history=tuple(history),
                    asked=asked)


def _standalone(run: Run, answerer: Answerer) -> str:
    """The question to search: a follow-up made standalone, in the corpus's script."""
    complete = answerer.complete if isinstance(answerer, LLMAnswerer) else None
    try:
        question = clean_question(rewrite_question(run.question, run.turns, complete=complete))
    except QuestionError:  # an unusable rewrite: keep the user's words
        question = run.question
    return in_corpus_script(question, run.live.terms) if run.match_script else question


def _retrieve(run: Run, answerer: Answerer) -> Evidence:
    if run.standalone is None:
        run.standalone = _standalone(run, answerer)
    if run.passages is None:
        run.passages = run.live.retriever.search(run.standalone, run.top_k)
        run.retrieved = time.perf_counter()
    run.check_deadline()
    return evidence_for(run.live, run.standalone, run.passages, run.turns, asked=run.question)


def answer_stream(run: Run, answerer: Answerer, *,
                  fallback: Callable[[], Answerer] | None) -> Iterator[str | Answer]:
    """The answerer's pieces, then the final ``Answer``; when an LLM fails and ``fallback``
    is given, the extractive answer follows with the reason in ``Answer.notice``."""
    try:
        yield from _answer(run, answerer)
    except QuestionTimeout:
        raise
    except Exception as exc:
        if fallback is None or answerer.name == "extractive":
            raise
        yield from _fall_back(run, fallback(), answerer.name, exc)


def _answer(run: Run, answerer: Answerer) -> Iterator[str | Answer]:
    for item in answerer.stream(_retrieve(run, answerer)):
        if isinstance(item, Answer):
            yield _finish(item, run)
        else:
            run.check_deadline()
            yield item


def _fall_back(run: Run, extractive: Answerer, failed: str,
               exc: Exception) -> Iterator[str | Answer]:
    """The extractive answer after an LLM failure, with the reason in ``notice``."""
    if isinstance(exc, LLMError):
        reason = str(exc).removeprefix(f"{failed}: ")
        log.warning("%s failed, answering extractively: %s", failed, reason)
    else:
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("%s failed, answering extractively", failed, exc_info=exc)
    notice = f"{failed} failed ({reason}); showing the extractive answer instead"
    for item in extractive.stream(_retrieve(run, extractive)):
        if isinstance(item, Answer):
            item = replace(item, notice="; ".join(n for n in (notice, item.notice) if n))
            yield _finish(item, run)
        else:
            yield item


def _finish(answer: Answer, run: Run) -> Answer:
    """The user's own question, the rewrite that was searched, and timings."""
    done = time.perf_counter()
    retrieved = run.retrieved if run.retrieved is not None else done
    timings = {"retrieve_ms": (retrieved - run.started) * 1000,
               "answer_ms": (done - retrieved) * 1000,
               "total_ms": (done - run.started) * 1000}
    rewritten = run.standalone if run.standalone not in (None, run.question) else None
    return label_answer(replace(answer, question=run.question, rewritten_question=rewritten,
                                timings={k: round(v, 3) for k, v in timings.items()}), run.kb)
