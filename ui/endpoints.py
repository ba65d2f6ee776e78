"""The page's HTTP API beside the page (``gradio_client`` and plain HTTP): ``/ask`` and
``/reindex``, each bounded per client by the ``ClientLimiter``. With page accounts
(``RAG_USERS_FILE``) only an ``admin`` user may call ``/reindex``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gradio as gr

from rag.errors import RAGError
from ui.limits import ClientLimiter

if TYPE_CHECKING:
    from rag.multi import Library
    from rag.pipeline import RAG

ADMIN_ONLY = "需要管理员权限 · Only an admin may do this."


def client_of(request: gr.Request | None) -> str | None:
    """Who is asking: the caller's address (a browser session's hash when there is none)."""
    if request is None:
        return None
    host = getattr(getattr(request, "client", None), "host", None)
    return host or request.session_hash


def add_api(rag: RAG, limiter: ClientLimiter, library: Library | None = None,
            is_admin: Callable[[str | None], bool] = lambda _: True) -> None:
    """Register ``/ask`` and ``/reindex`` (for ``is_admin(username)``) on the Blocks being
    built; with a ``library`` (``rag.multi.Library``) ``/ask`` also takes ``kb``."""

    def answer(question: str, top_k: object, kb: str, request: gr.Request | None
               ) -> dict[str, Any]:
        try:
            with limiter.slot(client_of(request)):
                names = [n.strip() for n in (kb or "").split(",") if n.strip()]
                chosen = library.select(names) if names and library is not None else rag
                return chosen.ask(question, top_k).to_dict()  # the library checks top_k
        except RAGError as exc:  # a problem with the input, a deadline, a busy client
            raise gr.Error(str(exc)) from exc

    def ask(question: str, top_k: int = rag.settings.top_k,
            request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """Answer a question from the indexed documents; returns Answer.to_dict() as JSON."""
        return answer(question, top_k, "", request)

    def ask_kb(question: str, top_k: int = rag.settings.top_k, kb: str = "",
               request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """Answer a question from knowledge base ``kb`` (several: "A,B"; default: the app's);
        returns Answer.to_dict() as JSON, each citation naming its base."""
        return answer(question, top_k, kb, request)

    def reindex(request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """Re-read the corpus folder and publish what changed; returns the live index state.

        Concurrent calls share one build, and nothing is built when nothing changed. With
        several replicas on one Milvus store, one replica updates and the others follow.
        """
        if not is_admin(getattr(request, "username", None)):
            raise gr.Error(ADMIN_ONLY)
        if rag.corpus_dir is None:
            raise gr.Error("this app has no corpus folder to re-read; start it with --corpus DIR")
        try:
            with limiter.slot(client_of(request)):
                rag.reindex()
        except RAGError as exc:
            raise gr.Error(str(exc)) from exc
        m = rag.manifest
        return {"version": rag.version, "location": rag.location, "documents": m["documents"],
                "chunks": m["chunks"]}

    gr.api(ask if library is None else ask_kb, api_name="ask")
    gr.api(reindex, api_name="reindex")
