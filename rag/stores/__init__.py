"""Stores by name: where an index lives. A new store is one folder here and one line in
``STORES``; ``tests/stores/test_store_contract.py`` then runs it through the shared cases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rag.config import ConfigError, Settings
from rag.stores.base import (
    Delta,
    FileContent,
    IndexCorruptError,
    IndexFormatError,
    IndexMismatchError,
    IndexNotFoundError,
    Snapshot,
    Store,
    StoreError,
)


def _faiss(settings: Settings, index_dir: Path) -> Store:
    from rag.stores.faiss import FaissStore

    return FaissStore(settings, index_dir)


def _milvus(settings: Settings, index_dir: Path) -> Store:
    from rag.stores.milvus import MilvusStore

    return MilvusStore(settings, index_dir)


STORES: dict[str, Callable[[Settings, Path], Store]] = {
    "faiss": _faiss,
    "milvus": _milvus,
}


def open_store(settings: Settings, index_dir: Path) -> Store:
    """The store ``settings.store`` names, for the index at ``index_dir`` (nothing is read yet)."""
    try:
        factory = STORES[settings.store]
    except KeyError:
        raise ConfigError(f"unknown store {settings.store!r}; use one of "
                          f"{', '.join(STORES)} (RAG_STORE)") from None
    return factory(settings, Path(index_dir))


__all__ = ["STORES", "Delta", "FileContent", "IndexCorruptError", "IndexFormatError",
           "IndexMismatchError", "IndexNotFoundError", "Snapshot", "Store", "StoreError",
           "open_store"]
