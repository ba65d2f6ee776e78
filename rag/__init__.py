"""Offline retrieval-augmented question answering with paragraph-exact citations.

    from rag import RAG, ask
    r = RAG(index_dir="index", corpus_dir="seeds").open()
    answer = r.ask("兖州区培育哪三个千亿级产业？")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.errors import RAGError
from rag.schema import Answer, Citation, Paragraph, Passage

if TYPE_CHECKING:
    from rag.pipeline import RAG

__all__ = ["RAG", "Answer", "Citation", "Paragraph", "Passage", "RAGError", "ask"]


def __getattr__(name: str) -> Any:
    # Keep `import rag` cheap: the pipeline (faiss, numpy, ...) loads on first use.
    if name == "RAG":
        from rag.pipeline import RAG

        return RAG
    raise AttributeError(name)


def ask(question: str, top_k: int | None = None, **kwargs: Any) -> Answer:
    """Answer ``question`` over the default index (built from ``seeds/`` on first use)."""
    from rag.pipeline import ask as _ask

    return _ask(question, top_k, **kwargs)
