"""Index updates in a child process, so that a server keeps answering at normal latency.

Building an index is CPU-bound Python (jieba, BM25) plus model encoding: in the serving process
it would hold the GIL and the embedding model that questions need. ``build_in_child`` runs the
same ``update_index`` in a fresh process (``spawn``: no state copied from a threaded parent)
at a lower CPU priority, and waits for it without holding the GIL; the parent picks up the
published state through the store, as any reader would. Only for stores that another process
can write while this one reads (``Store.shared``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from pathlib import Path

from rag.config import Settings
from rag.errors import RAGError

log = logging.getLogger(__name__)

NICENESS = 10  # the build yields the CPU to question handling


class BuildProcessError(RAGError, RuntimeError):
    """The index build process failed or died; the previous index stays live."""


def _build(settings: Settings, index_dir: str, corpus_dir: str, conn) -> None:
    """Child process: bring the index up to date, then report ("ok", version) or the error."""
    try:
        os.nice(NICENESS)
    except OSError:  # not permitted here: build at normal priority
        pass
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        from rag.embeddings import EmbedderCache
        from rag.indexing import update_index
        from rag.stores import open_store

        store = open_store(settings, Path(index_dir))
        embedders = EmbedderCache(device=settings.embed_device,
                                  batch_size=settings.embed_batch_size)
        snapshot = update_index(store, Path(corpus_dir), settings, embedders.get)
        conn.send(("ok", snapshot.version))
    except BaseException as exc:  # reported to the parent, which raises it
        conn.send(("error", exc if isinstance(exc, RAGError) else
                   BuildProcessError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def build_in_child(settings: Settings, index_dir: Path, corpus_dir: Path) -> str:
    """Run ``update_index`` in a child process; returns the published version.

    Raises the child's ``RAGError`` (a bad corpus, say) or ``BuildProcessError``.
    """
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_build, args=(settings, str(index_dir), str(corpus_dir),
                                                   send), name="rag-index-build", daemon=True)
    process.start()
    send.close()
    try:
        status, value = receive.recv()
    except EOFError:
        process.join()
        raise BuildProcessError(f"the index build process died (exit code {process.exitcode});"
                                " the previous index is still live") from None
    finally:
        receive.close()
    process.join()
    if status != "ok":
        raise value
    log.info("index build process published %s", value)
    return str(value)
