"""Reading one generation of the Milvus store: search, paragraphs, term statistics.

A ``MilvusSnapshot`` is pinned to (build, generation), so every question is answered from one
consistent state even while another process publishes the next generation. It holds caches
only (paragraphs, term frequencies): any number of processes can serve the same store.

Fusion: dense ANN and BM25 run server-side. ``score`` fusion (the default) asks Milvus for both
channels' top candidates and combines their *scores* with the foundation's coverage-weighted
formula (``rag.fusion``); ``rrf`` lets Milvus fuse them with ``hybrid_search`` and RRF. Measured
on the seed questions with the bundled MiniLM (``benchmarks/milvus_fusion.py``), RRF loses the
keyword channel's order when the model cannot read the corpus. Milvus Lite 2.5's weighted
ranker mis-orders BM25 scores inside ``hybrid_search`` (a 0/1 weighting did not reproduce the BM25
order), so weighted fusion is done here, not there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from rag.embeddings import Embedder
from rag.fusion import fuse_scores
from rag.keyword import content_terms
from rag.milvus.client import Names, live_filter, quote
from rag.milvus.writer import keywords_text, query_all, term_frequencies
from rag.retrieval import CANDIDATES, ChannelWeights, channel_weights, make_passage
from rag.schema import Chunk, Paragraph, Passage

FUSIONS = ("score", "rrf")
RRF_K = 60
# Search breadth for a server's HNSW AUTOINDEX, as the FAISS store searches HNSW (Milvus Lite
# ignores it: the store builds an exact FLAT index there, see client.dense_index_type).
DENSE_EF = 256
_CHUNK_OUT = ["chunk_id", "doc", "paragraphs", "start", "end", "n_tokens", "text"]
_PARAGRAPH_OUT = ["doc", "idx", "text", "line_start", "line_end", "line_starts", "page"]
_CACHE_LIMIT = 50_000


def _paragraph(row: dict[str, Any]) -> Paragraph:
    return Paragraph(doc=row["doc"], index=int(row["idx"]), text=row["text"],
                     line_start=int(row["line_start"]), line_end=int(row["line_end"]),
                     line_starts=tuple(tuple(x) for x in row["line_starts"] or ()),
                     page=None if int(row["page"]) < 0 else int(row["page"]))


def _chunk(row: dict[str, Any]) -> Chunk:
    return Chunk(id=row["chunk_id"], doc=row["doc"], text=row["text"],
                 paragraphs=tuple(int(i) for i in row["paragraphs"]), start=int(row["start"]),
                 end=int(row["end"]), n_tokens=int(row["n_tokens"]))


class _Paragraphs(Mapping[tuple[str, int], Paragraph]):
    """``(doc, index) -> Paragraph`` of one generation, fetched on demand and cached."""

    def __init__(self, snapshot: MilvusSnapshot) -> None:
        self._s = snapshot
        self._cache: dict[tuple[str, int], Paragraph] = {}
        self._lock = threading.Lock()

    def prefetch(self, keys: set[tuple[str, int]], born: dict[str, int] | None = None) -> None:
        """Fetch paragraphs in one request: by primary key when the generation that wrote
        their document is known (``born``, from the chunk rows), else by a filter."""
        missing = sorted(k for k in keys if k not in self._cache)
        if not missing:
            return
        born = born or {}
        by_pk = [f"{born[d]}:{d}#{i}" for d, i in missing if d in born]
        rows = (self._s.client.query(self._s.names.paragraphs, ids=by_pk,
                                     output_fields=_PARAGRAPH_OUT) if by_pk else [])
        by_doc: dict[str, list[int]] = {}
        for doc, i in missing:
            if doc not in born:
                by_doc.setdefault(doc, []).append(i)
        if by_doc:
            clauses = [f"(doc == {quote(d)} and idx in {sorted(ix)})" for d, ix in by_doc.items()]
            rows += self._s.client.query(
                self._s.names.paragraphs,
                filter=f"({' or '.join(clauses)}) and {live_filter(self._s.gen)}",
                output_fields=_PARAGRAPH_OUT, limit=len(missing) + 10,
            )
        with self._lock:
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.clear()
            for row in rows:
                p = _paragraph(row)
                self._cache[(p.doc, p.index)] = p

    def __getitem__(self, key: tuple[str, int]) -> Paragraph:
        if key not in self._cache:
            self.prefetch({key})
        try:
            return self._cache[key]
        except KeyError:
            raise KeyError(key) from None

    def __len__(self) -> int:
        return int(self._s.manifest.get("paragraphs", 0))

    def __iter__(self) -> Iterator[tuple[str, int]]:
        for row in query_all(self._s.client, self._s.names.paragraphs, live_filter(self._s.gen),
                             ["doc", "idx"]):
            yield (row["doc"], int(row["idx"]))


class _TermStats:
    """``idf``/``knows`` of keyword terms (as ``KeywordIndex`` offers them) from ``_terms``."""

    def __init__(self, snapshot: MilvusSnapshot) -> None:
        self._s = snapshot
        self._df: dict[str, int] = {}
        self._lock = threading.Lock()

    def prefetch(self, terms: set[str]) -> None:
        missing = sorted({t.lower() for t in terms} - self._df.keys())
        if not missing:
            return
        found = term_frequencies(self._s.client, self._s.names, missing, self._s.gen)
        with self._lock:
            if len(self._df) > _CACHE_LIMIT:
                self._df.clear()
            for t in missing:
                self._df[t] = found.get(t, 0)

    def document_frequency(self, term: str) -> int:
        term = term.lower()
        if term not in self._df:
            self.prefetch({term})
        return self._df.get(term, 0)

    def knows(self, term: str) -> bool:
        return self.document_frequency(term) > 0

    def idf(self, term: str) -> float:
        n = max(int(self._s.manifest.get("chunks", 0)), 1)
        df = self.document_frequency(term)
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))


class MilvusSnapshot:
    """One generation of the store, read-only; what ``IndexData`` is for FAISS."""

    def __init__(self, client: Any, names: Names, gen: int, manifest: dict[str, Any],
                 label: str) -> None:
        self.client = client
        self.names = names
        self.gen = gen
        self.manifest = manifest
        self.path = label  # where it lives, for messages and the UI footer
        self.paragraphs = _Paragraphs(self)
        self.keyword = _TermStats(self)

    def document(self, doc: str) -> list[Paragraph]:
        rows = query_all(self.client, self.names.paragraphs,
                         f"doc == {quote(doc)} and {live_filter(self.gen)}", _PARAGRAPH_OUT)
        return sorted((_paragraph(r) for r in rows), key=lambda p: p.index)

    def documents(self) -> list[str]:
        rows = query_all(self.client, self.names.files, live_filter(self.gen), ["path", "info"])
        return sorted(r["path"] for r in rows if int(r["info"].get("chunks", 0)) > 0)


class MilvusRetriever:
    """Dense + BM25 search in Milvus, fused, turned into ``Passage``s. Thread-safe."""

    def __init__(self, data: MilvusSnapshot, embedder: Embedder | None, *,
                 dense_weight: str = "auto", fusion: str = "score") -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"unknown Milvus fusion {fusion!r}; use one of {', '.join(FUSIONS)}"
                             " (RAG_MILVUS_FUSION)")
        self.data = data
        self.embedder = embedder
        self.fusion = fusion
        self._dense_setting = dense_weight

    def weights(self, question: str) -> ChannelWeights:
        return channel_weights(self.embedder is not None and bool(self.data.manifest.get("chunks")),
                               self._dense_setting, self.data.manifest)

    def search(self, question: str, top_k: int = 5) -> list[Passage]:
        limit = max(CANDIDATES, top_k * 4)
        weights = self.weights(question)
        query_vec = None
        if weights.dense > 0 and self.embedder is not None:
            query_vec = self.embedder.embed([question], query=True)[0]
        if self.fusion == "rrf" and query_vec is not None:
            ranked = self._rrf(question, query_vec, limit)
        else:
            ranked = self._score_fusion(question, query_vec, weights, limit)
        ranked = ranked[:top_k]
        # A row's key is "<generation that wrote it>:<chunk id>"; its document's paragraphs were
        # written in the same generation, so they can be fetched by primary key.
        self.data.paragraphs.prefetch({(c.doc, i) for _, c, _, _ in ranked for i in c.paragraphs},
                                      born={c.doc: int(pk.split(":", 1)[0])
                                            for pk, c, _, _ in ranked})
        terms = content_terms(question)
        return [make_passage(c, [self.data.paragraphs[(c.doc, i)] for i in c.paragraphs], score,
                             rank, channels, terms)
                for rank, (_, c, score, channels) in enumerate(ranked)]

    def _search(self, data: Any, field: str, metric: str, limit: int, fields: list[str]
                ) -> list[dict[str, Any]]:
        search_params: dict[str, Any] = {"metric_type": metric}
        if field == "dense":
            search_params["params"] = {"ef": max(DENSE_EF, limit)}
        hits = self.data.client.search(
            self.data.names.chunks, data=[data], anns_field=field, limit=limit,
            filter=live_filter(self.data.gen), output_fields=fields,
            search_params=search_params,
        )
        return list(hits[0]) if hits else []

    def _score_fusion(self, question: str, query_vec: np.ndarray | None,
                      weights: ChannelWeights, limit: int
                      ) -> list[tuple[str, Chunk, float, dict[str, float]]]:
        chunks: dict[str, Chunk] = {}
        keyword: dict[int, float] = {}
        dense: dict[int, float] = {}
        ids: dict[str, int] = {}
        terms = keywords_text(question, self.data.manifest.get("analyzer", "rag"))
        out_fields = _CHUNK_OUT + (["dense"] if query_vec is not None else [])
        vectors: dict[int, np.ndarray] = {}
        if terms.strip():
            for hit in self._search(terms, "sparse", "BM25", limit, out_fields):
                i = ids.setdefault(hit["id"], len(ids))
                chunks[hit["id"]] = _chunk(hit["entity"])
                keyword[i] = float(hit["distance"])
                if query_vec is not None:
                    vectors[i] = np.asarray(hit["entity"]["dense"], dtype=np.float32)
        if query_vec is not None:
            for hit in self._search(query_vec.tolist(), "dense", "IP", limit, _CHUNK_OUT):
                i = ids.setdefault(hit["id"], len(ids))
                chunks[hit["id"]] = _chunk(hit["entity"])
                dense[i] = float(hit["distance"])
            # Cosines of keyword candidates the dense top list missed (as FAISS reconstructs).
            for i, vec in vectors.items():
                dense.setdefault(i, float(vec @ query_vec))
        # BM25 scores are compared as magnitudes of one query, so only their order matters.
        keyword = {i: keyword.get(i, 0.0) for i in ids.values()}
        fused = fuse_scores(keyword, dense, dense_weight=weights.dense)
        by_index = {i: pk for pk, i in ids.items()}
        out = []
        for i, score in fused:
            channels = {"keyword": keyword[i]}
            if i in dense:
                channels["dense"] = dense[i]
            out.append((by_index[i], chunks[by_index[i]], score, channels))
        return out

    def _rrf(self, question: str, query_vec: np.ndarray, limit: int
             ) -> list[tuple[str, Chunk, float, dict[str, float]]]:
        from pymilvus import AnnSearchRequest, RRFRanker

        expr = live_filter(self.data.gen)
        requests = [AnnSearchRequest(data=[query_vec.tolist()], anns_field="dense",
                                     param={"metric_type": "IP"}, limit=limit, expr=expr)]
        terms = keywords_text(question, self.data.manifest.get("analyzer", "rag"))
        if terms.strip():
            requests.append(AnnSearchRequest(data=[terms], anns_field="sparse",
                                             param={"metric_type": "BM25"}, limit=limit,
                                             expr=expr))
        hits = self.data.client.hybrid_search(self.data.names.chunks, requests,
                                              ranker=RRFRanker(RRF_K), limit=limit,
                                              output_fields=_CHUNK_OUT)
        return [(h["id"], _chunk(h["entity"]), float(h["distance"]), {"rrf": float(h["distance"])})
                for h in (hits[0] if hits else [])]

