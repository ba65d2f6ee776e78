"""Find corpus files and read them into ``Document``s through the format readers.

Formats: plain text and Markdown (UTF-8, GB18030/GBK or Big5), PDF (text layer, pages kept),
Word .docx and HTML; see ``rag.readers``. Nothing here raises on a bad file: a file that cannot
be used (binary, empty, too large, unreadable, a scanned PDF, outside the corpus folder) is
skipped with a warning that names it and says why, and is added to the caller's ``skipped``
list when one is given, so a command can report what was left out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.config import ConfigError, load_settings
from rag.errors import RAGError
from rag.readers import DEFAULT_OPTIONS, READERS, ReadError, ReadOptions, decode_bytes, extract
from rag.schema import Document

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = tuple(READERS)
_MB = 1024 * 1024
# Warnings already given by find_files (which runs several times per build): path -> reason.
_warned: dict[str, str] = {}

__all__ = ["SUPPORTED_SUFFIXES", "CorpusError", "Skipped", "decode_bytes", "file_sha256",
           "find_files", "load_documents", "max_file_bytes", "read_document"]


class CorpusError(RAGError, ValueError):
    """The corpus folder is missing, empty or unusable; the message says what to do."""


@dataclass(frozen=True)
class Skipped:
    """A corpus file left out of the index: ``path`` relative to the corpus, and why."""

    path: str
    reason: str


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def max_file_bytes(max_file_mb: int | None = None) -> int:
    """The size limit in bytes: ``max_file_mb``, else the ``max_file_mb`` setting."""
    mb = load_settings().max_file_mb if max_file_mb is None else max_file_mb
    if mb <= 0:
        raise ConfigError(f"max_file_mb={mb} must be a positive number of MB; "
                          "fix RAG_MAX_FILE_MB or the config file")
    return mb * _MB


def _too_large(size: int, limit: int) -> str:
    return (f"the file is {size / _MB:,.1f} MB, over the {limit // _MB} MB limit; raise it with "
            f"RAG_MAX_FILE_MB={size // _MB + 1} (or max_file_mb in rag.toml) to index it")


def find_files(root: Path, *, max_file_mb: int | None = None,
               skipped: list[Skipped] | None = None) -> list[Path]:
    """Supported files under ``root`` (recursively, sorted), never leaving ``root``.

    Hidden files and folders are ignored; links leading outside ``root``, files over the size
    limit and files this process may not read are skipped (and listed in ``skipped``).
    """
    if not root.exists():
        raise CorpusError(f"corpus folder {root} does not exist; pass an existing folder")
    if not root.is_dir():
        raise CorpusError(f"corpus path {root} is not a folder; pass the folder holding files")
    limit = max_file_bytes(max_file_mb)
    real_root = root.resolve()
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or not path.is_file():
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        reason = _unusable(path, root, real_root, limit)
        if reason:
            _skip(path, root, reason, skipped, once=True)
            continue
        found.append(path)
    return found


def _unusable(path: Path, root: Path, real_root: Path, limit: int) -> str | None:
    """Why a found file must be skipped before it is read, or None."""
    if not path.resolve().is_relative_to(real_root):
        return f"it links outside the corpus folder {root}"
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if size > limit:
        return _too_large(size, limit)
    if not os.access(path, os.R_OK):
        return "cannot read it (permission denied); check the file's permissions"
    return None


def _skip(path: Path, root: Path, reason: str, skipped: list[Skipped] | None, *,
          once: bool = False) -> None:
    key = str(path)
    if not once or _warned.get(key) != reason:
        log.warning("skipping %s: %s", path, reason)
        if once:
            if len(_warned) > 10_000:
                _warned.clear()
            _warned[key] = reason
    if skipped is not None:
        skipped.append(Skipped(_relative_name(path, root), reason))


def _relative_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def read_document(path: Path, root: Path, *, max_file_mb: int | None = None,
                  skipped: list[Skipped] | None = None,
                  options: ReadOptions = DEFAULT_OPTIONS) -> Document | None:
    """Read one file; returns None (with a warning naming the file) when it cannot be used.

    ``options`` are the reading settings of the index being built (OCR, page limits, ...)."""
    path, root = Path(path), Path(root)
    try:
        doc = _read(path, root, max_file_bytes(max_file_mb), options)
    except ReadError as exc:
        _skip(path, root, str(exc), skipped)
        return None
    return doc


def _read(path: Path, root: Path, limit: int, options: ReadOptions) -> Document:
    rel = _inside(path, root)
    data = _read_bytes(path, limit)
    extracted = extract(data, path.name, options)
    for warning in extracted.warnings:
        log.warning("%s: %s", path, warning)
    return Document(path=rel, text=extracted.text, encoding=extracted.encoding,
                    sha256=hashlib.sha256(data).hexdigest(), kind=extracted.kind)


def _inside(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` ('/' separators); ReadError if it leads outside ``root``."""
    try:
        rel = path.relative_to(root)
        inside = ".." not in rel.parts and path.resolve().is_relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):  # not under root; a symlink loop
        inside = False
    if not inside:
        raise ReadError(f"it lies outside the corpus folder {root}")
    return rel.as_posix()


def _read_bytes(path: Path, limit: int) -> bytes:
    try:
        info = path.stat()
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise ReadError("it is not a regular file (a pipe, socket or device); not read")
        if info.st_size > limit:
            raise ReadError(_too_large(info.st_size, limit))
        with path.open("rb") as fh:
            data = fh.read(limit + 1)  # never more than the limit, even if the file grew
    except OSError as exc:
        raise ReadError(f"cannot read it ({exc.strerror or exc})") from exc
    if len(data) > limit:
        raise ReadError(_too_large(len(data), limit))
    return data


def load_documents(root: Path | str, *, max_file_mb: int | None = None,
                   skipped: list[Skipped] | None = None,
                   options: ReadOptions = DEFAULT_OPTIONS) -> Iterator[Document]:
    """Yield every readable supported document under ``root``."""
    root = Path(root)
    for path in find_files(root, max_file_mb=max_file_mb, skipped=skipped):
        doc = read_document(path, root, max_file_mb=max_file_mb, skipped=skipped,
                            options=options)
        if doc is not None:
            yield doc
