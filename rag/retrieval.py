"""Dense (FAISS) + keyword (BM25) search over a loaded index, fused into ``Passage``s."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rag.embeddings import Embedder
from rag.fusion import dense_weight_for, fuse_scores, ranks_from_scores
from rag.keyword import content_terms
from rag.schema import Chunk, Paragraph, Passage
from rag.store import IndexData

CANDIDATES = 50


@dataclass(frozen=True)
class ChannelWeights:
    keyword: float
    dense: float


def channel_weights(has_dense: bool, setting: str, manifest: dict) -> ChannelWeights:
    """Keywords weigh 1; the dense channel the setting, or by the model's coverage when "auto"
    (see ``fusion.dense_weight_for``); 0 without an embedder or vectors."""
    if not has_dense:
        return ChannelWeights(1.0, 0.0)
    if setting not in ("", "auto"):
        return ChannelWeights(1.0, float(setting))
    return ChannelWeights(1.0, dense_weight_for(float(manifest.get("unk_rate", 0))))


class Retriever:
    """Searches one loaded index. Stateless per query, so safe to share across threads."""

    def __init__(self, data: IndexData, embedder: Embedder | None, *, dense_weight: str = "auto"):
        self.data = data
        self.embedder = embedder
        self._dense_setting = dense_weight

    def weights(self, question: str) -> ChannelWeights:
        """Channel weights for this question (see ``channel_weights``)."""
        return channel_weights(self.embedder is not None and self.data.vectors.ntotal > 0,
                               self._dense_setting, self.data.manifest)

    def search(self, question: str, top_k: int = 5) -> list[Passage]:
        limit = max(CANDIDATES, top_k * 4)
        weights = self.weights(question)
        kw_scores = self.data.keyword.scores(question)
        candidates = ranks_from_scores(kw_scores, limit)
        dense: dict[int, float] = {}
        if weights.dense > 0 and self.embedder is not None:
            query = self.embedder.embed([question], query=True)
            dense = self._dense_scores(query, limit, candidates)
        keyword = {i: float(kw_scores[i]) for i in set(candidates) | set(dense)}
        fused = fuse_scores(keyword, dense, dense_weight=weights.dense)
        terms = content_terms(question)
        passages = []
        for rank, (i, score) in enumerate(fused[:top_k]):
            channels = {"keyword": keyword[i]}
            if i in dense:
                channels["dense"] = dense[i]
            passages.append(self._passage(self.data.chunks[i], score, rank, channels, terms))
        return passages

    def _dense_scores(self, query: np.ndarray, limit: int, extra: list[int]) -> dict[int, float]:
        """Cosine of the query with FAISS's nearest chunks and with the keyword candidates."""
        index = self.data.vectors
        sims, ids = index.search(query, min(limit, index.ntotal))
        out = {int(i): float(s) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0}
        missing = [i for i in extra if i not in out]
        if missing:
            vectors = np.vstack([index.reconstruct(int(i)) for i in missing])
            out.update(zip(missing, (vectors @ query[0]).tolist(), strict=True))
        return out

    def _passage(self, chunk: Chunk, score: float, rank: int, channels: dict[str, float],
                 terms: list[str]) -> Passage:
        paras = [self.data.paragraphs[(chunk.doc, i)] for i in chunk.paragraphs]
        return make_passage(chunk, paras, score, rank, channels, terms)


def make_passage(chunk: Chunk, paras: list[Paragraph], score: float, rank: int,
                 channels: dict[str, float], terms: list[str]) -> Passage:
    """A ``Passage`` for ``chunk``, whose paragraphs are ``paras``, cited at its best paragraph."""
    main = _main_paragraph(paras, terms)
    first, last = paras[0], paras[-1]
    lines = (
        first.lines_of(chunk.start, len(first.text))[0],
        last.lines_of(0 if len(paras) > 1 else chunk.start, chunk.end)[1],
    )
    return Passage(
        chunk_id=chunk.id,
        doc=chunk.doc,
        paragraph=main.index,
        paragraphs=chunk.paragraphs,
        text=chunk.text,
        score=score,
        lines=lines,
        rank=rank,
        channel_scores=channels,
    )


def _main_paragraph(paras: list[Paragraph], terms: list[str]) -> Paragraph:
    """The paragraph of a chunk that matches the question best (longest one on a tie)."""
    def key(p: Paragraph) -> tuple[float, int]:
        hits = sum(math.log1p(len(t)) for t in terms if t in p.text.lower())
        return (hits, len(p.text))

    return max(paras, key=key)
