"""One generation of the Milvus store opened for reading (``rag.stores.base.Snapshot``).

A ``MilvusSnapshot`` is pinned to (build, generation), so every question is answered from one
consistent state even while another process publishes the next generation. It holds caches only
(chunk rows seen in search results, paragraphs): any number of processes can serve one store.
Both channels search server-side: BM25 over the ``sparse`` field, inner product over ``dense``.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from rag.schema import Chunk, Paragraph
from rag.stores.base import ParagraphKey
from rag.stores.milvus.client import Names, live_filter, quote
from rag.stores.milvus.rows import keywords_text, query_all, term_frequencies
from rag.stores.rows import CHUNK_FIELDS, PARAGRAPH_FIELDS, chunk_from_row, paragraph_from_row

# Search breadth for a server's HNSW AUTOINDEX, as the FAISS store searches HNSW (Milvus Lite
# ignores it: the store builds an exact FLAT index there, see layout.dense_index_type).
DENSE_EF = 256
_CHUNK_OUT = list(CHUNK_FIELDS)
_PARAGRAPH_OUT = list(PARAGRAPH_FIELDS)
_CACHE_LIMIT = 50_000


def _born(pk: str) -> int:
    """The generation that wrote a row, from its key ("<generation>:<id>")."""
    return int(pk.split(":", 1)[0])


class MilvusSnapshot:
    """Generation ``gen`` of build ``names.build``; read-only, thread-safe."""

    def __init__(self, client: Any, names: Names, gen: int, manifest: dict[str, Any]) -> None:
        self.client = client
        self.names = names
        self.gen = gen
        self.manifest = manifest
        self._chunks: dict[str, Chunk] = {}
        self._paragraphs: dict[ParagraphKey, Paragraph] = {}
        # A document's rows are all written by one generation: its paragraphs can then be
        # fetched by primary key once one of its chunks has been seen.
        self._doc_born: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return f"{self.names.build}@{self.gen}"

    # -- candidates -------------------------------------------------------------------------

    def _search(self, data: Any, field: str, metric: str, limit: int) -> dict[str, float]:
        params: dict[str, Any] = {"metric_type": metric}
        if field == "dense":
            params["params"] = {"ef": max(DENSE_EF, limit)}
        hits = self.client.search(self.names.chunks, data=[data], anns_field=field, limit=limit,
                                  filter=live_filter(self.gen), output_fields=_CHUNK_OUT,
                                  search_params=params)
        found = list(hits[0]) if hits else []
        self._remember({h["id"]: chunk_from_row(h["entity"]) for h in found})
        return {h["id"]: float(h["distance"]) for h in found}

    def keyword_candidates(self, question: str, limit: int) -> dict[str, float]:
        terms = keywords_text(question, self.manifest.get("analyzer", "rag"))
        return self._search(terms, "sparse", "BM25", limit) if terms.strip() else {}

    def keyword_scores(self, question: str, keys: Collection[str]) -> dict[str, float]:
        # Milvus scores BM25 only inside a search; rows outside the keyword top list count as 0.
        return {}

    def dense_candidates(self, vector: np.ndarray, limit: int) -> dict[str, float]:
        return self._search(np.asarray(vector).tolist(), "dense", "IP", limit)

    def dense_scores(self, vector: np.ndarray, keys: Collection[str]) -> dict[str, float]:
        if not keys:
            return {}
        rows = self.client.query(self.names.chunks, ids=list(keys), output_fields=["dense"])
        return {r["pk"]: float(np.asarray(r["dense"], dtype=np.float32) @ vector) for r in rows}

    # -- records ----------------------------------------------------------------------------

    def _remember(self, chunks: dict[str, Chunk]) -> None:
        with self._lock:
            if len(self._chunks) > _CACHE_LIMIT:
                self._chunks.clear()
                self._doc_born.clear()
            self._chunks.update(chunks)
            self._doc_born.update({c.doc: _born(pk) for pk, c in chunks.items()})

    def chunks(self, keys: Collection[str]) -> dict[str, Chunk]:
        missing = [k for k in keys if k not in self._chunks]
        if missing:
            rows = self.client.query(self.names.chunks, ids=missing,
                                     output_fields=["pk", *_CHUNK_OUT])
            self._remember({r["pk"]: chunk_from_row(r) for r in rows})
        return {k: self._chunks[k] for k in keys if k in self._chunks}

    def paragraphs(self, keys: Iterable[ParagraphKey]) -> dict[ParagraphKey, Paragraph]:
        wanted = {(d, int(i)) for d, i in keys}
        missing = sorted(k for k in wanted if k not in self._paragraphs)
        if missing:
            self._fetch_paragraphs(missing)
        return {k: self._paragraphs[k] for k in wanted if k in self._paragraphs}

    def _fetch_paragraphs(self, missing: list[ParagraphKey]) -> None:
        """One request by primary key where the writing generation is known, one by filter
        for the rest."""
        born = dict(self._doc_born)
        by_pk = [f"{born[d]}:{d}#{i}" for d, i in missing if d in born]
        rows = (self.client.query(self.names.paragraphs, ids=by_pk,
                                  output_fields=_PARAGRAPH_OUT) if by_pk else [])
        by_doc: dict[str, list[int]] = {}
        for doc, i in missing:
            if doc not in born:
                by_doc.setdefault(doc, []).append(i)
        if by_doc:
            clauses = [f"(doc == {quote(d)} and idx in {sorted(ix)})" for d, ix in by_doc.items()]
            rows += self.client.query(
                self.names.paragraphs,
                filter=f"({' or '.join(clauses)}) and {live_filter(self.gen)}",
                output_fields=_PARAGRAPH_OUT, limit=len(missing) + 10,
            )
        with self._lock:
            if len(self._paragraphs) > _CACHE_LIMIT:
                self._paragraphs.clear()
            for row in rows:
                p = paragraph_from_row(row)
                self._paragraphs[(p.doc, p.index)] = p

    def paragraph(self, doc: str, index: int) -> Paragraph:
        found = self.paragraphs([(doc, index)])
        try:
            return found[(doc, int(index))]
        except KeyError:
            raise KeyError((doc, index)) from None

    def document(self, doc: str) -> list[Paragraph]:
        rows = query_all(self.client, self.names.paragraphs,
                         f"doc == {quote(doc)} and {live_filter(self.gen)}", _PARAGRAPH_OUT)
        return sorted((paragraph_from_row(r) for r in rows), key=lambda p: p.index)

    def document_frequencies(self, terms: list[str]) -> dict[str, int]:
        return term_frequencies(self.client, self.names.terms, terms, self.gen)

    def files(self) -> dict[str, dict[str, Any]]:
        return {r["path"]: r["info"] for r in
                query_all(self.client, self.names.files, live_filter(self.gen), ["path", "info"])}

    def live_chunk_rows(self, docs: Collection[str], fields: list[str]) -> list[dict[str, Any]]:
        """The live chunk rows of ``docs`` (for an update to retire or reuse)."""
        from rag.stores.milvus.rows import any_of

        return [r for expr in any_of("doc", sorted(docs))
                for r in query_all(self.client, self.names.chunks,
                                   f"{expr} and {live_filter(self.gen)}", fields)]

    def vectors_by_content(self, docs: Collection[str]) -> dict[str, np.ndarray]:
        return {r["content"]: np.asarray(r["dense"], dtype=np.float32)
                for r in self.live_chunk_rows(docs, ["pk", "content", "dense"])}
