"""The Milvus store: the same chunks, citations and answers as the FAISS store, held in Milvus.

``RAG(store="milvus")`` (or ``RAG_STORE=milvus``) keeps everything a question needs in Milvus:
a local Milvus Lite file by default (``index/milvus.db``), or a Milvus standalone/distributed
server with ``milvus_uri="http://host:19530"`` (token from ``RAG_MILVUS_TOKEN``). Processes hold
no index state of their own, so any number of replicas can serve one store.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.embeddings import Embedder
from rag.indexing import scan_corpus
from rag.milvus.client import (
    MilvusStoreError,
    Names,
    connect,
    default_uri,
    dense_index_type,
    read_manifest,
    read_pointer,
)
from rag.milvus.reader import FUSIONS, MilvusRetriever, MilvusSnapshot
from rag.milvus.writer import compatibility, live_files, update_store
from rag.store import IndexNotFoundError, build_lock

__all__ = ["FUSIONS", "MilvusRetriever", "MilvusSnapshot", "MilvusStore", "MilvusStoreError"]

log = logging.getLogger(__name__)


class MilvusStore:
    """One named store in one Milvus deployment."""

    def __init__(self, settings: Settings, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self.uri = settings.milvus_uri or default_uri(self.index_dir)
        self.name = settings.milvus_collection
        self.names = Names(self.name)
        self.client = connect(self.uri, os.environ.get("RAG_MILVUS_TOKEN", ""))
        self._snapshot: MilvusSnapshot | None = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"milvus:{self.uri}#{self.name}"

    def pointer(self) -> tuple[str, int] | None:
        return read_pointer(self.client, self.names)

    def manifest(self) -> dict[str, Any] | None:
        pointer = self.pointer()
        if pointer is None:
            return None
        return read_manifest(self.client, Names(self.name, pointer[0]), pointer[1])

    def snapshot(self) -> MilvusSnapshot:
        """The live generation (the same object while it stays live)."""
        pointer = self.pointer()
        if pointer is None:
            raise IndexNotFoundError(
                f"no index in the Milvus store {self.label}; build one with: rag index "
                "CORPUS_DIR --store milvus"
            )
        with self._lock:
            current = self._snapshot
            if current is not None and (current.names.build, current.gen) == pointer:
                return current
            names = Names(self.name, pointer[0])
            manifest = read_manifest(self.client, names, pointer[1])
            self._snapshot = MilvusSnapshot(self.client, names, pointer[1], manifest, self.label)
            return self._snapshot

    def stale_reason(self, corpus_dir: Path, settings: Settings, model: str) -> str | None:
        pointer = self.pointer()
        manifest = self.manifest() if pointer else None
        reason = compatibility(manifest, settings, model)
        if reason is not None or pointer is None:
            return reason or "no index yet"
        old = live_files(self.client, Names(self.name, pointer[0]), pointer[1])
        files = scan_corpus(corpus_dir, old, max_file_mb=settings.max_file_mb)
        if {k: v.sha256 for k, v in files.items()} != {k: v["sha256"] for k, v in old.items()}:
            return "corpus changed"
        return None

    def update(self, corpus_dir: Path, settings: Settings, embedder: Embedder, *,
               rebuild: bool = False, engine: str = "local",
               progress: bool = False) -> MilvusSnapshot:
        """Bring the store up to date with ``corpus_dir`` (one builder at a time per host)."""
        with build_lock(self.index_dir):
            update_store(self.client, self.name, Path(corpus_dir), settings, embedder,
                         rebuild=rebuild, engine=engine, progress=progress,
                         dense_index=dense_index_type(self.uri))
        return self.snapshot()
