"""The Milvus store: the same chunks, citations and answers as the FAISS store, held in Milvus.

``RAG(store="milvus")`` (or ``RAG_STORE=milvus``) keeps everything a question needs in Milvus:
a local Milvus Lite file by default (``index/milvus.db``), or a Milvus standalone/distributed
server with ``milvus_uri="http://host:19530"`` (token from ``RAG_MILVUS_TOKEN``). Processes hold
no index state of their own, so any number of replicas can serve one store: ``open`` follows
the generation the live pointer names, whoever published it.
"""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.stores.base import Delta, IndexNotFoundError, Store
from rag.stores.lock import build_lock
from rag.stores.milvus import writer
from rag.stores.milvus.client import (
    MilvusStoreError,
    Names,
    connect,
    default_uri,
    forget,
    is_local,
)
from rag.stores.milvus.layout import ANALYZERS, dense_index_type, read_manifest, read_pointer
from rag.stores.milvus.snapshot import MilvusSnapshot

__all__ = ["MilvusSnapshot", "MilvusStore", "MilvusStoreError"]


class MilvusStore(Store):
    """One named store in one Milvus deployment (connected on first use)."""

    kind = "milvus"

    def __init__(self, settings: Settings, index_dir: Path) -> None:
        if settings.milvus_analyzer not in ANALYZERS:
            raise MilvusStoreError(f"unknown Milvus analyzer {settings.milvus_analyzer!r}; use "
                                   f"one of {', '.join(ANALYZERS)} (RAG_MILVUS_ANALYZER)")
        self.index_dir = Path(index_dir)
        self.uri = settings.milvus_uri or default_uri(self.index_dir)
        self.name = settings.milvus_collection
        self.names = Names(self.name)
        self.analyzer = settings.milvus_analyzer
        # A Milvus Lite file is opened by one process at a time; a server by any number.
        self.shared = not is_local(self.uri)
        self._snapshot: MilvusSnapshot | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The process's shared client for this URI (connected on first use)."""
        return connect(self.uri, os.environ.get("RAG_MILVUS_TOKEN", ""))

    def close(self) -> None:
        """Close the process's client for this URI; for a Lite file, stop serving it so another
        process can open it. Every RAG on this URI in this process reconnects on next use."""
        forget(self.uri)
        with self._lock:
            self._snapshot = None

    @property
    def location(self) -> str:
        return f"milvus:{self.uri}#{self.name}"

    def lock(self) -> AbstractContextManager[None]:
        # One builder at a time per host (a file lock beside the Lite file or index folder).
        return build_lock(self.index_dir)

    def open(self) -> MilvusSnapshot:
        pointer = read_pointer(self.client, self.names)
        if pointer is None:
            raise IndexNotFoundError(
                f"no index in the Milvus store {self.location}; build one with: rag index "
                "CORPUS_DIR --store milvus"
            )
        with self._lock:
            current = self._snapshot
            if current is not None and (current.names.build, current.gen) == pointer:
                return current
            names = Names(self.name, pointer[0])
            manifest = read_manifest(self.client, names, pointer[1])
            self._snapshot = MilvusSnapshot(self.client, names, pointer[1], manifest)
            return self._snapshot

    def settings_change(self, manifest: dict[str, Any], settings: Settings) -> str | None:
        if manifest.get("analyzer") != settings.milvus_analyzer:
            return f"analyzer changed ({manifest.get('analyzer')} -> {settings.milvus_analyzer})"
        return None

    def stage(self, delta: Delta) -> writer.Staged:
        return writer.stage(self.client, self.name, delta, analyzer=self.analyzer,
                            dense_index=dense_index_type(self.uri))

    def commit(self, staged: writer.Staged) -> MilvusSnapshot:
        writer.commit(self.client, self.name, staged)
        return self.open()
