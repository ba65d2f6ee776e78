"""Distributed ingestion on a real local Ray: same paragraphs, chunks and vectors as one process.

Ray starts once for the module (2 CPUs) and is shut down at its end. Ray is a dev dependency:
when it cannot be imported this module fails to load instead of skipping silently.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SEEDS

try:
    import ray
    import ray.data  # noqa: F401
except ImportError as exc:  # fail loudly: a skipped test would hide a broken dev environment
    raise ImportError(
        "tests/ingest/test_ray_ingest.py needs Ray Data (a dev dependency): "
        "pip install 'rag-zh[ray]'"
    ) from exc

from rag.config import Settings
from rag.embeddings import BUNDLED_MODEL, SentenceTransformerEmbedder, resolve_model
from rag.ingest.engines import run_local
from rag.ingest.ray import (
    FileResult,
    RayUnavailableError,
    _import_ray,
    _stage_env,
    _worker_env,
    process_files_ray,
)

FILES = {
    "a.txt": "兖州区培育新能源、造纸包装、橡胶化工3个千亿级产业。\n\n"
             "企业是经济的基本细胞，企业兴则经济兴。全区今年新增规模以上工业企业40家，"
             "高新技术企业达到120家。\n\n"
             "区委书记表示，要坚持项目为王，抓好招商引资，推动产业链延链补链强链。\n",
    "sub/b.md": "# 济宁大会\n\n2月5日下午，济宁市绿色低碳高质量发展大会召开，市长张海波主持。"
                "会议强调，要加快能源结构调整，推进工业、建筑、交通等重点领域节能降碳。\n",
    "c.txt": "曲阜是孔子故里，每年吸引大量游客。\n尼山圣境位于曲阜东南，"
             "是一处以儒家文化为主题的\n文化旅游景区。\n",
    "empty.txt": "",
}
BINARY = "blob.txt"
SEED = sorted(p.name for p in SEEDS.glob("*.txt"))[0]  # a real document, ~30 chunks
# Not sorted: results must come back in the order asked for.
PATHS = ["c.txt", "empty.txt", "sub/b.md", BINARY, SEED, "a.txt"]
# Ray Data sets its own deprecated DataContext fields when it copies a context; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

SETTINGS = Settings(embed_model=BUNDLED_MODEL, chunk_tokens=40, chunk_overlap=10)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ray-corpus")
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / BINARY).write_bytes(bytes(range(256)) * 20)
    (root / SEED).write_bytes((SEEDS / SEED).read_bytes())
    return root


@pytest.fixture(scope="module")
def model():
    return resolve_model(BUNDLED_MODEL)


@pytest.fixture(scope="module")
def ray_results(corpus, model) -> list[FileResult]:
    started_here = not ray.is_initialized()
    try:
        yield process_files_ray(corpus, PATHS, SETTINGS, model, num_cpus=2, embed_batch_size=4)
    finally:
        if started_here:
            ray.shutdown()


@pytest.fixture(scope="module")
def local(corpus, model):
    """The single-process engine (``local``) over the same paths."""
    embedder = SentenceTransformerEmbedder(model)
    ingested = run_local(corpus, PATHS, SETTINGS, embedder, cache={})
    out = {}
    for f in ingested.files:
        skipped = [s for s in ingested.skipped if s.path == f.path]
        out[f.path] = (f.paragraphs, f.chunks, f.vectors, skipped, embedder.dimension)
    return out


def test_same_as_single_process(ray_results, local):
    assert [r.path for r in ray_results] == PATHS
    for result in ray_results:
        paragraphs, chunks, vectors, skipped, dim = local[result.path]
        assert result.paragraphs == paragraphs, result.path
        assert result.chunks == chunks, result.path
        assert result.skipped == skipped, result.path
        assert result.vectors.dtype == np.float32
        assert result.vectors.shape == (len(chunks), dim)
        np.testing.assert_allclose(result.vectors, vectors, atol=1e-5, rtol=0)


def test_every_text_file_is_chunked_and_several_chunks_are_made(ray_results):
    by_path = {r.path: r for r in ray_results}
    for name in ("a.txt", "sub/b.md", "c.txt", SEED):
        assert by_path[name].chunks, name
        assert all(c.doc == name for c in by_path[name].chunks)
    assert len(by_path["a.txt"].chunks) > 1  # the small budget splits it, with overlap


def test_unusable_files_give_empty_results_with_their_skip_records(ray_results):
    by_path = {r.path: r for r in ray_results}
    dim = by_path["a.txt"].vectors.shape[1]
    for name, word in (("empty.txt", "empty"), (BINARY, "binary")):
        result = by_path[name]
        assert result.paragraphs == [] and result.chunks == []
        assert result.vectors.shape == (0, dim) and result.vectors.dtype == np.float32
        assert [s.path for s in result.skipped] == [name]
        assert word in result.skipped[0].reason
    assert by_path["a.txt"].skipped == []


def test_workers_see_the_drivers_offline_environment(ray_results):
    @ray.remote(num_cpus=0)
    def env() -> dict[str, str | None]:
        return {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TIKTOKEN_CACHE_DIR")}

    assert ray.get(env.remote()) == {k: os.environ.get(k)
                                     for k in ("HF_HUB_OFFLINE", "TIKTOKEN_CACHE_DIR")}
    assert _worker_env()["HF_HUB_OFFLINE"] == "1"


def test_variables_set_after_ray_started_reach_the_stages(ray_results, monkeypatch):
    assert _stage_env(ray) == {}  # the job's workers already hold the driver's variables
    monkeypatch.setenv("RAG_TOP_K", "7")
    stage_env = _stage_env(ray)
    assert stage_env["runtime_env"]["env_vars"]["RAG_TOP_K"] == "7"

    @ray.remote(num_cpus=0)
    def top_k() -> str | None:
        return os.environ.get("RAG_TOP_K")

    assert ray.get(top_k.options(**stage_env).remote()) == "7"


def test_no_paths_needs_no_ray(model):
    assert process_files_ray(SEEDS, [], SETTINGS, model) == []


def test_missing_ray_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(RayUnavailableError, match=r"pip install 'rag-zh\[ray\]'"):
        _import_ray()


@pytest.mark.parametrize("store", ["faiss", "milvus"])
def test_rag_index_engine_ray_writes_the_configured_store(ray_results, tmp_path, store):
    """``rag index --engine ray`` end to end: the Ray pipeline feeds FAISS or Milvus alike."""
    from rag.pipeline import RAG
    from rag.stores.milvus.client import forget_all
    from ui.cli import main

    del ray_results  # keeps the module's Ray running
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("a.txt", "c.txt"):
        (corpus / name).write_text(FILES[name], encoding="utf-8")
    index = tmp_path / "index"
    try:
        assert main(["index", str(corpus), "--index", str(index), "--engine", "ray",
                     "--store", store]) == 0
        rag = RAG(index_dir=index, store=store).open()
        assert rag.manifest["documents"] == 2
        answer = rag.ask("兖州区培育哪几个千亿级产业？")
        assert answer.citations and answer.citations[0].doc == "a.txt"
    finally:
        forget_all(tmp_path)
