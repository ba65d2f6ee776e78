"""Fingerprints of a corpus folder's files and how they differ from an index's."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.documents import Skipped, file_sha256, find_files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorpusFile:
    path: str
    sha256: str
    size: int
    mtime_ns: int

    def fingerprint(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size,
                "mtime_ns": self.mtime_ns}


def scan_corpus(root: Path, previous: Mapping[str, Mapping[str, Any]] | None = None, *,
                max_file_mb: int | None = None,
                skipped: list[Skipped] | None = None) -> dict[str, CorpusFile]:
    """Fingerprints of the corpus files; hashes are reused when size and mtime are unchanged."""
    previous = previous or {}
    out = {}
    for path in find_files(root, max_file_mb=max_file_mb, skipped=skipped):
        rel = path.relative_to(root).as_posix()
        try:
            stat = path.stat()
            old = previous.get(rel)
            if old and old.get("size") == stat.st_size and old.get("mtime_ns") == stat.st_mtime_ns:
                sha = old["sha256"]
            else:
                sha = file_sha256(path)
        except OSError as exc:  # vanished or unreadable since it was listed
            log.warning("skipping %s: cannot read it (%s)", path, exc.strerror or exc)
            if skipped is not None:
                skipped.append(Skipped(rel, f"cannot read it ({exc.strerror or exc})"))
            continue
        out[rel] = CorpusFile(rel, sha, stat.st_size, stat.st_mtime_ns)
    return out


@dataclass(frozen=True)
class CorpusChange:
    """Files to (re)read and files whose indexed content goes."""

    changed: list[str]  # new or with new content, in corpus order
    removed: list[str]  # no longer in the corpus

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed)

    def describe(self, indexed: Mapping[str, Any]) -> str:
        added = sum(1 for p in self.changed if p not in indexed)
        return (f"corpus changed ({added} added, {len(self.changed) - added} changed, "
                f"{len(self.removed)} removed)")


def diff(files: Mapping[str, CorpusFile],
         indexed: Mapping[str, Mapping[str, Any]]) -> CorpusChange:
    """How ``files`` differ from the files an index holds (path -> entry with ``sha256``)."""
    changed = [p for p, f in files.items() if (indexed.get(p) or {}).get("sha256") != f.sha256]
    removed = [p for p in indexed if p not in files]
    return CorpusChange(changed, removed)
