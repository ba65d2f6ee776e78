"""A ``/v1/chat/completions`` request body checked and turned into what ``RAG.ask_stream`` takes.

The question is the last ``user`` message; earlier ``user``/``assistant`` messages are the
``history``. ``system``/``developer`` messages are accepted and not used (the answerer's own
instructions apply). Sampling options (``temperature``, ``max_tokens``, ...) are accepted and
ignored; ``n`` other than 1, tools and non-text content are refused with a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_TOP_K = 20
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_REFUSED = ("tools", "functions", "tool_choice", "function_call")


class APIError(Exception):
    """An error response in OpenAI's shape: ``{"error": {message, type, param, code}}``."""

    def __init__(self, status: int, message: str, kind: str, code: str, *,
                 param: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code
        self.param, self.retry_after = param, retry_after

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param,
                          "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    question: str
    history: tuple[dict[str, str], ...]
    texts: tuple[str, ...]  # every message's text, for the usage estimate
    stream: bool = False
    include_usage: bool = False
    top_k: int | None = None
    llm: str | None = None
    llm_model: str | None = None


def bad(message: str, param: str | None = None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, "invalid_request_error", code, param=param)


def _text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(
                    part.get("text"), str):
                raise bad("only text content parts ({\"type\": \"text\", \"text\": ...}) are "
                          "supported", where)
            parts.append(part["text"])
        return "".join(parts)
    raise bad("content must be a string or a list of text parts", where)


def _messages(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list) or not value:
        raise bad("'messages' must be a non-empty list", "messages")
    out = []
    for i, message in enumerate(value):
        where = f"messages.[{i}]"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise bad(f"each message needs a role, one of: {', '.join(ROLES)}", where + ".role")
        out.append((message["role"], _text(message.get("content"), where + ".content")))
    if out[-1][0] != "user":
        raise bad("the last message must be the user's question", f"messages.[{len(out) - 1}]")
    return out


def _model(value: Any, known: list[str]) -> tuple[str | None, str | None]:
    """(answerer, its model) for a model id: ``rag``, ``rag:NAME`` or ``rag:NAME:MODEL``."""
    if not isinstance(value, str) or not value:
        raise bad("'model' is required (use \"rag\")", "model")
    name, _, llm_model = value.partition(":")[2].partition(":")
    if (value != "rag" and (not value.startswith("rag:") or f"rag:{name}" not in known)
            or llm_model and name == "extractive"):
        raise APIError(404, f"The model `{value[:100]}` does not exist.",
                       "invalid_request_error", "model_not_found", param="model")
    return (name or None), (llm_model or None)


def _options(body: dict[str, Any]) -> tuple[bool, bool, int | None]:
    for key in _REFUSED:
        if body.get(key):
            raise bad(f"'{key}' is not supported by this server", key, "unsupported_parameter")
    if body.get("n", 1) not in (1, None):
        raise bad("only n=1 is supported", "n", "unsupported_parameter")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise bad("'stream' must be true or false", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise bad("'stream_options' must be an object", "stream_options")
    top_k = body.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool)
                              or not 1 <= top_k <= MAX_TOP_K):
        raise bad(f"'top_k' must be an integer from 1 to {MAX_TOP_K}", "top_k")
    return stream, bool(options.get("include_usage")), top_k


def parse_chat_request(body: Any, known_models: list[str]) -> ChatRequest:
    """Check a request body; raises ``APIError`` (400, or 404 for an unknown model)."""
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object")
    llm, llm_model = _model(body.get("model"), known_models)
    messages = _messages(body.get("messages"))
    stream, include_usage, top_k = _options(body)
    history = tuple({"role": role, "content": text} for role, text in messages[:-1]
                    if role in ("user", "assistant") and text.strip())
    return ChatRequest(model=body["model"], question=messages[-1][1], history=history,
                       texts=tuple(text for _, text in messages), stream=stream,
                       include_usage=include_usage and stream, top_k=top_k, llm=llm,
                       llm_model=llm_model)
