"""What a server asks: its ``RAG`` itself (``workers`` = 1), or a ``PooledRAG`` whose questions
go to a ``rag.workers.AskPool`` while everything else (updates, documents, the manifest) stays
the ``RAG``'s own, in the serving process."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from rag.config import ConfigError
from rag.schema import Answer
from rag.workers import AskPool, final_answer

log = logging.getLogger(__name__)


class PooledRAG:
    """A ``RAG`` whose questions are answered by ``pool``; every other attribute is ``rag``'s."""

    def __init__(self, rag: Any, pool: AskPool) -> None:
        self.rag, self.pool = rag, pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rag, name)

    def ask_stream(self, question: str, top_k: int | None = None, *,
                   history: Sequence[dict[str, str]] = (), llm: str | None = None,
                   model: str | None = None) -> Iterator[str | Answer]:
        return self.pool.ask_stream(question, top_k, history=history, llm=llm, model=model)

    def ask(self, question: str, top_k: int | None = None, *,
            history: Sequence[dict[str, str]] = (), llm: str | None = None,
            model: str | None = None, stream: bool = False) -> Answer | Iterator[str | Answer]:
        items = self.pool.ask_stream(question, top_k, history=history, llm=llm, model=model,
                                     stream=stream)
        return items if stream else final_answer(items)

    async def ask_async(self, question: str, top_k: int | None = None, *,
                        history: Sequence[dict[str, str]] = (), llm: str | None = None,
                        model: str | None = None) -> Answer:
        """The final ``Answer``, awaited on the event loop (no thread waits for the worker)."""
        return await self.pool.ask_async(question, top_k, history=history, llm=llm,
                                         model=model)


def serving_rag(rag: Any) -> tuple[Any, AskPool | None]:
    """What a server asks: ``rag`` itself when ``rag.settings.workers`` is 1, else a
    ``PooledRAG`` over a started pool (closed by the caller: ``pool.close()``)."""
    workers = rag.settings.workers
    if workers < 1:
        raise ConfigError(f"setting workers={workers} must be at least 1 (RAG_WORKERS, "
                          "--workers)")
    if workers == 1:
        return rag, None
    if getattr(rag, "names", None) or rag.settings.store != "faiss":
        log.warning("workers=%d: several knowledge bases at once, or a store other than FAISS, "
                    "are answered in this process", workers)
        return rag, None
    rag.open()  # built or refreshed here, before any worker opens it read-only
    pool = AskPool(rag, workers).start()
    return PooledRAG(rag, pool), pool
