"""The page's HTTP API under load it should refuse or absorb: huge and bad ``top_k``, many
``/reindex`` calls at once, one client holding too many requests. A real server on 127.0.0.1,
called through ``gradio_client``."""

from __future__ import annotations

import shutil
import socket
import threading

import pytest
from conftest import SEEDS

from ui.limits import ClientLimiter, TooManyRequests


@pytest.fixture(scope="module")
def served(tmp_path_factory, seed_index):
    from rag.pipeline import RAG
    from ui.app import build_app
    from ui.serve import launch

    root = tmp_path_factory.mktemp("endpoints")
    shutil.copytree(SEEDS, root / "corpus")
    shutil.copytree(seed_index, root / "index")
    rag = RAG(index_dir=root / "index", corpus_dir=root / "corpus").open()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_app(rag)
    url = launch(demo, host="127.0.0.1", port=port, queue_size=rag.settings.queue_size)
    yield rag, url
    demo.close()


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def test_a_huge_top_k_is_clamped_and_a_bad_one_refused(served):
    rag, url = served
    answer = _client(url).predict(question="兖州区委书记是谁？", top_k=10**5, api_name="/ask")
    assert answer["citations"] and len(answer["related"]) <= rag.settings.max_top_k
    for bad in (-5, 0):
        with pytest.raises(Exception, match="top_k must be a whole number from 1 to 50"):
            _client(url).predict(question="兖州区委书记是谁？", top_k=bad, api_name="/ask")


def test_many_reindex_calls_with_nothing_changed_build_nothing(served):
    rag, url = served
    before = rag.version
    results: list[dict] = []

    def call():
        results.append(_client(url).predict(api_name="/reindex"))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r["version"] for r in results] == [before] * 8


def test_one_client_gets_only_its_share_of_slots():
    limiter = ClientLimiter(per_client=2)
    with limiter.slot("10.0.0.1"), limiter.slot("10.0.0.1"):
        with pytest.raises(TooManyRequests, match="already has 2 requests in progress"):
            with limiter.slot("10.0.0.1"):
                pass
        with limiter.slot("10.0.0.2"):  # another client is not affected
            pass
    with limiter.slot("10.0.0.1"), limiter.slot("10.0.0.1"):  # released again
        pass
