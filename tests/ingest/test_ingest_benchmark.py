"""``benchmarks/ingest.py`` times a real build stage by stage: it wraps functions the build
reaches by module attribute, so a renamed or moved one breaks this test rather than a later
measurement."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ingest_benchmark(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # it imports its ``common``
    module = importlib.import_module("ingest")
    monkeypatch.setattr(module, "WORK", tmp_path)
    yield module
    sys.modules.pop("ingest", None)


def test_a_build_is_timed_by_disjoint_stages(ingest_benchmark):
    from rag.config import load_settings
    from rag.embeddings import load_embedder

    settings = load_settings(embed_model="bundled", store="faiss", ingest_engine="local")
    embedder = load_embedder("bundled", batch_size=settings.embed_batch_size)
    total, stages, texts = ingest_benchmark.build_ours(ROOT / "seeds", embedder, settings)
    assert len(texts) > 10 and total > 0
    # every stage the build reaches was timed, the BM25 build inside the write among them
    assert {"scan", "read+paragraphs+chunks", "embed", "bm25", "write", "commit+reload"} <= {
        name for name, seconds in stages.items() if seconds > 0}
    assert all(seconds >= 0 for seconds in stages.values())
    assert sum(stages.values()) == pytest.approx(total, rel=0.01)  # none counted twice


def test_the_build_functions_it_wraps_are_restored(ingest_benchmark):
    from rag.config import load_settings
    from rag.embeddings import load_embedder

    wrapped = {key: getattr(importlib.import_module(key[0]), key[1])
               for key in ingest_benchmark._STAGES}
    settings = load_settings(embed_model="bundled", store="faiss", ingest_engine="local")
    ingest_benchmark.build_ours(ROOT / "seeds", load_embedder("bundled"), settings)
    assert wrapped == {key: getattr(importlib.import_module(key[0]), key[1])
                       for key in ingest_benchmark._STAGES}
