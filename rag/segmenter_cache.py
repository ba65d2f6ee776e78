"""jieba's dictionary tables kept in one cache file, so that a fresh process skips their build.

Two tables come from jieba's ``dict.txt`` (~350k words): the prefix dictionary every cut looks
words up in (``Tokenizer.FREQ`` and its ``total``) and the part-of-speech tag of each word
(``jieba.posseg``'s ``word_tag_tab``). jieba keeps the first as a marshal file in the temp folder
and parses ``dict.txt`` again for the second on every import of ``jieba.posseg``. Measured on this
project's 2-core machine: marshal 0.6-0.9 s and the tag parse 0.24-0.47 s per process, against
0.2-0.3 s to unpickle both from here (pickle builds the dict faster than marshal; the tags are
stored as a list aligned with the prefix dictionary's keys, so their strings are not stored or
built twice and a process that only cuts words pays ~15 ms for them).

The file lives in ``$RAG_JIEBA_CACHE_DIR`` (default ``$XDG_CACHE_HOME/rag-zh/jieba``, i.e.
``~/.cache/rag-zh/jieba``); its name is derived from jieba's version and the dictionary file's
path, size and modification time, so a different jieba or dictionary gets its own file. It is
written atomically (a temporary file renamed into place); one that cannot be read is rebuilt,
never an error. Loading accepts only plain data (no class can be named in the file).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_ENV = "RAG_JIEBA_CACHE_DIR"
_MAGIC = "rag-zh jieba tables"
_FORMAT = 1


@dataclass(frozen=True)
class Tables:
    """The prefix dictionary (word or prefix -> frequency, 0 for a bare prefix), the sum of the
    frequencies, and each key's part-of-speech tag (None for a bare prefix), in key order."""

    freq: dict[str, int]
    total: int
    tags: list[str | None]

    def word_tags(self) -> dict[str, str]:
        """``jieba.posseg``'s word -> tag table."""
        return {word: tag for word, tag in zip(self.freq, self.tags, strict=True)
                if tag is not None}

    @classmethod
    def from_jieba(cls, freq: dict[str, int], total: int, word_tags: dict[str, str]) -> Tables:
        """From the tables jieba built; every tagged word is a key of ``freq`` (both come from
        the same dictionary lines), which is what lets the tags ride on its key order."""
        missing = word_tags.keys() - freq.keys()
        if missing:
            raise ValueError(f"{len(missing)} tagged words are not in the prefix dictionary")
        return cls(freq, total, [word_tags.get(word) for word in freq])


def cache_dir() -> Path:
    folder = os.environ.get(CACHE_ENV)
    if folder:
        return Path(folder).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-zh" / "jieba"


def cache_key(jieba_version: str, dictionary: Path) -> str:
    """What the cache file's content depends on: jieba's version and the dictionary file."""
    stat = dictionary.stat()
    ident = f"{_FORMAT}|{jieba_version}|{dictionary.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:20]


def cache_path(key: str) -> Path:
    return cache_dir() / f"tables-{key}.pickle"


class _PlainData(pickle.Unpickler):
    """Unpickles dicts, lists, tuples, strings and numbers only: naming any class or function
    is refused, so a tampered cache file cannot run code (it is rebuilt instead)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in the jieba cache")


def load(key: str) -> Tables | None:
    """The tables stored under ``key``; None when there is no such file or it is unusable."""
    path = cache_path(key)
    try:
        with open(path, "rb") as fh:
            payload = _PlainData(fh).load()
        magic, version, stored_key, freq, total, tags = payload
        if (magic, version, stored_key) != (_MAGIC, _FORMAT, key):
            raise ValueError("written for another dictionary or format")
        if not (isinstance(freq, dict) and isinstance(total, int) and isinstance(tags, list)
                and len(tags) == len(freq)):
            raise ValueError("tables of the wrong shape")
    except FileNotFoundError:
        return None
    except Exception as exc:  # damaged, truncated or foreign: rebuilt by the caller
        log.warning("jieba cache %s is unusable (%s: %s); rebuilding it", path,
                    type(exc).__name__, exc)
        return None
    return Tables(freq, total, tags)


def save(key: str, tables: Tables) -> None:
    """Write the tables under ``key`` atomically; a folder that cannot be written only costs
    speed (a warning, and the next process builds them again)."""
    path = cache_path(key)
    payload = (_MAGIC, _FORMAT, key, tables.freq, tables.total, tables.tags)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # readers see the old file or the whole new one
        tmp = None
    except OSError as exc:
        log.warning("cannot write the jieba cache in %s (%s); each process builds jieba's "
                    "tables again", path.parent, exc)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
