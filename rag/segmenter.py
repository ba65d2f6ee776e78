"""The one place that loads jieba (word segmentation) and its part-of-speech tagger.

Everything that segments Chinese goes through ``jieba()`` and ``posseg()`` so that how the
dictionaries are loaded is decided here once. jieba's default tokenizer gets its tables from
the cache file of ``rag.segmenter_cache`` (built the first time with jieba's own loaders, so
cuts and tags are the same either way): read word by word at first (a question needs about 60
words; loading all ~500k took 0.6-1.3 s a process start), and loaded whole once enough text has
been cut that the lookups would cost more (indexing, a busy server). The part-of-speech tagger
is imported only when something asks for tags.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
import types
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

from rag import segmenter_cache
from rag.language import same_cut, simplified_form
from rag.segmenter_cache import CacheError, Dictionary, Entry

log = logging.getLogger(__name__)

# Words read from the cache file one by one before both tables are loaded whole (~0.3 s):
# about 300 questions' worth; indexing gets there within its first few hundred chunks.
LOAD_WHOLE_AFTER = 20_000

_lock = threading.RLock()
_jieba: Any = None
_posseg: Any = None
_words: _Words | None = None


def jieba() -> Any:
    """The ``jieba`` module, quiet, its default dictionary ready."""
    global _jieba
    if _jieba is not None:
        return _jieba
    with _lock:
        if _jieba is None:
            with _without_pkg_resources():
                import jieba as module
            # Once: jieba.setLogLevel clears the logging caches, which cost more than the cutting.
            module.setLogLevel(logging.WARNING)
            _use_cache(module)
            _jieba = module
        return _jieba


def posseg() -> Any:
    """``jieba.posseg`` (word, part-of-speech flag) on the same dictionary."""
    global _posseg
    if _posseg is not None:
        return _posseg
    with _lock:
        if _posseg is None:
            module = jieba()
            if _words is None or "jieba.posseg" in sys.modules:
                import jieba.posseg as pos
            else:
                with _empty_dictionary_file(module.dt):
                    import jieba.posseg as pos
                _words.attach_tagger(pos.dt)
            _posseg = pos
        return _posseg


def tagged(text: str) -> list[tuple[str, str]]:
    """(word, part-of-speech flag) pairs of ``text``, cut and tagged as its simplified form
    (jieba's dictionary is simplified: 臺灣大學 tagged as written falls apart), the words in the
    text's own characters."""
    pairs = [(w, flag) for w, flag in posseg().lcut(simplified_form(text))]
    words = same_cut(text, [w for w, _ in pairs])
    if words is None:  # not a cut of this text: tag it as written
        return [(w, flag) for w, flag in posseg().lcut(text)]
    return [(word, flag) for word, (_, flag) in zip(words, pairs, strict=True)]


def load_whole() -> None:
    """Both tables in memory now: before cutting a corpus (or forking workers that will), where
    reading the cache word by word would cost more than the whole load."""
    jieba()
    if _words is not None:
        _words.load_whole()


def _use_cache(module: Any) -> None:
    """Point jieba's default tokenizer at the cache (writing the cache first when there is
    none); a custom or already loaded dictionary is left to jieba."""
    global _words
    tokenizer = module.dt
    if tokenizer.initialized or tokenizer.dictionary != module.DEFAULT_DICT:
        return
    dictionary = Path(module.__file__).parent / module.DEFAULT_DICT_NAME
    try:
        key = segmenter_cache.cache_key(module.__version__, dictionary)
    except OSError:  # jieba reads its dictionary some other way: nothing to key a cache on
        return
    try:
        cache = Dictionary(key)
    except FileNotFoundError:
        cache = None
    except CacheError as exc:
        log.warning("jieba cache %s is unusable (%s); rebuilding it",
                    segmenter_cache.cache_path(key), exc)
        cache = None
    if cache is None:
        _build(module, key)
        return
    _words = _Words(cache, tokenizer, key)
    with tokenizer.lock:
        tokenizer.FREQ, tokenizer.total = _words.freq, cache.total
        tokenizer.initialized = True


def _build(module: Any, key: str) -> None:
    """The tables as jieba itself builds them (its prefix dictionary; ``jieba.posseg`` parses
    the tags on import), written to the cache; this process keeps them whole."""
    log.info("building jieba's dictionary tables (once; cached in %s)",
             segmenter_cache.cache_dir())
    tokenizer = module.dt
    tokenizer.initialize()
    import jieba.posseg as pos

    segmenter_cache.write(key, tokenizer.FREQ, tokenizer.total, pos.dt.word_tag_tab)


class _Words:
    """jieba's two tables served from the cache file word by word, each word read once, until
    ``LOAD_WHOLE_AFTER`` reads; then loaded whole and handed to the tokenizers as plain dicts.
    A cache that fails midway is replaced by jieba's own tables (and rewritten)."""

    def __init__(self, cache: Dictionary, tokenizer: Any, key: str) -> None:
        self.cache, self.tokenizer, self.key = cache, tokenizer, key
        self.tagger: Any = None
        self.seen: dict[str, Entry | None] = {}
        self.whole: tuple[dict[str, int], dict[str, str]] | None = None
        self.freq = _FreqView(self)
        self.tags = _TagView(self)

    def entry(self, word: str) -> Entry | None:
        try:
            return self.seen[word]
        except KeyError:
            pass
        with _lock:
            if self.whole is None and len(self.seen) < LOAD_WHOLE_AFTER:
                try:
                    found = self.cache.lookup(word)
                except CacheError as exc:
                    self._replace(exc)
                else:
                    self.seen[word] = found
                    return found
            if self.whole is None:
                self.load_whole()
            assert self.whole is not None
            freq, tags = self.whole
            return (freq.get(word), tags.get(word)) if word in freq or word in tags else None

    def attach_tagger(self, tagger: Any) -> None:
        with _lock:
            self.tagger = tagger
            tagger.word_tag_tab = self.whole[1] if self.whole is not None else self.tags

    def load_whole(self) -> None:
        """Both tables as dicts (with any word jieba was told since), given to the tokenizers."""
        with _lock:
            if self.whole is not None:
                return
            try:
                freq, tags = self.cache.everything()
            except CacheError as exc:
                self._replace(exc)
                return
            self._install(freq, tags)

    def _install(self, freq: dict[str, int], tags: dict[str, str]) -> None:
        freq.update(self.freq.added)
        tags.update(self.tags.added)
        self.whole = (freq, tags)
        self.tokenizer.FREQ = freq
        if self.tagger is not None:
            self.tagger.word_tag_tab = tags
        self.seen = {}

    def _replace(self, exc: CacheError) -> None:
        log.warning("jieba cache %s failed (%s); using jieba's own tables and rebuilding it",
                    self.cache.path, exc)
        freq, total = self.tokenizer.gen_pfdict(self.tokenizer.get_dict_file())
        import jieba.posseg as pos

        holder = types.SimpleNamespace()  # load_word_tag fills the table of what it is given
        pos.POSTokenizer.load_word_tag(holder, self.tokenizer.get_dict_file())
        segmenter_cache.write(self.key, freq, total, holder.word_tag_tab)
        self.tokenizer.total = total
        self._install(freq, holder.word_tag_tab)


class _View(MutableMapping):
    """A dict-like face of one table for jieba (it uses ``in``, ``[]``, ``get``, ``[]=``)."""

    column = 0

    def __init__(self, words: _Words) -> None:
        self.words = words
        self.added: dict[str, Any] = {}  # what jieba was told (add_word), kept across loads

    def _whole(self) -> dict[str, Any]:
        self.words.load_whole()
        assert self.words.whole is not None
        return self.words.whole[self.column]

    def get(self, word: str, default: Any = None) -> Any:
        if word in self.added:
            return self.added[word]
        entry = self.words.entry(word)
        value = None if entry is None else entry[self.column]
        return default if value is None else value

    def __contains__(self, word: object) -> bool:
        return self.get(word) is not None

    def __getitem__(self, word: str) -> Any:
        value = self.get(word)
        if value is None:
            raise KeyError(word)
        return value

    def __setitem__(self, word: str, value: Any) -> None:
        self.added[word] = value
        if self.words.whole is not None:
            self.words.whole[self.column][word] = value

    def __delitem__(self, word: str) -> None:
        self.added.pop(word, None)
        del self._whole()[word]

    def __iter__(self) -> Iterator[str]:
        return iter(self._whole())

    def __len__(self) -> int:
        return len(self._whole())


class _FreqView(_View):
    column = 0


class _TagView(_View):
    column = 1


@contextlib.contextmanager
def _empty_dictionary_file(tokenizer: Any) -> Iterator[None]:
    """While ``jieba.posseg`` is imported, the tokenizer hands it an empty dictionary file.

    ``jieba.posseg`` builds its tag table from ``dict.txt`` when imported, with no way to pass
    a prebuilt one; with nothing to read that step is empty and the cache's table is set after.
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
