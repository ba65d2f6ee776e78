"""Retrieval over any store's snapshot: keyword and dense candidates, fused into ``Passage``s.

One flow for every store: the snapshot's BM25 candidates, then (when the dense channel has
weight) its nearest vectors plus the cosines of keyword candidates the dense list missed, and the
BM25 scores of dense candidates where the store can give them; then one fusion function
(``score`` or ``rrf``, see ``rag.fusion``), the first fused candidates reordered by the fitted
reranker (``rag.rerank``) when there is one, and the chunks' paragraphs fetched in one batch.
A reranked passage's ``score`` is the reranker's probability that it is the one holding the
answer (a share of the candidates); its fused score stays in ``channel_scores[FUSED]``
(``fused_score``).
"""

from __future__ import annotations

import math

from rag.coverage import QuestionTerms
from rag.embeddings import Embedder
from rag.fusion import FUSIONS, ChannelWeights, channel_weights, fuse_scores, rrf_fuse
from rag.keyword import TermStatistics, content_terms, tokenize
from rag.rerank import Reranker, candidate_features
from rag.schema import Chunk, Paragraph, Passage
from rag.stores.base import Key, Snapshot

CANDIDATES = 50
FUSED = "fused"  # the channel score that keeps a reranked passage's fused score


def fused_score(passage: Passage) -> float:
    """A passage's fused channel score, whether or not it was reranked (``score`` is then the
    reranker's)."""
    return passage.channel_scores.get(FUSED, passage.score)


class Retriever:
    """Searches one snapshot. Stateless per query, so safe to share across threads."""

    def __init__(self, snapshot: Snapshot, embedder: Embedder | None, *,
                 dense_weight: str = "auto", fusion: str = "score",
                 terms: TermStatistics | None = None, reranker: Reranker | None = None) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; use one of {', '.join(FUSIONS)} "
                             "(RAG_FUSION)")
        self.snapshot = snapshot
        self.embedder = embedder
        self.fusion = fusion
        self._dense_setting = dense_weight
        self.terms = terms
        self.reranker = reranker

    def weights(self) -> ChannelWeights:
        """Channel weights for this snapshot (see ``rag.fusion.channel_weights``)."""
        manifest = self.snapshot.manifest
        return channel_weights(self.embedder is not None and bool(manifest.get("chunks")),
                               self._dense_setting, float(manifest.get("unk_rate", 0)))

    def search(self, question: str, top_k: int = 5, *, rerank: bool = True) -> list[Passage]:
        """The ``top_k`` best passages for ``question`` (``rerank=False``: in fused order)."""
        limit = max(CANDIDATES, top_k * 4)
        weights = self.weights()
        keyword = self.snapshot.keyword_candidates(question, limit)
        dense: dict[Key, float] = {}
        if weights.dense > 0 and self.embedder is not None:
            query = self.embedder.embed([question], query=True)[0]
            dense = self.snapshot.dense_candidates(query, limit)
            dense_ranking = list(dense)
            dense.update(self.snapshot.dense_scores(query, [k for k in keyword
                                                            if k not in dense]))
        else:
            dense_ranking = []
        keyword_ranking = list(keyword)
        extra = [k for k in dense if k not in keyword]
        keyword.update(self.snapshot.keyword_scores(question, extra))
        if self.fusion == "rrf" and dense_ranking:
            fused = rrf_fuse([keyword_ranking, dense_ranking])
        else:
            scores = {k: keyword.get(k, 0.0) for k in dict.fromkeys([*keyword, *dense])}
            fused = fuse_scores(scores, dense, dense_weight=weights.dense)
        chunks = None
        channels = {"keyword": keyword, "dense": dense}
        if rerank and self.reranker is not None and self.terms is not None and len(fused) > 1:
            head = fused[:max(top_k, self.reranker.candidates)]
            chunks = self.snapshot.chunks([k for k, _ in head])
            channels[FUSED] = dict(head)
            fused = [(head[i][0], share) for i, share in self.reranker.rank(self.features(
                question, [chunks[k].text for k, _ in head], [s for _, s in head],
                [keyword.get(k, 0.0) for k, _ in head], [chunks[k].doc for k, _ in head]))]
        return self._passages(question, fused[:top_k], channels, chunks)

    def features(self, question: str, texts: list[str], fused: list[float],
                 keyword: list[float], docs: list[str]) -> list[dict[str, float]]:
        """The reranker's feature rows of fused candidates (texts, fused and keyword scores,
        documents, in fused order). Needs the snapshot's term statistics."""
        if self.terms is None:
            raise ValueError("reranking features need the snapshot's term statistics")
        self.terms.prefetch(set(tokenize(question)))  # one request for a remote store
        terms = QuestionTerms(question, self.terms.idf, self.terms.knows)
        return candidate_features(question, texts, fused, keyword, terms, docs)

    def _passages(self, question: str, ranked: list[tuple[Key, float]],
                  channels: dict[str, dict[Key, float]],
                  fetched: dict[Key, Chunk] | None = None) -> list[Passage]:
        chunks = fetched if fetched is not None else self.snapshot.chunks(
            [k for k, _ in ranked])
        paragraphs = self.snapshot.paragraphs(
            {(c.doc, i) for c in chunks.values() for i in c.paragraphs})
        terms = content_terms(question)
        passages = []
        for rank, (key, score) in enumerate(ranked):
            chunk = chunks[key]
            scores = {"keyword": channels["keyword"].get(key, 0.0)}
            scores.update((name, values[key]) for name, values in channels.items()
                          if name != "keyword" and key in values)
            paras = [paragraphs[(chunk.doc, i)] for i in chunk.paragraphs]
            passages.append(make_passage(chunk, paras, score, rank, scores, terms))
        return passages


def make_passage(chunk: Chunk, paras: list[Paragraph], score: float, rank: int,
                 channels: dict[str, float], terms: list[str]) -> Passage:
    """A ``Passage`` for ``chunk``, whose paragraphs are ``paras``, cited at its best paragraph."""
    main = _main_paragraph(paras, terms)
    first, last = paras[0], paras[-1]
    lines = (
        first.lines_of(chunk.start, len(first.text))[0],
        last.lines_of(0 if len(paras) > 1 else chunk.start, chunk.end)[1],
    )
    return Passage(chunk_id=chunk.id, doc=chunk.doc, paragraph=main.index,
                   paragraphs=chunk.paragraphs, text=chunk.text, score=score, lines=lines,
                   rank=rank, channel_scores=channels)


def _main_paragraph(paras: list[Paragraph], terms: list[str]) -> Paragraph:
    """The paragraph of a chunk that matches the question best (longest one on a tie)."""
    def key(p: Paragraph) -> tuple[float, int]:
        hits = sum(math.log1p(len(t)) for t in terms if t in p.text.lower())
        return (hits, len(p.text))

    return max(paras, key=key)
