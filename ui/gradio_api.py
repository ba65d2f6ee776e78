"""Gradio's own call protocol: the ``/ask`` and ``/reindex`` endpoints (``gradio_client``).

``/reindex`` is for admins: with page accounts (``RAG_USERS_FILE``) only an ``admin`` user
may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gradio as gr

if TYPE_CHECKING:
    from rag.pipeline import RAG

ADMIN_ONLY = "需要管理员权限 · Only an admin may do this."


def api_ask(rag: RAG):
    def ask(question: str, top_k: int = rag.settings.top_k) -> dict[str, Any]:
        """Answer a question from the indexed documents; returns Answer.to_dict() as JSON."""
        try:
            return rag.ask(question, int(top_k)).to_dict()
        except ValueError as exc:  # QuestionError, ConfigError: a problem with the input
            raise gr.Error(str(exc)) from exc

    return ask


def api_reindex(rag: RAG, is_admin: Callable[[str | None], bool]):
    def reindex(request: gr.Request) -> dict[str, Any]:
        """Re-read the corpus folder and publish what changed; returns the live index state.

        With several replicas on one Milvus store, one replica updates and the others follow.
        """
        if not is_admin(getattr(request, "username", None)):
            raise gr.Error(ADMIN_ONLY)
        if rag.corpus_dir is None:
            raise gr.Error("this app has no corpus folder to re-read; start it with --corpus DIR")
        rag.reindex()
        m = rag.manifest
        return {"version": rag.version, "location": rag.location, "documents": m["documents"],
                "chunks": m["chunks"]}

    return reindex
