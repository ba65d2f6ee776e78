"""The live index of a ``RAG``: the store's current snapshot with its retriever and term
statistics, swapped as one reference so that every question is answered from one index state
even while an update publishes the next one (here or, for a shared store, in another process).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from rag.background import build_in_child
from rag.config import Settings
from rag.embeddings import EmbedderCache, explicit_model
from rag.fusion import channel_weights
from rag.indexing import plan_update, update_index
from rag.keyword import TermStatistics
from rag.rerank import load_reranker
from rag.retrieval import Retriever
from rag.stores.base import IndexMismatchError, Snapshot, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Live:
    """One snapshot and what answers questions from it."""

    snapshot: Snapshot
    retriever: Retriever
    terms: TermStatistics


class LiveIndex:
    """Opens (or builds) the index on first use and follows the store's published states."""

    def __init__(self, store: Store, settings: Settings, embedders: EmbedderCache, *,
                 corpus_dir: Path | None, store_dir: Path) -> None:
        self.store = store
        self.store_dir = store_dir
        self.settings = settings
        self.embedders = embedders
        self.corpus_dir = corpus_dir
        self._live: Live | None = None
        self._lock = threading.RLock()
        self._updates = threading.Condition()
        self._requested = self._done = 0
        self._updating = False
        self._failure: BaseException | None = None
        self._forced: set[str] = set()
        self._said_dense_off = False

    def current(self) -> Live:
        """The live snapshot's ``Live`` (opening the index on first use)."""
        live = self._live
        if live is None:
            return self.open()
        snapshot = self.store.open()
        if snapshot is live.snapshot:
            return live
        return self._swap(snapshot)

    def open(self, *, rebuild: bool = False, progress: bool = False) -> Live:
        """Load the index; with a corpus folder, build or refresh it first when stale."""
        with self._lock:
            if self._live is not None and not rebuild:
                return self._live
            if self.corpus_dir is None:
                snapshot = self.store.open()
                self._check_model(snapshot)
            else:
                snapshot = update_index(self.store, self.corpus_dir, self.settings,
                                        self.embedders.get, rebuild=rebuild, progress=progress)
            return self._swap(snapshot)

    def update(self, *, progress: bool = False, force: Collection[str] = ()) -> Live:
        """Refresh from the corpus folder (re-reading ``force`` files even if unchanged) and
        switch to the result without downtime.

        Concurrent calls coalesce: while one update runs, callers wait for it and at most one
        more runs after it (covering every request made meanwhile, and every file they asked
        to re-read); with nothing changed an update is a scan of the folder and no build.
        """
        with self._updates:
            ticket = self._requested = self._requested + 1
            self._forced |= set(force)
            while self._done < ticket:
                if not self._updating:
                    self._updating, target = True, self._requested
                    forced, self._forced = self._forced, set()
                    break
                self._updates.wait()
            else:  # an update that started after this call covered it
                if self._failure is not None:
                    raise self._failure
                return self.current()
        failure: BaseException | None = None
        try:
            return self._update_once(progress, sorted(forced))
        except BaseException as exc:
            failure = exc
            raise
        finally:
            with self._updates:
                self._updating, self._failure = False, failure
                self._done = max(self._done, target)
                self._updates.notify_all()

    def _update_once(self, progress: bool, force: list[str]) -> Live:
        assert self.corpus_dir is not None
        if self.settings.index_process == "child" and self.store.shared:
            plan = plan_update(self.store, self.corpus_dir, self.settings, force=force)
            if plan.reason is None:
                return self.current()  # nothing changed: no process, no build
            build_in_child(self.settings, self.store_dir, self.corpus_dir, force=force)
            return self._swap(self.store.open())
        snapshot = update_index(self.store, self.corpus_dir, self.settings, self.embedders.get,
                                progress=progress, force=force)
        return self._swap(snapshot)

    def _swap(self, snapshot: Snapshot) -> Live:
        with self._lock:
            if self._live is not None and self._live.snapshot is snapshot:
                return self._live
            terms = TermStatistics(snapshot.document_frequencies,
                                   int(snapshot.manifest.get("chunks", 0)))
            live = Live(snapshot, self._retriever(snapshot, terms), terms)
            self._live = live
            return live

    def _retriever(self, snapshot: Snapshot, terms: TermStatistics) -> Retriever:
        manifest = snapshot.manifest
        weights = channel_weights(bool(manifest.get("chunks")), self.settings.dense_weight,
                                  float(manifest.get("unk_rate", 0)))
        # Decided from the manifest and the setting alone: a channel without weight never
        # loads the model (nor imports torch), and no question is encoded.
        embedder = self.embedders.get(manifest["embed_model"]) if weights.dense > 0 else None
        if embedder is None and manifest.get("chunks") and not self._said_dense_off:
            self._said_dense_off = True
            log.info("dense channel off (dense_weight=%s): keyword search only; the embedding "
                     "model %s is not loaded", self.settings.dense_weight,
                     manifest.get("embed_model"))
        return Retriever(snapshot, embedder, dense_weight=self.settings.dense_weight,
                         fusion=self.settings.fusion, terms=terms,
                         reranker=load_reranker() if self.settings.rerank else None)

    def _check_model(self, snapshot: Snapshot) -> None:
        wanted = explicit_model(self.settings.embed_model)
        built = snapshot.manifest.get("embed_model")
        if wanted and wanted != built:
            where = self.store.location
            raise IndexMismatchError(
                f"index in {where} was built with embedding model {built!r}, not {wanted!r}; "
                f"rebuild it with RAG_EMBED_MODEL={wanted} rag index CORPUS_DIR --index "
                f"{where} --rebuild, or drop the model setting to use the index's own"
            )
