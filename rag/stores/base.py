"""The store interface: where an index's chunks, vectors and keyword statistics live.

A ``Store`` publishes whole index states atomically (``publish``) and opens the live one as a
``Snapshot``: a read-only view that offers exactly what retrieval and answering need. Chunk keys
are opaque to callers (a row number, a primary key): they come from a snapshot's candidate
lists and go back to the same snapshot. ``tests/stores/test_store_contract.py`` runs every
registered store through the same cases.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Hashable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rag.errors import RAGError
from rag.schema import Chunk, FileContent, Paragraph

Key = Hashable  # a chunk's key inside one snapshot
ParagraphKey = tuple[str, int]  # (document, paragraph index)


class StoreError(RAGError, RuntimeError):
    """Base for problems with a persisted index."""


class IndexNotFoundError(StoreError):
    pass


class IndexFormatError(StoreError):
    """The index is corrupt, partial, or from another format version."""


class IndexCorruptError(IndexFormatError):
    """The index's bytes are damaged (checksum, pointer, missing file): never rebuilt silently;
    the message names the command that rebuilds it."""


class IndexMismatchError(StoreError):
    """The index was built with another embedding model or settings than requested."""


@dataclass
class Delta:
    """What one update changes: everything a store needs to publish the next index state.

    ``files`` describes every corpus file of the new state (fingerprint and counts, see
    ``rag.stores.manifest``); ``added`` holds the content of new and changed files; ``removed``
    names files whose previous content retires (changed and deleted ones). With ``fresh`` the
    store starts over: nothing of the previous state is kept.
    """

    manifest: dict[str, Any]
    files: dict[str, dict[str, Any]]
    added: list[FileContent] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    fresh: bool = False


class Snapshot(Protocol):
    """One published index state, read-only and safe to share between threads."""

    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        """Which published state this is (changes with every publish)."""

    def keyword_candidates(self, question: str, limit: int) -> dict[Key, float]:
        """The ``limit`` best chunks by BM25 for ``question``, best first, with their scores."""

    def keyword_scores(self, question: str, keys: Collection[Key]) -> dict[Key, float]:
        """BM25 scores of ``keys`` where the store can give them (may be empty)."""

    def dense_candidates(self, vector: np.ndarray, limit: int) -> dict[Key, float]:
        """The ``limit`` chunks nearest to ``vector`` (inner product), best first."""

    def dense_scores(self, vector: np.ndarray, keys: Collection[Key]) -> dict[Key, float]:
        """Inner product of ``vector`` with the stored vectors of ``keys``."""

    def chunks(self, keys: Collection[Key]) -> dict[Key, Chunk]: ...

    def paragraphs(self, keys: Iterable[ParagraphKey]) -> dict[ParagraphKey, Paragraph]:
        """The paragraphs of ``keys`` that exist (one request for a remote store)."""

    def paragraph(self, doc: str, index: int) -> Paragraph:
        """One paragraph; ``KeyError`` when it does not exist."""

    def document(self, doc: str) -> list[Paragraph]:
        """All paragraphs of ``doc`` in order; empty when it is not indexed."""

    def document_frequencies(self, terms: list[str]) -> dict[str, int]:
        """In how many chunks each keyword term (as ``rag.keyword.tokenize`` makes them) occurs."""

    def files(self) -> dict[str, dict[str, Any]]:
        """Every corpus file of this state: path -> fingerprint and counts."""

    def vectors_by_content(self, docs: Collection[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the chunks of ``docs``, by ``content_id`` of the chunk text (so an
        update re-embeds only text it has not seen)."""


class Store(ABC):
    """Where one index lives; publishes new states and opens the live one.

    Publishing is two-phase: ``stage`` writes everything the next state needs without making
    it visible, ``commit`` makes it live in one atomic step. A crash between the two leaves the
    previous state live; the next update clears what the staged one left behind.
    """

    kind: str = ""  # the registry name ("faiss", "milvus")
    # Whether another process may publish to this store while this one reads it.
    shared: bool = True

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the index lives, for messages and the UI footer."""

    @abstractmethod
    def lock(self) -> AbstractContextManager[None]:
        """Held while an update plans and publishes (one writer at a time)."""

    @abstractmethod
    def open(self) -> Snapshot:
        """The live snapshot (the same object while it stays live).

        Raises ``IndexNotFoundError`` when nothing was published, ``IndexFormatError`` when the
        live state cannot be read.
        """

    @abstractmethod
    def settings_change(self, manifest: dict[str, Any], settings: Any) -> str | None:
        """Why this store's own settings (index type, analyzer) rule out an incremental update."""

    @abstractmethod
    def stage(self, delta: Delta) -> Any:
        """Write the state that applying ``delta`` to the live one gives; not yet visible."""

    @abstractmethod
    def commit(self, staged: Any) -> Snapshot:
        """Make a staged state live atomically; returns it opened."""

    def close(self) -> None:
        """Release connections and files this store holds (nothing by default)."""
        return None

    def publish(self, delta: Delta) -> Snapshot:
        """Apply ``delta`` and publish the result; a failure leaves the previous state live."""
        return self.commit(self.stage(delta))
