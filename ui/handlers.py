"""The chat page's event handlers: each calls the ``RAG`` it was given and returns HTML made by
``ui.render`` and ``ui.panels``. ``ui.app.build_app`` wires them to the page."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import gradio as gr

from rag.basefiles import corpus_file
from rag.errors import RAGError
from rag.ocr.locate import cited_boxes
from rag.readers.base import ReadOptions
from rag.schema import Answer
from rag.uploads import add_documents
from ui import endpoints, panels, render, session
from ui.endpoints import ADMIN_ONLY
from ui.limits import ClientLimiter, TooManyRequests
from ui.session import Turn

if TYPE_CHECKING:
    from collections.abc import Callable

    from rag.pipeline import RAG

log = logging.getLogger(__name__)

# Gradio gives a handler a progress tracker through a parameter defaulting to a Progress.
# track_tqdm shows the per-page OCR bar (rag.ocr) of an uploaded scan.
_PROGRESS = gr.Progress(track_tqdm=True)


@dataclass
class _Run:
    """An answer being streamed; ``stop`` is set by the Stop or Clear button."""

    stop: Literal["stop", "clear"] | None = None
    rag: Any = None  # what answers: the app's RAG, or the session's knowledge base(s)


def _session_key(request: gr.Request | None) -> str | None:
    return request.session_hash if request is not None else None


def _error_message(exc: Exception) -> str:
    # The library's own errors carry a message meant for the user; others get their type.
    if isinstance(exc, (RAGError, ValueError, OSError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class ChatHandlers:
    """The page's event handlers: each calls the RAG and returns freshly rendered HTML.

    The conversation of one browser session is a list of ``session.Turn`` kept in a gr.State.
    """

    def __init__(self, rag: RAG, is_admin: Callable[[str | None], bool] = lambda _: True
                 ) -> None:
        self.rag, self.is_admin = rag, is_admin
        self.limiter = ClientLimiter(rag.settings.max_requests_per_client)
        # Called with a session's turns (and its request) when an answer is complete; returns
        # them as saved (ui.saved sets it on a page that keeps conversations).
        self.on_answer: Callable[[list[Turn], gr.Request | None], list[Turn]] | None = None
        # The answer each session is producing; Stop and Clear flag it, and the stream obeys
        # between pieces, so the stream itself writes the last update (no race with a cancel).
        self._running: dict[str | None, _Run] = {}

    def chat(self, question: str, history: list[Turn], top_k: float, llm: str,
             model: str = "", request: gr.Request | None = None) -> Iterator[tuple[Any, ...]]:
        """Stream an answer; yields (question box, turns, chat messages, sources panel)."""
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        key = _session_key(request)
        run = _Run(rag=self.rag_for(key))
        self._running[key] = run
        try:
            with self.limiter.slot(endpoints.client_of(request)):
                yield from self._answer(question, history, top_k, llm or None,
                                        (model or "").strip() or None, run, request)
        except TooManyRequests as exc:
            gr.Warning(str(exc))
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
        finally:
            if self._running.get(key) is run:
                del self._running[key]

    def _saved(self, turns: list[Turn], request: gr.Request | None) -> list[Turn]:
        """``turns`` saved by ``on_answer``; a failed save is logged, the answer still shown."""
        assert self.on_answer is not None
        try:
            return self.on_answer(turns, request)
        except Exception:  # storage trouble must not lose the answer on screen
            log.exception("saving the conversation failed")
            return turns

    def _answer(self, question: str, history: list[Turn], top_k: float, llm: str | None,
                model: str | None, run: _Run, request: gr.Request | None = None
                ) -> Iterator[tuple[Any, ...]]:
        past, index, turn = session.history_of(history), len(history), Turn(question)
        yield "", [*history, turn], render.chat_messages([*history, turn]), gr.skip()
        try:
            stream_ = run.rag.ask_stream(question, top_k, history=past, llm=llm,
                                          **({"model": model} if model else {}))
            with closing(stream_) as stream:
                for item in stream:
                    if run.stop:
                        if run.stop == "stop":  # after "clear" the conversation is gone
                            turns = [*history, replace(turn, status="stopped")]
                            yield gr.skip(), turns, render.chat_messages(turns), gr.skip()
                        return
                    if isinstance(item, Answer):
                        turns = [*history, replace(turn, text=item.text, answer=item,
                                                   status="done")]
                        if self.on_answer is not None:
                            turns = self._saved(turns, request)
                        sources = panels.sources_html(item, index)
                        yield gr.skip(), turns, render.chat_messages(turns), sources
                        return
                    turn = replace(turn, text=turn.text + item)
                    turns = [*history, turn]
                    yield gr.skip(), turns, render.chat_messages(turns), gr.skip()
            raise RuntimeError("the answerer stopped without a final answer")
        except Exception as exc:
            log.exception("answering %r failed", question)
            turns = [*history, replace(turn, status="error", error=_error_message(exc))]
            yield gr.skip(), turns, render.chat_messages(turns), gr.skip()

    def stop(self, history: list[Turn], request: gr.Request | None = None
             ) -> tuple[Any, Any]:
        """Stop the answer being produced; shows it stopped at once (the stream agrees)."""
        run = self._running.get(_session_key(request))
        if run is None:
            return gr.skip(), gr.skip()
        run.stop = "stop"
        stopped = session.stop_turns(history)
        return stopped, render.chat_messages(stopped)

    def clear(self, request: gr.Request | None = None
              ) -> tuple[list[Turn], list[dict[str, str]], str, str, str]:
        """A fresh conversation: (turns, chat, sources panel, document view, question box)."""
        run = self._running.get(_session_key(request))
        if run is not None:
            run.stop = "clear"
        return [], [], panels.SOURCES_PLACEHOLDER, panels.DOC_PLACEHOLDER, ""

    def act(self, value: str, history: list[Turn]) -> tuple[Any, Any]:
        """A click on ``[n]`` or "show in document"; returns (sources panel, document view)."""
        action = session.parse_action(value)
        if action is None or action.turn >= len(history):
            return gr.skip(), gr.skip()
        answer = history[action.turn].answer
        if answer is None:
            return gr.skip(), gr.skip()
        if action.kind == "cite":
            return panels.sources_html(answer, action.turn, active=action.n), gr.skip()
        view = (self.page_view(answer, action.n, key=value) if action.kind == "page"
                else self.document_view(answer, action, key=value))
        return gr.skip(), (gr.skip() if view is None else view)

    def page_view(self, answer: Answer, n: int, *, key: str) -> str | None:
        """Citation ``n``'s scanned page with the cited lines boxed (``rag.ocr.locate``)."""
        group = render.citation_groups(answer).get(n)
        if not group:
            return None
        first = group[0]
        try:
            rag = self.source_rag(first.kb)
            data = corpus_file(rag, first.doc).read_bytes()
            found = cited_boxes(data, first.page, [c.quote or c.text for c in group],
                                ReadOptions.from_settings(rag.settings))
        except (RAGError, OSError) as exc:
            return panels.page_html(first, None, key=key, problem=_error_message(exc))
        return panels.page_html(first, found, key=key)

    def document_view(self, answer: Answer, action: session.Action, *, key: str) -> str | None:
        if action.related:
            if action.n >= len(answer.related):
                return None
            passage = answer.related[action.n]
            doc, target, quotes, kb = passage.doc, passage.paragraph, (), passage.kb
        else:
            group = render.citation_groups(answer).get(action.n)
            if not group:
                return None
            doc, target, kb = group[0].doc, group[0].paragraph, group[0].kb
            quotes = tuple(c.quote for c in group)
        return panels.document_html(doc, self.document(doc, kb), target=target, quotes=quotes,
                                    key=key)

    def rag_for(self, session: str | None) -> RAG:
        """The RAG that answers ``session`` (``ui.bases.KBChat`` picks its knowledge bases)."""
        return self.rag

    def source_rag(self, kb: str | None) -> RAG:
        """The RAG holding a source of knowledge base ``kb`` (None: the app's own)."""
        return self.rag

    def document(self, doc: str, kb: str | None) -> list[Any]:
        return self.source_rag(kb).document(doc)

    def upload(self, paths: list[str] | None, progress: gr.Progress = _PROGRESS,
               request: gr.Request | None = None) -> tuple[Any, Any, Any]:
        """Add files to the index (admins only); returns (report, footer, cleared file box)."""
        if not self.is_admin(getattr(request, "username", None)):
            return ADMIN_ONLY, gr.skip(), None
        if not paths:
            return "请先选择文件 · Choose files first.", gr.skip(), gr.skip()
        report = add_documents(
            self.rag, paths, progress=lambda fraction, message: progress(fraction, desc=message))
        return panels.upload_report_html(report), self.footer(), None

    def footer(self) -> str:
        return panels.footer_html(self.rag.manifest, self.rag.location)

    def model(self, answerer: str) -> dict[str, Any]:
        """The model box: editable for LLM backends, a note for the extractive answerer."""
        if answerer == "extractive":
            return gr.update(value="", interactive=False,
                             placeholder=panels.model_label(answerer, ""))
        return gr.update(value=self.rag.settings.llm_model, interactive=True,
                         placeholder=panels.model_label(answerer, ""))
