"""One corpus file -> its paragraphs and chunks: the single function every engine runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunking import chunk_paragraphs
from rag.config import Settings
from rag.documents import Skipped, read_document
from rag.paragraphs import split_paragraphs
from rag.readers import ReadOptions
from rag.schema import Chunk, Paragraph, content_id


@dataclass
class Parsed:
    """A file read, repaired and chunked; ``skipped`` says why it yielded nothing, if so."""

    path: str
    paragraphs: list[Paragraph] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def parse_file(corpus_dir: Path, rel: str, settings: Settings) -> Parsed:
    """Read ``corpus_dir/rel``, repair its paragraphs and cut them into chunks."""
    parsed = Parsed(rel)
    doc = read_document(corpus_dir / rel, corpus_dir, max_file_mb=settings.max_file_mb,
                        skipped=parsed.skipped, options=ReadOptions.from_settings(settings))
    if doc is None:
        return parsed
    parsed.paragraphs = split_paragraphs(doc.text, doc.path)
    if parsed.paragraphs:
        parsed.chunks = chunk_paragraphs(parsed.paragraphs, chunk_tokens=settings.chunk_tokens,
                                         overlap_tokens=settings.chunk_overlap)
    return parsed


def missing_texts(chunks: list[Chunk], cache: dict[str, np.ndarray]) -> list[int]:
    """Positions of the chunks whose text has no vector in ``cache`` (keyed by ``content_id``)."""
    return [i for i, c in enumerate(chunks) if content_id(c.text) not in cache]


def fill_from_cache(chunks: list[Chunk], cache: dict[str, np.ndarray], fresh: np.ndarray,
                    dimension: int) -> np.ndarray:
    """Vectors for ``chunks``: ``fresh`` rows (in order) for texts ``cache`` lacks, else cached."""
    vectors = np.zeros((len(chunks), dimension), dtype=np.float32)
    row = 0
    for i, c in enumerate(chunks):
        key = content_id(c.text)
        if key in cache:
            vectors[i] = cache[key]
        else:
            vectors[i] = fresh[row]
            row += 1
    return vectors
