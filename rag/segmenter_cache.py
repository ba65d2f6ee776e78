"""jieba's dictionary tables in an indexed cache file, read word by word or whole.

Two tables come from jieba's ``dict.txt`` (~350k words): the prefix dictionary every cut looks
words up in (``Tokenizer.FREQ``, ~500k words and prefixes, and its ``total``) and the part-of-
speech tag of each word (``jieba.posseg``'s ``word_tag_tab``). jieba keeps the first as a
marshal file in the temp folder and parses ``dict.txt`` again for the second whenever
``jieba.posseg`` is imported: 0.6-0.9 s and 0.24-0.47 s of every process start on this project's
2-core machine, while one question looks up about 60 distinct words. Here both tables are rows
of one SQLite file (word -> frequency, tag), so a process reads the few words it needs, and the
same file holds both tables pickled whole for a process that cuts a lot of text (``rag.segmenter``
decides when that pays): unpickled in 0.2-0.3 s, where reading the rows took 1.3 s.

The file lives in ``$RAG_JIEBA_CACHE_DIR`` (default ``$XDG_CACHE_HOME/rag-zh/jieba``, i.e.
``~/.cache/rag-zh/jieba``); its name is derived from jieba's version and the dictionary file's
path, size and modification time, so another jieba or dictionary gets its own file. It is
written to a temporary file renamed into place, so it is whole or absent, and never changed
after; one that cannot be read is reported (``CacheError``) for the caller to rebuild.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_ENV = "RAG_JIEBA_CACHE_DIR"
_MAGIC = "rag-zh jieba tables"
_FORMAT = "2"

Entry = tuple[int | None, str | None]  # (frequency, or None outside FREQ; tag, or None)


class CacheError(Exception):
    """The cache file cannot be used (damaged, foreign, or unreadable)."""


def cache_dir() -> Path:
    folder = os.environ.get(CACHE_ENV)
    if folder:
        return Path(folder).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-zh" / "jieba"


def cache_key(jieba_version: str, dictionary: Path) -> str:
    """What the cache's content depends on: jieba's version and the dictionary file."""
    stat = dictionary.stat()
    ident = f"{_FORMAT}|{jieba_version}|{dictionary.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:20]


def cache_path(key: str) -> Path:
    return cache_dir() / f"tables-{key}.sqlite"


class Dictionary:
    """One cache file, opened read-only. Thread-safe; a forked child opens its own connection
    (SQLite connections must not cross a fork)."""

    def __init__(self, key: str) -> None:
        path = cache_path(key)
        if not path.is_file():
            raise FileNotFoundError(path)
        self.path = path
        self._lock = threading.Lock()
        self._pid = -1
        try:
            meta = dict(self._query("SELECT name, value FROM meta"))
            if (meta.get("magic"), meta.get("format"), meta.get("key")) != (_MAGIC, _FORMAT, key):
                raise CacheError("written for another dictionary or format")
            self.total = int(meta["total"])
            self.sizes = (int(meta["freq_words"]), int(meta["tagged_words"]))
        except (sqlite3.Error, KeyError, ValueError) as exc:
            raise CacheError(f"{type(exc).__name__}: {exc}") from exc

    def _query(self, sql: str, *args: object) -> list[Any]:
        if self._pid != os.getpid():  # first use, or a forked child: its own lock and connection
            self._lock = threading.Lock()
            # immutable: the file never changes once renamed into place, so SQLite may skip
            # its locking; a new cache is a new file.
            self._con = sqlite3.connect(f"{self.path.as_uri()}?mode=ro&immutable=1", uri=True,
                                        check_same_thread=False)
            self._pid = os.getpid()
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    def lookup(self, word: str) -> Entry | None:
        """(frequency, tag) of ``word``; None when the dictionary has neither."""
        try:
            rows = self._query("SELECT freq, tag FROM words WHERE word = ?", word)
        except sqlite3.Error as exc:
            raise CacheError(f"{type(exc).__name__}: {exc}") from exc
        return (rows[0][0], rows[0][1]) if rows else None

    def everything(self) -> tuple[dict[str, int], dict[str, str]]:
        """Both tables whole: (word -> frequency, word -> tag)."""
        try:
            [(blob,)] = self._query("SELECT value FROM whole")
            freq, tags = _PlainData(blob).load()
            if (len(freq), len(tags)) != self.sizes:
                raise ValueError(f"{len(freq)}, {len(tags)} words where {self.sizes} were written")
        except Exception as exc:  # damaged in any way: the caller rebuilds
            raise CacheError(f"{type(exc).__name__}: {exc}") from exc
        return freq, tags

    def close(self) -> None:
        if self._pid == os.getpid():
            self._con.close()
            self._pid = -1


def write(key: str, freq: Mapping[str, int], total: int, tags: Mapping[str, str]) -> None:
    """Store the tables under ``key``; a folder that cannot be written only costs speed (a
    warning, and the next process builds them again)."""
    path = cache_path(key)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.close(fd)
        con = sqlite3.connect(tmp)
        try:
            # A private file until renamed into place: no journal needed to keep it whole.
            con.execute("PRAGMA journal_mode = OFF")
            con.execute("PRAGMA synchronous = OFF")
            con.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            con.execute("CREATE TABLE words (word TEXT PRIMARY KEY, freq INTEGER, tag TEXT) "
                        "WITHOUT ROWID")
            con.execute("CREATE TABLE whole (value BLOB NOT NULL)")
            con.executemany("INSERT INTO words VALUES (?, ?, ?)",
                            ((w, freq.get(w), tags.get(w)) for w in dict.fromkeys([*freq, *tags])))
            con.execute("INSERT INTO whole VALUES (?)", (_pickled(freq, tags),))
            con.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("magic", _MAGIC), ("format", _FORMAT), ("key", key), ("total", str(total)),
                ("freq_words", str(len(freq))), ("tagged_words", str(len(tags)))])
            con.commit()
        finally:
            con.close()
        with open(tmp, "rb+") as fh:  # on disk before it takes the cache's name
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # readers see no file or the whole file
        tmp = None
    except (OSError, sqlite3.Error) as exc:
        log.warning("cannot write the jieba cache in %s (%s); each process builds jieba's "
                    "tables again", path.parent, exc)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _pickled(freq: Mapping[str, int], tags: Mapping[str, str]) -> bytes:
    """Both tables in one pickle, the tag table keyed by the very strings of the frequency
    table (and its tags interned) so that unpickling builds each string once."""
    shared = {word: sys.intern(tags[word]) for word in freq if word in tags}
    shared.update((word, sys.intern(tag)) for word, tag in tags.items() if word not in shared)
    return pickle.dumps((dict(freq), shared), protocol=pickle.HIGHEST_PROTOCOL)


class _PlainData(pickle.Unpickler):
    """Unpickles dicts, tuples, strings and numbers only: naming any class or function is
    refused, so a tampered cache cannot run code (it is rebuilt instead)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in the jieba cache")
