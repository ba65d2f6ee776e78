"""Building and updating the Milvus store: one new generation per update, published atomically.

An update compares the corpus with the files of the live generation ``G``; only added, changed
and removed files touch Milvus. New rows are written with ``born = G+1``, replaced rows get
``died = G+1``, term frequencies of ``G+1`` are written beside those of ``G``, and the manifest
of ``G+1`` is stored; then the live pointer moves to ``G+1`` in one write. Before any of that the
leftovers of an interrupted update (rows born after ``G``, rows marked dead after ``G``) are
undone, so a crash at any point costs nothing but the crashed work. After publishing, rows that
died before ``G`` are deleted: readers still on ``G`` keep working, as with FAISS's previous build.

A change of embedding model, chunking or analyzer (or ``--rebuild``) writes a whole new build
(new collections) and publishes it the same way; the build before it is dropped one build later.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.documents import SUPPORTED_SUFFIXES, CorpusError, Skipped
from rag.embeddings import Embedder
from rag.indexing import (
    KEYWORD_SCHEME,
    Processed,
    chunking_settings,
    process_files,
    scan_corpus,
    settings_change,
)
from rag.keyword import tokenize
from rag.milvus.client import (
    ALIVE,
    PLACEHOLDER,
    Names,
    create_build,
    list_builds,
    live_filter,
    publish,
    quote,
    read_manifest,
    read_pointer,
)
from rag.schema import Chunk, Paragraph, content_id

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
INSERT_BATCH = 1000
FILTER_BATCH = 200  # values per "x in [...]" filter
QUERY_LIMIT = 16384  # Milvus's largest result window for one query
CHUNK_FIELDS = ["pk", "chunk_id", "doc", "paragraphs", "start", "end", "n_tokens", "content",
                "text", "keywords", "born", "died", "dense"]
PARAGRAPH_FIELDS = ["pk", "doc", "idx", "text", "line_start", "line_end", "line_starts", "page",
                    "born", "died", "_v"]
FILE_FIELDS = ["pk", "path", "info", "born", "died", "_v"]


def keywords_text(text: str, analyzer: str) -> str:
    """What goes into the BM25 field: raw text for Milvus's jieba, else our own terms."""
    return text if analyzer == "jieba" else " ".join(tokenize(text))


def compatibility(manifest: dict[str, Any] | None, settings: Settings, model: str) -> str | None:
    """Why the live build cannot take an incremental update (None: it can)."""
    reason = settings_change(manifest, settings, model, format_version=FORMAT_VERSION)
    if reason is None and manifest is not None and (
            manifest.get("analyzer") != settings.milvus_analyzer):
        reason = f"analyzer changed ({manifest.get('analyzer')} -> {settings.milvus_analyzer})"
    return reason


def query_all(client: Any, collection: str, expr: str, fields: list[str],
              batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every row matching ``expr`` (a query iterator: no 16k row cap)."""
    iterator = client.query_iterator(collection, batch_size=batch, filter=expr,
                                     output_fields=fields)
    try:
        while True:
            rows = iterator.next()
            if not rows:
                return
            yield from rows
    finally:
        iterator.close()


def _in(field: str, values: list[str]) -> Iterator[str]:
    for i in range(0, len(values), FILTER_BATCH):
        yield f"{field} in [{', '.join(quote(v) for v in values[i:i + FILTER_BATCH])}]"


def _insert(client: Any, collection: str, rows: Iterable[dict[str, Any]]) -> int:
    batch: list[dict[str, Any]] = []
    n = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= INSERT_BATCH:
            client.insert(collection, batch)
            n += len(batch)
            batch = []
    if batch:
        client.insert(collection, batch)
        n += len(batch)
    return n


def _upsert(client: Any, collection: str, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), INSERT_BATCH):
        client.upsert(collection, rows[i:i + INSERT_BATCH])


def live_files(client: Any, names: Names, gen: int) -> dict[str, dict[str, Any]]:
    """path -> fingerprint (+ chunk count, unk rate) of the files live at ``gen``."""
    return {r["path"]: r["info"] for r in
            query_all(client, names.files, live_filter(gen), ["path", "info"])}


def recover(client: Any, names: Names, gen: int) -> None:
    """Undo whatever an interrupted update left beyond generation ``gen``."""
    for coll in (names.chunks, names.paragraphs, names.files):
        client.delete(coll, filter=f"born > {gen}")
        fields = CHUNK_FIELDS if coll == names.chunks else (
            PARAGRAPH_FIELDS if coll == names.paragraphs else FILE_FIELDS)
        killed = list(query_all(client, coll, f"died > {gen} and died < {ALIVE}", fields))
        if killed:
            log.info("undoing %d row(s) of an interrupted update in %s", len(killed), coll)
            _upsert(client, coll, [{**r, "died": ALIVE} for r in killed])
    client.delete(names.terms, filter=f"gen > {gen}")
    client.delete(names.meta, filter=f"gen > {gen}")


def _chunk_row(chunk: Chunk, vector: np.ndarray, gen: int, analyzer: str) -> dict[str, Any]:
    return {
        "pk": f"{gen}:{chunk.id}", "chunk_id": chunk.id, "doc": chunk.doc,
        "paragraphs": list(chunk.paragraphs), "start": chunk.start, "end": chunk.end,
        "n_tokens": chunk.n_tokens, "content": content_id(chunk.text), "text": chunk.text,
        "keywords": keywords_text(chunk.text, analyzer), "born": gen, "died": ALIVE,
        "dense": np.asarray(vector, dtype=np.float32).tolist(),
    }


def _paragraph_row(p: Paragraph, gen: int) -> dict[str, Any]:
    return {
        "pk": f"{gen}:{p.doc}#{p.index}", "doc": p.doc, "idx": p.index, "text": p.text,
        "line_start": p.line_start, "line_end": p.line_end,
        "line_starts": [list(x) for x in p.line_starts], "page": -1 if p.page is None else p.page,
        "born": gen, "died": ALIVE, "_v": PLACEHOLDER,
    }


def _term_counts(texts: Iterable[str]) -> Counter[str]:
    """In how many of ``texts`` each keyword term occurs."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(tokenize(text)))
    return counts


def term_frequencies(client: Any, names: Names, terms: list[str], gen: int) -> dict[str, int]:
    """Document frequency of ``terms`` at generation ``gen`` (latest row per term)."""
    out: dict[str, tuple[int, int]] = {}
    fields = ["term", "df", "gen"]
    for expr in _in("term", terms):
        expr = f"{expr} and gen <= {gen}"
        # One plain query (an iterator costs extra round trips); page only if it is full.
        rows = client.query(names.terms, filter=expr, output_fields=fields, limit=QUERY_LIMIT)
        if len(rows) >= QUERY_LIMIT:
            rows = list(query_all(client, names.terms, expr, fields))
        for r in rows:
            if r["term"] not in out or r["gen"] > out[r["term"]][0]:
                out[r["term"]] = (r["gen"], r["df"])
    return {t: df for t, (_, df) in out.items()}


@dataclass
class _Plan:
    build: str
    base: int  # generation the update starts from (0: empty new build)
    new_build: bool
    reason: str


def _plan(client: Any, names_base: str, settings: Settings, model: str, rebuild: bool) -> _Plan:
    pointer = read_pointer(client, Names(names_base))
    manifest = None
    if pointer is not None:
        try:
            manifest = read_manifest(client, Names(names_base, pointer[0]), pointer[1])
        except Exception as exc:  # unreadable: start a fresh build
            log.warning("the live Milvus build is unusable (%s); building a new one", exc)
    reason = "rebuild requested" if rebuild else compatibility(manifest, settings, model)
    if reason is None and pointer is not None:
        return _Plan(pointer[0], pointer[1], False, "update")
    return _Plan(uuid.uuid4().hex[:12], 0, True, reason or "new build")


def update_store(client: Any, names_base: str, corpus_dir: Path, settings: Settings,
                 embedder: Embedder, *, rebuild: bool = False, engine: str = "local",
                 progress: bool = False, dense_index: str = "AUTOINDEX"
                 ) -> tuple[str, int, dict[str, Any]]:
    """Bring the store up to date with ``corpus_dir``; returns the live (build, gen, manifest).

    The caller holds the build lock. Nothing is published unless the whole update succeeded.
    """
    started = time.perf_counter()
    plan = _plan(client, names_base, settings, embedder.name, rebuild)
    names = Names(names_base, plan.build)
    if plan.new_build:
        log.info("creating Milvus build %s (%s)", plan.build, plan.reason)
        create_build(client, names, embedder.dimension, settings.milvus_analyzer, dense_index)
        previous: dict[str, Any] = {}
        old_files: dict[str, dict[str, Any]] = {}
    else:
        recover(client, names, plan.base)
        previous = read_manifest(client, names, plan.base)
        old_files = live_files(client, names, plan.base)
    gen = plan.base + 1
    skipped: list[Skipped] = []
    files = scan_corpus(corpus_dir, old_files, max_file_mb=settings.max_file_mb, skipped=skipped)
    if not files:
        raise CorpusError(
            f"no usable documents ({', '.join(SUPPORTED_SUFFIXES)}) in {corpus_dir}; add "
            "documents or point at another folder"
        )
    changed = [rel for rel, f in files.items()
               if old_files.get(rel, {}).get("sha256") != f.sha256]
    removed = [rel for rel in old_files if rel not in files]
    if not plan.new_build and not changed and not removed:
        return plan.build, plan.base, previous

    # Rows to retire: the chunks of changed and removed documents (their vectors may be reused).
    live_now = live_filter(plan.base)
    retired = [] if plan.new_build else [
        r for expr in _in("doc", changed + removed)
        for r in query_all(client, names.chunks, f"{expr} and {live_now}", CHUNK_FIELDS)]
    cache = {r["content"]: np.asarray(r["dense"], dtype=np.float32) for r in retired}
    processed, embedded = process_files(corpus_dir, changed, settings, embedder, cache=cache,
                                        engine=engine, progress=progress, skipped=skipped)
    analyzer = settings.milvus_analyzer
    new_files = {p.path: p for p in processed}
    _write_generation(client, names, gen, processed, analyzer)
    file_rows = []
    for rel in changed:
        info = {**vars(files[rel]), "chunks": len(new_files[rel].chunks),
                "paragraphs": len(new_files[rel].paragraphs),
                "unk_rate": embedder.unk_rate([c.text for c in new_files[rel].chunks])}
        file_rows.append({"pk": f"{gen}:{rel}", "path": rel, "info": info, "born": gen,
                          "died": ALIVE, "_v": PLACEHOLDER})
    _insert(client, names.files, file_rows)
    _retire(client, names, plan.base, gen, changed + removed, retired)
    _write_terms(client, names, plan.base, gen,
                 added=[c.text for p in processed for c in p.chunks],
                 removed=[r["text"] for r in retired])

    live = {**{k: v for k, v in old_files.items() if k in files and k not in new_files},
            **{r["path"]: r["info"] for r in file_rows}}
    n_chunks = sum(int(v["chunks"]) for v in live.values())
    manifest = {
        "format_version": FORMAT_VERSION,
        "store": "milvus",
        "build": plan.build,
        "generation": gen,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "embed_model": embedder.name,
        "dimension": embedder.dimension,
        "unk_rate": round(sum(float(v.get("unk_rate", 0)) * int(v["chunks"])
                              for v in live.values()) / max(n_chunks, 1), 4),
        "chunking": chunking_settings(settings),
        "keyword": KEYWORD_SCHEME,
        "analyzer": analyzer,
        "documents": sum(1 for v in live.values() if int(v["chunks"]) > 0),
        "paragraphs": sum(int(v.get("paragraphs", 0)) for v in live.values()),
        "chunks": n_chunks,
        "files_count": len(live),
        "skipped": [vars(s) for s in skipped][:200],
    }
    if n_chunks == 0:
        raise CorpusError(f"the files in {corpus_dir} hold no readable text; check their encoding"
                          " or content")
    client.insert(names.meta, [{"pk": str(gen), "gen": gen,
                                "manifest": json.dumps(manifest, ensure_ascii=False),
                                "_v": PLACEHOLDER}])
    old_pointer = read_pointer(client, Names(names_base))
    publish(client, Names(names_base), plan.build, gen)
    _collect_garbage(client, names, plan.base, old_pointer)
    log.info("Milvus build %s generation %d: %d file(s) changed, %d removed, %d chunks "
             "(%d embedded) in %.1fs", plan.build, gen, len(changed), len(removed), n_chunks,
             embedded, time.perf_counter() - started)
    return plan.build, gen, manifest


def _write_generation(client: Any, names: Names, gen: int, processed: list[Processed],
                      analyzer: str) -> None:
    _insert(client, names.paragraphs,
            (_paragraph_row(p, gen) for item in processed for p in item.paragraphs))
    _insert(client, names.chunks,
            (_chunk_row(c, v, gen, analyzer)
             for item in processed for c, v in zip(item.chunks, item.vectors, strict=True)))


def _retire(client: Any, names: Names, base: int, gen: int, docs: list[str],
            chunks: list[dict[str, Any]]) -> None:
    """Mark the live rows of ``docs`` as dead from ``gen`` on (still visible at ``base``)."""
    if not docs:
        return
    _upsert(client, names.chunks, [{**r, "died": gen} for r in chunks])
    for coll, fields, key in ((names.paragraphs, PARAGRAPH_FIELDS, "doc"),
                              (names.files, FILE_FIELDS, "path")):
        rows = [r for expr in _in(key, docs)
                for r in query_all(client, coll, f"{expr} and {live_filter(base)}", fields)]
        _upsert(client, coll, [{**r, "died": gen} for r in rows])


def _write_terms(client: Any, names: Names, base: int, gen: int, *, added: list[str],
                 removed: list[str]) -> None:
    delta = _term_counts(added)
    delta.subtract(_term_counts(removed))
    touched = [t for t, d in delta.items() if d != 0]
    if not touched:
        return
    old = term_frequencies(client, names, touched, base) if base else {}
    _insert(client, names.terms, ({
        "pk": f"{gen}:{t}", "term": t, "df": max(0, old.get(t, 0) + delta[t]), "gen": gen,
        "_v": PLACEHOLDER} for t in touched))


def _collect_garbage(client: Any, names: Names, base: int,
                     old_pointer: tuple[str, int] | None) -> None:
    """Drop what no reader can see any more (keeping generation ``base`` readable)."""
    for coll in (names.chunks, names.paragraphs, names.files):
        client.delete(coll, filter=f"died <= {base}")
    if base > 1:
        client.delete(names.meta, filter=f"gen < {base}")
    keep = {names.build} | ({old_pointer[0]} if old_pointer else set())
    for build in list_builds(client, names.name) - keep:
        log.info("dropping old Milvus build %s", build)
        for coll in Names(names.name, build).all():
            if client.has_collection(coll):
                client.drop_collection(coll)
