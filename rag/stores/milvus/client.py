"""Connection to Milvus (Lite file or server), collection names and filter expressions of the
Milvus store (the collection layout is in ``layout``)."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

from rag.stores.base import StoreError

log = logging.getLogger(__name__)

ALIVE = 2**62  # ``died`` of rows that are still alive
# Milvus requires a vector field in every collection; the bookkeeping collections carry this one.
PLACEHOLDER = [1.0, 0.0]
TEXT_MAX = 65535


class MilvusStoreError(StoreError):
    """The Milvus store cannot be reached or holds something unusable."""


def pymilvus_module():
    try:
        import pymilvus
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MilvusStoreError(
            "the Milvus store needs pymilvus: pip install 'rag-zh[milvus]'"
        ) from exc
    return pymilvus


def default_uri(index_dir: Path) -> str:
    """Milvus Lite file inside the index folder (served in-process by ``milvus-lite``)."""
    return str(Path(index_dir) / "milvus.db")


def is_local(uri: str) -> bool:
    return not re.match(r"^[a-z]+://", uri)


_CLIENTS: dict[tuple[str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def connect(uri: str, token: str = "", db_name: str = "") -> Any:
    """A ``MilvusClient`` for ``uri`` (shared per process; the client is thread-safe).

    A local path is a Milvus Lite database file; ``http://host:19530`` a Milvus server.
    """
    key = (uri, db_name)
    with _CLIENTS_LOCK:
        if key in _CLIENTS:
            return _CLIENTS[key]
        pymilvus = pymilvus_module()
        if is_local(uri):
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            # Milvus Lite's embedded search engine logs every commit at INFO on stderr, and
            # it gives query iterators no server timestamp (pymilvus then warns on each).
            os.environ.setdefault("RUST_LOG", "error")
            logging.getLogger("pymilvus.orm.iterator").setLevel(logging.ERROR)
        kwargs: dict[str, Any] = {"uri": uri}
        if token:
            kwargs["token"] = token
        if db_name:
            kwargs["db_name"] = db_name
        try:
            client = pymilvus.MilvusClient(**kwargs)
        except Exception as exc:
            where = "the Milvus Lite file" if is_local(uri) else "the Milvus server"
            raise MilvusStoreError(
                f"cannot open {where} at {uri} ({exc}); check RAG_MILVUS_URI"
                + (" and that no other process holds the file (serve it with "
                   "'python -m rag.stores.milvus.serve' to share it)" if is_local(uri) else
                   ", that the server is running and RAG_MILVUS_TOKEN if it needs one")
            ) from exc
        _CLIENTS[key] = _Translating(client, uri)
        return _CLIENTS[key]


class _Translating:
    """A ``MilvusClient`` whose errors arrive as ``MilvusStoreError`` (one error family for
    callers: a server that went away or refused a request is a store problem to report)."""

    def __init__(self, client: Any, uri: str) -> None:
        self._client = client
        self._uri = uri

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        error = pymilvus_module().exceptions.MilvusException

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except error as exc:
                raise MilvusStoreError(f"Milvus at {self._uri}: {exc}") from exc

        return call


def forget(uri: str, db_name: str = "") -> None:
    """Close and drop the shared client for ``uri`` (tests; releasing a Lite file)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.pop((uri, db_name), None)
    if client is not None:
        try:
            client.close()
        except Exception:  # closing a dead connection
            pass
    if is_local(uri):
        # Stop the embedded Milvus Lite server too, releasing the file for other processes.
        from milvus_lite.server_manager import server_manager_instance

        if str(Path(uri).absolute().resolve()) in getattr(server_manager_instance, "_servers", {}):
            server_manager_instance.release_server(uri)


KINDS = ("chunks", "paragraphs", "files", "terms", "meta")  # the collections of one build


class Names:
    """Collection names of one store (``name``) and build."""

    def __init__(self, name: str, build: str = "") -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,150}", name):
            raise MilvusStoreError(
                f"collection name {name!r} is not valid in Milvus; use letters, digits and _ "
                "(RAG_MILVUS_COLLECTION)"
            )
        self.name = name
        self.build = build
        self.live = f"{name}_live"
        self.chunks, self.paragraphs, self.files, self.terms, self.meta = (
            self.of(kind) for kind in KINDS)

    def of(self, kind: str) -> str:
        return f"{self.name}_{self.build}_{kind}"

    def all(self) -> list[str]:
        return [self.of(kind) for kind in KINDS]


def live_filter(gen: int) -> str:
    return f"born <= {gen} and died > {gen}"


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


def forget_all(under: str | Path | None = None) -> None:
    """Close the shared clients (of Lite files under ``under``, if given) so that another
    process can serve those files."""
    for uri, db_name in list(_CLIENTS):
        if under is None or (is_local(uri) and Path(uri).is_relative_to(under)):
            forget(uri, db_name)
