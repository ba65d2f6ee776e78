"""Test set-up: offline environment, a network guard, and a shared index over the seeds."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_TIKTOKEN = ROOT.parent / "shared" / "tiktoken"

_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "TOKENIZERS_PARALLELISM": "false",
}
for key, value in _ENV.items():
    os.environ.setdefault(key, value)
if SHARED_TIKTOKEN.is_dir():
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(SHARED_TIKTOKEN))
for key in list(os.environ):
    if key.startswith("RAG_"):
        del os.environ[key]  # tests state their settings explicitly
# One OCR cache for the test session, never the user's (~/.cache/rag-zh/ocr).
_OCR_CACHE = tempfile.mkdtemp(prefix="rag-ocr-cache-")
os.environ["RAG_OCR_CACHE_DIR"] = _OCR_CACHE
atexit.register(shutil.rmtree, _OCR_CACHE, ignore_errors=True)
# jieba's dictionary tables (rag.segmenter_cache) in the temp folder, never ~/.cache/rag-zh:
# kept between sessions like jieba's own cache there (building them takes seconds; the file is
# keyed by jieba's version and dictionary, written atomically, and changes no result).
os.environ["RAG_JIEBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(),
                                                 f"rag-test-jieba-cache-{os.getuid()}")

import pytest  # noqa: E402

_LOCAL = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        if host not in _LOCAL and not str(host).startswith("127."):
            raise ConnectionRefusedError(f"network access blocked in tests: {address}")
    return _real_connect(self, address)


socket.socket.connect = _guarded_connect

SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def seed_chunk_texts() -> list[str]:
    """The texts of the seed documents' chunks, as the index makes them."""
    from rag.chunking import chunk_paragraphs
    from rag.paragraphs import split_paragraphs

    out = []
    for path in sorted(SEEDS.glob("*.txt")):
        out += [c.text for c in chunk_paragraphs(split_paragraphs(
            path.read_text(encoding="utf-8"), path.name))]
    return out


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    """An index over the real seed files, built once per test session."""
    from rag.pipeline import RAG

    index = tmp_path_factory.mktemp("seed-index")
    RAG(index_dir=index, corpus_dir=SEEDS).open()
    return index


@pytest.fixture(scope="session")
def seed_rag(seed_index):
    from rag.pipeline import RAG

    return RAG(index_dir=seed_index, corpus_dir=SEEDS).open()
