"""The ``RAG`` class: retrieves, asks and streams over one index; the module-level ``ask``.

What it composes lives elsewhere: the store (``rag.stores``), the live snapshot and its
retriever (``rag.live``), question cleaning (``rag.question``) and the answerers
(``rag.answerers.registry``). ``RAG`` itself has no store or answerer special cases.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.answerers.base import Answerer, Evidence
from rag.answerers.registry import AnswererRegistry
from rag.asking import Run, answer_stream, evidence_for
from rag.bases import Registry, label_passage
from rag.config import Settings, load_settings
from rag.embeddings import Embedder, EmbedderCache
from rag.live import Live, LiveIndex
from rag.paths import project_path
from rag.question import QuestionError, check_top_k, clean_question
from rag.rewrite import clean_history
from rag.schema import Answer, Paragraph, Passage
from rag.script import in_corpus_script
from rag.stores import IndexNotFoundError, open_store

log = logging.getLogger(__name__)

__all__ = ["RAG", "QuestionError", "ask", "clean_question", "default_rag"]


class RAG:
    """Retrieval-augmented QA over one index.

    ``RAG(index_dir="index", corpus_dir="seeds")`` answers from the index of ``seeds/``, built
    or refreshed on first use (or by ``open()``) when missing or stale; ``RAG(index_dir=...)``
    alone answers from an index built by ``rag index``; ``RAG(kb="NAME")`` answers from the
    knowledge base NAME (its folders and settings, see ``rag.bases``), and its passages and
    citations name it. The constructor reads nothing. Safe to call from several threads at once.
    """

    def __init__(self, index_dir: str | Path | None = None, corpus_dir: str | Path | None = None,
                 *, kb: str | None = None, llm: str | Answerer | None = None,
                 settings: Settings | None = None, rebuild: bool = False, progress: bool = False,
                 **overrides: Any) -> None:
        base = settings or load_settings()
        if kb is not None:
            where = base.with_overrides(bases_dir=overrides.get("bases_dir"))
            base = Registry(settings=where).get(kb).apply(base)
        self.kb = kb
        self.settings = base.with_overrides(
            index_dir=str(index_dir) if index_dir is not None else None,
            llm=llm.name if isinstance(llm, Answerer) else llm, **overrides)
        self.index_dir = (Path(index_dir) if index_dir is not None
                          else project_path(self.settings.index_dir))
        if corpus_dir is None and index_dir is None:
            corpus_dir = project_path(self.settings.corpus_dir)
        self.corpus_dir = Path(corpus_dir) if corpus_dir is not None else None
        self._embedders = EmbedderCache(device=self.settings.embed_device,
                                        batch_size=self.settings.embed_batch_size)
        self._answerers = AnswererRegistry(self.settings)
        if isinstance(llm, Answerer):
            self._answerers.add(llm)
        self.store = open_store(self.settings, self.index_dir)
        self._index = LiveIndex(self.store, self.settings, self._embedders,
                                corpus_dir=self.corpus_dir, store_dir=self.index_dir)
        self._first_open = {"rebuild": rebuild, "progress": progress}
        self._open_lock = threading.Lock()

    @staticmethod
    def multi(kbs: Sequence[str], **kwargs: Any) -> RAG:
        """Several knowledge bases asked as one, results fused (``rag.multi.MultiRAG``)."""
        from rag.multi import MultiRAG

        return MultiRAG({kb: RAG(kb=kb, **kwargs) for kb in kbs})

    # -- index ---------------------------------------------------------------------------

    def open(self) -> RAG:
        """Load the index now (building or refreshing it from the corpus folder when stale)
        instead of on the first question; returns ``self``."""
        self._live()
        return self

    def _live(self) -> Live:
        if self._first_open is not None:
            with self._open_lock:
                if self._first_open is not None:
                    live = self._index.open(**self._first_open)
                    self._first_open = None
                    return live
        return self._index.current()

    def close(self) -> None:
        """Release the store's connections and files (a Milvus Lite file, for one)."""
        self.store.close()

    def reindex(self, *, progress: bool = False, files: Collection[str] = ()) -> None:
        """Refresh from the corpus folder and switch to the new index without downtime;
        ``files`` (corpus-relative paths) are re-read and re-parsed even if unchanged.

        Concurrent calls coalesce into at most one build after the running one; with nothing
        changed nothing is built. With ``index_process="child"`` the build runs in a separate
        process (where the store allows it), so questions keep their latency meanwhile.
        """
        if self.corpus_dir is None:
            raise IndexNotFoundError("this RAG has no corpus folder to rebuild from")
        self._live()
        self._index.update(progress=progress, force=files)

    def embedder(self, model: str | None = None) -> Embedder:
        """The embedding model (loaded once, on first need); default: the index's."""
        return self._embedders.get(model or self.manifest["embed_model"])

    @property
    def manifest(self) -> dict[str, Any]:
        return self._live().snapshot.manifest

    @property
    def version(self) -> str:
        """Which published state answers now (a build folder, a Milvus build@generation)."""
        return self._live().snapshot.version

    @property
    def location(self) -> str:
        """Where the index lives (a folder, or the Milvus store's URI and name)."""
        return self.store.location

    def files(self) -> dict[str, dict[str, Any]]:
        """The live index's corpus files: path -> counts, skip reason, when last indexed."""
        return self._live().snapshot.files()

    def document(self, doc: str) -> list[Paragraph]:
        """All paragraphs of one indexed document, in order; empty if ``doc`` is not indexed."""
        return self._live().snapshot.document(doc)

    # -- querying ------------------------------------------------------------------------

    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        live = self._live()
        passages = live.retriever.search(self._searched(clean_question(question), live),
                                         self._top_k(top_k))
        return [label_passage(p, self.kb) for p in passages]

    def _searched(self, question: str, live: Live) -> str:
        """``question`` in the corpus's Chinese script, unless ``match_script`` is off."""
        return in_corpus_script(question, live.terms) if self.settings.match_script else question

    def _top_k(self, top_k: object) -> int:
        return check_top_k(top_k, default=self.settings.top_k, maximum=self.settings.max_top_k)

    def answerer(self, name: str | None = None, model: str | None = None) -> Answerer:
        """The answerer ``name`` (default: the setting) for ``model`` (default: the setting)."""
        return self._answerers.get(name, model)

    def evidence(self, question: str, passages: Sequence[Passage],
                 history: Sequence[dict[str, str]] = ()) -> Evidence:
        """What an answerer gets for ``passages`` (from ``retrieve``) on the live index."""
        live = self._live()
        return evidence_for(live, self._searched(question, live), passages, history,
                            asked=question)

    def ask_stream(self, question: str, top_k: int | None = None, *,
                   history: Sequence[dict[str, str]] = (), llm: str | None = None,
                   model: str | None = None) -> Iterator[str | Answer]:
        """Yield answer text pieces as they are produced, then the final ``Answer``.

        With ``history`` (earlier ``{"role", "content"}`` turns) a follow-up is first made
        standalone (by the LLM, or by a pronoun rule for the extractive answerer) and retrieval
        uses that (``Answer.rewritten_question``). When an LLM fails and ``llm_fallback`` is on,
        the extractive answer follows with ``Answer.notice`` saying why; the final ``Answer``
        then supersedes any pieces already streamed.
        """
        run = Run(question=clean_question(question), started=time.perf_counter(),
                  live=self._live(), top_k=self._top_k(top_k), turns=clean_history(history),
                  timeout=self.settings.request_timeout, kb=self.kb,
                  match_script=self.settings.match_script)
        fallback = (lambda: self.answerer("extractive")) if self.settings.llm_fallback else None
        yield from answer_stream(run, self.answerer(llm, model), fallback=fallback)

    def ask(self, question: str, top_k: int | None = None, *,
            history: Sequence[dict[str, str]] = (), llm: str | None = None,
            model: str | None = None, stream: bool = False) -> Answer | Iterator[str | Answer]:
        """Answer ``question`` with citations; ``stream=True`` returns ``ask_stream``'s iterator."""
        iterator = self.ask_stream(question, top_k, history=history, llm=llm, model=model)
        if stream:
            return iterator
        final = None
        for item in iterator:
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final


_default: RAG | None = None
_default_lock = threading.Lock()


def default_rag() -> RAG:
    global _default
    with _default_lock:
        if _default is None:
            _default = RAG()
        return _default


def ask(question: str, top_k: int | None = None, **kwargs: Any) -> Answer:
    """Answer a question over the default index (``seeds/`` unless configured otherwise)."""
    return default_rag().ask(question, top_k, **kwargs)
