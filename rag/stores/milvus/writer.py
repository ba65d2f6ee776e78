"""Writing the Milvus store: one new generation per update, published atomically.

``stage`` applies a ``Delta`` to the live generation ``G``: only added, changed and removed files
touch Milvus. New rows are written with ``born = G+1``, replaced rows get ``died = G+1``, term
frequencies of ``G+1`` are written beside those of ``G``, and the manifest of ``G+1`` is stored.
``commit`` then moves the live pointer to ``G+1`` in one write. Before any of that the leftovers
of an interrupted update (rows born after ``G``, rows marked dead after ``G``) are undone, so a
crash at any point costs nothing but the crashed work. After publishing, rows that died before
``G`` are deleted: readers still on ``G`` keep working, as with FAISS's previous build.

A fresh delta (a change of embedding model, chunking or analyzer, or ``--rebuild``) writes a
whole new build (new collections) and publishes it the same way; the build before it is dropped
one build later.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rag.keyword import tokenize
from rag.schema import FileContent
from rag.stores.base import Delta
from rag.stores.milvus.client import ALIVE, PLACEHOLDER, Names, live_filter
from rag.stores.milvus.layout import create_build, list_builds, publish, read_pointer
from rag.stores.milvus.rows import (
    CHUNK_FIELDS,
    FILE_FIELDS,
    PARAGRAPH_FIELDS,
    any_of,
    chunk_record,
    insert,
    paragraph_record,
    query_all,
    term_frequencies,
    upsert,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Staged:
    """A generation written but not yet live."""

    build: str
    base: int  # the generation it was written on (0: a new build)
    gen: int


def recover(client: Any, names: Names, gen: int) -> None:
    """Undo whatever an interrupted update left beyond generation ``gen``."""
    for coll, fields in ((names.chunks, CHUNK_FIELDS), (names.paragraphs, PARAGRAPH_FIELDS),
                         (names.files, FILE_FIELDS)):
        client.delete(coll, filter=f"born > {gen}")
        killed = list(query_all(client, coll, f"died > {gen} and died < {ALIVE}", fields))
        if killed:
            log.info("undoing %d row(s) of an interrupted update in %s", len(killed), coll)
            upsert(client, coll, [{**r, "died": ALIVE} for r in killed])
    client.delete(names.terms, filter=f"gen > {gen}")
    client.delete(names.meta, filter=f"gen > {gen}")


def stage(client: Any, name: str, delta: Delta, *, analyzer: str, dense_index: str) -> Staged:
    """Write the generation that ``delta`` makes of the live one (or a new build's first)."""
    pointer = None if delta.fresh else read_pointer(client, Names(name))
    if pointer is None:
        staged = Staged(uuid.uuid4().hex[:12], 0, 1)
        log.info("creating Milvus build %s", staged.build)
        create_build(client, Names(name, staged.build), int(delta.manifest["dimension"]),
                     analyzer, dense_index)
    else:
        staged = Staged(pointer[0], pointer[1], pointer[1] + 1)
        recover(client, Names(name, staged.build), staged.base)
    names, gen = Names(name, staged.build), staged.gen
    retired = [] if staged.base == 0 else [
        r for expr in any_of("doc", sorted(delta.removed))
        for r in query_all(client, names.chunks, f"{expr} and {live_filter(staged.base)}",
                           CHUNK_FIELDS)]
    _write_content(client, names, gen, delta.added, analyzer)
    insert(client, names.files, ({"pk": f"{gen}:{f.path}", "path": f.path,
                                  "info": delta.files[f.path], "born": gen, "died": ALIVE,
                                  "_v": PLACEHOLDER} for f in delta.added))
    _retire(client, names, staged.base, gen, delta.removed, retired)
    write_terms(client, names, staged.base, gen,
                added=[c.text for f in delta.added for c in f.chunks],
                removed=[r["text"] for r in retired])
    manifest = {**delta.manifest, "store": "milvus", "build": staged.build, "generation": gen,
                "analyzer": analyzer}
    client.insert(names.meta, [{"pk": str(gen), "gen": gen,
                                "manifest": json.dumps(manifest, ensure_ascii=False),
                                "_v": PLACEHOLDER}])
    return staged


def commit(client: Any, name: str, staged: Staged) -> None:
    """Publish a staged generation, then drop what no reader can see any more."""
    old_pointer = read_pointer(client, Names(name))
    publish(client, Names(name), staged.build, staged.gen)
    _collect_garbage(client, Names(name, staged.build), staged.base, old_pointer)


def _write_content(client: Any, names: Names, gen: int, files: list[FileContent],
                   analyzer: str) -> None:
    insert(client, names.paragraphs,
           (paragraph_record(p, gen) for f in files for p in f.paragraphs))
    insert(client, names.chunks,
           (chunk_record(c, v, gen, analyzer)
            for f in files for c, v in zip(f.chunks, f.vectors, strict=True)))


def _retire(client: Any, names: Names, base: int, gen: int, docs: list[str],
            chunks: list[dict[str, Any]]) -> None:
    """Mark the live rows of ``docs`` as dead from ``gen`` on (still visible at ``base``)."""
    if not docs or base == 0:
        return
    upsert(client, names.chunks, [{**r, "died": gen} for r in chunks])
    for coll, fields, key in ((names.paragraphs, PARAGRAPH_FIELDS, "doc"),
                              (names.files, FILE_FIELDS, "path")):
        rows = [r for expr in any_of(key, sorted(docs))
                for r in query_all(client, coll, f"{expr} and {live_filter(base)}", fields)]
        upsert(client, coll, [{**r, "died": gen} for r in rows])


def _term_counts(texts: Iterable[str]) -> Counter[str]:
    """In how many of ``texts`` each keyword term occurs."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(tokenize(text)))
    return counts


def write_terms(client: Any, names: Names, base: int, gen: int, *, added: list[str],
                removed: list[str]) -> None:
    """Document frequencies of generation ``gen``: those of ``base`` plus the change."""
    delta = _term_counts(added)
    delta.subtract(_term_counts(removed))
    touched = [t for t, d in delta.items() if d != 0]
    if not touched:
        return
    old = term_frequencies(client, names.terms, touched, base) if base else {}
    insert(client, names.terms, ({
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
