"""The page's API endpoints (``/ask``, ``/reindex``), callable with ``gradio_client``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from rag.multi import Library
    from rag.pipeline import RAG


def ask(rag: RAG, library: Library | None = None):
    """``/ask``: (question, top_k) for an app over one index; with a ``library`` also ``kb``."""

    def answer(question: str, top_k: int, kb: str = "") -> dict[str, Any]:
        try:
            names = [n.strip() for n in (kb or "").split(",") if n.strip()]
            chosen = library.select(names) if names and library is not None else rag
            return chosen.ask(question, int(top_k)).to_dict()
        except ValueError as exc:  # QuestionError, ConfigError, BaseError: a problem with input
            raise gr.Error(str(exc)) from exc

    def ask(question: str, top_k: int = rag.settings.top_k) -> dict[str, Any]:
        """Answer a question from the indexed documents; returns Answer.to_dict() as JSON."""
        return answer(question, top_k)

    def ask_kb(question: str, top_k: int = rag.settings.top_k, kb: str = "") -> dict[str, Any]:
        """Answer a question from knowledge base ``kb`` (several: "A,B"; default: the app's);
        returns Answer.to_dict() as JSON, each citation naming its base."""
        return answer(question, top_k, kb)

    return ask if library is None else ask_kb


def reindex(rag: RAG):
    def reindex() -> dict[str, Any]:
        """Re-read the corpus folder and publish what changed; returns the live index state.

        With several replicas on one Milvus store, one replica updates and the others follow.
        """
        if rag.corpus_dir is None:
            raise gr.Error("this app has no corpus folder to re-read; start it with --corpus DIR")
        rag.reindex()
        m = rag.manifest
        return {"version": rag.version, "location": rag.location, "documents": m["documents"],
                "chunks": m["chunks"]}

    return reindex
