"""Bring an index up to date with a corpus folder: the one ingestion path for every store.

``update_index`` opens the live state once, scans the corpus once and diffs it once against the
files the index holds; when anything differs it reads, repairs and chunks only new and changed
files (through an engine: ``local`` or ``ray``), embeds only chunk texts the index has no vector
for, and hands the result to ``store.publish`` as one ``Delta``. A change of embedding model,
chunking, keyword scheme or store settings (or ``rebuild``) makes the delta fresh: the store
starts over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.documents import Skipped
from rag.embeddings import Embedder, ModelChoice, model_for_build
from rag.ingest.corpus import CorpusChange, CorpusFile, diff, scan_corpus
from rag.ingest.engines import Ingested, engine
from rag.stores.base import (
    Delta,
    IndexCorruptError,
    IndexFormatError,
    IndexNotFoundError,
    Snapshot,
    Store,
)
from rag.stores.manifest import file_entry, new_manifest, no_documents, no_text, settings_change

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What an update found: why it must publish (None: the index is current) and what."""

    model: ModelChoice
    previous: Snapshot | None
    indexed: dict[str, dict[str, Any]]  # the previous index's file entries (read once)
    files: dict[str, CorpusFile]
    change: CorpusChange
    reason: str | None = None
    fresh: bool = False
    skipped: list[Skipped] = field(default_factory=list)


def _live(store: Store, *, rebuild: bool) -> tuple[Snapshot | None, str | None]:
    """The live snapshot, or None with the reason it cannot be updated in place.

    A damaged index is an error unless a rebuild was asked for: rebuilding it silently would
    hide the damage (and re-embed everything); an index of an older format is rebuilt.
    """
    try:
        return store.open(), None
    except IndexNotFoundError:
        return None, "no index yet"
    except IndexCorruptError as exc:
        if not rebuild:
            raise
        return None, f"existing index damaged ({exc})"
    except IndexFormatError as exc:
        return None, f"existing index unusable ({exc})"


def plan_update(store: Store, corpus_dir: Path, settings: Settings, *,
                rebuild: bool = False, force: Collection[str] = ()) -> Plan:
    """What an update must do; ``force`` names files to re-read even if unchanged."""
    previous, unusable = _live(store, rebuild=rebuild)
    manifest = previous.manifest if previous is not None else None
    model = model_for_build(settings.embed_model, (manifest or {}).get("embed_model"))
    # The token counter the index was chunked with is compared only once something is to be
    # chunked (naming the one in use loads tiktoken's encoding, ~0.1-0.2 s of a cold start):
    # an index whose files are unchanged opens without it, and one counted otherwise is
    # rebuilt at its next change, never updated with chunks counted two ways.
    recorded = ((manifest or {}).get("chunking") or {}).get("token_counter")
    reason = ("rebuild requested" if rebuild else unusable
              or settings_change(manifest, settings, model.name, counter=recorded)
              or store.settings_change(manifest or {}, settings))
    indexed = previous.files() if previous is not None else {}
    skipped: list[Skipped] = []
    files = scan_corpus(corpus_dir, indexed, max_file_mb=settings.max_file_mb, skipped=skipped)
    if not files:
        raise no_documents(corpus_dir, skipped)
    fresh = reason is not None
    change = diff(files, {} if fresh else {p: e for p, e in indexed.items() if p not in force})
    if not fresh and change:
        counted = settings_change(manifest, settings, model.name)  # the counter in use now
        if counted is not None:
            fresh, reason, change = True, counted, diff(files, {})
        else:
            reason = change.describe(indexed)
    if rebuild:  # nothing of the previous index is kept or reused
        previous, indexed = None, {}
    return Plan(model, previous, indexed, files, change, reason, fresh, skipped)


def update_index(store: Store, corpus_dir: Path, settings: Settings,
                 embedder_for: Callable[[ModelChoice], Embedder], *, rebuild: bool = False,
                 progress: bool = False, force: Collection[str] = ()) -> Snapshot:
    """Make the store's live index match ``corpus_dir``; returns the live snapshot.

    ``force`` names corpus files (relative paths) to re-read, re-parse and re-chunk even when
    their content is unchanged (a re-parse); they publish a new state like any change."""
    corpus_dir = Path(corpus_dir)
    with store.lock():
        started = time.perf_counter()
        plan = plan_update(store, corpus_dir, settings, rebuild=rebuild, force=force)
        if plan.reason is None:
            assert plan.previous is not None
            return plan.previous
        log.info("building index in %s: %s", store.location, plan.reason)
        embedder = embedder_for(plan.model)
        ingested = engine(settings.ingest_engine)(
            corpus_dir, plan.change.changed, settings, embedder,
            cache=_reusable_vectors(plan, embedder), progress=progress)
        delta = _delta(plan, ingested, embedder, settings, corpus_dir)
        snapshot = store.publish(delta)
        chunks = delta.manifest["chunks"]
        log.info("indexed %d files (%d unchanged), %d paragraphs, %d chunks (%d embedded, "
                 "%d reused) in %.1fs", len(plan.files), len(plan.files) - len(plan.change.changed),
                 delta.manifest["paragraphs"], chunks, ingested.embedded,
                 chunks - ingested.embedded, time.perf_counter() - started)
        return snapshot


def _reusable_vectors(plan: Plan, embedder: Embedder) -> dict[str, np.ndarray]:
    """Vectors the previous index holds for the text of files about to be re-read."""
    previous = plan.previous
    if previous is None or previous.manifest.get("embed_model") != embedder.name:
        return {}
    docs = list(plan.indexed) if plan.fresh else plan.change.changed + plan.change.removed
    return previous.vectors_by_content(docs) if docs else {}


def _delta(plan: Plan, ingested: Ingested, embedder: Embedder, settings: Settings,
           corpus_dir: Path) -> Delta:
    read = {f.path: f for f in ingested.files}
    reasons = {s.path: s.reason for s in reversed(ingested.skipped)}
    indexed = plan.indexed
    entries: dict[str, dict[str, Any]] = {}
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for path, corpus_file in plan.files.items():
        content = read.get(path)
        if content is None:  # unchanged: its counts carry over, its fingerprint is refreshed
            entries[path] = {**indexed[path], **corpus_file.fingerprint()}
            continue
        unknown, tokens = embedder.unk_counts([c.text for c in content.chunks])
        entries[path] = file_entry(corpus_file.fingerprint(), paragraphs=len(content.paragraphs),
                                   chunks=len(content.chunks), unk_tokens=unknown, tokens=tokens,
                                   skipped=reasons.get(path)) | {"indexed": now}
    manifest = new_manifest(model=embedder.name, dimension=embedder.dimension, settings=settings,
                            files=entries, scan_skipped=plan.skipped)
    if manifest["chunks"] == 0:
        raise no_text(corpus_dir, plan.skipped + ingested.skipped)
    removed = [] if plan.fresh else (
        [p for p in plan.change.changed if p in indexed] + plan.change.removed)
    return Delta(manifest=manifest, files=entries, added=ingested.files, removed=removed,
                 fresh=plan.fresh)
