"""The persisted index: FAISS vectors, chunk and paragraph records, BM25, and a manifest.

Layout under the index folder::

    CURRENT            name of the live build folder (replaced atomically)
    build-<id>/        manifest.json, vectors.faiss, chunks.jsonl, paragraphs.jsonl, bm25/

A build is written into a fresh folder and only then published by atomically replacing
``CURRENT``; a crash at any point leaves the previous build live and intact.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.keyword import KeywordIndex
from rag.schema import Chunk, Paragraph

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
# Exact search up to this many vectors; above it "auto" switches to HNSW (see README, Scale).
APPROXIMATE_ABOVE = 200_000
APPROXIMATE_SPEC = "HNSW32,Flat"
HNSW_EF_SEARCH = 128
IVF_NPROBE = 32


class StoreError(RuntimeError):
    """Base for problems with a persisted index."""


class IndexNotFoundError(StoreError):
    pass


class IndexFormatError(StoreError):
    """The index is corrupt, partial, or from another format version."""


class IndexMismatchError(StoreError):
    """The index was built with another embedding model or settings than requested."""


@dataclass
class IndexData:
    manifest: dict[str, Any]
    paragraphs: dict[tuple[str, int], Paragraph]
    chunks: list[Chunk]
    vectors: Any  # faiss.Index
    keyword: KeywordIndex
    path: Path


def current_build(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    build = index_dir / name
    return build if name and build.is_dir() else None


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    build = current_build(index_dir)
    if build is None:
        return None
    try:
        return json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Serialise builds of one index folder across processes."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_index(
    index_dir: Path,
    *,
    manifest: dict[str, Any],
    paragraphs: list[Paragraph],
    chunks: list[Chunk],
    vectors: np.ndarray,
    keyword: KeywordIndex,
) -> Path:
    """Write a complete build and publish it atomically; returns the build folder."""
    import faiss

    index_dir.mkdir(parents=True, exist_ok=True)
    build = index_dir / f"build-{uuid.uuid4().hex[:12]}"
    build.mkdir()
    try:
        spec = resolve_index_spec(manifest.get("faiss_index", "auto"), len(vectors))
        faiss.write_index(make_vector_index(vectors, int(manifest["dimension"]), spec),
                          str(build / "vectors.faiss"))
        manifest = {**manifest, "faiss_spec": spec}
        _write_jsonl(build / "chunks.jsonl", [asdict(c) for c in chunks])
        _write_jsonl(build / "paragraphs.jsonl", [asdict(p) for p in paragraphs])
        keyword.save(build / "bm25")
        manifest = {**manifest, "format_version": FORMAT_VERSION}
        (build / MANIFEST).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        _fsync_dir(build)
        tmp = index_dir / f"{CURRENT}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_text(build.name, encoding="utf-8")
        os.replace(tmp, index_dir / CURRENT)
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    _remove_old_builds(index_dir, keep=build.name)
    return build


def resolve_index_spec(setting: str, n: int) -> str:
    """A FAISS factory string: exact ``Flat`` for small corpora, HNSW above the threshold."""
    if setting in ("", "auto"):
        return "Flat" if n <= APPROXIMATE_ABOVE else APPROXIMATE_SPEC
    return setting


def make_vector_index(vectors: np.ndarray, dimension: int, spec: str):
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


def _tune_for_search(index) -> None:
    """Search-time accuracy knobs of approximate indexes (no-ops for exact ones)."""
    import faiss

    inner = faiss.downcast_index(index)
    if hasattr(inner, "hnsw"):
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    if hasattr(inner, "nprobe"):
        inner.nprobe = IVF_NPROBE
        inner.make_direct_map()  # so vectors can be reconstructed by id


def _remove_old_builds(index_dir: Path, keep: str) -> None:
    for old in index_dir.glob("build-*"):
        if old.name != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    for tmp in index_dir.glob(f"{CURRENT}.*.tmp"):
        tmp.unlink(missing_ok=True)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_index(index_dir: Path) -> IndexData:
    """Load the live build, checking it is complete and of this format version."""
    import faiss

    build = current_build(index_dir)
    if build is None:
        raise IndexNotFoundError(
            f"no index in {index_dir}; build one with: rag index CORPUS_DIR --index {index_dir}"
        )
    repair = f"rebuild it with: rag index CORPUS_DIR --index {index_dir} --rebuild"
    try:
        manifest = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexFormatError(
            f"index manifest in {build} is unreadable ({exc}); {repair}"
        ) from exc
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"index in {index_dir} has format version {version}, this version reads "
            f"{FORMAT_VERSION}; {repair}"
        )
    try:
        chunks = [_chunk(row) for row in _read_jsonl(build / "chunks.jsonl")]
        paragraphs = [_paragraph(row) for row in _read_jsonl(build / "paragraphs.jsonl")]
        vectors = faiss.read_index(str(build / "vectors.faiss"))
        _tune_for_search(vectors)
        keyword = KeywordIndex.load(build / "bm25", len(chunks))
    except Exception as exc:
        raise IndexFormatError(f"index in {build} is corrupt or partial ({exc}); {repair}") from exc
    if vectors.ntotal != len(chunks) or manifest.get("chunks") != len(chunks):
        raise IndexFormatError(
            f"index in {build} is inconsistent ({vectors.ntotal} vectors, {len(chunks)} chunks, "
            f"manifest says {manifest.get('chunks')}); {repair}"
        )
    return IndexData(
        manifest=manifest,
        paragraphs={(p.doc, p.index): p for p in paragraphs},
        chunks=chunks,
        vectors=vectors,
        keyword=keyword,
        path=build,
    )


def _chunk(row: dict[str, Any]) -> Chunk:
    return Chunk(**{**row, "paragraphs": tuple(row["paragraphs"])})


def _paragraph(row: dict[str, Any]) -> Paragraph:
    return Paragraph(**row)


def stored_vectors(data: IndexData) -> np.ndarray:
    """All vectors of a loaded index, in chunk order (for reuse on rebuild)."""
    n = data.vectors.ntotal
    if n == 0:
        return np.zeros((0, data.vectors.d), dtype=np.float32)
    return data.vectors.reconstruct_n(0, n)
