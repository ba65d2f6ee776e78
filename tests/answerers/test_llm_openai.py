"""The openai backend against a real chat-completions server on 127.0.0.1, through the SDK."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.answerers.base import NOT_FOUND
from rag.answerers.llm import LLMError
from rag.answerers.openai_api import OpenAIAnswerer
from rag.config import load_settings
from rag.pipeline import RAG
from rag.rewrite import REWRITE_INSTRUCTIONS

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

KEY = "sk-test-0123456789"
QUESTION = "山东太阳纸业股份有限公司董事长是谁？"
STANDALONE = "山东太阳纸业股份有限公司的董事长是谁？"
_SOURCE = re.compile(r'<source id="(\d+)"[^>]*>\n(.*?)\n</source>', re.S)


def first_sentence(body: dict, n: int) -> str:
    """The first sentence (or clause run) of source ``n`` in the prompt the client sent."""
    text = dict(_SOURCE.findall(body["messages"][-1]["content"]))[str(n)]
    match = re.match(r"[^。！？]*[。！？]", text)
    return match.group(0) if match else text[:40]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients that timed out and left
        pass


class ChatServer:
    """Speaks /v1/chat/completions; the requested model name picks the behaviour."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.counts: Counter[str] = Counter()
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.counts[body["model"]] += 1
                server.handle(self, body)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- behaviours ------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, body: dict) -> None:
        model = body["model"]
        if h.path != "/v1/chat/completions":
            return self.error(h, 404, "no such route")
        if h.headers.get("Authorization") != f"Bearer {KEY}":
            return self.error(h, 401, f"Incorrect API key provided: {h.headers['Authorization']}")
        if model == "flaky" and self.counts[model] == 1:
            return self.error(h, 429, "Rate limit reached", retry_ms=20)
        if model == "broken":
            return self.error(h, 500, "The server had an error", retry_ms=20)
        if model == "slow":
            self.release.wait(10)
        reply = self.reply(model, body)
        if reply is None:
            return self.error(h, 404, f"The model `{model}` does not exist")
        if body.get("stream"):
            return self.stream(h, model, reply)
        return self.send(h, 200, {
            "id": "c1", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": reply}}],
        })

    def reply(self, model: str, body: dict) -> str | None:
        if body["messages"][0]["content"] == REWRITE_INSTRUCTIONS:
            return STANDALONE
        if model in ("good", "flaky", "slow", "cut", "stall"):
            return first_sentence(body, 2) + "[2]"
        if model == "bogus":
            return first_sentence(body, 1) + "[1][9]"
        if model == "only-bogus":
            return first_sentence(body, 1) + "[9]"
        if model == "abstain":
            return NOT_FOUND["zh"]
        return None

    def stream(self, h: BaseHTTPRequestHandler, model: str, reply: str) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        # Two characters per chunk: markers arrive split across chunks.
        pieces = [reply[i : i + 2] for i in range(0, len(reply), 2)]
        for i, piece in enumerate(pieces):
            if i == 3 and model == "cut":
                event = {"error": {"message": "upstream overloaded", "type": "server_error"}}
                h.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                return
            if i == 3 and model == "stall":
                h.wfile.flush()
                self.release.wait(10)
                return
            chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            h.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            h.wfile.flush()
        h.wfile.write(b"data: [DONE]\n\n")

    def error(self, h: BaseHTTPRequestHandler, status: int, message: str,
              retry_ms: int | None = None) -> None:
        headers = {"retry-after-ms": str(retry_ms)} if retry_ms else {}
        self.send(h, status, {"error": {"message": message, "type": "error", "code": None}},
                  headers)

    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, payload: dict,
             headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)


@pytest.fixture(scope="module")
def server():
    s = ChatServer()
    yield s
    s.close()


def answerer(server: ChatServer, model: str = "good", **kwargs) -> OpenAIAnswerer:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("timeout", 5.0)
    return OpenAIAnswerer(model, base_url=server.url, **kwargs)


def make_rag(seed_index, llm, **overrides) -> RAG:
    return RAG(index_dir=seed_index, corpus_dir=SEEDS, llm=llm, **overrides)


def split(items):
    pieces = [i for i in items if isinstance(i, str)]
    return pieces, items[-1]


# -- the SDK path ----------------------------------------------------------------------------

def test_plain_json_and_sse_streaming_through_the_sdk(server):
    llm = answerer(server)
    messages = [{"role": "system", "content": "x"},
                {"role": "user", "content": '<source id="2" doc="d">\n甲乙丙。丁。\n</source>'}]
    whole = llm.complete(messages, max_tokens=64)
    pieces = list(llm.stream_text(messages, max_tokens=64))
    assert whole == "甲乙丙。[2]"
    assert pieces == ["甲乙", "丙。", "[2", "]"]
    assert server.requests[-2].get("stream") in (None, False)
    assert server.requests[-1]["stream"] is True
    assert server.requests[-1]["max_tokens"] == 64


def test_rag_ask_streams_renumbered_checked_citations(server, seed_index):
    rag = make_rag(seed_index, answerer(server))
    pieces, final = split(list(rag.ask(QUESTION, stream=True)))
    body = server.requests[-1]
    sentence = first_sentence(body, 2)
    assert final.backend == "openai" and final.grounded and not final.abstained
    # Source 2 was the first (only) one cited, so it is [1] now, in the stream too.
    assert final.text == sentence + "[1]"
    assert "".join(pieces) == final.text and len(pieces) > 3
    [citation] = final.citations
    assert citation.n == 1 and sentence in citation.quote
    start = citation.text.index(citation.quote)
    paragraph = rag.document(citation.doc)[citation.paragraph]
    assert citation.lines == paragraph.lines_of(start, start + len(citation.quote))
    # And independently: the quote starts on the first line it names in the source file.
    lines = (SEEDS / citation.doc).read_text(encoding="utf-8").splitlines()
    assert citation.quote[:6] in lines[citation.lines[0] - 1].replace("*", "")
    assert final.invalid_citations == 0
    assert body["messages"][0]["role"] == "system" and QUESTION in body["messages"][1]["content"]


def test_whole_answer_uses_plain_json(server, seed_index):
    rag = make_rag(seed_index, "extractive")
    passages = rag.retrieve(QUESTION)
    evidence = rag.evidence(QUESTION, passages, ())
    answer = answerer(server).answer(evidence)
    assert server.requests[-1].get("stream") in (None, False)
    assert answer.grounded and answer.citations[0].n == 1 and answer.text.endswith("[1]")


def test_429_is_retried_with_backoff(server, seed_index):
    before = server.counts["flaky"]
    answer = make_rag(seed_index, answerer(server, "flaky")).ask(QUESTION)
    assert server.counts["flaky"] - before == 2
    assert answer.backend == "openai" and answer.grounded


def test_500_retries_then_falls_back_to_extractive(server, seed_index):
    answer = make_rag(seed_index, answerer(server, "broken", max_retries=2)).ask(QUESTION)
    assert server.counts["broken"] == 3  # first try + 2 retries
    assert answer.backend == "extractive" and "李娜" in answer.text
    assert "server error 500" in answer.notice and "extractive" in answer.notice
    assert answer.citations


def test_500_without_fallback_is_a_clear_error(server, seed_index):
    rag = make_rag(seed_index, answerer(server, "broken", max_retries=0), llm_fallback=False)
    with pytest.raises(LLMError, match=r"server error 500 from http://127\.0\.0\.1"):
        rag.ask(QUESTION)


def test_hang_past_the_timeout(server, seed_index):
    llm = answerer(server, "slow", timeout=0.5, max_retries=0)
    started = time.perf_counter()
    with pytest.raises(LLMError, match=r"no reply from .* within 0\.5 s"):
        llm.complete([{"role": "user", "content": "hi"}])
    assert time.perf_counter() - started < 3
    answer = make_rag(seed_index, llm).ask(QUESTION)
    assert answer.backend == "extractive" and "within 0.5 s" in answer.notice


def test_stream_that_stalls_midway_falls_back(server, seed_index):
    llm = answerer(server, "stall", timeout=0.5, max_retries=0)
    pieces, final = split(list(make_rag(seed_index, llm).ask(QUESTION, stream=True)))
    assert pieces  # the LLM's first pieces did arrive before it stalled
    assert final.backend == "extractive" and "within 0.5 s" in final.notice


def test_error_event_mid_stream_falls_back(server, seed_index):
    pieces, final = split(list(make_rag(seed_index, answerer(server, "cut")).ask(
        QUESTION, stream=True)))
    assert len(pieces) >= 2 and final.backend == "extractive"
    assert "upstream overloaded" in final.notice
    assert final.question == QUESTION and final.citations


def test_wrong_key_is_a_clear_error_without_the_key(server):
    llm = answerer(server, api_key="sk-wrong-secret")
    with pytest.raises(LLMError) as info:
        llm.complete([{"role": "user", "content": "hi"}])
    assert "API key was rejected" in str(info.value) and "OPENAI_API_KEY" in str(info.value)
    assert "sk-wrong-secret" not in str(info.value)
    assert info.value.__traceback__ is not None and isinstance(info.value, OSError)


def test_unknown_model_is_a_clear_error(server):
    with pytest.raises(LLMError, match=r"model 'no-such-model' not found .*RAG_LLM_MODEL"):
        answerer(server, "no-such-model").complete([{"role": "user", "content": "hi"}])


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    llm = OpenAIAnswerer("good", base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY,
                         max_retries=0, timeout=2)
    with pytest.raises(LLMError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1.*OPENAI_BASE_URL"):
        llm.complete([{"role": "user", "content": "hi"}])


def test_missing_key_for_openai_itself_fails_before_any_request():
    llm = OpenAIAnswerer("gpt-4o-mini", api_key=None)
    with pytest.raises(LLMError, match="OPENAI_API_KEY is not set"):
        llm.complete([{"role": "user", "content": "hi"}])


def test_citation_of_a_missing_source_is_removed_and_counted(server, seed_index):
    rag = make_rag(seed_index, answerer(server, "bogus"))
    answer = rag.ask(QUESTION)
    assert answer.invalid_citations == 1 and "[9]" not in answer.text and "[2]" not in answer.text
    assert answer.text.endswith("[1]") and answer.grounded
    assert "removed 1 citation" in answer.notice

    only_bogus = make_rag(seed_index, answerer(server, "only-bogus")).ask(QUESTION)
    assert only_bogus.invalid_citations == 1 and not only_bogus.citations
    assert only_bogus.grounded is False and "[" not in only_bogus.text


def test_not_in_documents_reply_abstains(server, seed_index):
    answer = make_rag(seed_index, answerer(server, "abstain")).ask("济宁市的市花是什么？")
    assert answer.abstained and not answer.citations and answer.text == NOT_FOUND["zh"]
    assert answer.backend == "openai"


def test_follow_up_is_rewritten_by_the_llm(server, seed_index):
    rag = make_rag(seed_index, answerer(server))
    history = [{"role": "user", "content": "太阳纸业的代表在大会上做了什么？"},
               {"role": "assistant", "content": "作了现场发言或视频发言[1]。"}]
    answer = rag.ask("它的董事长是谁？", history=history)
    rewrite_request, answer_request = server.requests[-2], server.requests[-1]
    assert rewrite_request["messages"][0]["content"] == REWRITE_INSTRUCTIONS
    assert "太阳纸业的代表" in rewrite_request["messages"][1]["content"]
    assert answer.rewritten_question == STANDALONE and answer.question == "它的董事长是谁？"
    assert f"Question: {STANDALONE}" in answer_request["messages"][1]["content"]
    assert answer.backend == "openai" and answer.grounded


def test_chosen_by_name_from_env_vars(server, seed_index, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("RAG_LLM", "openai")
    monkeypatch.setenv("RAG_LLM_MODEL", "good")
    monkeypatch.setenv("RAG_LLM_TIMEOUT", "7")
    rag = RAG(index_dir=seed_index, corpus_dir=SEEDS, settings=load_settings())
    llm = rag.answerer()
    assert isinstance(llm, OpenAIAnswerer) and llm.model == "good" and llm.timeout == 7
    assert KEY not in repr(llm)
    assert rag.ask(QUESTION).backend == "openai"
    # Explicit arguments win over the environment.
    assert RAG(index_dir=seed_index, corpus_dir=SEEDS, llm="extractive").ask(
        QUESTION).backend == "extractive"


def test_answerer_is_cached_per_model(seed_rag):
    first = seed_rag.answerer("extractive", "ignored")
    assert first is seed_rag.answerer("extractive")
