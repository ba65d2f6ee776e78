"""Serving: the chat page and the OpenAI-compatible API on one port (what ``rag chat`` runs).

``start(rag, host=..., port=...)`` builds one FastAPI app (``ui.openai_api`` routes, the Gradio
page mounted at ``/``), wraps it in ``ui.guard.Guard`` (Host allowlist, sign-in throttling,
access log) and runs it with uvicorn in a background thread; ``run`` serves until Ctrl-C.
``launch(demo)`` starts a page alone through Gradio's own server (tests of the page).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from rag.conversations import FILE_NAME, ConversationStore
from rag.serving import serving_rag
from ui import assets
from ui.app import CONCURRENCY, build_app
from ui.auth import LOOPBACK, AuthConfigError, SignIn
from ui.guard import Guard, allowed_hosts

if TYPE_CHECKING:
    import uvicorn

    from rag.multi import Library
    from rag.pipeline import RAG
    from rag.workers import AskPool
    from ui.openai_api import ChatAPI

log = logging.getLogger(__name__)

_PAGE = {"css": assets.CSS, "js": assets.PAGE_JS, "ssr_mode": False, "pwa": False,
         "mcp_server": False, "footer_links": ["api", "settings"], "show_error": True}


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = None,
           max_file_mb: int | None = None, queue_size: int | None = None) -> str:
    """Start ``demo`` alone in the background through the queue (``CONCURRENCY`` at once).

    Adds the page script and styles, never makes a share link, and refuses uploads over
    ``max_file_mb`` before they reach the disk; past ``queue_size`` waiting events a new one is
    refused at once. Returns the local URL; ``demo.close()`` stops it.
    """
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=queue_size)
    _, url, _ = demo.launch(
        server_name=host, server_port=port, share=False, prevent_thread_lock=True, quiet=True,
        max_file_size=f"{max_file_mb}mb" if max_file_mb else None, **_PAGE)
    return url


@dataclass
class Server:
    """A running server: ``url``, the page, the conversation store; ``close()`` stops it."""

    url: str
    demo: gr.Blocks
    api: ChatAPI
    store: ConversationStore
    server: uvicorn.Server
    thread: threading.Thread
    pool: AskPool | None = None  # the ask-worker processes (``workers`` > 1)

    def close(self) -> None:
        self.demo.close()  # stops the queue, which ends the page's open event streams
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.store.close()
        if self.pool is not None:
            self.pool.close()


def check_exposure(host: str, signin: SignIn, insecure: bool) -> None:
    """Refuse to serve other machines without page accounts unless told so explicitly."""
    if host in LOOPBACK or signin.users:
        return
    if not insecure:
        raise AuthConfigError(
            f"refusing to serve on {host} without sign-in: anyone on the network could read, "
            "upload and re-index. Set RAG_USERS_FILE (page accounts, see `rag user`) and "
            "RAG_API_KEYS or RAG_API_KEYS_FILE (API keys, see `rag key`), or pass "
            "--insecure-no-auth to serve openly anyway")
    log.warning("serving on %s WITHOUT sign-in (--insecure-no-auth): anyone who can reach it "
                "may upload and re-index", host)


def conversation_store(rag: RAG) -> ConversationStore:
    """``$RAG_DATA_DIR/conversations.sqlite``, else ``conversations.sqlite`` in the index folder."""
    folder = Path(os.environ.get("RAG_DATA_DIR") or rag.index_dir)
    return ConversationStore(folder / FILE_NAME)


def build_server(rag: RAG, signin: SignIn, store: ConversationStore, *,
                 host: str, port: int, library: Library | None = None
                 ) -> tuple[Any, gr.Blocks, ChatAPI]:
    """The ASGI app (Guard -> FastAPI: API routes + the page), the page, the API handlers."""
    from fastapi import FastAPI

    from ui.openai_api import install

    demo = build_app(rag, library, is_admin=signin.is_admin, store=store)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=rag.settings.queue_size)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    api = install(app, rag, signin)
    max_mb = rag.settings.max_file_mb
    gr.mount_gradio_app(app, demo, path="/", server_name=host, server_port=port,
                        auth=signin.password if signin.users else None,
                        auth_message="文档问答 · RAG chat: sign in",
                        max_file_size=f"{max_mb}mb" if max_mb else None, **_PAGE)
    hosts = allowed_hosts(host, os.environ.get("RAG_ALLOWED_HOSTS", ""))
    return Guard(app, hosts=hosts, signin=signin), demo, api


def start(rag: RAG, *, host: str = "127.0.0.1", port: int = 7860, insecure: bool = False,
          signin: SignIn | None = None, store: ConversationStore | None = None,
          library: Library | None = None) -> Server:
    """Serve ``rag`` on ``host:port`` (0: a free port) in a background thread; with the
    ``workers`` setting above 1, its questions are answered by that many worker processes."""
    signin = signin or SignIn()
    check_exposure(host, signin, insecure)
    store = store or conversation_store(rag)
    served, pool = serving_rag(rag)
    if library is not None and pool is not None:
        library.replace(rag, served)
    try:
        return _start(served, signin, store, host=host, port=port, library=library, pool=pool)
    except BaseException:
        if pool is not None:
            pool.close()
        raise


def _start(rag: RAG, signin: SignIn, store: ConversationStore, *, host: str, port: int,
           library: Library | None, pool: AskPool | None) -> Server:
    import uvicorn

    app, demo, api = build_server(rag, signin, store, host=host, port=port, library=library)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", proxy_headers=True,
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="rag-server", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise OSError(f"the server could not start on {host}:{port} (see the log above)")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return Server(f"http://{shown}:{bound}/", demo, api, store, server, thread, pool)


def run(rag: RAG, *, host: str = "127.0.0.1", port: int = 7860, insecure: bool = False,
        library: Library | None = None) -> int:
    """Serve the page and the API for ``rag`` on ``host:port`` until Ctrl-C; returns 0. With a
    ``library`` the page also picks and manages knowledge bases."""
    server = start(rag, host=host, port=port, insecure=insecure, library=library)
    print(f"chat UI at {server.url} and OpenAI-compatible API at {server.url}v1 "
          f"(index {rag.location}"
          f"{f'; {server.pool.size} ask workers' if server.pool else ''}; Ctrl-C to stop)",
          flush=True)
    try:
        while server.thread.is_alive():
            server.thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
