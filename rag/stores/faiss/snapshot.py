"""One build of the FAISS store opened for reading: vectors in FAISS, BM25 memory-mapped
(``rag.keyword_index``), records in SQLite. Read-only and safe to share between threads."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from rag.fusion import ranks_from_scores
from rag.keyword_index import KeywordIndex
from rag.schema import Chunk, Paragraph, content_id
from rag.stores.base import IndexFormatError, ParagraphKey
from rag.stores.faiss.build import KEYWORDS, VECTORS, repair_hint
from rag.stores.faiss.records import FILE as RECORDS
from rag.stores.faiss.records import RecordStore
from rag.stores.faiss.vectors import all_vectors, read_vector_index, tune_for_search


class FaissSnapshot:
    """A loaded build: ``keyword_candidates`` and friends as ``rag.stores.base.Snapshot``."""

    def __init__(self, build: Path, manifest: dict[str, Any]) -> None:
        repair = repair_hint(build.parent)
        try:
            self.records = RecordStore(build / RECORDS)
            self.vectors = read_vector_index(build / VECTORS)
            tune_for_search(self.vectors)
            self.keyword = KeywordIndex.load(build / KEYWORDS, self.records.n_chunks)
        except Exception as exc:
            raise IndexFormatError(f"index in {build} is corrupt or partial ({exc}); "
                                   f"{repair}") from exc
        n = self.records.n_chunks
        if (self.vectors.ntotal != n or manifest.get("chunks") != n
                or self.vectors.d != manifest.get("dimension")):
            raise IndexFormatError(
                f"index in {build} is inconsistent ({self.vectors.ntotal} vectors of dimension "
                f"{self.vectors.d}, {n} chunks; manifest says {manifest.get('chunks')} of "
                f"dimension {manifest.get('dimension')}); {repair}"
            )
        self.path = build
        self.manifest = manifest
        # The last questions' BM25 score arrays: candidates and extra scores share one scoring.
        self._scores = functools.lru_cache(maxsize=4)(self.keyword.scores)

    @property
    def version(self) -> str:
        return self.path.name

    def keyword_candidates(self, question: str, limit: int) -> dict[int, float]:
        scores = self._scores(question)
        return {i: float(scores[i]) for i in ranks_from_scores(scores, limit)}

    def keyword_scores(self, question: str, keys: Collection[int]) -> dict[int, float]:
        scores = self._scores(question)
        return {int(i): float(scores[i]) for i in keys}

    def dense_candidates(self, vector: np.ndarray, limit: int) -> dict[int, float]:
        n = self.vectors.ntotal
        if n == 0:
            return {}
        sims, ids = self.vectors.search(vector.reshape(1, -1), min(limit, n))
        return {int(i): float(s) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0}

    def dense_scores(self, vector: np.ndarray, keys: Collection[int]) -> dict[int, float]:
        keys = list(keys)
        if not keys:
            return {}
        stored = np.vstack([self.vectors.reconstruct(int(i)) for i in keys])
        return dict(zip(keys, (stored @ vector).tolist(), strict=True))

    def chunks(self, keys: Collection[int]) -> dict[int, Chunk]:
        return {i: self.records.chunk(int(i)) for i in keys}

    def paragraphs(self, keys: Iterable[ParagraphKey]) -> dict[ParagraphKey, Paragraph]:
        out = {}
        for doc, index in keys:
            try:
                out[(doc, index)] = self.records.paragraph(doc, int(index))
            except KeyError:
                continue
        return out

    def paragraph(self, doc: str, index: int) -> Paragraph:
        return self.records.paragraph(doc, int(index))

    def document(self, doc: str) -> list[Paragraph]:
        return self.records.document(doc)

    def document_frequencies(self, terms: list[str]) -> dict[str, int]:
        return {t: self.keyword.document_frequency(t) for t in terms}

    def files(self) -> dict[str, dict[str, Any]]:
        return dict(self.manifest.get("files") or {})

    def vectors_by_content(self, docs: Collection[str]) -> dict[str, np.ndarray]:
        wanted = set(docs)
        # Only the rows of ``docs``: an update touching a few files must not copy every vector.
        return {content_id(c.text): self.vectors.reconstruct(pos)
                for pos, c in self.records.all_chunks() if c.doc in wanted}

    def contents(self, docs: Collection[str]) -> dict[str, tuple[list[Paragraph], list[Chunk],
                                                                  np.ndarray, list[int]]]:
        """Paragraphs, chunks, vectors and chunk positions of ``docs`` as stored (for the next
        build to keep)."""
        wanted = set(docs)
        paragraphs: dict[str, list[Paragraph]] = {d: [] for d in wanted}
        for p in self.records.all_paragraphs():
            if p.doc in wanted:
                paragraphs[p.doc].append(p)
        positions: dict[str, list[tuple[int, Chunk]]] = {d: [] for d in wanted}
        for pos, c in self.records.all_chunks():
            if c.doc in wanted:
                positions[c.doc].append((pos, c))
        stored = all_vectors(self.vectors)
        dim = self.vectors.d
        return {d: (paragraphs[d], [c for _, c in positions[d]],
                    stored[[pos for pos, _ in positions[d]]] if positions[d]
                    else np.zeros((0, dim), dtype=np.float32),
                    [pos for pos, _ in positions[d]])
                for d in wanted}
