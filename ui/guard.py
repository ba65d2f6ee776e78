"""The ASGI middleware in front of everything the server answers (the API and Gradio's routes).

* Refuses a request whose ``Host`` is not one the operator serves (DNS rebinding: a page on
  another site whose name resolves to 127.0.0.1 must not reach the API or ``/reindex``).
* Refuses sign-in attempts from a client address with too many recent failures (429), and
  counts failed page sign-ins (Gradio's ``POST /login`` answering 400).
* Logs one line per request: method, path, status, milliseconds, client (no body, no query
  string, no headers, so neither questions nor keys reach the log).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ui.auth import SignIn

log = logging.getLogger("rag.access")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]


def allowed_hosts(host: str, extra: str = "") -> frozenset[str]:
    """Loopback names, the served ``host`` (unless a wildcard address) and ``extra``."""
    names = {"127.0.0.1", "localhost", "::1"}
    if host not in ("0.0.0.0", "::", ""):
        names.add(host.strip("[]").lower())
    names.update(h.strip().lower() for h in extra.split(",") if h.strip())
    return frozenset(names)


def host_name(value: str) -> str:
    """The name part of a ``Host`` header value (``[::1]:7860`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return ""


def error_body(message: str, kind: str, code: str) -> bytes:
    """The OpenAI error shape."""
    return json.dumps({"error": {"message": message, "type": kind, "param": None,
                                 "code": code}}).encode()


async def _refuse(send: Callable, status: int, body: bytes,
                  headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Wraps the whole app: Host allowlist, sign-in throttling, access log."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str], signin: SignIn) -> None:
        self.app, self.hosts, self.signin = app, hosts, signin

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = host_name(_header(scope, b"host"))
        if "*" not in self.hosts and host not in self.hosts:
            log.warning("refused Host %r from %s", host[:80], client_of(scope))
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await _refuse(send, 400, error_body(
                "this server does not serve that host name; add it to RAG_ALLOWED_HOSTS",
                "invalid_request_error", "invalid_host"))
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Callable, send: Callable) -> None:
        client, started = client_of(scope), time.perf_counter()
        login = scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/login")
        if login and (wait := self.signin.failed.retry_after(client)) is not None:
            await _refuse(send, 429, error_body("too many failed sign-ins; try again later",
                                                "rate_limit_error", "too_many_failed_signins"),
                          [(b"retry-after", str(int(wait)).encode())])
            return self._log(scope, 429, started)
        status = 500

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if login and status in (400, 401):
                    self.signin.failed.add(client)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self._log(scope, status, started)

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        log.info("%s %s %d %.0fms %s", scope["method"], scope["path"], status,
                 (time.perf_counter() - started) * 1000, client_of(scope))
