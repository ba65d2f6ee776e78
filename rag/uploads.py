"""Add uploaded text files to a RAG's corpus folder and index.

``add_documents(rag, paths)`` checks every file by the rules the indexer reads with (name,
supported type, size limit, and the format reader: encoding, binary, empty, no text), copies the
accepted ones into ``rag.corpus_dir`` under a safe name and rebuilds the index.
Refused files are reported by name with the reason. When the rebuild fails, the copied files
are removed again (and the index restored if it had already been replaced), so the corpus and
index are exactly as they were.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rag.documents import SUPPORTED_SUFFIXES, max_file_bytes
from rag.errors import RAGError
from rag.readers import ReadError, extract
from rag.readers.base import DEFAULT_OPTIONS, ReadOptions

if TYPE_CHECKING:
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w\-.()]+")
# One upload at a time: the name checks, copies, rebuild and rollback must not interleave.
_LOCK = threading.Lock()

Status = Literal["added", "skipped", "refused", "failed"]
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file: ``name`` as given, ``stored_as`` its name in the corpus."""

    name: str
    status: Status
    reason: str = ""
    stored_as: str | None = None


@dataclass(frozen=True)
class UploadReport:
    files: tuple[FileOutcome, ...]
    # Set when the batch as a whole failed (no corpus folder, rebuild error); nothing changed.
    error: str | None = None

    @property
    def added(self) -> tuple[FileOutcome, ...]:
        return tuple(f for f in self.files if f.status == "added")

    @property
    def refused(self) -> tuple[FileOutcome, ...]:
        return tuple(f for f in self.files if f.status in ("refused", "failed"))

    @property
    def ok(self) -> bool:
        return self.error is None and not self.refused


@dataclass(frozen=True)
class _Accepted:
    name: str
    stored_as: str
    data: bytes


def safe_name(name: str) -> str:
    """A file name safe to create in the corpus: letters (any script), digits, ``-_.()``."""
    name = unicodedata.normalize("NFC", name)
    path = Path(name)
    stem = _UNSAFE.sub("_", path.stem).strip("._") or "upload"
    suffix = path.suffix.lower()
    return stem[: MAX_NAME_CHARS - len(suffix)] + suffix


def name_problem(name: str) -> str | None:
    """Why a file name cannot be stored in the corpus, or None when it can."""
    if not name or not name.strip():
        return "the file has no name"
    if "/" in name or "\\" in name or name in (".", ".."):
        return "the name contains a path ('../' or '/'); upload the file itself"
    if any(not c.isprintable() for c in name):
        return "the name contains control characters"
    if name.startswith("."):
        return "hidden files (names starting with '.') are not indexed"
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        shown = suffix or "no extension"
        return f"unsupported file type ({shown}); supported: {' '.join(SUPPORTED_SUFFIXES)}"
    return None


def content_problem(data: bytes, name: str,
                    options: ReadOptions = DEFAULT_OPTIONS) -> str | None:
    """Why the indexer's reader for ``name`` cannot use these bytes (read with the index's
    ``options``: OCR, limits, cache), or None when it can."""
    try:
        extract(data, name, options)
    except ReadError as exc:
        return str(exc)
    return None


def _too_large(size: int, limit: int) -> str:
    return (f"the file is too large ({size / 1024 / 1024:.1f} MB; the limit is "
            f"{limit // 1024 // 1024} MB, set by max_file_mb)")


def _check(path: Path, name: str, limit: int,
           options: ReadOptions) -> tuple[_Accepted | None, str]:
    problem = name_problem(name)
    if problem:
        return None, problem
    try:
        size = path.stat().st_size
        if size > limit:
            return None, _too_large(size, limit)
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read it ({exc.strerror or exc})"
    problem = content_problem(data, name, options)
    if problem:
        return None, problem
    return _Accepted(name, safe_name(name), data), ""


def _place(item: _Accepted, corpus: Path, taken: dict[str, bytes]) -> FileOutcome | None:
    """An outcome when ``item`` cannot be stored under its name; None when it can."""
    target = corpus / item.stored_as
    existing = taken.get(item.stored_as)
    if existing is None and target.exists():
        existing = target.read_bytes() if target.is_file() else b""
    if existing is None:
        return None
    if existing == item.data:
        return FileOutcome(item.name, "skipped", "already in the corpus", item.stored_as)
    return FileOutcome(item.name, "refused",
                       f"a different document named {item.stored_as} is already in the corpus; "
                       "rename the file and upload it again")


def _write(target: Path, data: bytes) -> None:
    # A hidden temporary name is ignored by the corpus scan until the rename publishes it.
    tmp = target.parent / f".upload-{uuid.uuid4().hex[:12]}.tmp"
    try:
        with tmp.open("xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def add_documents(
    rag: RAG,
    paths: Sequence[str | Path],
    *,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> UploadReport:
    """Validate ``paths``, copy the good files into ``rag.corpus_dir`` and rebuild the index.

    ``names`` are the names the files were uploaded under (default: each path's file name);
    they decide the stored name and appear in messages. ``progress(fraction, message)`` is
    called as the work advances.
    """
    paths = [Path(p) for p in paths]
    names = list(names) if names is not None else [p.name for p in paths]
    if len(names) != len(paths):
        raise ValueError("names must give one name per path")
    report = progress or (lambda fraction, message: None)
    corpus = rag.corpus_dir
    if corpus is None or not corpus.is_dir():
        return UploadReport(
            tuple(FileOutcome(n, "failed", "no corpus folder") for n in names),
            error="this index has no corpus folder to add files to; start with --corpus DIR",
        )
    limit = max_file_bytes(rag.settings.max_file_mb)
    options = ReadOptions.from_settings(rag.settings)
    with _LOCK:
        outcomes: list[FileOutcome] = []
        accepted: list[_Accepted] = []
        taken: dict[str, bytes] = {}
        for i, (path, name) in enumerate(zip(paths, names, strict=True)):
            report(0.3 * i / max(len(paths), 1), f"检查 checking {name}")
            item, problem = _check(path, name, limit, options)
            outcome = FileOutcome(name, "refused", problem) if item is None else _place(
                item, corpus, taken)
            if outcome is None and item is not None:
                taken[item.stored_as] = item.data
                accepted.append(item)
            elif outcome is not None:
                outcomes.append(outcome)
        if not accepted:
            return UploadReport(tuple(outcomes))
        return _copy_and_index(rag, corpus, accepted, outcomes, report)


def _copy_and_index(rag: RAG, corpus: Path, accepted: list[_Accepted],
                    outcomes: list[FileOutcome], report: Progress) -> UploadReport:
    before = _version(rag)
    copied: list[Path] = []
    try:
        for item in accepted:
            target = corpus / item.stored_as
            _write(target, item.data)
            copied.append(target)
        report(0.4, f"重建索引 re-indexing with {len(accepted)} new file(s)")
        rag.reindex()
    except Exception as exc:
        log.exception("adding %d file(s) to %s failed; undoing", len(accepted), corpus)
        _undo(rag, copied, before)
        reason = f"indexing failed ({exc}); the upload was undone and the index is unchanged"
        failed = [FileOutcome(a.name, "failed", reason) for a in accepted]
        return UploadReport(tuple(outcomes + failed), error=reason)
    except BaseException:
        _undo(rag, copied, before)
        raise
    report(1.0, "完成 done")
    log.info("added %d file(s) to %s", len(accepted), corpus)
    added = [FileOutcome(a.name, "added", stored_as=a.stored_as) for a in accepted]
    return UploadReport(tuple(added + outcomes))


def _version(rag: RAG) -> str | None:
    try:
        return rag.version
    except RAGError:  # no index yet: an empty knowledge base gets its first files
        return None


def _undo(rag: RAG, copied: list[Path], version_before: str | None) -> None:
    for path in copied:
        path.unlink(missing_ok=True)
    # The rebuild may have published an index of the new files before failing: rebuild it
    # from the restored corpus (unchanged chunks reuse their stored vectors).
    if version_before is not None and _version(rag) != version_before:
        try:
            rag.reindex()
        except Exception:
            log.exception("could not restore the index in %s; rebuild it with rag index",
                          rag.location)
