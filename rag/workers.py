"""Questions answered by several worker processes over one read-only index (``workers`` > 1).

One question is ~20 ms of CPU on one core (the query embedding, BM25, the extractive answer),
most of it holding Python's GIL, so one process answers ~40 a second whatever its threads.
``AskPool`` starts N ``rag.ask_worker`` processes (fresh interpreters, not forks of this
threaded one), each with its own ``RAG`` opened read-only over the same index folder: the FAISS
vectors memory-mapped and the records in SQLite, so the index's pages are the page cache's,
shared. Each question goes to the worker with the fewest in flight; its pieces come back
through that worker's pipe. A worker that dies fails its questions at once with
``WorkerLost`` and is replaced. The workers follow each index state the serving process
publishes: each question reads the store's pointer first. ``rag.serving`` puts a pool behind
a server's ``RAG``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rag.ask_worker import WorkerSpec
from rag.errors import RAGError
from rag.schema import Answer

log = logging.getLogger(__name__)

START_TIMEOUT = 600.0  # seconds a worker may take to open the index (and load its model)


class WorkerLost(RAGError):
    """The worker process answering a question stopped; the question was not answered."""


def _launch(spec: WorkerSpec) -> tuple[subprocess.Popen[bytes], Connection]:
    """A fresh interpreter running ``rag.ask_worker`` (this ``rag`` package first on its path),
    and the pipe to it. Not ``multiprocessing``: its "spawn" re-imports the caller's main
    module in the child, which fails for scripts without a ``__main__`` guard."""
    ours, theirs = socket.socketpair()
    package_root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)}
    with theirs:
        process = subprocess.Popen(
            [sys.executable, "-c", "from rag.ask_worker import main; main()",
             str(theirs.fileno())], pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
    conn = Connection(ours.detach())
    conn.send(spec)
    return process, conn


class _Worker:
    """One worker process, its pipe, and the queues of the questions it is answering."""

    def __init__(self, pool: AskPool, slot: int) -> None:
        self.pool, self.slot = pool, slot
        self.process, self.conn = _launch(pool.spec)
        self.pending: dict[int, queue.SimpleQueue[tuple[str, Any]]] = {}
        self.lock = threading.Lock()
        self.ready = False
        self.failure: str | None = None
        self.reader = threading.Thread(target=self._read, name=f"rag-ask-{slot}-reader",
                                       daemon=True)
        self.reader.start()

    def submit(self, rid: int, arguments: dict[str, Any], box: Any = None) -> Any:
        """Send a question; its messages go to ``box.put`` (a new queue when None)."""
        box = queue.SimpleQueue() if box is None else box
        with self.lock:
            self.pending[rid] = box
            try:
                self.conn.send(("ask", rid, arguments))
            except OSError as exc:  # died just now: the reader fails the others
                del self.pending[rid]
                raise WorkerLost(f"the ask worker process stopped ({exc}); ask again") from exc
        return box

    def finish(self, rid: int) -> None:
        """The asker is done with ``rid``; if the answer was not complete, stop producing it."""
        with self.lock:
            if self.pending.pop(rid, None) is not None:
                with contextlib.suppress(OSError):
                    self.conn.send(("cancel", rid, None))

    def _read(self) -> None:
        while True:
            try:
                kind, rid, payload = self.conn.recv()
            except (EOFError, OSError):
                break
            if kind == "ready":
                self.ready = True
                self.pool.changed()
            elif kind == "failed":
                self.failure = payload
                break
            else:
                with self.lock:
                    box = self.pending.get(rid)
                    if box is not None and (kind == "error" or isinstance(payload, Answer)):
                        del self.pending[rid]  # complete: nothing to cancel
                if box is not None:
                    box.put((kind, payload))
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        with self.lock:
            self.conn.close()
        self.pool.lost(self)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def fail_pending(self, error: WorkerLost) -> None:
        with self.lock:
            boxes, self.pending = list(self.pending.values()), {}
        for box in boxes:  # one exception each: each is raised in its own thread
            box.put(("error", WorkerLost(str(error))))

    def stop(self) -> None:
        with self.lock, contextlib.suppress(OSError):
            self.conn.send(("stop", 0, None))
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


class _Settle:
    """A question's box whose one message settles an asyncio future, on the future's loop."""

    def __init__(self, future: asyncio.Future[tuple[str, Any]]) -> None:
        self.future, self.loop = future, future.get_loop()

    def put(self, message: tuple[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            self.loop.call_soon_threadsafe(self._set, message)

    def _set(self, message: tuple[str, Any]) -> None:
        if not self.future.done():  # not cancelled (the client went away)
            self.future.set_result(message)


def final_answer(items: Iterator[str | Answer]) -> Answer:
    for item in items:
        if isinstance(item, Answer):
            return item
    raise RAGError("the worker stopped without a final answer")


class AskPool:
    """N ask-worker processes over the index of ``rag`` (a ``rag.pipeline.RAG``)."""

    def __init__(self, rag: Any, workers: int, *, threads: int = 8) -> None:
        cores = os.cpu_count() or 1
        self.spec = WorkerSpec(index_dir=str(rag.index_dir), settings=rag.settings, kb=rag.kb,
                               threads=threads, compute_threads=max(1, cores // workers))
        self.size = workers
        self._changes = threading.Condition()
        self._closing = False
        self._ids = itertools.count(1)
        self._turn = itertools.count()
        self._workers: list[_Worker] = []

    def start(self, timeout: float = START_TIMEOUT) -> AskPool:
        """Start the workers and wait until each has opened the index; returns ``self``."""
        with self._changes:
            self._workers = [_Worker(self, slot) for slot in range(self.size)]
            done = self._changes.wait_for(
                lambda: all(w.ready or not w.alive or w.failure
                            for w in self._workers), timeout)
        failed = [w.failure or f"exit code {w.process.returncode}"
                  for w in self._workers if not w.ready]
        if failed or not done:
            self.close()
            raise RAGError("ask workers could not start: " + "; ".join(
                failed or [f"not ready after {timeout:.0f} s"]))
        log.info("%d ask workers ready (pids %s)", self.size, self.pids())
        return self

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    def busy_pids(self) -> list[int]:
        """The workers with questions in flight."""
        return [w.process.pid for w in self._workers if w.pending]

    def wait_ready(self, timeout: float = START_TIMEOUT) -> bool:
        """Wait until every worker (a replacement too) has opened the index."""
        with self._changes:
            return self._changes.wait_for(
                lambda: all(w.ready and w.alive for w in self._workers), timeout)

    def changed(self) -> None:
        with self._changes:
            self._changes.notify_all()

    def lost(self, worker: _Worker) -> None:
        """A worker's pipe closed: fail its questions now, and start its replacement."""
        code = worker.process.returncode
        with self._changes:
            closing = self._closing
            replace = not closing and worker.ready and self._workers[worker.slot] is worker
            if replace:
                self._workers[worker.slot] = _Worker(self, worker.slot)
            self._changes.notify_all()
        if closing:
            worker.fail_pending(WorkerLost("the server is stopping; the question was not "
                                           "answered"))
            return
        log.error("ask worker %s stopped (exit code %s)%s", worker.process.pid, code,
                  "; starting another" if replace else f": {worker.failure}")
        worker.fail_pending(WorkerLost(
            f"the worker process answering this question stopped (exit code {code}) and has "
            "been replaced; ask again"))

    def _pick(self, wait: bool = True) -> _Worker | None:
        """The ready worker with the fewest questions in flight (turns among equals); without
        ``wait``, None while none is ready."""
        with self._changes:
            def ready() -> list[_Worker]:
                return [w for w in self._workers if w.ready and w.alive]

            def starting() -> bool:
                return any(not w.ready and w.failure is None for w in self._workers)

            if self._closing:
                raise WorkerLost("the server is stopping")
            if not wait and not ready() and starting():
                return None
            self._changes.wait_for(lambda: ready() or not starting(), START_TIMEOUT)
            candidates = ready()
            if not candidates:
                reasons = {w.failure for w in self._workers if w.failure}
                raise WorkerLost("no ask worker is running" + (
                    f": {'; '.join(sorted(reasons))}" if reasons else ""))
            least = min(len(w.pending) for w in candidates)
            fewest = [w for w in candidates if len(w.pending) == least]
            return fewest[next(self._turn) % len(fewest)]

    def ask_stream(self, question: str, top_k: int | None = None, *,
                   history: Sequence[dict[str, str]] = (), llm: str | None = None,
                   model: str | None = None, stream: bool = True) -> Iterator[str | Answer]:
        """As ``RAG.ask_stream``, answered by a worker; ``stream=False`` sends only the final
        ``Answer`` back (one message)."""
        worker, rid = self._pick(), next(self._ids)
        assert worker is not None
        box = worker.submit(rid, {"question": question, "top_k": top_k,
                                  "history": list(history), "llm": llm, "model": model,
                                  "stream": stream})
        try:
            while True:
                kind, payload = box.get()
                if kind == "error":
                    raise payload
                yield payload
                if isinstance(payload, Answer):
                    return
        finally:
            worker.finish(rid)

    async def ask_async(self, question: str, top_k: int | None = None, *,
                        history: Sequence[dict[str, str]] = (), llm: str | None = None,
                        model: str | None = None) -> Answer:
        """The final ``Answer`` without a thread of this process waiting for it: the worker's
        one message settles a future on the running event loop."""
        arguments = {"question": question, "top_k": top_k, "history": list(history),
                     "llm": llm, "model": model, "stream": False}
        worker = self._pick(wait=False)
        if worker is None:  # all starting: wait for one in a thread, not on the loop
            items = self.ask_stream(**{**arguments, "stream": False})
            return await asyncio.to_thread(lambda: final_answer(items))
        rid = next(self._ids)
        future: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
        worker.submit(rid, arguments, _Settle(future))
        try:
            kind, payload = await future
        finally:
            worker.finish(rid)
        if kind == "error":
            raise payload
        return payload

    def close(self) -> None:
        with self._changes:
            self._closing = True
            workers = list(self._workers)
        for worker in workers:
            worker.stop()
