"""The ``RAG`` class: the one place that composes the stages, and the module-level ``ask``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.answerers import make_answerer
from rag.answerers.base import Answerer, Evidence
from rag.config import AUTO, Settings, load_settings
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
from rag.retrieval import Retriever
from rag.schema import Answer, Passage
from rag.store import (
    IndexData,
    IndexFormatError,
    IndexMismatchError,
    IndexNotFoundError,
    load_index,
    read_manifest,
)

log = logging.getLogger(__name__)

_PROJECT_ROOT = Path(__file__).resolve().parents[1]


class QuestionError(ValueError):
    """The question cannot be asked as given (empty, too long)."""


MAX_QUESTION_CHARS = 2000


def _default_path(value: str) -> Path:
    """A relative default ('seeds', 'index') resolves against the CWD, else the project root."""
    path = Path(value)
    if path.is_absolute() or path.exists() or not (_PROJECT_ROOT / value).exists():
        return path
    return _PROJECT_ROOT / value


def clean_question(question: str) -> str:
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    cleaned = "".join(c if c.isprintable() or c in "\n\t" else " " for c in question).strip()
    if not cleaned:
        raise QuestionError("the question is empty; type a question")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(cleaned)} characters long; keep it under {MAX_QUESTION_CHARS}"
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
            Path(index_dir) if index_dir is not None else _default_path(self.settings.index_dir)
        )
        if corpus_dir is None and index_dir is None:
            corpus_dir = _default_path(self.settings.corpus_dir)
        self.corpus_dir = Path(corpus_dir) if corpus_dir is not None else None
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._auto_choice: ModelChoice | None = None
        self._answerers: dict[str, Answerer] = {}
        if isinstance(llm, Answerer):
            self._answerers[llm.name] = llm
            self.settings = self.settings.with_overrides(llm=llm.name)
        self._data = self._open(rebuild=rebuild, progress=progress)
        self._retriever = self._make_retriever(self._data)

    # -- index ---------------------------------------------------------------------------

    def _explicit_model(self) -> str | None:
        setting = self.settings.embed_model
        return None if setting in ("", AUTO) else setting

    def _open(self, *, rebuild: bool, progress: bool) -> IndexData:
        manifest = read_manifest(self.index_dir)
        explicit = self._explicit_model()
        if self.corpus_dir is None:
            if manifest is None:
                raise IndexNotFoundError(
                    f"no index in {self.index_dir}; build one with: "
                    f"rag index CORPUS_DIR --index {self.index_dir}"
                )
            data = load_index(self.index_dir)
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
        reason = "rebuild requested" if rebuild else stale_reason(
            self.index_dir, self.corpus_dir, self.settings, model
        )
        if reason is None:
            try:
                return load_index(self.index_dir)
            except IndexFormatError as exc:
                reason = f"existing index unusable ({exc})"
        log.info("building index in %s: %s", self.index_dir, reason)
        return build_index(self.corpus_dir, self.index_dir, self.settings, self.embedder(model),
                           progress=progress)

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

    def _make_retriever(self, data: IndexData) -> Retriever:
        weight = self.settings.dense_weight
        if weight in ("", AUTO):
            needs_dense = dense_weight_for(float(data.manifest.get("unk_rate", 0))) > 0
        else:
            needs_dense = float(weight) > 0
        embedder = self.embedder(data.manifest["embed_model"]) if needs_dense else None
        return Retriever(data, embedder, dense_weight=weight)

    def reindex(self, *, progress: bool = False) -> None:
        """Rebuild from the corpus folder and switch to the new index without downtime."""
        if self.corpus_dir is None:
            raise IndexNotFoundError("this RAG has no corpus folder to rebuild from")
        data = build_index(self.corpus_dir, self.index_dir, self.settings,
                           self.embedder(self._model_for_build(self._data.manifest)),
                           progress=progress)
        retriever = self._make_retriever(data)
        with self._lock:
            self._data, self._retriever = data, retriever

    @property
    def manifest(self) -> dict[str, Any]:
        return self._data.manifest

    # -- querying ------------------------------------------------------------------------

    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        question = clean_question(question)
        return self._retriever.search(question, top_k or self.settings.top_k)

    def answerer(self, name: str | None = None) -> Answerer:
        name = name or self.settings.llm
        with self._lock:
            if name not in self._answerers:
                self._answerers[name] = make_answerer(name, self.settings)
            return self._answerers[name]

    def _evidence(self, question: str, passages: Sequence[Passage],
                  history: Sequence[dict[str, str]]) -> Evidence:
        data = self._data
        return Evidence(
            question=question,
            passages=tuple(passages),
            paragraph=lambda doc, i: data.paragraphs[(doc, i)],
            idf=data.keyword.idf,
            in_corpus=data.keyword.knows,
            history=tuple(history),
        )

    def ask_stream(self, question: str, top_k: int | None = None, *,
                   history: Sequence[dict[str, str]] = (), llm: str | None = None
                   ) -> Iterator[str | Answer]:
        """Yield answer text pieces as they are produced, then the final ``Answer``."""
        started = time.perf_counter()
        question = clean_question(question)
        passages = self._retriever.search(question, top_k or self.settings.top_k)
        retrieved = time.perf_counter()
        evidence = self._evidence(question, passages, history)
        for item in self.answerer(llm).stream(evidence):
            if isinstance(item, Answer):
                done = time.perf_counter()
                timings = {"retrieve_ms": (retrieved - started) * 1000,
                           "answer_ms": (done - retrieved) * 1000,
                           "total_ms": (done - started) * 1000}
                yield _with_timings(item, timings)
            else:
                yield item

    def ask(self, question: str, top_k: int | None = None, *,
            history: Sequence[dict[str, str]] = (), llm: str | None = None,
            stream: bool = False) -> Answer | Iterator[str | Answer]:
        """Answer ``question`` with citations; ``stream=True`` returns ``ask_stream``'s iterator."""
        iterator = self.ask_stream(question, top_k, history=history, llm=llm)
        if stream:
            return iterator
        final = None
        for item in iterator:
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final


def _with_timings(answer: Answer, timings: dict[str, float]) -> Answer:
    from dataclasses import replace

    return replace(answer, timings={k: round(v, 3) for k, v in timings.items()})


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
