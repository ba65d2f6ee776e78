"""The persisted index: FAISS vectors, chunk and paragraph records, BM25, and a manifest.

Layout under the index folder::

    CURRENT            name of the live build folder (replaced atomically)
    build-<id>/        manifest.json, vectors.faiss, records.sqlite, bm25/

A build is written into a fresh folder and only then published by atomically replacing
``CURRENT``; a crash at any point leaves the previous build live and intact. The previous build
is kept until the next one is published, so readers still holding it keep working. The manifest
lists every file of the build with its size and SHA-256, checked on load.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.keyword import KeywordIndex
from rag.records import FILE as RECORDS
from rag.records import RecordStore, write_records
from rag.schema import Chunk, Paragraph

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
# Exact search up to this many vectors; above it "auto" switches to HNSW. Measured here
# (benchmarks/results/ann_recall.md): exact search takes 17 ms at 100k vectors and 150 ms at
# 1M; HNSW32 with efSearch 256 keeps recall@10 at 0.998 (100k) and 0.964 (1M) in 1.5 ms.
APPROXIMATE_ABOVE = 100_000
APPROXIMATE_SPEC = "HNSW32,Flat"
HNSW_EF_SEARCH = 256
IVF_NPROBE = 64
# Checksums are verified on every load up to this total size (a larger index checks sizes only).
VERIFY_CHECKSUMS_BELOW = 256 * 1024 * 1024


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
    paragraphs: Mapping[tuple[str, int], Paragraph]
    chunks: Sequence[Chunk]
    vectors: Any  # faiss.Index
    keyword: KeywordIndex
    path: Path
    records: RecordStore | None = None

    def document(self, doc: str) -> list[Paragraph]:
        """All paragraphs of one document, in order."""
        if self.records is not None:
            return self.records.document(doc)
        return sorted((p for (d, _), p in self.paragraphs.items() if d == doc),
                      key=lambda p: p.index)


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


def _file_digests(build: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file of a build except the manifest."""
    out = {}
    for path in sorted(build.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            h = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            out[path.relative_to(build).as_posix()] = {"size": path.stat().st_size,
                                                        "sha256": h.hexdigest()}
    return out


def _fsync_tree(build: Path) -> None:
    for path in build.rglob("*"):
        if path.is_file():
            with path.open("rb+") as fh:
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
    live = current_build(index_dir)
    previous = live.name if live is not None else None
    build = index_dir / f"build-{uuid.uuid4().hex[:12]}"
    build.mkdir()
    try:
        spec = resolve_index_spec(manifest.get("faiss_index", "auto"), len(vectors))
        faiss.write_index(make_vector_index(vectors, int(manifest["dimension"]), spec),
                          str(build / "vectors.faiss"))
        manifest = {**manifest, "faiss_spec": spec}
        write_records(build / RECORDS, paragraphs, chunks)
        keyword.save(build / "bm25")
        _fsync_tree(build)
        manifest = {**manifest, "format_version": FORMAT_VERSION,
                    "build_files": _file_digests(build)}
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
    _remove_old_builds(index_dir, keep={build.name, previous} - {None})
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


def _remove_old_builds(index_dir: Path, keep: set[str]) -> None:
    for old in index_dir.glob("build-*"):
        if old.name not in keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    for tmp in index_dir.glob(f"{CURRENT}.*.tmp"):
        tmp.unlink(missing_ok=True)


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
    _check_files(build, manifest, repair)
    try:
        records = RecordStore(build / RECORDS)
        vectors = faiss.read_index(str(build / "vectors.faiss"))
        _tune_for_search(vectors)
        keyword = KeywordIndex.load(build / "bm25", records.n_chunks)
    except Exception as exc:
        raise IndexFormatError(f"index in {build} is corrupt or partial ({exc}); {repair}") from exc
    n = records.n_chunks
    if vectors.ntotal != n or manifest.get("chunks") != n or vectors.d != manifest.get("dimension"):
        raise IndexFormatError(
            f"index in {build} is inconsistent ({vectors.ntotal} vectors of dimension "
            f"{vectors.d}, {n} chunks; manifest says {manifest.get('chunks')} of dimension "
            f"{manifest.get('dimension')}); {repair}"
        )
    return IndexData(manifest=manifest, paragraphs=records.paragraphs, chunks=records.chunks,
                     vectors=vectors, keyword=keyword, path=build, records=records)


def _check_files(build: Path, manifest: dict[str, Any], repair: str) -> None:
    """Every file the manifest lists is present with its size; checksums too when small."""
    listed = manifest.get("build_files")
    if not isinstance(listed, dict) or not listed:
        raise IndexFormatError(f"index manifest in {build} lists no files; {repair}")
    total = 0
    for rel, meta in listed.items():
        path = build / rel
        if not path.is_file() or path.stat().st_size != meta.get("size"):
            raise IndexFormatError(f"index file {path} is missing or truncated; {repair}")
        total += meta["size"]
    if total <= VERIFY_CHECKSUMS_BELOW:
        actual = _file_digests(build)
        bad = [rel for rel, meta in listed.items() if actual[rel]["sha256"] != meta.get("sha256")]
        if bad:
            raise IndexFormatError(f"index files {', '.join(bad)} in {build} are corrupt "
                                   f"(checksum mismatch); {repair}")


def stored_vectors(data: IndexData) -> np.ndarray:
    """All vectors of a loaded index, in chunk order (for reuse on rebuild)."""
    n = data.vectors.ntotal
    if n == 0:
        return np.zeros((0, data.vectors.d), dtype=np.float32)
    return data.vectors.reconstruct_n(0, n)
