"""The FAISS vector index of a build: exact for small corpora, HNSW above a size threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# Exact search up to this many vectors; above it "auto" switches to HNSW. Measured here
# (benchmarks/results/ann_recall.md): exact search takes 17 ms at 100k vectors and 150 ms at
# 1M; HNSW32 with efSearch 256 keeps recall@10 at 0.998 (100k) and 0.964 (1M) in 1.5 ms.
APPROXIMATE_ABOVE = 100_000
APPROXIMATE_SPEC = "HNSW32,Flat"
HNSW_EF_SEARCH = 256
IVF_NPROBE = 64


def resolve_index_spec(setting: str, n: int) -> str:
    """A FAISS factory string: exact ``Flat`` for small corpora, HNSW above the threshold."""
    if setting in ("", "auto"):
        return "Flat" if n <= APPROXIMATE_ABOVE else APPROXIMATE_SPEC
    return setting


def make_vector_index(vectors: np.ndarray, dimension: int, spec: str) -> Any:
    """An inner-product FAISS index (vectors are normalised, so scores are cosines)."""
    import faiss

    index = faiss.index_factory(dimension, spec, faiss.METRIC_INNER_PRODUCT)
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    if not index.is_trained:
        if len(data) == 0:
            raise ValueError(f"FAISS index {spec!r} needs training vectors; use 'Flat'")
        index.train(data)
    if len(data):
        index.add(data)
    return index


def read_vector_index(path: Path) -> Any:
    """A saved index with its vectors memory-mapped, read-only: processes that open the same
    build share one copy of its pages (the page cache) instead of each reading its own.

    ``IO_FLAG_MMAP_IFC`` maps the codes of flat storage (``Flat``, the storage of ``HNSW*``);
    other parts (an HNSW graph, IVF lists) are read as usual. A faiss without the flag reads
    the whole file."""
    import faiss

    flags = getattr(faiss, "IO_FLAG_MMAP_IFC", 0)
    if flags:
        flags |= faiss.IO_FLAG_READ_ONLY
    return faiss.read_index(str(path), flags)


def tune_for_search(index: Any) -> None:
    """Search-time accuracy knobs of approximate indexes (no-ops for exact ones)."""
    import faiss

    inner = faiss.downcast_index(index)
    if hasattr(inner, "hnsw"):
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    if hasattr(inner, "nprobe"):
        inner.nprobe = IVF_NPROBE
        inner.make_direct_map()  # so vectors can be reconstructed by id


def all_vectors(index: Any) -> np.ndarray:
    """Every vector of ``index``, in id order."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)
