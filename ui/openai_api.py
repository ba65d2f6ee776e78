"""The OpenAI-compatible HTTP API: ``/v1/chat/completions``, ``/v1/models``, and ``/healthz``.

The answer's text carries the ``[n]`` markers; the citations travel beside it in
``choices[0].message.citations`` (the last stream chunk: ``choices[0].delta.citations``) and in
a top-level ``rag`` object (citations, abstained, grounded, index version, ...). Model ids:
``rag`` (the default answerer), ``rag:NAME`` (one answerer: ``rag:extractive``, ``rag:openai``)
and ``rag:NAME:MODEL`` (an LLM answerer with that model). Errors use OpenAI's shape.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from rag.answerers import SELECTABLE
from rag.answerers.llm import LLMError
from rag.errors import RAGError
from rag.question import QuestionTimeout
from rag.schema import Answer
from rag.stores.base import StoreError
from rag.tokens import count_tokens
from rag.workers import WorkerLost
from ui.auth import Principal, SignIn
from ui.chat_request import APIError, ChatRequest, parse_chat_request
from ui.guard import client_of
from ui.limits import ClientLimiter, TooManyRequests

if TYPE_CHECKING:
    from rag.pipeline import RAG

log = logging.getLogger("rag.api")
OWNER = "rag-zh"


def model_ids() -> list[str]:
    return ["rag", *(f"rag:{name}" for name in SELECTABLE)]


def rag_object(rag: RAG, answer: Answer) -> dict[str, Any]:
    """The extra top-level ``rag`` field: the citations and what else ``Answer`` knows."""
    data = answer.to_dict()
    return {"text": data["text"], "citations": data["citations"],
            "abstained": data["abstained"], "grounded": data["grounded"],
            "rewritten_question": data["rewritten_question"], "backend": data["backend"],
            "notice": data["notice"], "related": data["related"] if answer.abstained else [],
            "timings": data["timings"], "index_version": rag.version}


def _usage(request: ChatRequest, text: str) -> dict[str, int]:
    """Token counts (cl100k) of the messages and of the answer: an estimate, not billing."""
    prompt = sum(count_tokens(m) for m in request.texts)
    completion = count_tokens(text)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def error_status(exc: Exception) -> APIError:
    """The HTTP error for an exception from the library (its message is meant for users)."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, QuestionTimeout):
        return APIError(504, str(exc), "server_error", "timeout")
    if isinstance(exc, WorkerLost):
        return APIError(503, str(exc), "server_error", "worker_lost")
    if isinstance(exc, StoreError):
        return APIError(503, str(exc), "server_error", "index_unavailable")
    if isinstance(exc, ValueError) and isinstance(exc, RAGError):
        return APIError(400, str(exc), "invalid_request_error", "invalid_value")
    if isinstance(exc, LLMError):
        return APIError(502, str(exc), "server_error", "answerer_failed")
    if isinstance(exc, RAGError):
        return APIError(500, str(exc), "server_error", "rag_error")
    log.error("answering failed: %s", type(exc).__name__, exc_info=exc)
    return APIError(500, "internal error; see the server log", "server_error", "internal_error")


class ChatAPI:
    """The API's handlers over one ``RAG`` and one ``SignIn``."""

    def __init__(self, rag: RAG, signin: SignIn) -> None:
        self.rag, self.signin = rag, signin
        self.limiter = ClientLimiter(rag.settings.max_requests_per_client)
        self.log_questions = os.environ.get("RAG_LOG_QUESTIONS", "").lower() in ("1", "true")

    def principal(self, request: Request) -> Principal:
        """The API key's principal; 401 for a missing or wrong key, 429 over a limit."""
        if not self.signin.configured:
            return Principal("local", admin=True)
        client = client_of(request.scope)
        if self.signin.failed.retry_after(client) is not None:
            raise APIError(429, "too many failed sign-ins from this address; try again later",
                           "rate_limit_error", "too_many_failed_signins")
        header = request.headers.get("authorization")
        principal = self.signin.key(header)
        if principal is None:
            self.signin.failed.add(client)
            message = ("Incorrect API key provided." if header else
                       "No API key provided: send it as 'Authorization: Bearer KEY'.")
            raise APIError(401, message, "invalid_request_error", "invalid_api_key")
        wait = self.signin.per_key.take(principal.name)
        if wait is not None:
            raise APIError(429, "rate limit reached for this API key; slow down",
                           "rate_limit_error", "rate_limit_exceeded", retry_after=wait)
        return principal

    def models(self, request: Request) -> dict[str, Any]:
        self.principal(request)
        return {"object": "list", "data": [_model(m) for m in model_ids()]}

    def model(self, request: Request, model: str) -> dict[str, Any]:
        self.principal(request)
        if model not in model_ids():
            raise APIError(404, f"The model `{model}` does not exist.", "invalid_request_error",
                           "model_not_found", param="model")
        return _model(model)

    async def chat(self, request: Request) -> Any:
        principal = self.principal(request)
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise APIError(400, "the request body is not valid JSON", "invalid_request_error",
                           "invalid_json") from None
        req = parse_chat_request(body, model_ids())
        log.info("chat %s model=%s stream=%s turns=%d%s", principal.name, req.model, req.stream,
                 len(req.history) // 2, f" question={req.question!r}" if self.log_questions
                 else "")
        hold = _hold(self.limiter, principal.name)  # per key: many users may share an address
        try:
            next(hold)  # one of this client's request slots, given back by hold.close()
        except TooManyRequests as exc:
            raise APIError(429, str(exc), "rate_limit_error", "too_many_requests") from None
        streaming = False
        options = {"history": req.history, "llm": req.llm,
                   **({"model": req.llm_model} if req.llm_model else {})}
        try:
            if not req.stream:  # worker processes (rag.serving): awaited, no thread waits
                ask_async = getattr(self.rag, "ask_async", None)
                answer = await (ask_async(req.question, req.top_k, **options) if ask_async
                                else run_in_threadpool(
                                    lambda: self.rag.ask(req.question, req.top_k, **options)))
                return JSONResponse(self._completion(req, answer))  # JSON types already
            items = self.rag.ask_stream(req.question, req.top_k, **options)
            first = await run_in_threadpool(next, items)
            streaming = True  # the stream gives the slot back when it ends
            return StreamingResponse(self._events(req, first, items, hold),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache",
                                              "X-Accel-Buffering": "no"})
        except Exception as exc:
            raise error_status(exc) from None
        finally:
            if not streaming:
                hold.close()

    def _completion(self, req: ChatRequest, answer: Answer) -> dict[str, Any]:
        extra = rag_object(self.rag, answer)
        message = {"role": "assistant", "content": answer.text, "refusal": None,
                   "citations": extra["citations"]}
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                "created": int(time.time()), "model": req.model, "system_fingerprint": None,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": "stop"}],
                "usage": _usage(req, answer.text), "rag": extra}

    def _events(self, req: ChatRequest, first: str | Answer, items: Iterator[str | Answer],
                hold: Iterator[None]) -> Iterator[str]:
        try:
            for piece in self._stream(req, first, items):
                if piece == DONE:  # the work is over: the slot is free before the client knows
                    hold.close()
                yield piece
        finally:
            hold.close()

    def _stream(self, req: ChatRequest, first: str | Answer,
                items: Iterator[str | Answer]) -> Iterator[str]:
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": req.model, "system_fingerprint": None}

        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse({**head, "choices": [choice], **extra})

        yield event({"role": "assistant", "content": ""})
        sent, item = "", first
        try:
            while not isinstance(item, Answer):
                sent += item
                yield event({"content": item})
                item = next(items)
        except Exception as exc:  # the status line is gone: OpenAI sends the error as an event
            err = error_status(exc)
            yield _sse(err.body())
            yield DONE
            return
        if item.text.startswith(sent) and item.text != sent:
            yield event({"content": item.text[len(sent):]})
        extra = rag_object(self.rag, item)
        yield event({"citations": extra["citations"]}, "stop", rag=extra)
        if req.include_usage:
            yield _sse({**head, "choices": [], "usage": _usage(req, item.text)})
        yield DONE

    def reindex(self, request: Request) -> dict[str, Any]:
        """``POST /v1/reindex`` (not OpenAI's): re-read the corpus folder; admin keys only."""
        if not self.principal(request).admin:
            raise APIError(403, "re-indexing needs an admin key", "permission_error",
                           "admin_required")
        if self.rag.corpus_dir is None:
            raise APIError(409, "this server has no corpus folder to re-read; start it with "
                           "--corpus DIR", "invalid_request_error", "no_corpus")
        try:
            self.rag.reindex()
        except Exception as exc:
            raise error_status(exc) from None
        return {"index_version": self.rag.version, "documents": self.rag.manifest["documents"],
                "chunks": self.rag.manifest["chunks"]}

    def health(self) -> JSONResponse:
        try:
            return JSONResponse({"status": "ok", "index_version": self.rag.version})
        except Exception as exc:  # the index cannot be read: not healthy, whatever the cause
            log.warning("health check failed: %s", type(exc).__name__)
            return JSONResponse({"status": "unavailable"}, status_code=503)


DONE = "data: [DONE]\n\n"  # the last event of every stream


def _hold(limiter: ClientLimiter, client: str) -> Iterator[None]:
    """Takes a slot on the first ``next``; ``close()`` (or garbage collection) gives it back."""
    with limiter.slot(client):
        yield


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": OWNER}


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def install(app: FastAPI, rag: RAG, signin: SignIn) -> ChatAPI:
    """Add the API's routes and its OpenAI-shaped error responses to ``app``."""
    api, router = ChatAPI(rag, signin), APIRouter()
    router.add_api_route("/v1/models", api.models, methods=["GET"])
    router.add_api_route("/v1/models/{model:path}", api.model, methods=["GET"])
    router.add_api_route("/v1/chat/completions", api.chat, methods=["POST"])
    router.add_api_route("/v1/reindex", api.reindex, methods=["POST"])
    router.add_api_route("/healthz", api.health, methods=["GET"])
    app.include_router(router)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        headers = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after else None
        if exc.status == 401:
            headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    return api
