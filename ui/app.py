"""The Gradio chat UI: a thin wrapper around the ``RAG`` object it is given.

``build_app(rag)`` lays out the page and wires its events to ``ChatHandlers``, which call the
library and return HTML made by ``ui.render`` and ``ui.panels``; ``ui.serve`` starts it. Nothing
leaves the machine: analytics off, the theme's fonts served locally, no share link.
"""

from __future__ import annotations

import os


def _offline_env() -> None:
    """Settings Gradio and huggingface_hub read on import (shared/docs/browser-testing.md)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.pop("GRADIO_SHARE", None)
    # launch() requests its own URL; through a proxy that never answers it hangs.
    for key in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(key, "").split(",") if h.strip()]
        missing = [h for h in ("127.0.0.1", "localhost") if h not in hosts]
        os.environ[key] = ",".join(hosts + missing)


_offline_env()

import logging  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import closing  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from typing import TYPE_CHECKING, Any, Literal  # noqa: E402

import gradio as gr  # noqa: E402

from rag.answerers import SELECTABLE  # noqa: E402
from rag.documents import SUPPORTED_SUFFIXES  # noqa: E402
from rag.errors import RAGError  # noqa: E402
from rag.schema import Answer  # noqa: E402
from rag.uploads import add_documents  # noqa: E402
from ui import assets, endpoints, panels, render, session  # noqa: E402
from ui.limits import ClientLimiter, TooManyRequests  # noqa: E402
from ui.session import Turn  # noqa: E402

if TYPE_CHECKING:
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

CONCURRENCY = 4
MAX_TOP_K = 20
EXAMPLES = [
    "兖州区正在培育哪三个千亿级产业？",
    "济宁市绿色低碳高质量发展大会由谁主持？",
    "太阳纸业的董事长是谁？",
    "自动浇注生产线的照片是谁拍的？",
]
# Gradio gives a handler a progress tracker through a parameter defaulting to a Progress;
# track_tqdm shows the per-page OCR bar (rag.ocr) of an uploaded scan.
_PROGRESS = gr.Progress(track_tqdm=True)


@dataclass
class _Run:
    """An answer being streamed; ``stop`` is set by the Stop or Clear button."""

    stop: Literal["stop", "clear"] | None = None


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

    def __init__(self, rag: RAG) -> None:
        self.rag = rag
        self.limiter = ClientLimiter(rag.settings.max_requests_per_client)
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
        key, run = _session_key(request), _Run()
        self._running[key] = run
        try:
            with self.limiter.slot(endpoints.client_of(request)):
                yield from self._answer(question, history, top_k, llm or None,
                                        (model or "").strip() or None, run)
        except TooManyRequests as exc:
            gr.Warning(str(exc))
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
        finally:
            if self._running.get(key) is run:
                del self._running[key]

    def _answer(self, question: str, history: list[Turn], top_k: float, llm: str | None,
                model: str | None, run: _Run) -> Iterator[tuple[Any, ...]]:
        past, index, turn = session.history_of(history), len(history), Turn(question)
        yield "", [*history, turn], render.chat_messages([*history, turn]), gr.skip()
        try:
            stream_ = self.rag.ask_stream(question, top_k, history=past, llm=llm,
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
        view = self.document_view(answer, action, key=value)
        return gr.skip(), (gr.skip() if view is None else view)

    def document_view(self, answer: Answer, action: session.Action, *, key: str) -> str | None:
        if action.related:
            if action.n >= len(answer.related):
                return None
            passage = answer.related[action.n]
            doc, target, quotes = passage.doc, passage.paragraph, ()
        else:
            group = render.citation_groups(answer).get(action.n)
            if not group:
                return None
            doc, target, quotes = group[0].doc, group[0].paragraph, tuple(c.quote for c in group)
        return panels.document_html(doc, self.rag.document(doc), target=target, quotes=quotes,
                                    key=key)

    def upload(self, paths: list[str] | None, progress: gr.Progress = _PROGRESS
               ) -> tuple[Any, Any, Any]:
        """Add files to the index; returns (report, footer, cleared file box)."""
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


def build_app(rag: RAG) -> gr.Blocks:
    """The chat page for ``rag``; start it with ``launch`` (it adds the page script and styles)."""
    h = ChatHandlers(rag)
    choices = list(dict.fromkeys([rag.settings.llm, *SELECTABLE]))
    with gr.Blocks(title="文档问答 · RAG chat", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        turns = gr.State([])
        gr.HTML("<h2 style='margin:0'>文档问答 · Ask your documents</h2>"
                "<p class='rag-hint'>答案中的每一句都标有来源 [n]，点击即可核对原文段落。"
                "Every sentence cites its source [n]; click it to check the paragraph.</p>")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="对话 · Conversation", elem_id="chat", height=430,
                    latex_delimiters=[], feedback_options=None, sanitize_html=True,
                    buttons=["copy", "copy_all"],
                    placeholder="用中文或英文提问 · Ask in Chinese or English",
                )
                with gr.Row():
                    question = gr.Textbox(
                        show_label=False, elem_id="question", scale=6, lines=1, max_lines=4,
                        placeholder="输入问题，按 Enter 发送 · Type a question, press Enter",
                        autofocus=True,
                    )
                    send = gr.Button("发送 Send", variant="primary", elem_id="send", scale=1,
                                     min_width=90)
                    stop = gr.Button("停止 Stop", variant="stop", elem_id="stop", scale=1,
                                     min_width=90)
                    clear = gr.Button("清空 Clear", elem_id="clear", scale=1, min_width=90)
                gr.Examples(EXAMPLES, inputs=question, label="示例问题 · Example questions")
                with gr.Accordion("设置 · Settings", open=False, elem_id="settings"):
                    with gr.Row():
                        top_k = gr.Slider(1, MAX_TOP_K, value=rag.settings.top_k, step=1,
                                          label="检索段落数 · top-k", elem_id="top-k")
                        answerer = gr.Dropdown(choices, value=rag.settings.llm,
                                               label="回答方式 · Answerer", elem_id="answerer")
                        model = gr.Textbox(
                            "" if rag.settings.llm == "extractive" else rag.settings.llm_model,
                            interactive=rag.settings.llm != "extractive",
                            placeholder=panels.model_label(rag.settings.llm, ""),
                            label="模型 · Model (RAG_LLM_MODEL)", elem_id="model")
                with gr.Accordion(f"文档 · Documents (上传 upload {' '.join(SUPPORTED_SUFFIXES)})",
                                  open=False, elem_id="documents"):
                    files = gr.File(label="选择文件 · Choose files", file_count="multiple",
                                    type="filepath", elem_id="upload")
                    add = gr.Button("加入索引 · Add to index", elem_id="add-docs")
                    report = gr.HTML("", elem_id="upload-report", js_on_load=None)
            with gr.Column(scale=2):
                sources = gr.HTML(panels.SOURCES_PLACEHOLDER, elem_id="sources-panel",
                                  js_on_load=None)
                doc_view = gr.HTML(panels.DOC_PLACEHOLDER, elem_id="doc-view", js_on_load=None)
        footer = gr.HTML(h.footer(), elem_id="rag-footer", js_on_load=None)
        action = gr.Textbox(visible="hidden", elem_id="rag-action")
        act = gr.Button("act", visible="hidden", elem_id="rag-act")

        gr.on(
            [question.submit, send.click], h.chat, [question, turns, top_k, answerer, model],
            [question, turns, chatbot, sources], trigger_mode="once", show_progress="hidden",
            api_visibility="private",
        )
        stop.click(h.stop, turns, [turns, chatbot], api_visibility="private")
        for cleared in (clear.click, chatbot.clear):  # the button and the chat's trash icon
            cleared(h.clear, None, [turns, chatbot, sources, doc_view, question],
                    api_visibility="private")
        act.click(h.act, [action, turns], [sources, doc_view], js=assets.ACTION_JS,
                  show_progress="hidden", api_visibility="private",
                  ).then(None, js=assets.SCROLL_JS)
        answerer.change(h.model, answerer, model, api_visibility="private")
        add.click(h.upload, files, [report, footer, files], api_visibility="private")
        endpoints.add_api(rag, h.limiter)
    return demo
