"""The openai backend against a real chat-completions server on 127.0.0.1, through the SDK."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from fakeserver import KEY, STANDALONE, ChatServer, first_sentence

from rag.answerers.base import NOT_FOUND
from rag.answerers.llm import LLMError
from rag.answerers.openai_api import OpenAIAnswerer
from rag.config import load_settings
from rag.pipeline import RAG
from rag.rewrite import REWRITE_INSTRUCTIONS

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

QUESTION = "山东太阳纸业股份有限公司董事长是谁？"


@pytest.fixture(scope="module")
def server():
    s = ChatServer()
    yield s
    s.close()


def answerer(server: ChatServer, model: str = "good", **kwargs) -> OpenAIAnswerer:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("timeout", 5.0)
    return OpenAIAnswerer(model, base_url=server.url, **kwargs)


def make_rag(seed_index, llm, **overrides) -> RAG:
    return RAG(index_dir=seed_index, corpus_dir=SEEDS, llm=llm, **overrides).open()


def split(items):
    pieces = [i for i in items if isinstance(i, str)]
    return pieces, items[-1]


# -- the SDK path ----------------------------------------------------------------------------

def test_plain_json_and_sse_streaming_through_the_sdk(server):
    llm = answerer(server)
    messages = [{"role": "system", "content": "x"},
                {"role": "user", "content": '<source id="2" doc="d">\n甲乙丙。丁。\n</source>'}]
    whole = llm.complete(messages, max_tokens=64)
    pieces = list(llm.stream_text(messages, max_tokens=64))
    assert whole == "甲乙丙。[2]"
    assert pieces == ["甲乙", "丙。", "[2", "]"]
    assert server.requests[-2].get("stream") in (None, False)
    assert server.requests[-1]["stream"] is True
    assert server.requests[-1]["max_tokens"] == 64


def test_rag_ask_streams_renumbered_checked_citations(server, seed_index):
    rag = make_rag(seed_index, answerer(server))
    pieces, final = split(list(rag.ask(QUESTION, stream=True)))
    body = server.requests[-1]
    sentence = first_sentence(body, 2)
    assert final.backend == "openai" and final.grounded and not final.abstained
    # Source 2 was the first (only) one cited, so it is [1] now, in the stream too.
    assert final.text == sentence + "[1]"
    assert "".join(pieces) == final.text and len(pieces) > 3
    [citation] = final.citations
    assert citation.n == 1 and sentence in citation.quote
    start = citation.text.index(citation.quote)
    paragraph = rag.document(citation.doc)[citation.paragraph]
    assert citation.lines == paragraph.lines_of(start, start + len(citation.quote))
    # And independently: the quote starts on the first line it names in the source file.
    lines = (SEEDS / citation.doc).read_text(encoding="utf-8").splitlines()
    assert citation.quote[:6] in lines[citation.lines[0] - 1].replace("*", "")
    assert final.invalid_citations == 0
    assert body["messages"][0]["role"] == "system" and QUESTION in body["messages"][1]["content"]


def test_the_reply_is_asked_for_in_the_script_the_question_was_typed_in(server, seed_index):
    rag = make_rag(seed_index, answerer(server))
    rag.ask("兗州區正在培育哪三個千億級產業？")
    system, user = server.requests[-1]["messages"][:2]
    assert "繁體中文" in system["content"] and NOT_FOUND["zh-Hant"] in system["content"]
    assert "兖州区正在培育哪三个千亿级产业？" in user["content"]  # searched in the corpus's script


def test_whole_answer_uses_plain_json(server, seed_index):
    rag = make_rag(seed_index, "extractive")
    passages = rag.retrieve(QUESTION)
    evidence = rag.evidence(QUESTION, passages, ())
    answer = answerer(server).answer(evidence)
    assert server.requests[-1].get("stream") in (None, False)
    assert answer.grounded and answer.citations[0].n == 1 and answer.text.endswith("[1]")


def test_429_is_retried_with_backoff(server, seed_index):
    before = server.counts["flaky"]
    answer = make_rag(seed_index, answerer(server, "flaky")).ask(QUESTION)
    assert server.counts["flaky"] - before == 2
    assert answer.backend == "openai" and answer.grounded


def test_500_retries_then_falls_back_to_extractive(server, seed_index):
    answer = make_rag(seed_index, answerer(server, "broken", max_retries=2)).ask(QUESTION)
    assert server.counts["broken"] == 3  # first try + 2 retries
    assert answer.backend == "extractive" and "李娜" in answer.text
    assert "server error 500" in answer.notice and "extractive" in answer.notice
    assert answer.citations


def test_500_without_fallback_is_a_clear_error(server, seed_index):
    rag = make_rag(seed_index, answerer(server, "broken", max_retries=0), llm_fallback=False)
    with pytest.raises(LLMError, match=r"server error 500 from http://127\.0\.0\.1"):
        rag.ask(QUESTION)


def test_hang_past_the_timeout(server, seed_index):
    llm = answerer(server, "slow", timeout=0.5, max_retries=0)
    started = time.perf_counter()
    with pytest.raises(LLMError, match=r"no reply from .* within 0\.5 s"):
        llm.complete([{"role": "user", "content": "hi"}])
    assert time.perf_counter() - started < 3
    answer = make_rag(seed_index, llm).ask(QUESTION)
    assert answer.backend == "extractive" and "within 0.5 s" in answer.notice


def test_stream_that_stalls_midway_falls_back(server, seed_index):
    llm = answerer(server, "stall", timeout=0.5, max_retries=0)
    pieces, final = split(list(make_rag(seed_index, llm).ask(QUESTION, stream=True)))
    assert pieces  # the LLM's first pieces did arrive before it stalled
    assert final.backend == "extractive" and "within 0.5 s" in final.notice


def test_error_event_mid_stream_falls_back(server, seed_index):
    pieces, final = split(list(make_rag(seed_index, answerer(server, "cut")).ask(
        QUESTION, stream=True)))
    assert len(pieces) >= 2 and final.backend == "extractive"
    assert "upstream overloaded" in final.notice
    assert final.question == QUESTION and final.citations


def test_wrong_key_is_a_clear_error_without_the_key(server):
    llm = answerer(server, api_key="sk-wrong-secret")
    with pytest.raises(LLMError) as info:
        llm.complete([{"role": "user", "content": "hi"}])
    assert "API key was rejected" in str(info.value) and "OPENAI_API_KEY" in str(info.value)
    assert "sk-wrong-secret" not in str(info.value)
    assert info.value.__traceback__ is not None and isinstance(info.value, OSError)


def test_unknown_model_is_a_clear_error(server):
    with pytest.raises(LLMError, match=r"model 'no-such-model' not found .*RAG_LLM_MODEL"):
        answerer(server, "no-such-model").complete([{"role": "user", "content": "hi"}])


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    llm = OpenAIAnswerer("good", base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY,
                         max_retries=0, timeout=2)
    with pytest.raises(LLMError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1.*OPENAI_BASE_URL"):
        llm.complete([{"role": "user", "content": "hi"}])


def test_missing_key_for_openai_itself_fails_before_any_request():
    llm = OpenAIAnswerer("gpt-4o-mini", api_key=None)
    with pytest.raises(LLMError, match="OPENAI_API_KEY is not set"):
        llm.complete([{"role": "user", "content": "hi"}])


def test_citation_of_a_missing_source_is_removed_and_counted(server, seed_index):
    rag = make_rag(seed_index, answerer(server, "bogus"))
    answer = rag.ask(QUESTION)
    assert answer.invalid_citations == 1 and "[9]" not in answer.text and "[2]" not in answer.text
    assert answer.text.endswith("[1]") and answer.grounded
    assert "removed 1 citation" in answer.notice

    only_bogus = make_rag(seed_index, answerer(server, "only-bogus")).ask(QUESTION)
    assert only_bogus.invalid_citations == 1 and not only_bogus.citations
    assert only_bogus.grounded is False and "[" not in only_bogus.text


def test_not_in_documents_reply_abstains(server, seed_index):
    answer = make_rag(seed_index, answerer(server, "abstain")).ask("济宁市的市花是什么？")
    assert answer.abstained and not answer.citations and answer.text == NOT_FOUND["zh"]
    assert answer.backend == "openai"


def test_follow_up_is_rewritten_by_the_llm(server, seed_index):
    rag = make_rag(seed_index, answerer(server))
    history = [{"role": "user", "content": "太阳纸业的代表在大会上做了什么？"},
               {"role": "assistant", "content": "作了现场发言或视频发言[1]。"}]
    answer = rag.ask("它的董事长是谁？", history=history)
    rewrite_request, answer_request = server.requests[-2], server.requests[-1]
    assert rewrite_request["messages"][0]["content"] == REWRITE_INSTRUCTIONS
    assert "太阳纸业的代表" in rewrite_request["messages"][1]["content"]
    assert answer.rewritten_question == STANDALONE and answer.question == "它的董事长是谁？"
    assert f"Question: {STANDALONE}" in answer_request["messages"][1]["content"]
    assert answer.backend == "openai" and answer.grounded


def test_chosen_by_name_from_env_vars(server, seed_index, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("RAG_LLM", "openai")
    monkeypatch.setenv("RAG_LLM_MODEL", "good")
    monkeypatch.setenv("RAG_LLM_TIMEOUT", "7")
    rag = RAG(index_dir=seed_index, corpus_dir=SEEDS, settings=load_settings()).open()
    llm = rag.answerer()
    assert isinstance(llm, OpenAIAnswerer) and llm.model == "good" and llm.timeout == 7
    assert KEY not in repr(llm)
    assert rag.ask(QUESTION).backend == "openai"
    # Explicit arguments win over the environment.
    assert RAG(index_dir=seed_index, corpus_dir=SEEDS, llm="extractive").open().ask(
        QUESTION).backend == "extractive"


def test_answerer_is_cached_per_model(seed_rag):
    first = seed_rag.answerer("extractive", "ignored")
    assert first is seed_rag.answerer("extractive")
