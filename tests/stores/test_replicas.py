"""Two app processes serve one Milvus store; one updates the corpus while the other answers.

The store is a Milvus Lite file served over TCP on 127.0.0.1
(``python -m rag.stores.milvus.serve``), standing in for a Milvus server; the apps are real
``rag chat`` processes asked through ``gradio_client``, as a load balancer's clients would.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from conftest import ROOT

from rag.pipeline import RAG
from rag.stores.milvus.client import forget

START_TIMEOUT = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], marker: str) -> tuple[subprocess.Popen, str]:
    """Start a process and wait for the stdout line holding ``marker``; returns it with the line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # keeps draining so the pipe never fills
            seen.append(line)
            if marker in line:
                found.set()
        found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(START_TIMEOUT) or proc.poll() is not None:
        proc.kill()
        raise AssertionError(f"{args} did not start:\n{''.join(seen)[-3000:]}")
    return proc, next(line for line in seen if marker in line)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def milvus_server(tmp_path) -> Iterator[str]:
    port = free_port()
    proc, _ = start(["-m", "rag.stores.milvus.serve", str(tmp_path / "store" / "milvus.db"),
                     "--port", str(port)], "serving")
    yield f"http://127.0.0.1:{port}"
    stop(proc)


def test_two_replicas_share_one_store_while_one_updates(milvus_server, tmp_path):
    from gradio_client import Client

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("青松公司的董事长是王明。青松公司位于济南。", encoding="utf-8")
    (corpus / "b.txt").write_text("白云酒店的总经理是李华。白云酒店位于泰安。", encoding="utf-8")
    settings = {"store": "milvus", "milvus_uri": milvus_server}
    RAG(index_dir=tmp_path / "index", corpus_dir=corpus, **settings).open()  # the first build
    forget(milvus_server)

    apps = []
    try:
        for _ in range(2):
            port = free_port()
            apps.append(start(["-m", "ui.cli", "chat", "--store", "milvus", "--milvus-uri",
                               milvus_server, "--corpus", str(corpus), "--index",
                               str(tmp_path / "index"), "--port", str(port)], "chat UI at"))
        updater, reader = (Client(re.search(r"http://\S+", line).group(0), verbose=False)
                           for _, line in apps)
        before = reader.predict(question="青松公司的董事长是谁？", top_k=3, api_name="/ask")
        assert before["citations"][0]["doc"] == "a.txt" and "王明" in before["text"]
        absent = reader.predict(question="红星公司的董事长是谁？", top_k=3, api_name="/ask")
        assert not any(c["doc"] == "c.txt" for c in absent["citations"])

        (corpus / "c.txt").write_text("红星公司的董事长是赵刚。红星公司生产农机。",
                                      encoding="utf-8")
        result: dict = {}
        update = threading.Thread(
            target=lambda: result.update(updater.predict(api_name="/reindex")))
        update.start()
        answered = 0
        while update.is_alive() or answered == 0:  # the reader keeps answering meanwhile
            answer = reader.predict(question="青松公司的董事长是谁？", top_k=3, api_name="/ask")
            assert "王明" in answer["text"], answer
            answered += 1
        update.join()
        assert result["documents"] == 3 and result["version"].endswith("@2"), result

        after = reader.predict(question="红星公司的董事长是谁？", top_k=3, api_name="/ask")
        assert after["citations"][0]["doc"] == "c.txt" and "赵刚" in after["text"]
    finally:
        for proc, _ in apps:
            stop(proc)


def test_serving_a_file_that_another_process_holds_fails_clearly(tmp_path):
    db = tmp_path / "milvus.db"
    port = free_port()
    proc, _ = start(["-m", "rag.stores.milvus.serve", str(db), "--port", str(port)], "serving")
    try:
        second = subprocess.run([sys.executable, "-m", "rag.stores.milvus.serve", str(db), "--port",
                                 str(free_port())], cwd=ROOT, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode != 0
        assert "not open in another process" in second.stderr
    finally:
        stop(proc)


def test_unreachable_server_error_says_what_to_check(tmp_path, monkeypatch):
    from rag.stores.milvus.client import MilvusStoreError

    monkeypatch.setenv("RAG_MILVUS_TOKEN", "")
    with pytest.raises(MilvusStoreError, match="RAG_MILVUS_URI"):
        RAG(index_dir=tmp_path, store="milvus",
            milvus_uri=f"http://127.0.0.1:{free_port()}").open()
