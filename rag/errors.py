"""The one error family: every error the library raises for a user derives from ``RAGError``.

Each edge (the CLI, the UI, the HTTP API) catches ``RAGError`` and shows ``str(exc)``: the
message says what went wrong and what to do. The specific classes live beside the code that
raises them (``ConfigError`` in ``rag.config``, ``StoreError`` in ``rag.stores.base``, ...) and
keep their built-in bases (``ValueError``, ``OSError``, ...) for callers that catch those.
"""

from __future__ import annotations


class RAGError(Exception):
    """Base of the library's user-facing errors; the message is meant for the user."""
