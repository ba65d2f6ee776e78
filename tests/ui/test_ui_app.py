"""The UI's event handlers against a recording stand-in for RAG (no server, no browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from rag.config import ConfigError, Settings
from rag.schema import Answer, Citation, Paragraph, Passage
from ui import panels
from ui.session import Turn

ROOT = Path(__file__).resolve().parents[2]
PARA = "甲句。乙句是答案。丙句。"


class RecordingRAG:
    """Streams a fixed cited answer in pieces and records every call."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict] = []
        self.error = error
        self.closed = False
        self.settings = Settings(top_k=5, llm="extractive", llm_model="", max_file_mb=5)
        self.manifest = {"embed_model": "m", "documents": 1, "paragraphs": 3, "chunks": 2}
        self.version = "build-test"
        self.index_dir = Path("/tmp/index")
        self.location = str(self.index_dir)

    def ask_stream(self, question, top_k=None, *, history=(), llm=None, model=None):
        self.calls.append({"question": question, "top_k": top_k, "history": list(history),
                           "llm": llm, **({"model": model} if model else {})})
        if self.error:
            raise self.error
        try:
            yield "乙句"
            yield "是答案。[1]"
            citation = Citation(1, "d.txt", 1, (4, 4), PARA, "乙句是答案。", 0.8)
            passage = Passage("c", "d.txt", 1, (1,), PARA, 0.8, (4, 4))
            yield Answer(question, "乙句是答案。[1]", False, (citation,), related=(passage,))
        finally:
            self.closed = True

    def document(self, doc):
        return [Paragraph(doc, i, t, i + 1, i + 1) for i, t in enumerate(["标题", PARA, "尾"])]


@pytest.fixture(scope="module")
def app_module():
    import ui.app

    return ui.app


def _run(handlers, question, turns, top_k=3, llm="extractive", model=""):
    return list(handlers.chat(question, turns, top_k, llm, model))


def test_chat_streams_pieces_then_the_cited_answer(app_module):
    import gradio as gr

    rag = RecordingRAG()
    outputs = _run(app_module.ChatHandlers(rag), " 问题一？ ", [])
    box, turns, messages, sources = outputs[0]
    assert box == "" and turns[0].status == "streaming" and sources == gr.skip()
    streamed = [o[2][-1]["content"] for o in outputs[1:-1]]
    assert "乙句" in streamed[0] and "rag-streaming" in streamed[0]
    _, turns, messages, sources = outputs[-1]
    assert turns[0].status == "done" and turns[0].answer.text == "乙句是答案。[1]"
    assert "#rag:cite:0:1" in messages[-1]["content"]
    assert "<mark>乙句是答案。</mark>" in sources
    assert rag.calls == [{"question": "问题一？", "top_k": 3, "history": [], "llm": "extractive"}]


def test_follow_up_passes_the_conversation_as_history(app_module):
    rag = RecordingRAG()
    handlers = app_module.ChatHandlers(rag)
    turns = _run(handlers, "问题一？", [])[-1][1]
    outputs = _run(handlers, "它呢？", turns, top_k=7.0, llm="openai")
    assert rag.calls[1] == {
        "question": "它呢？", "top_k": 7, "llm": "openai",
        "history": [{"role": "user", "content": "问题一？"},
                    {"role": "assistant", "content": "乙句是答案。[1]"}],
    }
    final_turns = outputs[-1][1]
    assert len(final_turns) == 2 and "#rag:cite:1:1" in outputs[-1][2][-1]["content"]


def test_empty_question_changes_nothing(app_module):
    rag = RecordingRAG()
    outputs = _run(app_module.ChatHandlers(rag), "   ", [])
    assert len(outputs) == 1 and rag.calls == []


def test_library_error_is_shown_in_the_chat(app_module):
    rag = RecordingRAG(ConfigError("unknown answerer 'openai'; choose one of: extractive"))
    _, turns, messages, _ = _run(app_module.ChatHandlers(rag), "问题？", [], llm="openai")[-1]
    assert turns[0].status == "error"
    assert "rag-error" in messages[-1]["content"] and "unknown answerer" in messages[-1]["content"]


def test_citation_click_and_show_in_document(app_module):
    import gradio as gr

    handlers = app_module.ChatHandlers(RecordingRAG())
    turns = _run(handlers, "问题一？", [])[-1][1]
    sources, view = handlers.act("cite:0:1", turns)
    assert 'id="src-0-1"' in sources and view == gr.skip()
    sources, view = handlers.act("open:0:c:1", turns)
    assert sources == gr.skip()
    assert 'data-view="open:0:c:1"' in view and 'id="doc-p-1"' in view
    assert '<p class="rag-doc-para rag-target" id="doc-p-1"' in view
    assert "<mark>乙句是答案。</mark>" in view
    _, related = handlers.act("open:0:r:0", turns)
    assert 'id="doc-p-1"' in related and "<mark>" not in related
    for bad in ("open:0:c:9", "open:0:r:5", "cite:3:1", "rubbish"):
        assert handlers.act(bad, turns) == (gr.skip(), gr.skip())
    assert handlers.act("cite:0:1", [Turn("q")]) == (gr.skip(), gr.skip())


def test_stop_ends_the_stream_with_the_partial_answer(app_module):
    import gradio as gr

    rag = RecordingRAG()
    handlers = app_module.ChatHandlers(rag)
    assert handlers.stop([]) == (gr.skip(), gr.skip())  # nothing running
    stream = handlers.chat("问题一？", [], 3, "extractive")
    next(stream)
    _, turns, _, _ = next(stream)  # the first piece
    stopped, messages = handlers.stop(turns)
    assert stopped[0].status == "stopped" and "已停止" in messages[-1]["content"]
    rest = list(stream)
    assert len(rest) == 1 and rest[0][1][0].status == "stopped"
    assert rest[0][1][0].text == "乙句" and rag.closed
    assert handlers.stop(stopped) == (gr.skip(), gr.skip())  # finished: nothing to stop


def test_clear_during_a_stream_drops_it(app_module):
    handlers = app_module.ChatHandlers(RecordingRAG())
    stream = handlers.chat("问题一？", [], 3, "extractive")
    next(stream)
    next(stream)
    assert handlers.clear() == ([], [], panels.SOURCES_PLACEHOLDER,
                                panels.DOC_PLACEHOLDER, "")
    assert list(stream) == []


def test_upload_without_files_asks_for_them(app_module):
    report, footer, files = app_module.ChatHandlers(RecordingRAG()).upload(None)
    assert "Choose files first" in report


def test_importing_the_app_sets_offline_defaults():
    env = {k: v for k, v in os.environ.items()
           if k not in ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_DISABLE_TELEMETRY", "no_proxy")}
    env.update(NO_PROXY="intranet.example", GRADIO_SHARE="True")
    code = ("import os, ui.app; print(os.environ['GRADIO_ANALYTICS_ENABLED'], "
            "os.environ['HF_HUB_DISABLE_TELEMETRY'], os.environ['NO_PROXY'], "
            "os.environ['no_proxy'], os.environ.get('GRADIO_SHARE'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "1", "intranet.example,127.0.0.1,localhost",
                                  "127.0.0.1,localhost", "None"]


def test_handlers_receive_the_session(app_module):
    """Stop and Clear find a session's running answer through gr.Request, injected by type hint."""
    from gradio.utils import get_type_hints, is_special_typed_parameter

    handlers = app_module.ChatHandlers(RecordingRAG())
    for fn in (handlers.chat, handlers.stop, handlers.clear):
        assert is_special_typed_parameter("request", get_type_hints(fn)), fn.__name__


def test_run_serves_on_the_given_port_until_closed(app_module, monkeypatch, capsys, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import ui.serve

    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))  # the conversations file
    started = []
    real_start = ui.serve.start
    monkeypatch.setattr(ui.serve, "start", lambda rag, **kw: started.append(
        real_start(rag, **kw)) or started[-1])
    outcome: list[object] = []

    def serve():
        try:
            outcome.append(ui.serve.run(RecordingRAG(), host="127.0.0.1", port=port))
        except Exception as exc:  # reported below instead of dying in the thread
            outcome.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline, printed = time.monotonic() + 60, ""
    while f"chat UI at http://127.0.0.1:{port}/" not in printed:
        assert not outcome, f"run() ended early: {outcome}"
        assert time.monotonic() < deadline, "the chat UI did not start"
        time.sleep(0.2)
        printed += capsys.readouterr().out
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        assert response.status == 200  # the API on the same port
    assert thread.is_alive()  # run() blocks while serving
    started[0].server.should_exit = True  # what Ctrl-C does
    thread.join(timeout=10)
    assert outcome == [0] and (tmp_path / "conversations.sqlite").is_file()


def test_chosen_model_reaches_the_answerer(app_module):
    rag = RecordingRAG()
    _run(app_module.ChatHandlers(rag), "问题？", [], llm="openai", model=" qwen2.5:7b ")
    assert rag.calls[0]["llm"] == "openai" and rag.calls[0]["model"] == "qwen2.5:7b"
