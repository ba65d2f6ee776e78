"""Any OpenAI-compatible chat-completions server (OpenAI, DeepSeek, Ollama, vLLM, llama.cpp).

Uses the official ``openai`` SDK (extra ``llm``): its timeouts, and its retries with
exponential backoff on 408/409/429/5xx and dropped connections. Errors become ``LLMError``
with a message that says what to fix; the API key never appears in it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from rag.answerers.llm import REWRITE_TOKENS, LLMAnswerer, LLMError, Messages
from rag.config import ConfigError, Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_URL = "https://api.openai.com/v1"
# Local servers (Ollama, vLLM, llama.cpp) ignore the key but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"


class OpenAIAnswerer(LLMAnswerer):
    """Answers through ``/chat/completions`` of an OpenAI-compatible server."""

    name = "openai"

    def __init__(self, model: str = DEFAULT_MODEL, *, base_url: str | None = None,
                 api_key: str | None = None, timeout: float = 60.0, max_retries: int = 2,
                 temperature: float = 0.0, context_tokens: int = 4096,
                 answer_tokens: int = 512) -> None:
        super().__init__(context_tokens=context_tokens, answer_tokens=answer_tokens)
        self.model = model
        self.base_url = (base_url or OPENAI_URL).rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.temperature = temperature
        self._client: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIAnswerer:
        """Model: ``RAG_LLM_MODEL``; server and key: ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``."""
        return cls(settings.llm_model or DEFAULT_MODEL,
                   base_url=os.environ.get("OPENAI_BASE_URL") or None,
                   api_key=os.environ.get("OPENAI_API_KEY") or None,
                   timeout=settings.llm_timeout, context_tokens=settings.context_tokens,
                   answer_tokens=settings.answer_tokens)

    def __repr__(self) -> str:  # no key here
        return f"OpenAIAnswerer(model={self.model!r}, base_url={self.base_url!r})"

    def client(self) -> Any:
        """The SDK client, made on first use (thread-safe; the SDK client is shared)."""
        with self._lock:
            if self._client is None:
                try:
                    import openai
                except ImportError as exc:
                    raise ConfigError("the openai backend needs the openai package: "
                                      "pip install 'rag-zh[llm]'") from exc
                key = self._api_key
                if not key:
                    if self.base_url == OPENAI_URL:
                        raise LLMError("openai: OPENAI_API_KEY is not set; export your key, or "
                                       "set OPENAI_BASE_URL to a local server such as Ollama")
                    key = PLACEHOLDER_KEY
                self._client = openai.OpenAI(
                    api_key=key, base_url=self.base_url, max_retries=self.max_retries,
                    timeout=openai.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                )
            return self._client

    def _request(self, messages: Messages, max_tokens: int, *, stream: bool) -> Any:
        return self.client().chat.completions.create(
            model=self.model, messages=list(messages), max_tokens=max_tokens,
            temperature=self.temperature, stream=stream,
        )

    def stream_text(self, messages: Messages, *, max_tokens: int) -> Iterator[str]:
        try:
            for chunk in self._request(messages, max_tokens, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except LLMError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    def complete(self, messages: Messages, *, max_tokens: int = REWRITE_TOKENS) -> str:
        try:
            reply = self._request(messages, max_tokens, stream=False)
        except LLMError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        if not reply.choices:
            raise LLMError(f"openai: {self.base_url} returned no choices for model {self.model!r}")
        return reply.choices[0].message.content or ""

    def _error(self, exc: Exception) -> Exception:
        """A plain-words ``LLMError`` for an SDK exception (other exceptions pass through)."""
        try:
            import openai
        except ImportError:  # pragma: no cover - client() already needed it
            return exc
        where = f"{self.base_url} (model {self.model!r})"
        retried = f" after {self.max_retries} retries" if self.max_retries else ""
        # Most specific first: the SDK's classes inherit from one another.
        messages = [
            ("AuthenticationError", lambda e: f"the API key was rejected by {self.base_url} (401);"
                                              " check OPENAI_API_KEY"),
            ("PermissionDeniedError", lambda e: f"access denied by {where} (403); check the key's"
                                                " permissions"),
            ("NotFoundError", lambda e: f"model {self.model!r} not found at {self.base_url} (404);"
                                        " check RAG_LLM_MODEL and OPENAI_BASE_URL (it usually ends"
                                        " in /v1)"),
            ("RateLimitError", lambda e: f"rate limited by {where} (429){retried}: "
                                         f"{_short(e.message)}"),
            ("InternalServerError", lambda e: f"server error {e.status_code} from {where}"
                                              f"{retried}"),
            ("APITimeoutError", lambda e: f"no reply from {where} within {self.timeout:g} s"
                                          f"{retried}"),
            ("APIConnectionError", lambda e: f"cannot reach {self.base_url}{retried}; is the server"
                                             " running and OPENAI_BASE_URL right?"),
            ("APIStatusError", lambda e: f"{where} answered {e.status_code}: {_short(e.message)}"),
            # An error event in the middle of a stream.
            ("APIError", lambda e: f"{where} broke off its reply: {_short(e.message)}"),
            ("OpenAIError", lambda e: _short(str(e))),
        ]
        for name, message in messages:
            if isinstance(exc, getattr(openai, name)):
                return LLMError(f"openai: {self._redact(message(exc))}")
        return exc

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
