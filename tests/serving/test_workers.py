"""Serving with ``workers=2``: a real server on 127.0.0.1 whose questions are answered by two
worker processes over a copy of the seed index; real clients (``gradio_client``, the ``openai``
SDK, ``httpx``) and a real chat-completions server (``tests/answerers/fakeserver.py``) whose
"slow" model holds a question until released."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading

import httpx
import openai
import pytest
from answerers.fakeserver import KEY, ChatServer
from conftest import SEEDS

from rag.config import ConfigError
from rag.multi import Library
from rag.serving import PooledRAG, serving_rag
from serving.accounts import ADMIN_KEY, USER_KEY
from ui.auth import SignIn

Q_CHAIRMAN = "太阳纸业的董事长是谁？"
Q_INDUSTRIES = "兖州区正在培育哪三个千亿级产业？"
NEW_DOC = "星河仪器.txt"
NEW_TEXT = "星河仪器有限公司的总工程师是欧阳明远。欧阳明远负责公司的光谱仪研发工作。\n"
Q_NEW = "星河仪器有限公司的总工程师是谁？"


@pytest.fixture(scope="module")
def held_llm():
    llm = ChatServer()  # its "slow" model holds each question until released
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def pooled(tmp_path_factory, seed_index, held_llm):
    """(server, the serving process's own RAG, the corpus folder) with two ask workers."""
    from rag.conversations import ConversationStore
    from rag.pipeline import RAG
    from ui.serve import start

    root = tmp_path_factory.mktemp("workers")
    shutil.copytree(SEEDS, root / "corpus")
    shutil.copytree(seed_index, root / "index")
    saved = {k: os.environ.get(k) for k in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    os.environ.update(OPENAI_BASE_URL=held_llm.url, OPENAI_API_KEY=KEY)  # the workers'
    rag = RAG(index_dir=root / "index", corpus_dir=root / "corpus", workers=2).open()
    signin = SignIn({"RAG_API_KEYS": f"{USER_KEY},{ADMIN_KEY}:admin", "RAG_RATE_LIMIT": "1000"})
    store = ConversationStore(root / "conversations.sqlite")
    server = start(rag, host="127.0.0.1", port=0, signin=signin, store=store,
                   library=Library(default=rag))
    yield server, rag, root / "corpus"
    server.close()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _sdk(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "v1", api_key=USER_KEY, max_retries=0,
                         timeout=120)


def _cited(citations: list) -> list[tuple]:
    return [(c["n"], c["doc"], c["paragraph"], tuple(c["lines"]), c["quote"])
            for c in citations]


def _expected(answer) -> list[tuple]:
    return [(c.n, c.doc, c.paragraph, c.lines, c.quote) for c in answer.citations]


def test_workers_answer_questions_and_the_serving_process_does_not(pooled):
    server, rag, _ = pooled
    assert isinstance(server.api.rag, PooledRAG) and server.pool is not None
    assert len(set(server.pool.pids())) == 2 and os.getpid() not in server.pool.pids()


def test_sdk_plain_and_streamed_match_the_in_process_answer(pooled):
    server, rag, _ = pooled
    for question in (Q_CHAIRMAN, Q_INDUSTRIES):
        expected = rag.ask(question)
        reply = _sdk(server).chat.completions.create(
            model="rag", messages=[{"role": "user", "content": question}])
        message = reply.choices[0].message
        assert message.content == expected.text and "[1]" in message.content
        assert _cited(message.citations) == _expected(expected)
        chunks = list(_sdk(server).chat.completions.create(
            model="rag:extractive", messages=[{"role": "user", "content": question}],
            stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected.text
        final = [c for c in chunks if c.choices[0].finish_reason == "stop"]
        assert len(final) == 1 and _cited(final[0].choices[0].delta.citations) == _expected(
            expected)


def test_page_api_ask_matches_the_in_process_answer(pooled):
    from gradio_client import Client

    server, rag, _ = pooled
    expected = rag.ask(Q_CHAIRMAN).to_dict()
    got = Client(server.url, verbose=False).predict(question=Q_CHAIRMAN, api_name="/ask")
    assert got["text"] == expected["text"] and got["citations"] == expected["citations"]


def test_workers_answer_from_the_generation_a_reindex_publishes(pooled):
    server, rag, corpus = pooled
    before = rag.version
    (corpus / NEW_DOC).write_text(NEW_TEXT, encoding="utf-8")
    reply = httpx.post(server.url + "v1/reindex", timeout=300,
                       headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert reply.status_code == 200 and reply.json()["index_version"] != before
    for _ in range(2 * len(server.pool.pids())):  # idle workers take turns: each answers
        reply = _sdk(server).chat.completions.create(
            model="rag", messages=[{"role": "user", "content": Q_NEW}])
        assert "欧阳明远" in reply.choices[0].message.content
        assert reply.rag["citations"][0]["doc"] == NEW_DOC
        assert reply.rag["index_version"] == rag.version


def test_a_killed_worker_fails_its_question_clearly_and_is_replaced(pooled, held_llm):
    server, rag, _ = pooled
    outcome: dict[str, httpx.Response] = {}
    body = {"model": "rag:openai:slow", "messages": [{"role": "user", "content": Q_CHAIRMAN}]}

    def ask() -> None:
        outcome["reply"] = httpx.post(server.url + "v1/chat/completions", json=body,
                                      headers={"Authorization": f"Bearer {USER_KEY}"},
                                      timeout=120)

    asker = threading.Thread(target=ask)
    asker.start()
    assert held_llm.arrived.wait(120)  # the question is in a worker, waiting on its LLM
    [busy] = server.pool.busy_pids()
    os.kill(busy, signal.SIGKILL)
    asker.join(120)
    reply = outcome["reply"]
    assert reply.status_code == 503
    error = json.loads(reply.text)["error"]
    assert error["code"] == "worker_lost" and "stopped" in error["message"]
    assert server.pool.wait_ready(300)
    assert busy not in server.pool.pids() and len(server.pool.pids()) == 2
    expected = rag.ask(Q_CHAIRMAN)
    for _ in range(4):  # both workers, the replacement among them, answer again
        reply = _sdk(server).chat.completions.create(
            model="rag", messages=[{"role": "user", "content": Q_CHAIRMAN}])
        assert reply.choices[0].message.content == expected.text


def test_one_worker_is_the_serving_process_itself_and_zero_is_refused(seed_index):
    from rag.pipeline import RAG

    rag = RAG(index_dir=seed_index)
    assert serving_rag(rag) == (rag, None)
    with pytest.raises(ConfigError, match="workers=0 must be at least 1"):
        serving_rag(RAG(index_dir=seed_index, workers=0))


def test_the_chat_command_takes_workers():
    from ui.cli import build_parser

    assert build_parser().parse_args(["chat", "--workers", "4"]).workers == 4
    assert build_parser().parse_args(["chat"]).workers is None
