"""Rows of the Milvus store: reading many (no 16k cap), filters over many values, and the rows
written for chunks and paragraphs (fields as ``rag.stores.rows`` maps them, plus generations)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from rag.keyword import tokenize
from rag.schema import Chunk, Paragraph, content_id
from rag.stores.milvus.client import ALIVE, PLACEHOLDER, quote
from rag.stores.rows import chunk_row, paragraph_row

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


def any_of(field: str, values: list[str]) -> Iterator[str]:
    """Filters ``field in [...]`` over ``values``, a bounded number of values each."""
    for i in range(0, len(values), FILTER_BATCH):
        yield f"{field} in [{', '.join(quote(v) for v in values[i:i + FILTER_BATCH])}]"


def insert(client: Any, collection: str, rows: Iterable[dict[str, Any]]) -> int:
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


def upsert(client: Any, collection: str, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), INSERT_BATCH):
        client.upsert(collection, rows[i:i + INSERT_BATCH])


def chunk_record(chunk: Chunk, vector: np.ndarray, gen: int, analyzer: str) -> dict[str, Any]:
    return {**chunk_row(chunk), "pk": f"{gen}:{chunk.id}", "content": content_id(chunk.text),
            "keywords": keywords_text(chunk.text, analyzer), "born": gen, "died": ALIVE,
            "dense": np.asarray(vector, dtype=np.float32).tolist()}


def paragraph_record(p: Paragraph, gen: int) -> dict[str, Any]:
    return {**paragraph_row(p), "pk": f"{gen}:{p.doc}#{p.index}", "born": gen, "died": ALIVE,
            "_v": PLACEHOLDER}


def term_frequencies(client: Any, terms_collection: str, terms: list[str],
                     gen: int) -> dict[str, int]:
    """Document frequency of ``terms`` at generation ``gen`` (latest row per term)."""
    out: dict[str, tuple[int, int]] = {}
    fields = ["term", "df", "gen"]
    for expr in any_of("term", terms):
        expr = f"{expr} and gen <= {gen}"
        # One plain query (an iterator costs extra round trips); page only if it is full.
        rows = client.query(terms_collection, filter=expr, output_fields=fields,
                            limit=QUERY_LIMIT)
        if len(rows) >= QUERY_LIMIT:
            rows = list(query_all(client, terms_collection, expr, fields))
        for r in rows:
            if r["term"] not in out or r["gen"] > out[r["term"]][0]:
                out[r["term"]] = (r["gen"], r["df"])
    return {t: df for t, (_, df) in out.items()}
