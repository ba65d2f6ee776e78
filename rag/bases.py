"""Knowledge bases: named collections, each a corpus folder, an index folder and its own settings.

The registry is one JSON file, ``BASES_DIR/registry.json`` (``bases_dir``, ``RAG_BASES_DIR``,
default ``bases/``), rewritten atomically (a temporary file, then ``os.replace``) under an
``fcntl`` lock, so readers never see half a file and writers never lose each other's changes::

    bases/
      registry.json     {"format": 1, "bases": {NAME: {corpus, index, settings, created, ...}}}
      .lock
      NAME/index/       the base's index (FAISS build folders, or a Milvus Lite file)
      NAME/corpus/      its corpus, when the base was made without one (from the page)

The base ``default`` is not in the file: it is the configured ``corpus_dir`` and ``index_dir``
(``seeds/`` and ``index/``) with the global settings, so existing indexes need no migration.
A base's own settings (``embed_model``, ``chunk_tokens``, ``store``, any ``Settings`` field but
the folders) win over the config file and environment; explicit arguments win over them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.config import Settings, load_settings
from rag.errors import RAGError
from rag.paths import project_path
from rag.schema import Answer, Citation, Passage

DEFAULT = "default"
REGISTRY = "registry.json"
FORMAT = 1
_NAME = re.compile(r"^\w[\w.-]{0,63}$")  # letters of any script, digits, _ . - ; no '/' or ':'
_NOT_PER_BASE = frozenset({"corpus_dir", "index_dir", "bases_dir"})


class BaseError(RAGError, ValueError):
    """A knowledge base that does not exist, exists already, or has an unusable name."""


@dataclass(frozen=True)
class KnowledgeBase:
    """One base: its folders and the settings it was made with (overrides of the global ones)."""

    name: str
    corpus: Path
    index: Path
    settings: Mapping[str, Any] = field(default_factory=dict)
    created: str = ""
    owns_corpus: bool = False  # the corpus folder was made for the base (deleted with it)

    def apply(self, settings: Settings) -> Settings:
        """``settings`` with this base's own settings and folders on top."""
        return settings.with_overrides(**self.settings, corpus_dir=str(self.corpus),
                                       index_dir=str(self.index))


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise BaseError(f"knowledge base name {name!r} is not usable: use 1-64 letters, digits, "
                        "'_', '-' or '.', starting with a letter or digit")
    return name


def base_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The non-empty per-base settings of ``settings``, checked against ``Settings``."""
    clean = {k: v for k, v in settings.items() if v is not None and v != ""}
    folders = _NOT_PER_BASE & clean.keys()
    if folders:
        raise BaseError(f"{', '.join(sorted(folders))} cannot be set per knowledge base")
    Settings().with_overrides(**clean)  # unknown names or bad values raise ConfigError
    return clean


class Registry:
    """The knowledge bases under ``root`` (default: the ``bases_dir`` setting)."""

    def __init__(self, root: str | Path | None = None, *, settings: Settings | None = None):
        self.defaults = settings or load_settings()
        self.root = Path(root) if root is not None else project_path(self.defaults.bases_dir)

    # -- reading --------------------------------------------------------------------------

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads((self.root / REGISTRY).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise BaseError(f"knowledge base registry {self.root / REGISTRY} is unreadable "
                            f"({exc}); restore it or remove it to start over") from exc
        return dict(data.get("bases") or {})

    def names(self) -> list[str]:
        return [DEFAULT, *sorted(self._read())]

    def get(self, name: str) -> KnowledgeBase:
        if name == DEFAULT:
            return KnowledgeBase(DEFAULT, project_path(self.defaults.corpus_dir),
                                 project_path(self.defaults.index_dir))
        entry = self._read().get(name)
        if entry is None:
            known = ", ".join(self.names())
            raise BaseError(f"no knowledge base named {name!r} (known: {known}); create it with "
                            "rag kb create NAME CORPUS_DIR")
        return self._base(name, entry)

    def _base(self, name: str, entry: Mapping[str, Any]) -> KnowledgeBase:
        return KnowledgeBase(name, self._path(entry["corpus"]), self._path(entry["index"]),
                             dict(entry.get("settings") or {}), str(entry.get("created", "")),
                             bool(entry.get("owns_corpus")))

    def _path(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    def _stored(self, path: Path) -> str:
        path = path.resolve()
        with contextlib.suppress(ValueError):
            return path.relative_to(self.root.resolve()).as_posix()
        return str(path)

    # -- writing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[dict[str, dict[str, Any]]]:
        """The bases, locked against other writers; saved atomically when the block ends."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            bases = self._read()
            yield bases
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".registry-", suffix=".tmp")
            os.fchmod(fd, 0o644)  # mkstemp makes it private; the registry is not secret
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump({"format": FORMAT, "bases": bases}, fh, ensure_ascii=False,
                              indent=2, sort_keys=True)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.root / REGISTRY)
            finally:
                Path(tmp).unlink(missing_ok=True)

    def create(self, name: str, corpus: str | Path | None = None,
               **settings: Any) -> KnowledgeBase:
        """Register a base over ``corpus`` (a new empty folder under the base when None)."""
        name = check_name(name)
        own = base_settings(settings)
        if own.get("store") == "milvus" and "milvus_collection" not in own:
            own["milvus_collection"] = "kb_" + re.sub(r"\W", "_", name.encode(
                "ascii", "replace").decode().replace("?", "_")) + f"_{_short_hash(name)}"
        if corpus is not None and not Path(corpus).is_dir():
            raise BaseError(f"corpus folder {corpus} does not exist; create it or pick another")
        with self._writing() as bases:
            if name == DEFAULT or name in bases:
                raise BaseError(f"a knowledge base named {name!r} exists already; pick another "
                                "name or delete it first (rag kb delete NAME)")
            taken = {self._path(e["index"]).parent.name for e in bases.values()}
            folder = self.root / _free_folder(self.root, name, taken)
            (folder / "index").mkdir(parents=True, exist_ok=True)
            if corpus is None:
                (folder / "corpus").mkdir(exist_ok=True)
            bases[name] = {
                "corpus": self._stored(folder / "corpus" if corpus is None else Path(corpus)),
                "index": self._stored(folder / "index"), "settings": own,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "owns_corpus": corpus is None,
            }
            return self._base(name, bases[name])

    def rename(self, old: str, new: str) -> KnowledgeBase:
        """Rename a base; its folders stay where they are (the registry maps the new name)."""
        new = check_name(new)
        with self._writing() as bases:
            if old == DEFAULT:
                raise BaseError("the default base (seeds/ and index/) cannot be renamed")
            if old not in bases:
                raise BaseError(f"no knowledge base named {old!r}")
            if new == DEFAULT or new in bases:
                raise BaseError(f"a knowledge base named {new!r} exists already")
            bases[new] = bases.pop(old)
            return self._base(new, bases[new])

    def delete(self, name: str) -> KnowledgeBase:
        """Forget a base and remove its index folder (and its corpus, if made for it).

        A corpus folder given at creation is the user's and stays; other bases are untouched.
        """
        with self._writing() as bases:
            if name == DEFAULT:
                raise BaseError("the default base (seeds/ and index/) cannot be deleted; "
                                "rebuild it with rag index --rebuild instead")
            if name not in bases:
                raise BaseError(f"no knowledge base named {name!r}")
            base = self._base(name, bases.pop(name))
        inside = self.root.resolve()
        for folder, ours in ((base.index, True), (base.corpus, base.owns_corpus)):
            # Only folders this registry made (a hand-edited entry never deletes elsewhere).
            if ours and folder.resolve().is_relative_to(inside):
                shutil.rmtree(folder, ignore_errors=True)
        folder = base.index.parent
        if folder.parent.resolve() == self.root.resolve() and folder.is_dir() \
                and not any(folder.iterdir()):
            folder.rmdir()
        return base


def _short_hash(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]


def _free_folder(root: Path, name: str, taken: set[str]) -> str:
    folder, n = name, 1
    while folder in taken or (root / folder).exists():
        n += 1
        folder = f"{name}-{n}"
    return folder


def disk_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (links not followed)."""
    total = 0
    for path in folder.rglob("*") if folder.is_dir() else ():
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


# -- answers that name their base -----------------------------------------------------------


def label_passage(passage: Passage, kb: str | None) -> Passage:
    from dataclasses import replace

    return passage if kb is None else replace(passage, kb=kb)


def label_answer(answer: Answer, kb: str | None) -> Answer:
    """``answer`` with every citation and related passage naming base ``kb``."""
    from dataclasses import replace

    if kb is None:
        return answer
    citations: tuple[Citation, ...] = tuple(replace(c, kb=kb) for c in answer.citations)
    return replace(answer, citations=citations,
                   related=tuple(label_passage(p, kb) for p in answer.related))


def summary(base: KnowledgeBase, settings: Settings | None = None) -> dict[str, Any]:
    """What ``rag kb list`` shows of a base: documents, chunks, model, size on disk, state."""
    from rag.stores import IndexNotFoundError, StoreError, open_store

    row: dict[str, Any] = {"name": base.name, "corpus": str(base.corpus),
                           "index": str(base.index), "documents": 0, "chunks": 0,
                           "model": base.settings.get("embed_model", "-"),
                           "size": disk_size(base.index), "state": "indexed"}
    store = open_store(base.apply(settings or load_settings()), base.index)
    try:
        manifest = store.open().manifest
        row.update(documents=int(manifest.get("documents", 0)),
                   chunks=int(manifest.get("chunks", 0)), model=manifest.get("embed_model"))
    except IndexNotFoundError:
        row["state"] = "not indexed yet"
    except StoreError as exc:
        row["state"] = f"needs a rebuild ({exc})"
    finally:
        store.close()
    return row
