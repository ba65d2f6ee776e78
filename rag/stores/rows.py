"""One mapping between ``Chunk``/``Paragraph`` and the flat rows every store keeps.

Lists (a chunk's paragraph indexes, a paragraph's line map) are JSON text in SQLite and JSON
fields in Milvus; a missing page is -1 or NULL. Both read back through the same functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rag.schema import Chunk, Paragraph

CHUNK_FIELDS = ("chunk_id", "doc", "text", "paragraphs", "start", "end", "n_tokens")
PARAGRAPH_FIELDS = ("doc", "idx", "text", "line_start", "line_end", "line_starts", "page")


def _listed(value: Any) -> list[Any]:
    if isinstance(value, str):
        return json.loads(value)
    return list(value or ())


def chunk_row(chunk: Chunk) -> dict[str, Any]:
    return {"chunk_id": chunk.id, "doc": chunk.doc, "text": chunk.text,
            "paragraphs": list(chunk.paragraphs), "start": chunk.start, "end": chunk.end,
            "n_tokens": chunk.n_tokens}


def chunk_from_row(row: Mapping[str, Any]) -> Chunk:
    return Chunk(id=row["chunk_id"], doc=row["doc"], text=row["text"],
                 paragraphs=tuple(int(i) for i in _listed(row["paragraphs"])),
                 start=int(row["start"]), end=int(row["end"]), n_tokens=int(row["n_tokens"]))


def paragraph_row(p: Paragraph) -> dict[str, Any]:
    return {"doc": p.doc, "idx": p.index, "text": p.text, "line_start": p.line_start,
            "line_end": p.line_end, "line_starts": [list(x) for x in p.line_starts],
            "page": -1 if p.page is None else p.page}


def paragraph_from_row(row: Mapping[str, Any]) -> Paragraph:
    page = row["page"]
    return Paragraph(doc=row["doc"], index=int(row["idx"]), text=row["text"],
                     line_start=int(row["line_start"]), line_end=int(row["line_end"]),
                     line_starts=tuple(tuple(x) for x in _listed(row["line_starts"])),
                     page=None if page is None or int(page) < 0 else int(page))
