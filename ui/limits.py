"""Per-client bounds for a served page: how many requests one client may have in flight.

Gradio's queue bounds the total (``queue_size``) and runs ``CONCURRENCY`` events at once; this
keeps one client (a browser session, or an API caller's address) from filling the queue for
everyone: past ``max_requests_per_client`` it gets a clear refusal at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rag.errors import RAGError


class TooManyRequests(RAGError):
    """One client already has its share of requests in flight."""


class ClientLimiter:
    """Counts requests in flight per client key; thread-safe."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, client: str | None) -> Iterator[None]:
        """Hold one of ``client``'s slots for the duration; refuses when none is free."""
        key = client or "-"
        with self._lock:
            if self._in_flight.get(key, 0) >= self.per_client:
                raise TooManyRequests(
                    f"this client already has {self.per_client} requests in progress; wait for "
                    "one to finish (max_requests_per_client, RAG_MAX_REQUESTS_PER_CLIENT)")
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._in_flight[key] - 1
                if left:
                    self._in_flight[key] = left
                else:
                    del self._in_flight[key]
