"""A real OpenAI-compatible chat-completions server on 127.0.0.1, for the openai backend's tests.

Shared by tests/answerers/test_llm_openai.py and the answerer contract: the requested model
name picks the behaviour (see ``ChatServer.reply``), so one server serves every case.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rag.answerers.base import NOT_FOUND
from rag.rewrite import REWRITE_INSTRUCTIONS

KEY = "sk-test-0123456789"
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
        self.arrived = threading.Event()  # set by every request, as it comes in
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.counts[body["model"]] += 1
                server.arrived.set()
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
        if model == "both":  # cites the second source first, so markers get renumbered
            return first_sentence(body, 2) + "[2]" + first_sentence(body, 1) + "[1, 2]"
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
