"""Chunk and paragraph records of one index build, kept on disk in SQLite and read on demand.

A million chunks as Python objects would cost gigabytes of RAM; SQLite keeps them on disk and
returns the few a query needs by position or key. Builds are immutable, so readers open the file
read-only with ``immutable=1`` (no locking) and each thread uses its own connection.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import overload

from rag.schema import Chunk, Paragraph

FILE = "records.sqlite"
_CACHE = 8192

_SCHEMA = """
CREATE TABLE chunks (pos INTEGER PRIMARY KEY, id TEXT, doc TEXT, text TEXT, paragraphs TEXT,
                     start INTEGER, "end" INTEGER, n_tokens INTEGER);
CREATE TABLE paragraphs (doc TEXT, idx INTEGER, text TEXT, line_start INTEGER, line_end INTEGER,
                         line_starts TEXT, page INTEGER, PRIMARY KEY (doc, idx));
"""
_CHUNK_COLS = 'id, doc, text, paragraphs, start, "end", n_tokens'
_PARA_COLS = "doc, idx, text, line_start, line_end, line_starts, page"


def write_records(path: Path, paragraphs: Iterable[Paragraph], chunks: Iterable[Chunk]) -> None:
    """Write a fresh records file (the build folder's atomic publish makes it visible)."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.executescript(_SCHEMA)
        con.executemany(
            f"INSERT INTO chunks (pos, {_CHUNK_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((i, c.id, c.doc, c.text, json.dumps(c.paragraphs), c.start, c.end, c.n_tokens)
             for i, c in enumerate(chunks)),
        )
        con.executemany(
            f"INSERT INTO paragraphs ({_PARA_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((p.doc, p.index, p.text, p.line_start, p.line_end, json.dumps(p.line_starts), p.page)
             for p in paragraphs),
        )
        con.commit()
    finally:
        con.close()


def _chunk(row: tuple) -> Chunk:
    cid, doc, text, paras, start, end, n_tokens = row
    return Chunk(id=cid, doc=doc, text=text, paragraphs=tuple(json.loads(paras)), start=start,
                 end=end, n_tokens=n_tokens)


def _paragraph(row: tuple) -> Paragraph:
    doc, idx, text, line_start, line_end, line_starts, page = row
    return Paragraph(doc=doc, index=idx, text=text, line_start=line_start, line_end=line_end,
                     line_starts=tuple(tuple(x) for x in json.loads(line_starts)), page=page)


class RecordStore:
    """Read access to one records file, shareable across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.chunks = ChunkView(self)
        self.paragraphs = ParagraphView(self)
        con = self._connect()
        self.n_chunks = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        self.n_paragraphs = con.execute("SELECT COUNT(*) FROM paragraphs").fetchone()[0]

    def _connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            uri = f"file:{self.path.resolve().as_posix()}?mode=ro&immutable=1"
            con = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._local.con = con
        return con

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._connect().execute(sql, args).fetchall()

    def document(self, doc: str) -> list[Paragraph]:
        """All paragraphs of ``doc`` in order (empty when it is not indexed)."""
        rows = self.query(f"SELECT {_PARA_COLS} FROM paragraphs WHERE doc = ? ORDER BY idx", (doc,))
        return [_paragraph(r) for r in rows]

    def documents(self) -> list[str]:
        return [r[0] for r in self.query("SELECT DISTINCT doc FROM paragraphs ORDER BY doc")]


class ChunkView(Sequence[Chunk]):
    """Chunks by position (the FAISS and BM25 row number), cached."""

    def __init__(self, store: RecordStore) -> None:
        self._store = store
        self._get = functools.lru_cache(maxsize=_CACHE)(self._fetch)

    def _fetch(self, pos: int) -> Chunk:
        rows = self._store.query(f"SELECT {_CHUNK_COLS} FROM chunks WHERE pos = ?", (pos,))
        if not rows:
            raise IndexError(pos)
        return _chunk(rows[0])

    def __len__(self) -> int:
        return self._store.n_chunks

    @overload
    def __getitem__(self, i: int) -> Chunk: ...

    @overload
    def __getitem__(self, i: slice) -> list[Chunk]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self._get(int(i))

    def __iter__(self) -> Iterator[Chunk]:
        for row in self._store.query(f"SELECT {_CHUNK_COLS} FROM chunks ORDER BY pos"):
            yield _chunk(row)


class ParagraphView(Mapping[tuple[str, int], Paragraph]):
    """Paragraphs by (doc, index), cached."""

    def __init__(self, store: RecordStore) -> None:
        self._store = store
        self._get = functools.lru_cache(maxsize=_CACHE)(self._fetch)

    def _fetch(self, key: tuple[str, int]) -> Paragraph:
        rows = self._store.query(
            f"SELECT {_PARA_COLS} FROM paragraphs WHERE doc = ? AND idx = ?", key
        )
        if not rows:
            raise KeyError(key)
        return _paragraph(rows[0])

    def __getitem__(self, key: tuple[str, int]) -> Paragraph:
        return self._get((key[0], int(key[1])))

    def __len__(self) -> int:
        return self._store.n_paragraphs

    def __iter__(self) -> Iterator[tuple[str, int]]:
        yield from self._store.query("SELECT doc, idx FROM paragraphs ORDER BY doc, idx")

    def values_in_order(self) -> Iterator[Paragraph]:
        for row in self._store.query(f"SELECT {_PARA_COLS} FROM paragraphs ORDER BY doc, idx"):
            yield _paragraph(row)
