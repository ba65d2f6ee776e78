"""Serving the chat UI: ``launch`` starts a built page in the background, ``run`` serves it
until Ctrl-C (what ``rag chat`` calls)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import gradio as gr

from ui import assets
from ui.app import CONCURRENCY, build_app

if TYPE_CHECKING:
    from rag.multi import Library
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = None,
           max_file_mb: int | None = None, queue_size: int | None = None) -> str:
    """Start ``demo`` in the background through the queue (``CONCURRENCY`` events at once).

    Adds the page script and styles, never makes a share link, and refuses uploads over
    ``max_file_mb`` before they reach the disk; past ``queue_size`` waiting events a new one is
    refused at once. Returns the local URL; ``demo.close()`` stops it.
    """
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=queue_size)
    _, url, _ = demo.launch(
        server_name=host, server_port=port, share=False, prevent_thread_lock=True, quiet=True,
        show_error=True, css=assets.CSS, js=assets.PAGE_JS, ssr_mode=False, pwa=False,
        mcp_server=False, footer_links=["api", "settings"],
        max_file_size=f"{max_file_mb}mb" if max_file_mb else None,
    )
    return url


def run(rag: RAG, *, host: str = "127.0.0.1", port: int = 7860,
        library: Library | None = None) -> int:
    """Serve the UI for ``rag`` on ``host:port`` until Ctrl-C; returns 0. With a ``library``
    the page also picks and manages knowledge bases."""
    if host not in LOOPBACK:
        log.warning("serving on %s: other machines can reach this chat and its uploads", host)
    demo = build_app(rag) if library is None else build_app(rag, library)
    url = launch(demo, host=host, port=port, max_file_mb=rag.settings.max_file_mb,
                 queue_size=rag.settings.queue_size)
    print(f"chat UI at {url} (offline; index {rag.location}; Ctrl-C to stop)", flush=True)
    demo.block_thread()  # returns on Ctrl-C, after closing the server
    return 0
