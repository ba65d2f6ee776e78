"""The one place that loads jieba (word segmentation) and its part-of-speech tagger.

Everything that segments Chinese goes through ``jieba()`` and ``posseg()`` so that how the
dictionaries are loaded is decided here once: from the cache file of ``rag.segmenter_cache``
when there is one (built and written the first time, with jieba's own loaders), and the
part-of-speech tagger only when something asks for tags.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag import segmenter_cache
from rag.segmenter_cache import Tables

log = logging.getLogger(__name__)

_lock = threading.RLock()
_jieba: Any = None
_posseg: Any = None
_tables: Tables | None = None  # loaded from the cache, until posseg() takes the tags


def jieba() -> Any:
    """The ``jieba`` module, quiet, its default dictionary loaded."""
    global _jieba
    if _jieba is not None:
        return _jieba
    with _lock:
        if _jieba is None:
            with _without_pkg_resources():
                import jieba as module
            # Once: jieba.setLogLevel clears the logging caches, which cost more than the cutting.
            module.setLogLevel(logging.WARNING)
            _load_dictionary(module)
            _jieba = module
        return _jieba


def posseg() -> Any:
    """``jieba.posseg`` (word, part-of-speech flag) on the same dictionary."""
    global _posseg, _tables
    if _posseg is not None:
        return _posseg
    with _lock:
        if _posseg is None:
            module = jieba()
            tables, _tables = _tables, None
            if tables is None or "jieba.posseg" in sys.modules:
                import jieba.posseg as pos
            else:
                with _empty_dictionary_file(module.dt):
                    import jieba.posseg as pos
                pos.dt.word_tag_tab = tables.word_tags()
            _posseg = pos
        return _posseg


def _load_dictionary(module: Any) -> None:
    """Give jieba's default tokenizer its prefix dictionary from the cache (writing the cache
    first when there is none); a custom or already loaded dictionary is left to jieba."""
    global _tables
    tokenizer = module.dt
    if tokenizer.initialized or tokenizer.dictionary != module.DEFAULT_DICT:
        return
    dictionary = Path(module.__file__).parent / module.DEFAULT_DICT_NAME
    try:
        key = segmenter_cache.cache_key(module.__version__, dictionary)
    except OSError:  # jieba reads its dictionary some other way: nothing to key a cache on
        return
    tables = segmenter_cache.load(key)
    if tables is None:
        segmenter_cache.save(key, _build(module))
        return
    with tokenizer.lock:
        tokenizer.FREQ, tokenizer.total = tables.freq, tables.total
        tokenizer.initialized = True
    _tables = tables


def _build(module: Any) -> Tables:
    """The tables as jieba itself builds them (its prefix dictionary; ``jieba.posseg`` parses
    the tags on import), so a cached process cuts and tags exactly like an uncached one."""
    log.info("building jieba's dictionary tables (once; cached in %s)",
             segmenter_cache.cache_dir())
    module.dt.initialize()
    import jieba.posseg as pos

    return Tables.from_jieba(module.dt.FREQ, module.dt.total, pos.dt.word_tag_tab)


@contextlib.contextmanager
def _empty_dictionary_file(tokenizer: Any) -> Iterator[None]:
    """While ``jieba.posseg`` is imported, the tokenizer hands it an empty dictionary file.

    ``jieba.posseg`` builds its tag table from ``dict.txt`` when imported, with no way to pass
    a prebuilt one; with nothing to read that step is empty and the cached table is set after.
    """
    tokenizer.get_dict_file = lambda: io.BytesIO()
    try:
        yield
    finally:
        del tokenizer.get_dict_file


@contextlib.contextmanager
def _without_pkg_resources() -> Iterator[None]:
    """Import jieba with its fallback resource loader (plain ``open`` of its package files):
    its preferred one imports the deprecated ``pkg_resources`` (~30 ms and a warning on every
    start) only to open the same files."""
    if "pkg_resources" in sys.modules:
        yield
        return
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # makes the import fail
    try:
        yield
    finally:
        if sys.modules.get("pkg_resources", 0) is None:
            del sys.modules["pkg_resources"]
