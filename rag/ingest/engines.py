"""Engines that read, repair, chunk and embed many corpus files, by name.

``local`` runs in this process and embeds only chunk texts the cache lacks; ``ray`` runs the
same ``parse_file`` and the same model as a Ray Data pipeline (``rag.ingest.ray``). A new engine
is one function here and one line in ``ENGINES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import ConfigError, Settings
from rag.documents import Skipped
from rag.embeddings import Embedder
from rag.ingest.process import fill_from_cache, missing_texts, parse_file
from rag.schema import FileContent


@dataclass
class Ingested:
    """The outcome of one batch of files: their content (in the order asked) and what was
    skipped while reading them; ``embedded`` counts the chunk texts the model encoded."""

    files: list[FileContent]
    skipped: list[Skipped]
    embedded: int


Engine = Callable[..., Ingested]


def run_local(corpus_dir: Path, paths: list[str], settings: Settings, embedder: Embedder, *,
              cache: dict[str, np.ndarray], progress: bool = False) -> Ingested:
    from tqdm import tqdm

    parsed = [parse_file(corpus_dir, rel, settings)
              for rel in tqdm(paths, desc="reading", unit="file", disable=not progress)]
    everything = [c for p in parsed for c in p.chunks]
    missing = missing_texts(everything, cache)
    fresh = embedder.embed([everything[i].text for i in missing], progress=progress)
    vectors = fill_from_cache(everything, cache, fresh, embedder.dimension)
    files, row = [], 0
    for p in parsed:
        files.append(FileContent(p.path, p.paragraphs, p.chunks,
                                 vectors[row:row + len(p.chunks)]))
        row += len(p.chunks)
    return Ingested(files, [s for p in parsed for s in p.skipped], len(missing))


def run_ray(corpus_dir: Path, paths: list[str], settings: Settings, embedder: Embedder, *,
            cache: dict[str, np.ndarray], progress: bool = False) -> Ingested:
    """Every file embedded on Ray (the cache is not consulted: workers hold their own model)."""
    from rag.ingest.ray import process_files_ray

    choice = getattr(embedder, "choice", None)
    if choice is None:
        raise ConfigError("the ray engine needs a sentence-transformers embedder")
    results = process_files_ray(corpus_dir, paths, settings, choice, progress=progress)
    files = [FileContent(r.path, r.paragraphs, r.chunks, r.vectors) for r in results]
    return Ingested(files, [s for r in results for s in r.skipped],
                    sum(len(r.chunks) for r in results))


ENGINES: dict[str, Engine] = {"local": run_local, "ray": run_ray}


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ConfigError(f"unknown ingest engine {name!r}; use one of {', '.join(ENGINES)} "
                          "(RAG_INGEST_ENGINE)") from None
