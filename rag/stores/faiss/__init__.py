"""The FAISS store: each index state is a build folder of files (see ``build``), published by
an atomic rename of ``CURRENT``. An update writes a whole new build, copying the records and
vectors of unchanged files from the live one."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import AUTO, Settings
from rag.keyword_build import Reuse, Segment, build_keyword_index
from rag.schema import Chunk, Paragraph
from rag.stores.base import Delta, IndexNotFoundError, Store
from rag.stores.faiss import build
from rag.stores.faiss.snapshot import FaissSnapshot
from rag.stores.lock import build_lock
from rag.stores.manifest import FORMAT_VERSION

__all__ = ["FaissSnapshot", "FaissStore"]


class FaissStore(Store):
    kind = "faiss"

    def __init__(self, settings: Settings, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self.faiss_index = settings.faiss_index
        self.keyword_processes = settings.keyword_processes
        self.keyword_memory_mb = settings.keyword_memory_mb
        self._live: FaissSnapshot | None = None
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return str(self.index_dir)

    def lock(self) -> AbstractContextManager[None]:
        return build_lock(self.index_dir)

    def open(self) -> FaissSnapshot:
        """The build ``CURRENT`` names now (loaded once; a build another process published is
        picked up at the next call: the pointer is a few bytes to read)."""
        pointer = build.read_pointer(self.index_dir)
        with self._lock:
            live = self._live
            if live is None or pointer is None or live.path != pointer[0]:
                folder, manifest = build.read_build(self.index_dir, FORMAT_VERSION)
                live = self._live = FaissSnapshot(folder, manifest)
            return live

    def settings_change(self, manifest: dict[str, Any], settings: Settings) -> str | None:
        if manifest.get("faiss_index", AUTO) != settings.faiss_index:
            return "vector index type changed"
        return None

    def stage(self, delta: Delta) -> Path:
        paragraphs, chunks, vectors, segments = self._assemble(delta)

        def keyword(folder: Path) -> None:
            build_keyword_index(folder, segments, processes=self.keyword_processes,
                                memory_mb=self.keyword_memory_mb)

        manifest = {**delta.manifest, "store": self.kind, "faiss_index": self.faiss_index,
                    "files": delta.files}
        return build.stage(self.index_dir, manifest=manifest, paragraphs=paragraphs,
                           chunks=chunks, vectors=vectors, keyword=keyword)

    def commit(self, staged: Path) -> FaissSnapshot:
        build.commit(self.index_dir, staged)
        return self.open()

    def _assemble(self, delta: Delta) -> tuple[list[Paragraph], list[Chunk], np.ndarray,
                                               list[Segment]]:
        """Every file's paragraphs, chunks and vectors in ``delta.files`` order: new content
        from the delta, the rest from the live build; and the keyword index's segments: new
        chunks' texts to tokenise, kept chunks' rows of the live keyword index to re-use."""
        added = {f.path: f for f in delta.added}
        kept = [p for p in delta.files if p not in added and int(delta.files[p]["chunks"]) > 0]
        live, old = self._live_contents(kept) if kept and not delta.fresh else (None, {})
        paragraphs: list[Paragraph] = []
        chunks: list[Chunk] = []
        parts: list[np.ndarray] = []
        segments: list[Segment] = []
        for path in delta.files:
            if path in added:
                content = added[path]
                paragraphs += content.paragraphs
                chunks += content.chunks
                parts.append(content.vectors)
                segments.append([c.text for c in content.chunks])
            elif path in old:
                paragraphs += old[path][0]
                chunks += old[path][1]
                parts.append(old[path][2])
                segments.append(Reuse(live.keyword, old[path][3]))
        dim = int(delta.manifest["dimension"])
        parts = [p for p in parts if len(p)]
        vectors = _joined(parts) if parts else np.zeros((0, dim), dtype=np.float32)
        return paragraphs, chunks, vectors, segments

    def _live_contents(self, docs: list[str]) -> tuple[Any, dict[str, Any]]:
        """The live snapshot and the stored contents of ``docs`` in it."""
        try:
            live = self.open()
        except IndexNotFoundError:
            return None, {}
        return live, live.contents(docs)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The rows of ``parts`` as one float32 array: a view when they are adjacent rows of one
    float32 array (a fresh build's files, embedded in one go), so that a million vectors are
    not held twice; otherwise one copy."""
    first = parts[0]
    owner = first.base
    row = first.strides[0]
    at = first.__array_interface__["data"][0]
    adjacent = owner is not None and all(
        p.dtype == np.float32 and p.base is owner and p.flags.c_contiguous
        and p.shape[1:] == first.shape[1:] for p in parts)
    for p in parts if adjacent else ():
        if p.__array_interface__["data"][0] != at:
            adjacent = False
            break
        at += len(p) * row
    if adjacent:  # every row lies in ``owner``, one after the other: view them as one array
        n = sum(len(p) for p in parts)
        return np.lib.stride_tricks.as_strided(first, shape=(n, *first.shape[1:]),
                                               strides=first.strides, writeable=False)
    return np.vstack(parts).astype(np.float32, copy=False)
