"""Corpus -> paragraphs -> chunks -> vectors + BM25 -> a published index build.

Also decides whether an existing index is stale for a corpus and settings. Vectors of chunks
whose text is unchanged are reused from the previous build (same model), so editing one file
re-embeds only that file's chunks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunking import chunk_paragraphs
from rag.config import AUTO, Settings
from rag.documents import (
    SUPPORTED_SUFFIXES,
    CorpusError,
    Skipped,
    file_sha256,
    find_files,
    read_document,
)
from rag.embeddings import Embedder
from rag.keyword import KeywordIndex
from rag.paragraphs import split_paragraphs
from rag.schema import Chunk, Paragraph, content_id
from rag.store import (
    FORMAT_VERSION,
    IndexData,
    build_lock,
    load_index,
    read_manifest,
    stored_vectors,
    write_index,
)
from rag.tokens import get_counter

log = logging.getLogger(__name__)

KEYWORD_SCHEME = "jieba-precise+cjk-bigram/bm25s"


@dataclass(frozen=True)
class CorpusFile:
    path: str
    sha256: str
    size: int
    mtime_ns: int


def scan_corpus(root: Path, previous: dict[str, Any] | None = None, *,
                max_file_mb: int | None = None,
                skipped: list[Skipped] | None = None) -> dict[str, CorpusFile]:
    """Fingerprints of the corpus files; hashes are reused when size and mtime are unchanged."""
    previous = previous or {}
    out = {}
    for path in find_files(root, max_file_mb=max_file_mb, skipped=skipped):
        rel = path.relative_to(root).as_posix()
        try:
            stat = path.stat()
            old = previous.get(rel)
            if old and old.get("size") == stat.st_size and old.get("mtime_ns") == stat.st_mtime_ns:
                sha = old["sha256"]
            else:
                sha = file_sha256(path)
        except OSError as exc:  # vanished or unreadable since it was listed
            log.warning("skipping %s: cannot read it (%s)", path, exc.strerror or exc)
            if skipped is not None:
                skipped.append(Skipped(rel, f"cannot read it ({exc.strerror or exc})"))
            continue
        out[rel] = CorpusFile(rel, sha, stat.st_size, stat.st_mtime_ns)
    return out


def _skip_summary(skipped: list[Skipped]) -> str:
    if not skipped:
        return ""
    return " (skipped: " + "; ".join(f"{s.path}: {s.reason}" for s in skipped[:5]) + ")"


def chunking_settings(settings: Settings) -> dict[str, Any]:
    return {
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "token_counter": get_counter()[0],
    }


def settings_change(manifest: dict[str, Any] | None, settings: Settings, model: str, *,
                    format_version: int = FORMAT_VERSION) -> str | None:
    """Why an index with ``manifest`` cannot serve these settings and model (None: it can).

    Covers what every store records; each store adds its own settings (FAISS index type,
    Milvus analyzer).
    """
    if manifest is None:
        return "no index yet"
    if manifest.get("format_version") != format_version:
        return "index format changed"
    if manifest.get("embed_model") != model:
        return f"embedding model changed ({manifest.get('embed_model')} -> {model})"
    if manifest.get("chunking") != chunking_settings(settings):
        return "chunking settings changed"
    if manifest.get("keyword") != KEYWORD_SCHEME:
        return "keyword index scheme changed"
    return None


def stale_reason(index_dir: Path, corpus_dir: Path, settings: Settings, model: str) -> str | None:
    """Why the index must be (re)built for this corpus and settings, or None if it is current."""
    manifest = read_manifest(index_dir)
    reason = settings_change(manifest, settings, model)
    if reason is not None or manifest is None:
        return reason
    if manifest.get("faiss_index", AUTO) != settings.faiss_index:
        return "vector index type changed"
    files = scan_corpus(corpus_dir, manifest.get("files"), max_file_mb=settings.max_file_mb)
    old = {k: v["sha256"] for k, v in (manifest.get("files") or {}).items()}
    new = {k: v.sha256 for k, v in files.items()}
    if old != new:
        added = len(new.keys() - old.keys())
        removed = len(old.keys() - new.keys())
        changed = sum(1 for k in new.keys() & old.keys() if new[k] != old[k])
        return f"corpus changed ({added} added, {changed} changed, {removed} removed)"
    return None


@dataclass
class _Previous:
    """What a previous build of the same model and chunking can lend to the next one."""

    files: dict[str, str]  # path -> sha256
    paragraphs: dict[str, list[Paragraph]]
    chunks: dict[str, list[tuple[Chunk, np.ndarray]]]
    vectors: dict[str, np.ndarray]  # content id of chunk text -> vector

    @classmethod
    def empty(cls) -> _Previous:
        return cls({}, {}, {}, {})


def _previous(index_dir: Path, model: str, settings: Settings) -> _Previous:
    manifest = read_manifest(index_dir)
    if (not manifest or manifest.get("embed_model") != model
            or manifest.get("format_version") != FORMAT_VERSION):
        return _Previous.empty()
    try:
        data = load_index(index_dir)
    except Exception:  # a broken previous build simply lends nothing
        return _Previous.empty()
    vectors = stored_vectors(data)
    prev = _Previous.empty()
    prev.vectors = {content_id(c.text): vectors[i] for i, c in enumerate(data.chunks)}
    if manifest.get("chunking") != chunking_settings(settings):
        return prev  # vectors of identical texts are still valid
    prev.files = {k: v["sha256"] for k, v in manifest.get("files", {}).items()}
    ordered = (data.paragraphs.values_in_order() if hasattr(data.paragraphs, "values_in_order")
               else sorted(data.paragraphs.values(), key=lambda p: (p.doc, p.index)))
    for p in ordered:
        prev.paragraphs.setdefault(p.doc, []).append(p)
    for i, c in enumerate(data.chunks):
        prev.chunks.setdefault(c.doc, []).append((c, vectors[i]))
    return prev


def _process_file(corpus_dir: Path, rel: str, settings: Settings,
                  skipped: list[Skipped]) -> tuple[list[Paragraph], list[Chunk]]:
    doc = read_document(corpus_dir / rel, corpus_dir, max_file_mb=settings.max_file_mb,
                        skipped=skipped)
    if doc is None:
        return [], []
    paragraphs = split_paragraphs(doc.text, doc.path)
    if not paragraphs:
        return [], []
    chunks = chunk_paragraphs(paragraphs, chunk_tokens=settings.chunk_tokens,
                              overlap_tokens=settings.chunk_overlap)
    return paragraphs, chunks


def _embed(chunks: list[Chunk], embedder: Embedder, cache: dict[str, np.ndarray],
           progress: bool) -> tuple[np.ndarray, int]:
    """Vectors for all chunks, encoding only texts the cache does not hold."""
    keys = [content_id(c.text) for c in chunks]
    missing = [i for i, k in enumerate(keys) if k not in cache]
    vectors = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    if missing:
        fresh = embedder.embed([chunks[i].text for i in missing], progress=progress)
        for row, i in enumerate(missing):
            vectors[i] = fresh[row]
    for i, k in enumerate(keys):
        if k in cache:
            vectors[i] = cache[k]
    return vectors, len(missing)


@dataclass
class Processed:
    """One corpus file read, repaired, chunked and embedded (rows of ``vectors`` match chunks)."""

    path: str
    paragraphs: list[Paragraph]
    chunks: list[Chunk]
    vectors: np.ndarray


ENGINES = ("local", "ray")


def process_files(corpus_dir: Path, paths: list[str], settings: Settings, embedder: Embedder, *,
                  cache: dict[str, np.ndarray] | None = None, engine: str = "local",
                  progress: bool = False, skipped: list[Skipped] | None = None
                  ) -> tuple[list[Processed], int]:
    """Read, repair, chunk and embed ``paths``; returns them in order and how many were embedded.

    ``local`` runs in this process and embeds only chunk texts ``cache`` lacks; ``ray`` runs the
    same stages as a Ray Data pipeline (``rag.ray_ingest``) on the configured Ray cluster.
    """
    from tqdm import tqdm

    skipped = skipped if skipped is not None else []
    if engine == "ray":
        from rag.ray_ingest import process_files_ray

        choice = getattr(embedder, "choice", None)
        if choice is None:
            raise ValueError("the ray engine needs a sentence-transformers embedder")
        results = process_files_ray(corpus_dir, paths, settings, choice, progress=progress)
        out = []
        for r in results:
            skipped.extend(r.skipped)
            out.append(Processed(r.path, r.paragraphs, r.chunks, r.vectors))
        return out, sum(len(r.chunks) for r in out)
    if engine != "local":
        raise ValueError(f"unknown ingest engine {engine!r}; use one of {', '.join(ENGINES)}")
    parsed = []
    for rel in tqdm(paths, desc="reading", unit="file", disable=not progress):
        file_paragraphs, file_chunks = _process_file(corpus_dir, rel, settings, skipped)
        parsed.append((rel, file_paragraphs, file_chunks))
    everything = [c for _, _, file_chunks in parsed for c in file_chunks]
    vectors, embedded = _embed(everything, embedder, cache or {}, progress)
    out, row = [], 0
    for rel, file_paragraphs, file_chunks in parsed:
        out.append(Processed(rel, file_paragraphs, file_chunks,
                             vectors[row:row + len(file_chunks)]))
        row += len(file_chunks)
    return out, embedded


def _collect(corpus_dir: Path, files: dict[str, CorpusFile], settings: Settings,
             prev: _Previous, embedder: Embedder, progress: bool, skipped: list[Skipped],
             engine: str) -> tuple[list[Paragraph], list[Chunk], np.ndarray, int, int]:
    """Paragraphs, chunks and vectors of every file; unchanged files come from the previous build.

    Returns them with the number of reused files and of embedded chunks.
    """
    fresh_paths = [rel for rel, f in files.items()
                   if not (prev.files.get(rel) == f.sha256 and rel in prev.paragraphs)]
    processed, embedded = process_files(corpus_dir, fresh_paths, settings, embedder,
                                        cache=prev.vectors, engine=engine, progress=progress,
                                        skipped=skipped)
    fresh = {p.path: p for p in processed}
    paragraphs: list[Paragraph] = []
    chunks: list[Chunk] = []
    parts: list[np.ndarray] = []
    for rel in files:
        if rel in fresh:
            paragraphs.extend(fresh[rel].paragraphs)
            chunks.extend(fresh[rel].chunks)
            parts.append(fresh[rel].vectors)
            continue
        paragraphs.extend(prev.paragraphs[rel])
        old = prev.chunks.get(rel, [])
        chunks.extend(c for c, _ in old)
        if old:
            parts.append(np.vstack([v for _, v in old]))
    dim = embedder.dimension
    vectors = (np.vstack(parts).astype(np.float32) if parts
               else np.zeros((0, dim), dtype=np.float32))
    return paragraphs, chunks, vectors, len(files) - len(fresh_paths), embedded


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    settings: Settings,
    embedder: Embedder,
    *,
    progress: bool = False,
    reuse: bool = True,
    engine: str = "local",
) -> IndexData:
    """Build and atomically publish an index of ``corpus_dir``; returns it loaded.

    With ``reuse`` (the default) files unchanged since the previous build keep their paragraphs
    and chunks, and chunks with unchanged text keep their vectors: an update costs the embedding
    of what changed plus re-assembling the BM25 and FAISS indexes.
    """
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    with build_lock(index_dir):
        started = time.perf_counter()
        previous = read_manifest(index_dir)
        skipped: list[Skipped] = []
        files = scan_corpus(corpus_dir, (previous or {}).get("files"),
                            max_file_mb=settings.max_file_mb, skipped=skipped)
        if not files:
            raise CorpusError(
                f"no usable documents ({', '.join(SUPPORTED_SUFFIXES)}) in {corpus_dir}"
                f"{_skip_summary(skipped)}; add documents or point at another folder"
            )
        prev = _previous(index_dir, embedder.name, settings) if reuse else _Previous.empty()
        paragraphs, chunks, vectors, reused_files, embedded = _collect(
            corpus_dir, files, settings, prev, embedder, progress, skipped, engine)
        if not chunks:
            raise CorpusError(
                f"the files in {corpus_dir} hold no readable text{_skip_summary(skipped)}; "
                "check their encoding or content"
            )
        keyword = KeywordIndex.build([c.text for c in chunks])
        manifest = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "embed_model": embedder.name,
            "dimension": embedder.dimension,
            "unk_rate": round(embedder.unk_rate([c.text for c in chunks]), 4),
            "chunking": chunking_settings(settings),
            "keyword": KEYWORD_SCHEME,
            "faiss_index": settings.faiss_index,
            "files": {k: vars(v) for k, v in files.items()},
            "documents": len({p.doc for p in paragraphs}),
            "paragraphs": len(paragraphs),
            "chunks": len(chunks),
            "skipped": [vars(s) for s in skipped],
        }
        write_index(index_dir, manifest=manifest, paragraphs=paragraphs, chunks=chunks,
                    vectors=vectors, keyword=keyword)
        log.info(
            "indexed %d files (%d unchanged), %d paragraphs, %d chunks (%d embedded, %d reused)"
            " in %.1fs",
            len(files), reused_files, len(paragraphs), len(chunks), embedded,
            len(chunks) - embedded,
            time.perf_counter() - started,
        )
        return load_index(index_dir)
