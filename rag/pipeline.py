"""The ``RAG`` class: the one place that composes the stages, and the module-level ``ask``."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.answerers import make_answerer
from rag.answerers.base import Answerer, Evidence
from rag.answerers.llm import LLMAnswerer, LLMError
from rag.config import AUTO, ConfigError, Settings, load_settings
from rag.documents import find_files
from rag.embeddings import (
    BUNDLED_MODEL,
    Embedder,
    ModelChoice,
    SentenceTransformerEmbedder,
    resolve_model,
)
from rag.fusion import dense_weight_for
from rag.indexing import build_index, stale_reason
from rag.keyword import tokenize
from rag.paths import project_path
from rag.retrieval import Retriever
from rag.rewrite import clean_history, rewrite_question
from rag.schema import Answer, Paragraph, Passage
from rag.store import (
    IndexFormatError,
    IndexMismatchError,
    IndexNotFoundError,
    load_index,
    read_manifest,
)

log = logging.getLogger(__name__)


class QuestionError(ValueError):
    """The question cannot be asked as given (empty, too long)."""


MAX_QUESTION_CHARS = 2000


def clean_question(question: str) -> str:
    """The question with control characters turned into spaces and runs of spaces collapsed."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    if len(question) > 50 * MAX_QUESTION_CHARS:  # do not even scan a pasted book
        raise QuestionError(f"the question is {len(question)} characters long; keep it to at "
                            f"most {MAX_QUESTION_CHARS}")
    cleaned = "".join(c if c.isprintable() or c in "\n\t" else " " for c in question)
    cleaned = re.sub(r"[ \t\u3000]+", " ", cleaned).strip()
    if not cleaned:
        raise QuestionError("the question is empty; type a question")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(cleaned)} characters long; keep it to at most "
            f"{MAX_QUESTION_CHARS}"
        )
    return cleaned


class RAG:
    """Retrieval-augmented QA over one index.

    ``RAG(index_dir="index", corpus_dir="seeds")`` loads the index, building it first when it is
    missing or stale; ``RAG(index_dir=...)`` alone loads an index built by ``rag index``.
    Safe to call from several threads at once.
    """

    def __init__(
        self,
        index_dir: str | Path | None = None,
        corpus_dir: str | Path | None = None,
        *,
        llm: str | Answerer | None = None,
        settings: Settings | None = None,
        rebuild: bool = False,
        progress: bool = False,
        **overrides: Any,
    ) -> None:
        base = settings or load_settings()
        self.settings = base.with_overrides(
            index_dir=str(index_dir) if index_dir is not None else None,
            llm=llm if isinstance(llm, str) else None,
            **overrides,
        )
        self.index_dir = (
            Path(index_dir) if index_dir is not None else project_path(self.settings.index_dir)
        )
        if corpus_dir is None and index_dir is None:
            corpus_dir = project_path(self.settings.corpus_dir)
        self.corpus_dir = Path(corpus_dir) if corpus_dir is not None else None
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._auto_choice: ModelChoice | None = None
        self._answerers: dict[str, Answerer] = {}
        if isinstance(llm, Answerer):
            self._answerers[llm.name] = llm
            self.settings = self.settings.with_overrides(llm=llm.name)
        self._milvus = self._milvus_store()
        self._data = self._open(rebuild=rebuild, progress=progress)
        # The live (index, retriever) pair, swapped as one reference so that every question is
        # answered entirely from one index even while reindex() runs in another thread.
        self._live = (self._data, self._make_retriever(self._data))

    def _milvus_store(self):
        store = self.settings.store
        if store == "faiss":
            return None
        if store != "milvus":
            raise ConfigError(f"unknown store {store!r}; use faiss or milvus (RAG_STORE)")
        from rag.milvus import MilvusStore

        return MilvusStore(self.settings, self.index_dir)

    def _current(self) -> tuple[Any, Any]:
        """The live (index, retriever); for Milvus, follows generations other processes publish."""
        live = self._live
        if self._milvus is None:
            return live
        data = self._milvus.snapshot()
        if data is live[0]:
            return live
        with self._lock:
            if self._live[0] is not data:
                self._data = data
                self._live = (data, self._make_retriever(data))
            return self._live

    # -- index ---------------------------------------------------------------------------

    def _explicit_model(self) -> str | None:
        setting = self.settings.embed_model
        return None if setting in ("", AUTO) else setting

    def _read_manifest(self) -> dict[str, Any] | None:
        if self._milvus is not None:
            return self._milvus.manifest()
        return read_manifest(self.index_dir)

    def _load(self) -> Any:
        return self._milvus.snapshot() if self._milvus is not None else load_index(self.index_dir)

    def _build(self, model: str, *, progress: bool, rebuild: bool) -> Any:
        engine = self.settings.ingest_engine
        if self._milvus is not None:
            return self._milvus.update(self.corpus_dir, self.settings, self.embedder(model),
                                       rebuild=rebuild, engine=engine, progress=progress)
        return build_index(self.corpus_dir, self.index_dir, self.settings, self.embedder(model),
                           progress=progress, reuse=not rebuild, engine=engine)

    def _open(self, *, rebuild: bool, progress: bool) -> Any:
        manifest = self._read_manifest()
        explicit = self._explicit_model()
        if self.corpus_dir is None:
            if manifest is None:
                where = self._milvus.label if self._milvus is not None else self.index_dir
                raise IndexNotFoundError(
                    f"no index in {where}; build one with: "
                    f"rag index CORPUS_DIR --index {self.index_dir}"
                    + (" --store milvus" if self._milvus is not None else "")
                )
            data = self._load()
            if explicit and _canonical(explicit) != data.manifest.get("embed_model"):
                raise IndexMismatchError(
                    f"index in {self.index_dir} was built with embedding model "
                    f"{data.manifest.get('embed_model')!r}, not {explicit!r}; rebuild it with "
                    f"RAG_EMBED_MODEL={explicit} rag index CORPUS_DIR --index {self.index_dir} "
                    "--rebuild, or drop the model setting to use the index's own"
                )
            return data
        find_files(self.corpus_dir)  # fail on a missing folder before loading any model
        model = self._model_for_build(manifest)
        if rebuild:
            reason = "rebuild requested"
        elif self._milvus is not None:
            reason = self._milvus.stale_reason(self.corpus_dir, self.settings, model)
        else:
            reason = stale_reason(self.index_dir, self.corpus_dir, self.settings, model)
        if reason is None:
            try:
                return self._load()
            except IndexFormatError as exc:
                reason = f"existing index unusable ({exc})"
        log.info("building index in %s: %s", self._milvus.label if self._milvus is not None
                 else self.index_dir, reason)
        return self._build(model, progress=progress, rebuild=rebuild)

    def _model_for_build(self, manifest: dict[str, Any] | None) -> str:
        explicit = self._explicit_model()
        if explicit:
            return _canonical(explicit)
        if manifest and manifest.get("embed_model"):
            # "auto" keeps the model the index already uses unless a better one appeared.
            if manifest["embed_model"] != BUNDLED_MODEL:
                return manifest["embed_model"]
        self._auto_choice = resolve_model(AUTO)
        return self._auto_choice.name

    def embedder(self, model: str | None = None) -> Embedder:
        """The embedding model (loaded once, on first need)."""
        with self._lock:
            wanted = model or self._data.manifest["embed_model"]
            if self._embedder is None or self._embedder.name != wanted:
                choice = self._auto_choice
                if choice is None or choice.name != wanted:
                    choice = resolve_model(wanted)
                self._embedder = SentenceTransformerEmbedder(
                    choice, device=self.settings.embed_device,
                    batch_size=self.settings.embed_batch_size,
                )
            return self._embedder

    def _make_retriever(self, data: Any) -> Any:
        weight = self.settings.dense_weight
        if weight in ("", AUTO):
            needs_dense = dense_weight_for(float(data.manifest.get("unk_rate", 0))) > 0
        else:
            needs_dense = float(weight) > 0
        embedder = self.embedder(data.manifest["embed_model"]) if needs_dense else None
        if self._milvus is not None:
            from rag.milvus import MilvusRetriever

            return MilvusRetriever(data, embedder, dense_weight=weight,
                                   fusion=self.settings.milvus_fusion)
        return Retriever(data, embedder, dense_weight=weight)

    def reindex(self, *, progress: bool = False) -> None:
        """Rebuild from the corpus folder and switch to the new index without downtime."""
        if self.corpus_dir is None:
            raise IndexNotFoundError("this RAG has no corpus folder to rebuild from")
        data = self._build(self._model_for_build(self._data.manifest), progress=progress,
                           rebuild=False)
        retriever = self._make_retriever(data)
        with self._lock:
            self._data = data
            self._live = (data, retriever)

    @property
    def manifest(self) -> dict[str, Any]:
        return self._current()[0].manifest

    @property
    def version(self) -> str:
        """Which published state answers now: a build folder, or a Milvus build@generation."""
        data = self._current()[0]
        if self._milvus is not None:
            return f"{data.names.build}@{data.gen}"
        return Path(data.path).name

    @property
    def location(self) -> str:
        """Where the index lives (a folder, or the Milvus store's URI and name)."""
        return self._milvus.label if self._milvus is not None else str(self.index_dir)

    def document(self, doc: str) -> list[Paragraph]:
        """All paragraphs of one indexed document, in order; empty if ``doc`` is not indexed."""
        return self._current()[0].document(doc)

    # -- querying ------------------------------------------------------------------------

    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        question = clean_question(question)
        return self._current()[1].search(question, top_k or self.settings.top_k)

    def answerer(self, name: str | None = None, model: str | None = None) -> Answerer:
        """The answerer ``name`` (default: the setting) for ``model`` (default: the setting)."""
        name = name or self.settings.llm
        key = name if not model or name == "extractive" else f"{name}:{model}"
        with self._lock:
            if key not in self._answerers:
                settings = self.settings.with_overrides(llm_model=model) if model else self.settings
                self._answerers[key] = make_answerer(name, settings)
            return self._answerers[key]

    def evidence(self, question: str, passages: Sequence[Passage],
                 history: Sequence[dict[str, str]] = ()) -> Evidence:
        """What an answerer gets for ``passages`` (from ``retrieve``) on the live index."""
        return _evidence(self._current()[0], question, passages, history)

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
        data, retriever = self._current()
        run = _Run(question=clean_question(question), started=time.perf_counter(), data=data,
                   retriever=retriever)
        turns = clean_history(history)
        answerer = self.answerer(llm, model)
        try:
            yield from self._answer_stream(run, turns, answerer, top_k)
        except Exception as exc:
            if answerer.name == "extractive" or not self.settings.llm_fallback:
                raise
            yield from self._fall_back(run, turns, top_k, answerer.name, exc)

    def _answer_stream(self, run: _Run, turns: Sequence[dict[str, str]], answerer: Answerer,
                       top_k: int | None) -> Iterator[str | Answer]:
        run.standalone = self._standalone(run.question, turns, answerer)
        run.passages = run.retriever.search(run.standalone, top_k or self.settings.top_k)
        run.retrieved = time.perf_counter()
        for item in answerer.stream(_evidence(run.data, run.standalone, run.passages, turns)):
            yield _finish(item, run) if isinstance(item, Answer) else item

    def _standalone(self, question: str, turns: Sequence[dict[str, str]],
                    answerer: Answerer) -> str:
        complete = answerer.complete if isinstance(answerer, LLMAnswerer) else None
        try:
            return clean_question(rewrite_question(question, turns, complete=complete))
        except QuestionError:  # an unusable rewrite: keep the user's words
            return question

    def _fall_back(self, run: _Run, turns: Sequence[dict[str, str]], top_k: int | None,
                   failed: str, exc: Exception) -> Iterator[str | Answer]:
        """The extractive answer after an LLM failure, with the reason in ``notice``."""
        if isinstance(exc, LLMError):
            reason = str(exc).removeprefix(f"{failed}: ")
            log.warning("%s failed, answering extractively: %s", failed, reason)
        else:
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("%s failed, answering extractively", failed, exc_info=exc)
        extractive = self.answerer("extractive")
        if run.standalone is None:
            run.standalone = self._standalone(run.question, turns, extractive)
        if run.passages is None:
            run.passages = run.retriever.search(run.standalone, top_k or self.settings.top_k)
            run.retrieved = time.perf_counter()
        notice = f"{failed} failed ({reason}); showing the extractive answer instead"
        for item in extractive.stream(_evidence(run.data, run.standalone, run.passages,
                                                turns)):
            if isinstance(item, Answer):
                item = replace(item, notice="; ".join(n for n in (notice, item.notice) if n))
                yield _finish(item, run)
            else:
                yield item

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


def _evidence(data: Any, question: str, passages: Sequence[Passage],
              history: Sequence[dict[str, str]]) -> Evidence:
    prefetch = getattr(data.keyword, "prefetch", None)
    if prefetch is not None:  # a remote store: one request for the question's term statistics
        prefetch(set(tokenize(question)))
    return Evidence(
        question=question,
        passages=tuple(passages),
        paragraph=lambda doc, i: data.paragraphs[(doc, i)],
        idf=data.keyword.idf,
        in_corpus=data.keyword.knows,
        history=tuple(history),
    )


@dataclass
class _Run:
    """What one ``ask_stream`` call has done so far (so a fallback can reuse it)."""

    question: str
    started: float
    data: Any  # IndexData or MilvusSnapshot
    retriever: Any  # Retriever or MilvusRetriever
    standalone: str | None = None
    passages: list[Passage] | None = None
    retrieved: float | None = None


def _finish(answer: Answer, run: _Run) -> Answer:
    """The user's own question, the rewrite that was searched, and timings."""
    done = time.perf_counter()
    retrieved = run.retrieved if run.retrieved is not None else done
    timings = {"retrieve_ms": (retrieved - run.started) * 1000,
               "answer_ms": (done - retrieved) * 1000,
               "total_ms": (done - run.started) * 1000}
    rewritten = run.standalone if run.standalone not in (None, run.question) else None
    return replace(answer, question=run.question, rewritten_question=rewritten,
                   timings={k: round(v, 3) for k, v in timings.items()})


def _canonical(model: str) -> str:
    return BUNDLED_MODEL if model in ("bundled", "minilm", BUNDLED_MODEL) else model


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
