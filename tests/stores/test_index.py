"""Building, reusing, rebuilding and loading indexes; atomic writes and clear errors."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, SEEDS

from rag.documents import CorpusError
from rag.pipeline import RAG
from rag.stores import (
    IndexCorruptError,
    IndexFormatError,
    IndexMismatchError,
    IndexNotFoundError,
)
from rag.stores import faiss as faiss_store
from rag.stores.faiss.build import CURRENT, current_build


def load_index(idx):
    """The live snapshot of the FAISS index in ``idx``, opened by a fresh reader."""
    return RAG(index_dir=idx).store.open()

SMALL = {
    "a.txt": "兖州区培育新能源、造纸包装、橡胶化工3个千亿级产业。\n\n"
             "企业是经济的基本细胞，企业兴则经济兴。\n",
    "sub/b.md": "# 济宁大会\n\n2月5日下午，济宁市绿色低碳高质量发展大会召开，市长张海波主持。\n",
}


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    for name, text in SMALL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_manifest_records_what_built_it(corpus, tmp_path):
    rag = RAG(index_dir=tmp_path / "idx", corpus_dir=corpus).open()
    m = rag.manifest
    assert m["format_version"] == 2
    assert m["embed_model"] == "bundled:all-MiniLM-L6-v2" and m["dimension"] == 384
    assert m["chunking"] == {"chunk_tokens": 240, "chunk_overlap": 60,
                             "token_counter": "tiktoken:cl100k_base",
                             "counted_on": "simplified form"}
    assert set(m["files"]) == {"a.txt", "sub/b.md"}
    assert len(m["files"]["a.txt"]["sha256"]) == 64
    assert m["unk_rate"] > 0.3  # MiniLM cannot read most Chinese characters
    assert rag.retrieve("张海波主持了什么会议？", top_k=1)[0].doc == "sub/b.md"


def test_unchanged_corpus_reuses_index_and_changed_one_rebuilds(corpus, tmp_path, caplog):
    idx = tmp_path / "idx"
    RAG(index_dir=idx, corpus_dir=corpus).open()
    first = current_build(idx)
    RAG(index_dir=idx, corpus_dir=corpus).open()
    assert current_build(idx) == first  # nothing changed: not rebuilt

    (corpus / "a.txt").write_text(SMALL["a.txt"] + "\n新增一句：宁德时代项目落户兖州。\n",
                                  encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="rag"):
        rag = RAG(index_dir=idx, corpus_dir=corpus).open()
    assert current_build(idx) != first
    assert "corpus changed (0 added, 1 changed, 0 removed)" in caplog.text
    assert "reused" in caplog.text and " 0 reused" not in caplog.text  # b.md not re-embedded
    assert any("宁德时代" in p.text for p in rag.retrieve("宁德时代项目落户哪里？"))
    assert first.exists()  # kept while readers may still hold it
    RAG(index_dir=idx, corpus_dir=corpus, chunk_tokens=100).open()
    assert not first.exists()  # and removed once a newer build replaces its successor


def test_settings_change_triggers_rebuild(corpus, tmp_path):
    idx = tmp_path / "idx"
    RAG(index_dir=idx, corpus_dir=corpus).open()
    first = current_build(idx)
    rag = RAG(index_dir=idx, corpus_dir=corpus, chunk_tokens=64).open()
    assert current_build(idx) != first
    assert rag.manifest["chunking"]["chunk_tokens"] == 64


def test_failed_build_leaves_previous_index_usable(corpus, tmp_path, monkeypatch):
    idx = tmp_path / "idx"
    RAG(index_dir=idx, corpus_dir=corpus).open()
    before = (idx / CURRENT).read_text()
    (corpus / "c.txt").write_text("新文件的内容。", encoding="utf-8")

    def broken_build(directory, segments, **settings):
        raise OSError("disk full")

    monkeypatch.setattr(faiss_store, "build_keyword_index", broken_build)
    with pytest.raises(OSError, match="disk full"):
        RAG(index_dir=idx, corpus_dir=corpus).open()
    assert (idx / CURRENT).read_text() == before
    assert sorted(p.name for p in idx.glob("build-*")) == [current_build(idx).name]
    data = load_index(idx)
    assert "c.txt" not in data.manifest["files"]


def test_process_killed_mid_build_leaves_previous_index(corpus, tmp_path):
    idx = tmp_path / "idx"
    RAG(index_dir=idx, corpus_dir=corpus).open()
    before = (idx / CURRENT).read_text()
    (corpus / "c.txt").write_text("被中断的构建。", encoding="utf-8")
    # Die with SIGKILL right after the new build's files are written, before it is published.
    code = (
        "import os, signal\n"
        "from rag.stores.faiss import FaissStore\n"
        "def die(*args): os.kill(os.getpid(), signal.SIGKILL)\n"
        "FaissStore.commit = die\n"
        "from rag.pipeline import RAG\n"
        f"RAG(index_dir={str(idx)!r}, corpus_dir={str(corpus)!r}).open()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          timeout=300)
    assert proc.returncode == -9
    assert (idx / CURRENT).read_text() == before
    assert "c.txt" not in load_index(idx).manifest["files"]
    rag = RAG(index_dir=idx, corpus_dir=corpus).open()  # the next build succeeds and tidies up
    assert "c.txt" in rag.manifest["files"]
    assert len(list(idx.glob("build-*"))) == 2  # the new build and its predecessor


def test_load_only_errors_say_how_to_fix(corpus, tmp_path):
    idx = tmp_path / "idx"
    with pytest.raises(IndexNotFoundError, match="rag index"):
        RAG(index_dir=idx).open()
    RAG(index_dir=idx, corpus_dir=corpus).open()
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        RAG(index_dir=idx, embed_model="BAAI/bge-small-zh-v1.5").open()

    build = current_build(idx)
    original = (build / "manifest.json").read_bytes()
    manifest = json.loads(original)
    _republish_manifest(idx, {**manifest, "format_version": 99})  # an index of another format
    with pytest.raises(IndexFormatError, match="format version 99.*--rebuild"):
        RAG(index_dir=idx).open()
    _republish_manifest(idx, manifest)
    records = build / "records.sqlite"
    data = bytearray(records.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte: same size, wrong checksum
    records.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="records.sqlite.*checksum mismatch.*--rebuild"):
        RAG(index_dir=idx).open()
    records.write_bytes(bytes(data[:100]))
    with pytest.raises(IndexCorruptError, match="missing or truncated"):
        RAG(index_dir=idx).open()
    # Even with the corpus at hand a damaged index is not silently rebuilt...
    with pytest.raises(IndexCorruptError, match="--rebuild"):
        RAG(index_dir=idx, corpus_dir=corpus).open()
    # ...but rebuilt when asked to.
    assert RAG(index_dir=idx, corpus_dir=corpus, rebuild=True).open().manifest["chunks"] > 0


def test_a_flipped_byte_in_the_manifest_or_pointer_is_named(corpus, tmp_path):
    idx = tmp_path / "idx"
    RAG(index_dir=idx, corpus_dir=corpus).open()
    manifest = current_build(idx) / "manifest.json"
    data = bytearray(manifest.read_bytes())
    data[len(data) // 2] ^= 0x01
    manifest.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="manifest.json is corrupt.*--rebuild"):
        RAG(index_dir=idx).open()
    (idx / CURRENT).write_bytes(b"\x00garbage")
    with pytest.raises(IndexCorruptError, match="pointer .*CURRENT is corrupt.*--rebuild"):
        RAG(index_dir=idx, corpus_dir=corpus).open()
    assert RAG(index_dir=idx, corpus_dir=corpus, rebuild=True).open().manifest["chunks"] > 0


def _republish_manifest(idx, manifest: dict) -> None:
    """Rewrite the live build's manifest and the pointer's digest of it (a consistent index)."""
    import hashlib

    build = current_build(idx)
    raw = json.dumps(manifest).encode("utf-8")
    (build / "manifest.json").write_bytes(raw)
    (idx / CURRENT).write_text(f"{build.name} sha256:{hashlib.sha256(raw).hexdigest()}\n")


def test_empty_or_missing_corpus_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no usable documents"):
        RAG(index_dir=tmp_path / "idx", corpus_dir=tmp_path / "empty").open()
    with pytest.raises(CorpusError, match="does not exist"):
        RAG(index_dir=tmp_path / "idx", corpus_dir=tmp_path / "missing").open()
    assert not (tmp_path / "idx" / CURRENT).exists()


def test_seed_copy_is_byte_identical():
    shared = ROOT.parent / "shared" / "seeds"
    if not shared.is_dir():
        pytest.fail("../shared/seeds is missing; run the suite from a checkout beside shared/")
    for path in shared.iterdir():
        assert (SEEDS / path.name).read_bytes() == path.read_bytes()
    assert sorted(p.name for p in SEEDS.iterdir()) == sorted(p.name for p in shared.iterdir())


def test_copying_an_index_folder_keeps_it_loadable(corpus, tmp_path):
    idx = tmp_path / "idx"
    RAG(index_dir=idx, corpus_dir=corpus).open()
    shutil.copytree(idx, tmp_path / "copy")
    assert RAG(index_dir=tmp_path / "copy").open().retrieve("千亿级产业")[0].doc == "a.txt"


def test_update_reads_only_changed_files_and_drops_deleted_ones(corpus, tmp_path, monkeypatch):
    import rag.ingest.process as indexing

    idx = tmp_path / "idx"
    RAG(index_dir=idx, corpus_dir=corpus).open()
    (corpus / "new.txt").write_text("新增文件：宁德时代项目落户兖州。", encoding="utf-8")
    (corpus / "sub" / "b.md").unlink()
    read = _count_reads(monkeypatch, indexing)
    rag = RAG(index_dir=idx, corpus_dir=corpus).open()
    assert read == ["new.txt"]  # a.txt came from the previous build
    assert set(rag.manifest["files"]) == {"a.txt", "new.txt"}
    assert all(p.doc != "sub/b.md" for p in rag.retrieve("张海波主持", top_k=10))
    assert rag.retrieve("宁德时代项目落户哪里", top_k=1)[0].doc == "new.txt"
    snapshot = rag.store.open()
    assert rag.manifest["chunks"] == snapshot.vectors.ntotal == snapshot.keyword.size


def test_rebuild_flag_rereads_everything(corpus, tmp_path, monkeypatch):
    import rag.ingest.process as indexing

    idx = tmp_path / "idx"
    RAG(index_dir=idx, corpus_dir=corpus).open()
    read = _count_reads(monkeypatch, indexing)
    RAG(index_dir=idx, corpus_dir=corpus, rebuild=True).open()
    assert sorted(read) == ["a.txt", "b.md"]


def test_approximate_vector_index_by_factory_string(corpus, tmp_path):
    exact = RAG(index_dir=tmp_path / "flat", corpus_dir=corpus).open()
    assert exact.manifest["faiss_spec"] == "Flat"
    hnsw = RAG(index_dir=tmp_path / "hnsw", corpus_dir=corpus, faiss_index="HNSW32,Flat").open()
    assert hnsw.manifest["faiss_spec"] == "HNSW32,Flat"
    question = "张海波主持了什么会议？"
    assert [p.chunk_id for p in hnsw.retrieve(question)] == [
        p.chunk_id for p in exact.retrieve(question)
    ]


def _count_reads(monkeypatch, indexing) -> list[str]:
    read: list[str] = []
    real = indexing.read_document

    def counting(path, root, **kw):
        read.append(path.name)
        return real(path, root, **kw)

    monkeypatch.setattr(indexing, "read_document", counting)
    return read


def test_skipped_files_are_recorded_with_reasons(corpus, tmp_path):
    (corpus / "blob.txt").write_bytes(bytes(range(256)) * 8)
    (corpus / "empty.md").write_bytes(b"")
    rag = RAG(index_dir=tmp_path / "idx", corpus_dir=corpus, max_file_mb=1).open()
    reasons = {s["path"]: s["reason"] for s in rag.manifest["skipped"]}
    assert "binary or undecodable" in reasons["blob.txt"]
    assert "empty" in reasons["empty.md"]
    assert set(rag.manifest["files"]) >= {"a.txt", "sub/b.md"}


def test_adjacent_vector_rows_are_joined_without_a_copy():
    import numpy as np

    from rag.stores.faiss import _joined

    rows = np.arange(40, dtype=np.float32).reshape(10, 4)
    joined = _joined([rows[0:3], rows[3:7], rows[7:10]])
    assert np.shares_memory(joined, rows) and np.array_equal(joined, rows)
    apart = _joined([rows[0:3], rows[4:7]])  # a gap: copied
    assert not np.shares_memory(apart, rows)
    assert np.array_equal(apart, np.vstack([rows[0:3], rows[4:7]]))
