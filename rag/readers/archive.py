"""Zip-based formats (.docx, .pptx, .xlsx): the archive's directory is checked before anything is
inflated, so a zip bomb is refused without being unpacked. Python's zipfile never inflates an
entry past the size its directory declares, so the declared sizes bound the work."""

from __future__ import annotations

import importlib
import io
import zipfile
from types import ModuleType

from rag.readers.base import DEFAULT_OPTIONS, ReadError, ReadOptions, missing_library

_MB = 1024 * 1024


def check_archive(data: bytes, fmt: str, options: ReadOptions = DEFAULT_OPTIONS, *,
                  hint: str = "") -> None:
    """ReadError when ``data`` is not a zip (``hint`` added to the message), or unpacks to
    more than ``options`` allow (``max_unpacked_mb``, ``max_archive_entries``)."""
    settings = options
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ReadError(f"not a readable {fmt} file ({type(exc).__name__}: {exc}){hint}") from exc
    if len(entries) > settings.max_archive_entries:
        raise ReadError(
            f"the {fmt} archive holds {len(entries):,} entries, over the "
            f"{settings.max_archive_entries:,}-entry limit (a guard against zip bombs); raise it "
            f"with RAG_MAX_ARCHIVE_ENTRIES={len(entries)} (or max_archive_entries in rag.toml)")
    unpacked = sum(e.file_size for e in entries)
    if unpacked > settings.max_unpacked_mb * _MB:
        raise ReadError(
            f"the {fmt} archive unpacks to {unpacked / _MB:,.0f} MB, over the "
            f"{settings.max_unpacked_mb} MB limit (a guard against zip bombs); raise it with "
            f"RAG_MAX_UNPACKED_MB={unpacked // _MB + 1} (or max_unpacked_mb in rag.toml)")


def archive_library(module: str, package: str, fmt: str, data: bytes,
                    options: ReadOptions = DEFAULT_OPTIONS, *, hint: str = "") -> ModuleType:
    """The library that reads ``fmt`` (a clear error when it is not installed), once ``data``
    has passed ``check_archive``."""
    try:
        library = importlib.import_module(module)
    except ImportError as exc:
        raise missing_library(package, fmt) from exc
    check_archive(data, fmt, options, hint=hint)
    return library
