"""Data passed between pipeline stages: frozen dataclasses, JSON-ready."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def content_id(*parts: str, length: int = 16) -> str:
    """A stable id from content, so ids survive rebuilds of an unchanged corpus."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:length]


@dataclass(frozen=True)
class Document:
    """A decoded source file. ``path`` is relative to the corpus root, with '/' separators."""

    path: str
    text: str
    encoding: str
    sha256: str
    # The format read: "text", "markdown", "pdf", "docx" or "html" (see ``rag.readers``).
    kind: str = "text"


@dataclass(frozen=True)
class Paragraph:
    """A repaired paragraph: cleaned text plus the 1-based line range in the original file."""

    doc: str
    index: int
    text: str
    line_start: int
    line_end: int
    # (offset in ``text``, 1-based source line) where each source line's content begins.
    line_starts: tuple[tuple[int, int], ...] = ()
    # 1-based page for paged formats (PDF), whose extracted text separates pages with "\f".
    page: int | None = None

    @property
    def lines(self) -> tuple[int, int]:
        return (self.line_start, self.line_end)

    def lines_of(self, start: int, end: int) -> tuple[int, int]:
        """Source line range holding ``text[start:end]`` (the whole paragraph if unknown)."""
        if not self.line_starts or end <= start:
            return self.lines
        first = last = self.line_starts[0][1]
        for offset, line in self.line_starts:
            if offset <= start:
                first = line
            if offset < end:
                last = line
        return (first, max(first, last))

    @property
    def id(self) -> str:
        return f"{self.doc}#{self.index}"


@dataclass(frozen=True)
class Chunk:
    """A token-budgeted run of sentences from one document.

    ``paragraphs`` lists the indices of the paragraphs it overlaps; ``start``/``end`` are
    character offsets into the first/last of those paragraphs' texts.
    """

    id: str
    doc: str
    text: str
    paragraphs: tuple[int, ...]
    start: int
    end: int
    n_tokens: int


@dataclass
class FileContent:
    """One corpus file read, repaired, chunked and embedded (rows of ``vectors`` match chunks)."""

    path: str
    paragraphs: list[Paragraph]
    chunks: list[Chunk]
    vectors: np.ndarray


class _JSONReady:
    """``to_dict``: the dataclass as JSON-ready values (tuples as lists, floats rounded)."""

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Passage(_JSONReady):
    """A retrieved chunk with its score and where it lives."""

    chunk_id: str
    doc: str
    paragraph: int
    paragraphs: tuple[int, ...]
    text: str
    score: float
    lines: tuple[int, int]
    rank: int = 0
    channel_scores: dict[str, float] = field(default_factory=dict, compare=False)
    # The knowledge base it came from (``RAG(kb=...)``, ``MultiRAG``); None for a plain index.
    kb: str | None = None


@dataclass(frozen=True)
class Citation(_JSONReady):
    """A source an answer relies on: the exact paragraph and the quote used from it."""

    n: int
    doc: str
    paragraph: int
    lines: tuple[int, int]
    text: str
    quote: str
    score: float
    page: int | None = None
    kb: str | None = None  # the knowledge base of ``doc`` (None for a plain index)


@dataclass(frozen=True)
class Answer(_JSONReady):
    """What ``RAG.ask`` returns. ``text`` carries ``[n]`` markers matching ``citations``."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    grounded: bool = True
    rewritten_question: str | None = None
    related: tuple[Passage, ...] = ()
    backend: str = "extractive"
    notice: str | None = None
    invalid_citations: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        """The inverse of ``to_dict`` (a saved answer, with its citations and related)."""
        citations = tuple(Citation(**{**c, "lines": tuple(c["lines"])})
                          for c in data.get("citations", ()))
        related = tuple(Passage(**{**p, "lines": tuple(p["lines"]),
                                   "paragraphs": tuple(p["paragraphs"])})
                        for p in data.get("related", ()))
        known = {f.name for f in fields(cls)} - {"citations", "related"}
        return cls(**{k: v for k, v in data.items() if k in known}, citations=citations,
                   related=related)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value
