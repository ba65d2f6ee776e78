"""The files of a knowledge base (or any ``RAG`` with a corpus folder): their status, removal,
re-parsing and the originals.

Every change goes through the one update path (``RAG.reindex`` -> ``rag.indexing.update_index``)
and publishes a new index state atomically; when it fails, the previous state stays live and
the corpus folder is put back as it was. Adding files is ``rag.uploads.add_documents``.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from rag.errors import RAGError
from rag.uploads import UploadReport, add_documents

if TYPE_CHECKING:
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

__all__ = ["FileProblem", "FileStatus", "UploadReport", "add_documents", "corpus_file",
           "list_files", "remove_file", "reparse_file"]

State = Literal["indexed", "skipped", "pending", "missing"]


class FileProblem(RAGError, ValueError):
    """A file name that is not a file of this corpus (or cannot be changed); says why."""


@dataclass(frozen=True)
class FileStatus:
    """One corpus file: ``indexed``; ``skipped`` (``reason``); ``pending`` (on disk, not yet
    indexed); ``missing`` (indexed, no longer on disk)."""

    path: str
    status: State
    reason: str = ""
    paragraphs: int = 0
    chunks: int = 0
    size: int = 0
    indexed: str = ""  # when the live index last read it


def _corpus(rag: RAG) -> Path:
    if rag.corpus_dir is None:
        raise FileProblem("this index has no corpus folder; open it with a corpus or a base")
    return Path(rag.corpus_dir)


def _on_disk(corpus: Path) -> dict[str, int]:
    out = {}
    for path in sorted(corpus.rglob("*")) if corpus.is_dir() else ():
        rel = path.relative_to(corpus)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = path.stat().st_size
    return out


def list_files(rag: RAG) -> list[FileStatus]:
    """Every file of the corpus folder and of the live index, with its status."""
    corpus = _corpus(rag)
    disk = _on_disk(corpus)
    try:
        entries, manifest = rag.files(), rag.manifest
    except RAGError:  # an empty base (nothing indexed yet), an unreadable index
        entries, manifest = {}, {}
    skipped = {s["path"]: s["reason"] for s in manifest.get("skipped") or ()}
    created = str(manifest.get("created", ""))
    out = []
    for path in sorted(set(disk) | set(entries) | (set(skipped) & set(disk))):
        entry = entries.get(path)
        size = disk.get(path, 0)
        if entry is None:
            status: State = "skipped" if path in skipped else "pending"
            out.append(FileStatus(path, status, skipped.get(path, ""), size=size))
            continue
        reason = entry.get("skipped") or ""
        status = "missing" if path not in disk else "skipped" if reason else "indexed"
        out.append(FileStatus(path, status, reason, int(entry.get("paragraphs", 0)),
                              int(entry.get("chunks", 0)), size or int(entry.get("size", 0)),
                              str(entry.get("indexed") or created)))
    return out


def corpus_file(rag: RAG, name: str) -> Path:
    """The file ``name`` (a corpus-relative path) inside the corpus folder; refuses anything
    that leads elsewhere (absolute paths, ``..``, hidden names, links out of the corpus)."""
    corpus = _corpus(rag).resolve()
    rel = PurePosixPath((name or "").strip())
    if (not rel.parts or rel.is_absolute() or "\\" in str(rel)
            or any(p in ("..", ".") or p.startswith(".") for p in rel.parts)):
        raise FileProblem(f"{name!r} is not a file name of this corpus")
    path = (corpus / rel).resolve()
    if not path.is_relative_to(corpus) or not path.is_file():
        raise FileProblem(f"no file {name!r} in the corpus {corpus}")
    return path


def remove_file(rag: RAG, name: str) -> None:
    """Delete one corpus file and publish the index without it; on failure the file is put
    back and the previous index state stays live."""
    path = corpus_file(rag, name)
    parked = path.parent / f".removing-{uuid.uuid4().hex[:12]}{path.suffix}"
    os.replace(path, parked)  # hidden: the corpus scan ignores it
    try:
        rag.reindex()
    except BaseException:
        os.replace(parked, path)
        log.warning("removing %s failed; the file is back and the index unchanged", name)
        raise
    parked.unlink(missing_ok=True)


def reparse_file(rag: RAG, name: str) -> None:
    """Read, repair, chunk and index one file again (even if unchanged), publishing a new
    index state; a failure leaves the previous state live."""
    path = corpus_file(rag, name)
    rag.reindex(files=[path.relative_to(_corpus(rag).resolve()).as_posix()])
