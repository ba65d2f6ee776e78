"""The manifest every store publishes with an index state, and the checks made against it.

A manifest records what built the index (embedding model and dimension, chunking, keyword
scheme, the reading settings that change what a reader extracts, format version), what it
holds (documents, paragraphs, chunks, the model's [UNK] rate over the chunk text) and what was
skipped. Each store adds its own fields (FAISS index type, Milvus build and generation).
Per-file entries (``file_entry``) carry the counts an update needs to recompute the totals
without reading unchanged files again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.documents import SUPPORTED_SUFFIXES, CorpusError, Skipped
from rag.keyword_index import SCHEME
from rag.tokens import get_counter

# 2: per-file counts in the file entries, one format for every store.
FORMAT_VERSION = 2
# "simplified-cut": traditional text is cut where its simplified form is cut (rag.keyword), so
# an index cut the older way is rebuilt
KEYWORD_SCHEME = f"jieba-precise-simplified-cut+cjk-bigram/{SCHEME}"
MAX_SKIPPED = 200  # skip records kept in a manifest


def chunking_settings(settings: Settings, counter: str | None = None) -> dict[str, Any]:
    """``counter``: the token counter's name when already known (default: the one in use,
    which loads tiktoken's encoding)."""
    return {
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "token_counter": counter or get_counter()[0],
        # what the counter reads (rag.chunking.chunk_size): an index chunked on the text as
        # written is chunked again
        "counted_on": "simplified form",
    }


def reading_settings(settings: Settings) -> dict[str, Any]:
    """What decides which text the readers extract: OCR on or off and its engine, and the
    limits past which a file is refused. A change re-reads every file (turning OCR on picks up
    scans that were skipped; raising a limit, files that were refused)."""
    from rag.ocr.engine import engine_id

    return {
        "ocr": settings.ocr,
        "ocr_engine": engine_id() if settings.ocr else None,
        "max_pages": settings.max_pages,
        "max_image_pixels": settings.max_image_pixels,
        "max_unpacked_mb": settings.max_unpacked_mb,
        "max_archive_entries": settings.max_archive_entries,
        "max_text_mb": settings.max_text_mb,
    }


def settings_change(manifest: Mapping[str, Any] | None, settings: Settings,
                    model: str, *, counter: str | None = None) -> str | None:
    """Why an index with ``manifest`` cannot take an incremental update for these settings and
    model (None: it can). Stores add their own settings (``Store.settings_change``).
    ``counter`` stands in for the token counter in use (see ``chunking_settings``)."""
    if manifest is None:
        return "no index yet"
    if manifest.get("format_version") != FORMAT_VERSION:
        return "index format changed"
    if manifest.get("embed_model") != model:
        return f"embedding model changed ({manifest.get('embed_model')} -> {model})"
    if manifest.get("chunking") != chunking_settings(settings, counter):
        return "chunking settings changed"
    reading = manifest.get("reading")
    if reading != reading_settings(settings):
        if reading is None:
            return "reading settings (OCR) not recorded: index built before OCR"
        if reading.get("ocr") != settings.ocr:
            return f"OCR turned {'on' if settings.ocr else 'off'}"
        return "reading settings changed (OCR engine or file limits)"
    if manifest.get("keyword") != KEYWORD_SCHEME:
        return "keyword index scheme changed"
    return None


def file_entry(fingerprint: Mapping[str, Any], *, paragraphs: int, chunks: int,
               unk_tokens: int, tokens: int, skipped: str | None = None) -> dict[str, Any]:
    """One file's manifest entry: its fingerprint plus what it contributed to the index."""
    entry = {**fingerprint, "paragraphs": paragraphs, "chunks": chunks,
             "unk_tokens": unk_tokens, "tokens": tokens}
    if skipped:
        entry["skipped"] = skipped
    return entry


def new_manifest(*, model: str, dimension: int, settings: Settings,
                 files: Mapping[str, Mapping[str, Any]],
                 scan_skipped: Iterable[Skipped] = ()) -> dict[str, Any]:
    """The shared part of a manifest for an index of ``files`` (entries from ``file_entry``)."""
    tokens = sum(int(f["tokens"]) for f in files.values())
    unknown = sum(int(f["unk_tokens"]) for f in files.values())
    skipped = [vars(s) for s in scan_skipped]
    skipped += [{"path": p, "reason": f["skipped"]} for p, f in files.items() if f.get("skipped")]
    return {
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "embed_model": model,
        "dimension": dimension,
        "unk_rate": round(unknown / tokens, 4) if tokens else 0.0,
        "chunking": chunking_settings(settings),
        "reading": reading_settings(settings),
        "keyword": KEYWORD_SCHEME,
        "documents": sum(1 for f in files.values() if int(f["chunks"]) > 0),
        "paragraphs": sum(int(f["paragraphs"]) for f in files.values()),
        "chunks": sum(int(f["chunks"]) for f in files.values()),
        "files_count": len(files),
        "skipped": skipped[:MAX_SKIPPED],
    }


def _skip_summary(skipped: list[Skipped]) -> str:
    if not skipped:
        return ""
    return " (skipped: " + "; ".join(f"{s.path}: {s.reason}" for s in skipped[:5]) + ")"


def no_documents(corpus_dir: Path, skipped: list[Skipped]) -> CorpusError:
    return CorpusError(
        f"no usable documents ({', '.join(SUPPORTED_SUFFIXES)}) in {corpus_dir}"
        f"{_skip_summary(skipped)}; add documents or point at another folder"
    )


def no_text(corpus_dir: Path, skipped: list[Skipped]) -> CorpusError:
    return CorpusError(
        f"the files in {corpus_dir} hold no readable text{_skip_summary(skipped)}; "
        "check their encoding or content"
    )
