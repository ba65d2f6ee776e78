"""Index folders of any size, published through the FAISS store as one fresh ``Delta``.

An index of ``n`` chunks holds the seed documents' real paragraphs and chunks (so the seed
questions have their answers) plus ``n - 52`` generated chunks (``synthetic.py``), each one
paragraph of a generated document of 20 paragraphs. Embedding a million texts on two cores would
take days, so:

* vectors: real embeddings of every chunk up to ``real_vectors_upto`` chunks; above it the seed
  chunks keep real vectors and generated chunks get synthetic ones (``synthetic_vectors``);
* BM25: the store's own streaming keyword build (``rag.keyword_build``: jieba on every chunk in
  ``keyword_processes`` worker processes, memory bounded by ``keyword_memory_mb``) at every
  size, timed inside ``store.stage``.

The index is published like any other: one ``Delta`` (``delta_for``: a ``FileContent`` per
document, a manifest from ``rag.stores.manifest``) through ``store.stage`` + ``store.commit``
(``Store.publish`` in two timed halves), so ``RAG(index_dir=...)`` loads the folder like any
other index. Peak RSS is recorded for the whole build: this process's high-water mark and the
largest keyword worker's, and the peak of all of them together (``common.TreeMemory``: the sum of
their proportional set sizes, so pages the forked workers share with this process count once).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import common
import numpy as np
from common import SEEDS, TreeMemory, mib, peak_rss_bytes, rss_bytes
from synthetic import SentencePool, chunk_text, compose_chunks

PARAGRAPHS_PER_DOC = 20
DIMENSION = 384


def seed_records() -> tuple[list, list]:
    """The seeds' real paragraphs and chunks, as ingestion makes them."""
    from rag.chunking import chunk_paragraphs
    from rag.paragraphs import split_paragraphs

    paragraphs, chunks = [], []
    for path in sorted(SEEDS.glob("*.txt")):
        ps = split_paragraphs(path.read_text(encoding="utf-8"), path.name)
        paragraphs += ps
        chunks += chunk_paragraphs(ps)
    return paragraphs, chunks


def generated_records(texts: list[str]) -> tuple[list, list]:
    """One paragraph and one chunk per text, 20 paragraphs per generated document."""
    from rag.schema import Chunk, Paragraph, content_id

    paragraphs, chunks = [], []
    for i, text in enumerate(texts):
        doc = f"generated/{i // PARAGRAPHS_PER_DOC:06d}.txt"
        j = i % PARAGRAPHS_PER_DOC
        line = 2 * j + 3
        paragraphs.append(Paragraph(doc=doc, index=j, text=text, line_start=line, line_end=line,
                                    line_starts=((0, line),)))
        # tokens estimated (cl100k gives ~1.6 per Chinese character); stored, never used in search
        chunks.append(Chunk(id=content_id(doc, str(j), "0", text), doc=doc, text=text,
                            paragraphs=(j,), start=0, end=len(text),
                            n_tokens=int(len(text) * 1.6)))
    return paragraphs, chunks


def synthetic_vectors(n: int, centres: np.ndarray, seed: int = 0) -> np.ndarray:
    """Unit vectors clustered like real embeddings: a real centre, a second real direction
    mixed in at a random weight, plus isotropic noise (cosine to the centre ~0.6-0.95).
    ``centres`` empty gives plain random unit vectors (the worst case for ANN indexes)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIMENSION), dtype=np.float32)
    step = 100_000
    for lo in range(0, n, step):
        m = min(step, n - lo)
        noise = rng.standard_normal((m, DIMENSION), dtype=np.float32)
        if len(centres):
            noise /= np.linalg.norm(noise, axis=1, keepdims=True)
            a = centres[rng.integers(0, len(centres), m)]
            b = centres[rng.integers(0, len(centres), m)]
            mix = rng.uniform(0.0, 0.5, (m, 1)).astype(np.float32)
            radius = rng.uniform(0.25, 0.8, (m, 1)).astype(np.float32)
            block = a + mix * b + radius * noise
        else:
            block = noise
        out[lo:lo + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def embed_texts(texts: list[str]) -> np.ndarray:
    """Real embeddings (normalised, batch 32, one torch thread), cached by content."""
    from rag.schema import content_id

    cache = common.WORK / "vectors" / f"real-{len(texts)}-{content_id(*texts)}.npy"
    if cache.exists():
        return np.load(cache)
    import torch

    torch.set_num_threads(1)  # measured faster than 2 on this shared box (see tuning.py)
    model = common.load_model()
    t0 = time.perf_counter()
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=len(texts) > 2000)
    print(f"embedded {len(texts)} texts in {time.perf_counter() - t0:.0f}s", flush=True)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def pool_size(n: int) -> int:
    """Sentences in the pool the n-chunk corpus is composed from."""
    return int(min(300_000, max(5_000, n)))


def delta_for(paragraphs: list, chunks: list, vectors: np.ndarray, unk_rate: float,
              settings: Any) -> Any:
    """The whole index as one fresh ``Delta`` (what ``update_index`` hands a store): one
    ``FileContent`` per document, in corpus order, with its rows of ``vectors``.

    The documents are not files, so their fingerprints are empty; the manifest's [UNK] rate is
    the one measured on a sample of the chunk texts (the per-file token counts stay 0)."""
    from rag.embeddings import BUNDLED_MODEL
    from rag.stores import Delta, FileContent
    from rag.stores.manifest import file_entry, new_manifest

    by_doc: dict[str, tuple[list, list, list[int]]] = {}
    for p in paragraphs:
        by_doc.setdefault(p.doc, ([], [], []))[0].append(p)
    for row, c in enumerate(chunks):
        by_doc.setdefault(c.doc, ([], [], []))[1].append(c)
        by_doc[c.doc][2].append(row)
    added, files = [], {}
    for doc, (paras, doc_chunks, rows) in by_doc.items():
        if rows and rows != list(range(rows[0], rows[0] + len(rows))):
            raise ValueError(f"the chunks of {doc} are not contiguous")
        doc_vectors = (vectors[rows[0]:rows[0] + len(rows)] if rows
                       else np.zeros((0, vectors.shape[1]), dtype=np.float32))
        added.append(FileContent(doc, paras, doc_chunks, doc_vectors))
        files[doc] = file_entry({"path": doc, "sha256": "", "size": 0, "mtime_ns": 0},
                                paragraphs=len(paras), chunks=len(doc_chunks),
                                unk_tokens=0, tokens=0)
    manifest = new_manifest(model=BUNDLED_MODEL, dimension=int(vectors.shape[1]),
                            settings=settings, files=files)
    manifest.update(unk_rate=round(unk_rate, 4), synthetic=True)
    return Delta(manifest=manifest, files=files, added=added, fresh=True)


def index_vectors(n: int, texts: list[str], n_seed: int, real_vectors_upto: int
                  ) -> tuple[np.ndarray, str]:
    """The vectors of the n-chunk index and how they were made (see the module docstring)."""
    if n <= real_vectors_upto:
        return embed_texts(texts), "real"
    # centres: the real vectors of the largest real-vector corpus (cached by its build)
    centres = embed_texts([c.text for c in corpus(min(real_vectors_upto, 10_000))[1]])
    vectors = synthetic_vectors(n, centres, seed=n)
    vectors[:n_seed] = centres[:n_seed]  # the seed chunks come first in every corpus
    return vectors, "synthetic (clustered around real embeddings); seed chunks real"


def corpus(n: int) -> tuple[list, list, int]:
    """(paragraphs, chunks, sentences in the pool) of the n-chunk corpus.

    The generated texts are made in a child process: the sentence pool (each sentence tokenised,
    jieba's tagger loaded) is the generator's, not something an index build holds, and the
    memory it leaves behind in this process (freed objects between live ones) would count in the
    build's peak RSS."""
    seed_paras, seed_chunks = seed_records()
    with multiprocessing.get_context("fork").Pool(1) as child:
        texts = child.apply(generated_texts, (n - len(seed_chunks), pool_size(n)))
    gen_paras, gen_chunks = generated_records(texts)
    return seed_paras + gen_paras, seed_chunks + gen_chunks, pool_size(n)


def generated_texts(n: int, pool_sentences: int) -> list[str]:
    """The texts of ``n`` generated chunks composed from a pool of ``pool_sentences``."""
    pool = SentencePool(pool_sentences, seed=0)
    return [chunk_text(pool, m) for m in compose_chunks(pool, n, seed=1)]


@contextlib.contextmanager
def timed_keyword_build(spent: dict[str, float]) -> Iterator[None]:
    """While active, the FAISS store's keyword builds add their seconds to ``spent["bm25_s"]``."""
    import rag.stores.faiss as faiss_store

    original = faiss_store.build_keyword_index

    def timed(*args: Any, **kwargs: Any) -> Any:
        # this process's memory when the keyword build starts, and its own peak (the
        # high-water mark is reset when the kernel allows it)
        spent["rss_before_bm25"] = rss_bytes()
        spent["peak_rss_before_bm25"] = peak_rss_bytes()
        try:
            Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
        except OSError:
            pass
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent["bm25_s"] = spent.get("bm25_s", 0.0) + time.perf_counter() - t0
            spent["bm25_parent_peak_rss"] = peak_rss_bytes()

    faiss_store.build_keyword_index = timed
    try:
        yield
    finally:
        faiss_store.build_keyword_index = original


def build(index_dir: Path, n: int, *, real_vectors_upto: int, faiss_index: str = "auto",
          keyword_processes: int = 0, keyword_memory_mb: int | None = None) -> dict[str, Any]:
    """Publish an index of ``n`` chunks into ``index_dir`` through the FAISS store; returns how
    it was made and timings."""
    with TreeMemory() as memory:
        stats = _build(index_dir, n, real_vectors_upto=real_vectors_upto, faiss_index=faiss_index,
                       keyword_processes=keyword_processes, keyword_memory_mb=keyword_memory_mb)
    # the whole build: this process and its keyword workers, shared pages counted once
    stats["peak_memory_all_processes_mib"] = mib(memory.peak_bytes)
    (index_dir / "bench-build.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    return stats


def _build(index_dir: Path, n: int, *, real_vectors_upto: int, faiss_index: str,
           keyword_processes: int, keyword_memory_mb: int | None) -> dict[str, Any]:
    from rag.config import load_settings
    from rag.keyword_build import resolve_processes
    from rag.stores import open_store

    stats: dict[str, Any] = {"chunks": n, "faiss_index": faiss_index}
    t0 = time.perf_counter()
    paragraphs, chunks, pool_sentences = corpus(n)
    seed_chunks = [c for c in chunks if not c.doc.startswith("generated/")]
    all_texts = [c.text for c in chunks]
    stats["generate_s"] = round(time.perf_counter() - t0, 2)
    stats["pool_sentences"] = pool_sentences
    stats["mean_chars"] = round(sum(map(len, all_texts)) / n, 1)

    t0 = time.perf_counter()
    vectors, stats["vectors"] = index_vectors(n, all_texts, len(seed_chunks), real_vectors_upto)
    stats["vectors_s"] = round(time.perf_counter() - t0, 2)

    sample = all_texts[:: max(1, n // 2000)]
    unk = _unk_rate(sample)
    del all_texts, sample
    overrides = {"keyword_processes": keyword_processes}
    if keyword_memory_mb is not None:
        overrides["keyword_memory_mb"] = keyword_memory_mb
    settings = load_settings(store="faiss", faiss_index=faiss_index, **overrides)
    processes = resolve_processes(settings.keyword_processes)
    stats["bm25"] = (f"streaming keyword build (jieba on every chunk, {processes} processes, "
                     f"{settings.keyword_memory_mb} MiB)")
    delta = delta_for(paragraphs, chunks, vectors, unk, settings)
    del paragraphs, chunks, vectors
    store = open_store(settings, index_dir)
    rss_before = rss_bytes()
    spent: dict[str, float] = {}
    t0 = time.perf_counter()
    with timed_keyword_build(spent):
        build_dir = store.stage(delta)  # vectors, records, BM25 files, checksums; not yet live
    stats["write_s"] = round(time.perf_counter() - t0, 2)
    stats["bm25_s"] = round(spent["bm25_s"], 2)
    stats["disk_bytes"] = sum(p.stat().st_size for p in build_dir.rglob("*") if p.is_file())
    # the build's peak, before the reopen below
    stats["peak_rss_mib"] = mib(max(peak_rss_bytes(), spent["peak_rss_before_bm25"]))
    stats["rss_before_bm25_mib"] = mib(spent["rss_before_bm25"])
    stats["bm25_parent_peak_rss_mib"] = mib(spent["bm25_parent_peak_rss"])
    stats["stage_peak_rss_growth_mib"] = mib(max(0, peak_rss_bytes() - rss_before))
    stats["bm25_worker_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    stats["bm25_peak_rss_growth_mib"] = stats["stage_peak_rss_growth_mib"]  # older reports' key
    t0 = time.perf_counter()
    store.commit(build_dir)  # publish (atomic rename), then open the new build as a snapshot
    stats["commit_s"] = round(time.perf_counter() - t0, 2)
    store.close()
    return stats


def _unk_rate(texts: list[str]) -> float:
    from rag.embeddings import load_embedder

    return load_embedder("bundled").unk_rate(texts)
