"""One ask-worker process of ``rag.workers.AskPool``: a read-only ``RAG`` over the pool's index
folder, answering the questions the serving process sends it through a pipe.

Messages in: ``("ask", id, arguments)``, ``("cancel", id, None)``, ``("stop", 0, None)``.
Messages out: ``("ready", 0, pid)`` once the index is open, ``("failed", 0, message)`` when it
cannot be, then per question ``("item", id, str | Answer)``... and the final ``Answer``, or
``("error", id, exception)``. Each question runs in a thread of its own (up to ``threads`` at
once), so a slow LLM answer does not hold up the others. The ``RAG`` follows the index's
published states by itself: every question reads the store's current pointer first.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from rag.config import Settings
from rag.errors import RAGError

log = logging.getLogger(__name__)

WARM_UP = "预热 warm up"  # one retrieval at start: loads the tokeniser and the model once


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker opens: the index folder, the serving RAG's settings and base label."""

    index_dir: str
    settings: Settings
    kb: str | None = None
    threads: int = 8  # questions answered at once (threads, mostly waiting on LLMs)
    compute_threads: int = 1  # torch / faiss threads: the cores are shared by the workers


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (its type then maps to the same HTTP status), else a
    ``RAGError`` with its message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RAGError(f"{type(exc).__name__}: {exc}")


def _limit_threads(count: int) -> None:
    """One process per core: math libraries must not start a thread per core each."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(count)


def main() -> None:
    """The worker process's entry (``python -c "from rag.ask_worker import main; main()" FD``):
    its pipe is the socket ``FD``; the first message is its ``WorkerSpec``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    conn = Connection(int(sys.argv[1]))
    try:
        spec = conn.recv()
    except (EOFError, OSError):
        return
    serve(conn, spec)


def serve(conn: Connection, spec: WorkerSpec) -> None:
    """Open the index read-only, say so, and answer questions until the pipe closes."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # read when torch is first imported
        os.environ[name] = str(spec.compute_threads)
    try:
        from rag.pipeline import RAG

        rag = RAG(index_dir=spec.index_dir, settings=spec.settings)
        rag.kb = spec.kb
        rag.open()
        rag.retrieve(WARM_UP)
        _limit_threads(spec.compute_threads)
    except Exception as exc:
        log.exception("ask worker %d could not open the index", os.getpid())
        conn.send(("failed", 0, f"{type(exc).__name__}: {exc}"))
        return
    _Loop(conn, rag, spec.threads).run()


class _Loop:
    def __init__(self, conn: Connection, rag: Any, threads: int) -> None:
        self.conn, self.rag = conn, rag
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ask")
        self.sending = threading.Lock()
        self.running: set[int] = set()
        self.cancelled: set[int] = set()

    def send(self, message: tuple[str, int, Any]) -> None:
        with self.sending:
            self.conn.send(message)

    def run(self) -> None:
        self.send(("ready", 0, os.getpid()))
        while True:
            try:
                kind, rid, payload = self.conn.recv()
            except (EOFError, OSError):  # the serving process went away
                break
            if kind == "ask":
                self.running.add(rid)
                self.pool.submit(self.answer, rid, payload)
            elif kind == "cancel" and rid in self.running:  # else: finished already
                self.cancelled.add(rid)
            elif kind == "stop":
                break
        self.pool.shutdown(wait=False, cancel_futures=True)

    def answer(self, rid: int, arguments: dict[str, Any]) -> None:
        try:
            stream = arguments.pop("stream")
            if not stream:  # one message: the final answer
                self.send(("item", rid, self.rag.ask(**arguments)))
                return
            items = self.rag.ask_stream(**arguments)
            try:
                for item in items:
                    if rid in self.cancelled:
                        break
                    self.send(("item", rid, item))
            finally:
                items.close()
        except Exception as exc:
            try:
                self.send(("error", rid, portable(exc)))
            except OSError:  # the serving process went away
                pass
        finally:
            self.running.discard(rid)
            self.cancelled.discard(rid)
