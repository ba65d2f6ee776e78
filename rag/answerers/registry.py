"""The answerers one ``RAG`` uses, made on first use and kept (an LLM client or a local model is
expensive to make), by answerer name and model."""

from __future__ import annotations

import threading

from rag.answerers import make_answerer
from rag.answerers.base import Answerer
from rag.config import Settings


class AnswererRegistry:
    """Answerers by (name, model); thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._made: dict[str, Answerer] = {}
        self._lock = threading.Lock()

    def add(self, answerer: Answerer) -> None:
        """Use ``answerer`` for its name (an object the caller made)."""
        with self._lock:
            self._made[answerer.name] = answerer

    def get(self, name: str | None = None, model: str | None = None) -> Answerer:
        """The answerer ``name`` (default: the setting) for ``model`` (default: the setting)."""
        name = name or self.settings.llm
        key = name if not model or name == "extractive" else f"{name}:{model}"
        with self._lock:
            if key not in self._made:
                settings = self.settings.with_overrides(llm_model=model) if model else self.settings
                self._made[key] = make_answerer(name, settings)
            return self._made[key]
