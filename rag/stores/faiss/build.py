"""Build folders of the FAISS store: written whole, published by one atomic rename.

Layout under the index folder::

    CURRENT            "<live build folder> sha256:<digest of its manifest.json>" (replaced
                       atomically)
    build-<id>/        manifest.json, vectors.faiss, records.sqlite, keyword/ (rag.keyword_index)

A build is written into a fresh folder (``stage``) and only then published by atomically
replacing ``CURRENT`` (``commit``); a crash at any point leaves the previous build live and
intact. The previous build is kept until the next one is published, so readers still holding it
keep working. The manifest lists every file of the build with its size and SHA-256 and the
pointer holds the manifest's own SHA-256: every byte is checked on load (streamed, about a
second per GB here), so a flipped bit anywhere is an error that names the command to rebuild,
never a silent wrong answer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rag.documents import file_sha256
from rag.schema import Chunk, Paragraph
from rag.stores.base import IndexCorruptError, IndexFormatError, IndexNotFoundError
from rag.stores.faiss.records import FILE as RECORDS
from rag.stores.faiss.records import write_records
from rag.stores.faiss.vectors import make_vector_index, resolve_index_spec

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
KEYWORDS = "keyword"
_POINTER = re.compile(r"(build-[0-9a-f]{12}) sha256:([0-9a-f]{64})")


def read_pointer(index_dir: Path) -> tuple[Path, str] | None:
    """(live build folder, SHA-256 of its manifest), or None when nothing was published."""
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    raw = pointer.read_bytes()[:512]
    match = _POINTER.fullmatch(raw.decode("utf-8", "replace").strip())
    if match is None:
        raise IndexCorruptError(f"the index pointer {pointer} is corrupt ({raw[:80]!r}); "
                                f"{repair_hint(index_dir)}")
    build = index_dir / match.group(1)
    if not build.is_dir():
        raise IndexCorruptError(f"the index pointer {pointer} names {build.name}, which is "
                                f"missing; {repair_hint(index_dir)}")
    return build, match.group(2)


def current_build(index_dir: Path) -> Path | None:
    found = read_pointer(index_dir)
    return None if found is None else found[0]


def _sha256(path: Path) -> str:
    return file_sha256(path)  # streamed, a megabyte at a time


def _file_digests(build: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file of a build except the manifest."""
    return {path.relative_to(build).as_posix(): {"size": path.stat().st_size,
                                                  "sha256": _sha256(path)}
            for path in sorted(build.rglob("*")) if path.is_file() and path.name != MANIFEST}


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


def stage(index_dir: Path, *, manifest: dict[str, Any], paragraphs: list[Paragraph],
          chunks: list[Chunk], vectors: np.ndarray,
          keyword: Callable[[Path], Any]) -> Path:
    """Write a complete, synced build folder (not yet live); returns it. ``keyword`` writes the
    keyword index into the folder it is given."""
    import faiss

    index_dir.mkdir(parents=True, exist_ok=True)
    build = index_dir / f"build-{uuid.uuid4().hex[:12]}"
    build.mkdir()
    try:
        spec = resolve_index_spec(manifest.get("faiss_index", "auto"), len(vectors))
        faiss.write_index(make_vector_index(vectors, int(manifest["dimension"]), spec),
                          str(build / VECTORS))
        write_records(build / RECORDS, paragraphs, chunks)
        keyword(build / KEYWORDS)
        _fsync_tree(build)
        manifest = {**manifest, "faiss_spec": spec, "build_files": _file_digests(build)}
        (build / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2),
                                      encoding="utf-8")
        _fsync_dir(build)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return build


def commit(index_dir: Path, build: Path) -> None:
    """Make ``build`` the live build (one atomic rename), then drop all but it and the one
    before it."""
    try:
        live = current_build(index_dir)
    except IndexCorruptError:  # replacing a broken pointer is what a rebuild is for
        live = None
    tmp = index_dir / f"{CURRENT}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(f"{build.name} sha256:{_sha256(build / MANIFEST)}\n", encoding="utf-8")
    os.replace(tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
    keep = {build.name} | ({live.name} if live is not None else set())
    for old in index_dir.glob("build-*"):
        if old.name not in keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    for leftover in index_dir.glob(f"{CURRENT}.*.tmp"):
        leftover.unlink(missing_ok=True)


def read_build(index_dir: Path, format_version: int) -> tuple[Path, dict[str, Any]]:
    """The live build folder and its manifest, checked to be complete and of this format."""
    found = read_pointer(index_dir)
    if found is None:
        raise IndexNotFoundError(
            f"no index in {index_dir}; build one with: rag index CORPUS_DIR --index {index_dir}"
        )
    build, digest = found
    repair = repair_hint(index_dir)
    try:
        if _sha256(build / MANIFEST) != digest:
            raise IndexCorruptError(f"index manifest {build / MANIFEST} is corrupt (checksum "
                                    f"mismatch); {repair}")
        manifest = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(
            f"index manifest in {build} is unreadable ({exc}); {repair}"
        ) from exc
    version = manifest.get("format_version")
    if version != format_version:
        raise IndexFormatError(
            f"index in {index_dir} has format version {version}, this version reads "
            f"{format_version}; {repair}"
        )
    _check_files(build, manifest, repair)
    return build, manifest


def repair_hint(index_dir: Path) -> str:
    return f"rebuild it with: rag index CORPUS_DIR --index {index_dir} --rebuild"


def _check_files(build: Path, manifest: dict[str, Any], repair: str) -> None:
    """Every file the manifest lists is present with its size and SHA-256 (all bytes read)."""
    listed = manifest.get("build_files")
    if not isinstance(listed, dict) or not listed:
        raise IndexCorruptError(f"index manifest in {build} lists no files; {repair}")
    for rel, meta in listed.items():
        path = build / rel
        if not path.is_file() or path.stat().st_size != meta.get("size"):
            raise IndexCorruptError(f"index file {path} is missing or truncated; {repair}")
    bad = [rel for rel, meta in listed.items() if _sha256(build / rel) != meta.get("sha256")]
    if bad:
        raise IndexCorruptError(f"index files {', '.join(bad)} in {build} are corrupt "
                                f"(checksum mismatch); {repair}")
