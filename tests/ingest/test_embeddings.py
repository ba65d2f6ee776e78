"""Model resolution (auto, bundled, local path, hub cache, bad names) and the [UNK] rate."""

from __future__ import annotations

import logging
import shutil

import pytest

from rag.embeddings import (
    BUNDLED_MODEL,
    PREFERRED_MODEL,
    EmbeddingError,
    SentenceTransformerEmbedder,
    bundled_model_path,
    resolve_model,
)


def test_auto_falls_back_to_bundled_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    choice = resolve_model("auto")
    assert choice.name == BUNDLED_MODEL
    assert "not cached" in choice.reason and "unreachable" in choice.reason


def test_auto_prefers_chinese_model_from_local_cache(monkeypatch, tmp_path, caplog):
    # Lay out a Hugging Face cache entry for the preferred model (with the bundled weights,
    # since nothing may be downloaded here) and check it is found and loaded from there.
    cache = tmp_path / "hub"
    repo = cache / f"models--{PREFERRED_MODEL.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(bundled_model_path(), snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    choice = resolve_model("auto")
    assert choice.name == PREFERRED_MODEL and choice.location == str(snapshot)
    with caplog.at_level(logging.INFO, logger="rag"):
        embedder = SentenceTransformerEmbedder(choice)
    assert embedder.dimension == 384
    assert "local Hugging Face cache" in caplog.text


def test_local_path_and_aliases():
    assert resolve_model("bundled").name == BUNDLED_MODEL
    path = bundled_model_path()
    assert resolve_model(path).location == path


def test_unknown_model_gives_a_clear_error(tmp_path):
    choice = resolve_model(str(tmp_path / "no-such-model"))
    with pytest.raises(EmbeddingError, match="RAG_EMBED_MODEL=bundled"):
        SentenceTransformerEmbedder(choice)


def test_unknown_rate_shows_the_model_cannot_read_chinese():
    embedder = SentenceTransformerEmbedder(resolve_model("bundled"))
    assert embedder.unk_rate(["兖州区培育新能源、造纸包装、橡胶化工三个千亿级产业"]) > 0.3
    assert embedder.unk_rate(["The quick brown fox jumps over the lazy dog"]) == 0.0
    vectors = embedder.embed(["企业", "enterprise"], query=True)
    assert vectors.shape == (2, 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
