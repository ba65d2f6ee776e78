"""Chunk and paragraph records of one FAISS build, kept on disk in SQLite and read on demand.

A million chunks as Python objects would cost gigabytes of RAM; SQLite keeps them on disk and
returns the few a query needs by position or key. Builds are immutable, so readers open the file
read-only with ``immutable=1`` (no locking) and each thread uses its own connection.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rag.schema import Chunk, Paragraph
from rag.stores.rows import chunk_from_row, chunk_row, paragraph_from_row, paragraph_row

FILE = "records.sqlite"
_CACHE = 8192

_SCHEMA = """
CREATE TABLE chunks (pos INTEGER PRIMARY KEY, chunk_id TEXT, doc TEXT, text TEXT,
                     paragraphs TEXT, start INTEGER, "end" INTEGER, n_tokens INTEGER);
CREATE TABLE paragraphs (doc TEXT, idx INTEGER, text TEXT, line_start INTEGER, line_end INTEGER,
                         line_starts TEXT, page INTEGER, PRIMARY KEY (doc, idx));
"""
_CHUNK_COLS = 'chunk_id, doc, text, paragraphs, start, "end", n_tokens'
_PARA_COLS = "doc, idx, text, line_start, line_end, line_starts, page"


def _json_lists(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {**row, **{n: json.dumps(row[n]) for n in names}}


def write_records(path: Path, paragraphs: Iterable[Paragraph], chunks: Iterable[Chunk]) -> None:
    """Write a fresh records file (the build folder's atomic publish makes it visible)."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.executescript(_SCHEMA)
        con.executemany(
            f"INSERT INTO chunks (pos, {_CHUNK_COLS}) VALUES (:pos, :chunk_id, :doc, :text, "
            ":paragraphs, :start, :end, :n_tokens)",
            ({"pos": i, **_json_lists(chunk_row(c), "paragraphs")} for i, c in enumerate(chunks)),
        )
        con.executemany(
            f"INSERT INTO paragraphs ({_PARA_COLS}) VALUES (:doc, :idx, :text, :line_start, "
            ":line_end, :line_starts, :page)",
            ({**_json_lists(paragraph_row(p), "line_starts"),
              "page": p.page} for p in paragraphs),
        )
        con.commit()
    finally:
        con.close()


class RecordStore:
    """Read access to one records file, shareable across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.chunk = functools.lru_cache(maxsize=_CACHE)(self._chunk)
        self.paragraph = functools.lru_cache(maxsize=_CACHE)(self._paragraph)
        con = self._connect()
        self.n_chunks = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        self.n_paragraphs = con.execute("SELECT COUNT(*) FROM paragraphs").fetchone()[0]

    def _connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            uri = f"file:{self.path.resolve().as_posix()}?mode=ro&immutable=1"
            con = sqlite3.connect(uri, uri=True, check_same_thread=False)
            con.row_factory = sqlite3.Row
            self._local.con = con
        return con

    def query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        return self._connect().execute(sql, args).fetchall()

    def _chunk(self, pos: int) -> Chunk:
        rows = self.query(f"SELECT {_CHUNK_COLS} FROM chunks WHERE pos = ?", (pos,))
        if not rows:
            raise IndexError(pos)
        return chunk_from_row(rows[0])

    def _paragraph(self, doc: str, index: int) -> Paragraph:
        rows = self.query(f"SELECT {_PARA_COLS} FROM paragraphs WHERE doc = ? AND idx = ?",
                          (doc, index))
        if not rows:
            raise KeyError((doc, index))
        return paragraph_from_row(rows[0])

    def document(self, doc: str) -> list[Paragraph]:
        """All paragraphs of ``doc`` in order (empty when it is not indexed)."""
        rows = self.query(f"SELECT {_PARA_COLS} FROM paragraphs WHERE doc = ? ORDER BY idx", (doc,))
        return [paragraph_from_row(r) for r in rows]

    def all_chunks(self) -> Iterator[tuple[int, Chunk]]:
        """(position, chunk) of every chunk, in position order."""
        cursor = self._connect().execute(f"SELECT pos, {_CHUNK_COLS} FROM chunks ORDER BY pos")
        for row in cursor:
            yield int(row["pos"]), chunk_from_row(row)

    def all_paragraphs(self) -> Iterator[Paragraph]:
        """Every paragraph, by document and index."""
        cursor = self._connect().execute(f"SELECT {_PARA_COLS} FROM paragraphs ORDER BY doc, idx")
        for row in cursor:
            yield paragraph_from_row(row)
