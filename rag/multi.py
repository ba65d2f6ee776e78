"""Asking several knowledge bases at once (``MultiRAG``), and the opened bases of a process
(``Library``: one ``RAG`` per base, kept, so switching bases never rebuilds or reloads).

``MultiRAG`` retrieves from each base on its own live snapshot, fuses the per-base results
(``rag.fusion``) and answers with the normal answerers. Inside, a passage's document is
qualified as ``BASE/doc`` so that look-ups reach the right base even when two bases hold a file
of the same name; what it returns names the base in ``Passage.kb`` / ``Citation.kb`` and keeps
``doc`` as the base's own file name.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from rag.answerers.base import Answerer
from rag.answerers.registry import AnswererRegistry
from rag.bases import DEFAULT, KnowledgeBase, Registry
from rag.fusion import FUSIONS, fuse_scores, rrf_fuse
from rag.keyword import bm25_idf
from rag.live import Live
from rag.pipeline import RAG
from rag.retrieval import FUSED
from rag.schema import Answer, Paragraph, Passage

SEP = "/"  # base names never contain it (rag.bases.check_name)


def qualify(kb: str, doc: str) -> str:
    return f"{kb}{SEP}{doc}"


def unqualify(passage: Passage) -> Passage:
    kb, _, doc = passage.doc.partition(SEP)
    return replace(passage, doc=doc, kb=kb)


def unqualify_answer(answer: Answer) -> Answer:
    def split(doc: str) -> dict[str, str]:
        kb, _, own = doc.partition(SEP)
        return {"doc": own, "kb": kb}

    return replace(answer, citations=tuple(replace(c, **split(c.doc)) for c in answer.citations),
                   related=tuple(unqualify(p) for p in answer.related))


def fuse_bases(results: Mapping[str, Sequence[Passage]], *, fusion: str = "score",
               dense_weight: float = 0.0) -> list[tuple[tuple[str, int], float]]:
    """One ranking of ``(base, index in its list)`` over per-base results, best first.

    ``score``: the raw channel scores of every base's passages fused as one candidate list
    (BM25 max-normalised over all bases, so a base where the question's terms are rare or
    absent ranks low; the dense channel only with ``dense_weight`` > 0, i.e. when every base
    uses one embedding model). ``rrf``: reciprocal rank fusion of the per-base rankings.
    """
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; use one of {', '.join(FUSIONS)}")
    if fusion == "rrf":
        return rrf_fuse([[(kb, i) for i in range(len(ps))] for kb, ps in results.items()])
    keyword = {(kb, i): p.channel_scores.get("keyword", 0.0)
               for kb, ps in results.items() for i, p in enumerate(ps)}
    dense = {(kb, i): p.channel_scores["dense"] for kb, ps in results.items()
             for i, p in enumerate(ps) if "dense" in p.channel_scores}
    usable = dense_weight > 0 and len(dense) == len(keyword)
    return fuse_scores(keyword, dense if usable else {}, dense_weight=dense_weight)


class _Snapshots:
    """The parts of ``Snapshot`` answering needs, over several bases' live snapshots."""

    def __init__(self, lives: Mapping[str, Live]) -> None:
        self.lives = lives
        manifests = {kb: live.snapshot.manifest for kb, live in lives.items()}
        self.manifest: dict[str, Any] = {
            key: sum(int(m.get(key, 0)) for m in manifests.values())
            for key in ("documents", "paragraphs", "chunks")}
        self.manifest["embed_model"] = ", ".join(
            dict.fromkeys(str(m.get("embed_model")) for m in manifests.values()))
        self.manifest["bases"] = manifests

    @property
    def version(self) -> str:
        return ";".join(f"{kb}@{live.snapshot.version}" for kb, live in self.lives.items())

    def paragraph(self, doc: str, index: int) -> Paragraph:
        kb, _, own = doc.partition(SEP)
        return replace(self.lives[kb].snapshot.paragraph(own, index), doc=doc)

    def document(self, doc: str) -> list[Paragraph]:
        kb, _, own = doc.partition(SEP)
        live = self.lives.get(kb)
        return [] if live is None else [replace(p, doc=doc) for p in live.snapshot.document(own)]


class _Terms:
    """Keyword statistics over the union of the bases (for the extractive answerer)."""

    def __init__(self, lives: Mapping[str, Live]) -> None:
        self.terms = [live.terms for live in lives.values()]
        self.n_texts = sum(t.n_texts for t in self.terms)

    def prefetch(self, terms: Collection[str]) -> None:
        for t in self.terms:
            t.prefetch(terms)

    def knows(self, term: str) -> bool:
        return any(t.knows(term) for t in self.terms)

    def idf(self, term: str) -> float:
        return bm25_idf(self.n_texts, sum(t.document_frequency(term) for t in self.terms))


class _Retriever:
    def __init__(self, lives: Mapping[str, Live], fusion: str) -> None:
        self.lives = lives
        self.fusion = fusion
        models = {live.snapshot.manifest.get("embed_model") for live in lives.values()}
        weights = [live.retriever.weights().dense for live in lives.values()]
        self.dense_weight = min(weights) if len(models) == 1 else 0.0

    def search(self, question: str, top_k: int = 5) -> list[Passage]:
        results = {kb: live.retriever.search(question, top_k) for kb, live in self.lives.items()}
        fused = fuse_bases(results, fusion=self.fusion, dense_weight=self.dense_weight)
        # The bases' passages are merged by their channel scores; a base's own reranked score
        # and fused score do not compare across bases, so the merged score replaces both.
        return [replace(results[kb][i], doc=qualify(kb, results[kb][i].doc), kb=kb, score=score,
                        rank=rank, channel_scores={
                            name: value for name, value in results[kb][i].channel_scores.items()
                            if name != FUSED})
                for rank, ((kb, i), score) in enumerate(fused[:top_k])]


class MultiRAG(RAG):
    """Questions answered from several knowledge bases at once; each citation names its base.

    ``MultiRAG({"A": RAG(kb="A"), "B": RAG(kb="B")})`` or ``RAG.multi(["A", "B"])``. Each base
    keeps its own index, embedding model and settings; answering uses the first base's settings
    (answerer, top-k) unless ``settings`` is given. ``fusion``: ``score`` (default) or ``rrf``.
    """

    def __init__(self, rags: Mapping[str, RAG] | Sequence[RAG], *,
                 llm: str | Answerer | None = None, fusion: str = "score",
                 **overrides: Any) -> None:  # no RAG.__init__: it has no index of its own
        if not isinstance(rags, Mapping):
            rags = {r.kb or DEFAULT: r for r in rags}
        if not rags:
            raise ValueError("MultiRAG needs at least one knowledge base")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; use one of {', '.join(FUSIONS)}")
        self.rags = dict(rags)
        first = next(iter(self.rags.values()))
        self.settings = first.settings.with_overrides(
            llm=llm.name if isinstance(llm, Answerer) else llm, **overrides)
        self.kb = None
        self.fusion = fusion
        self.corpus_dir = None
        self._embedders = first._embedders
        self._answerers = AnswererRegistry(self.settings)
        if isinstance(llm, Answerer):
            self._answerers.add(llm)

    @property
    def names(self) -> list[str]:
        return list(self.rags)

    def _live(self) -> Live:
        lives = {kb: rag._live() for kb, rag in self.rags.items()}
        return Live(_Snapshots(lives), _Retriever(lives, self.fusion),  # type: ignore[arg-type]
                    _Terms(lives))  # type: ignore[arg-type]

    def open(self) -> MultiRAG:
        for rag in self.rags.values():
            rag.open()
        return self

    def close(self) -> None:
        for rag in self.rags.values():
            rag.close()

    def reindex(self, *, progress: bool = False, files: Collection[str] = ()) -> None:
        for rag in self.rags.values():
            rag.reindex(progress=progress)

    @property
    def location(self) -> str:
        return "; ".join(f"{kb}: {rag.location}" for kb, rag in self.rags.items())

    def document(self, doc: str, kb: str | None = None) -> list[Paragraph]:
        """A document of base ``kb`` (or a ``BASE/doc`` name), with its own ``doc`` names."""
        if kb is None:
            kb, _, doc = doc.partition(SEP)
        rag = self.rags.get(kb)
        return [] if rag is None else rag.document(doc)

    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        return [unqualify(p) for p in super().retrieve(question, top_k)]

    def ask_stream(self, question: str, top_k: int | None = None, **kwargs: Any
                   ) -> Iterator[str | Answer]:
        for item in super().ask_stream(question, top_k, **kwargs):
            yield unqualify_answer(item) if isinstance(item, Answer) else item


class Library:
    """The knowledge bases of one process, each opened once and kept (thread-safe).

    ``get(name)`` returns that base's ``RAG`` (loaded on first use, then reused, so switching
    between loaded bases costs nothing); ``select(names)`` one base's ``RAG`` or a ``MultiRAG``.
    Deleting or renaming a base here closes and forgets its ``RAG``.
    """

    def __init__(self, registry: Registry | None = None, *, default: RAG | None = None,
                 **rag_kwargs: Any) -> None:
        self.registry = registry or Registry()
        self.rag_kwargs = rag_kwargs
        self._rags: dict[str, RAG] = {} if default is None else {DEFAULT: default}
        self._multis: dict[tuple[str, ...], MultiRAG] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return self.registry.names()

    def base(self, name: str) -> KnowledgeBase:
        return self.registry.get(name)

    def get(self, name: str) -> RAG:
        with self._lock:
            rag = self._rags.get(name)
            if rag is None:
                self.registry.get(name)  # an unknown name raises here, before anything opens
                rag = RAG(kb=name, bases_dir=str(self.registry.root), **self.rag_kwargs)
                self._rags[name] = rag
            return rag

    def keep(self, name: str, rag: RAG) -> RAG:
        """Use ``rag`` for base ``name`` unless one is open already; returns the one in use."""
        with self._lock:
            return self._rags.setdefault(name, rag)

    def replace(self, old: RAG, new: RAG) -> None:
        """Let ``new`` answer for every base ``old`` answers for (a server's worker pool)."""
        with self._lock:
            for name, rag in list(self._rags.items()):
                if rag is old:
                    self._rags[name] = new

    def select(self, names: Sequence[str] | str) -> RAG:
        names = [names] if isinstance(names, str) else list(dict.fromkeys(names))
        if not names:
            names = [DEFAULT]
        if len(names) == 1:
            return self.get(names[0])
        rags = {n: self.get(n) for n in names}
        with self._lock:
            key = tuple(names)
            if key not in self._multis:
                self._multis[key] = MultiRAG(rags)
            return self._multis[key]

    def create(self, name: str, corpus: Any = None, **settings: Any) -> KnowledgeBase:
        return self.registry.create(name, corpus, **settings)

    def _forget(self, name: str) -> None:
        with self._lock:
            rag = self._rags.pop(name, None)
            for key in [k for k in self._multis if name in k]:
                del self._multis[key]
        if rag is not None:
            rag.close()

    def delete(self, name: str) -> KnowledgeBase:
        if name == DEFAULT or self.registry.get(name) is None:
            return self.registry.delete(name)  # refuses, saying why
        self._forget(name)
        return self.registry.delete(name)

    def rename(self, old: str, new: str) -> KnowledgeBase:
        base = self.registry.rename(old, new)
        self._forget(old)
        return base

    def close(self) -> None:
        for name in list(self._rags):
            self._forget(name)
