"""The page's API endpoints (``/ask``, ``/reindex``), callable with ``gradio_client``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from rag.multi import Library
    from rag.pipeline import RAG


def ask(rag: RAG, library: Library | None = None):
    def ask(question: str, top_k: int = rag.settings.top_k, kb: str = "") -> dict[str, Any]:
        """Answer a question from the indexed documents; returns Answer.to_dict() as JSON.

        ``kb``: a knowledge base name, or several separated by commas (default: the app's).
        """
        try:
            names = [n.strip() for n in (kb or "").split(",") if n.strip()]
            if names and library is None:
                raise gr.Error("this app serves one index; start it with rag chat to pick "
                               "knowledge bases")
            chosen = library.select(names) if names and library is not None else rag
            return chosen.ask(question, int(top_k)).to_dict()
        except ValueError as exc:  # QuestionError, ConfigError, BaseError: a problem with input
            raise gr.Error(str(exc)) from exc

    return ask


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
