"""The OpenAI-compatible API through the real ``openai`` SDK and ``httpx``, against a real server
on 127.0.0.1 over the seed index."""

from __future__ import annotations

import json
import logging
import threading

import httpx
import openai
import pytest

from serving.accounts import ADMIN_KEY, USER_KEY

Q_CHAIRMAN = "太阳纸业的董事长是谁？"
Q_INDUSTRIES = "兖州区正在培育哪三个千亿级产业？"
CITATION_KEYS = {"n", "doc", "paragraph", "lines", "text", "quote", "score", "page", "kb"}


def _client(server, key: str = USER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "v1", api_key=key, max_retries=0, timeout=60)


def _same_citations(got: list[dict], answer) -> None:
    assert [set(c) for c in got] == [CITATION_KEYS] * len(answer.citations)
    assert [(c["n"], c["doc"], c["paragraph"], tuple(c["lines"]), c["quote"]) for c in got] == [
        (c.n, c.doc, c.paragraph, c.lines, c.quote) for c in answer.citations]


def test_sdk_gets_a_cited_answer(server, seed_rag):
    expected = seed_rag.ask(Q_CHAIRMAN)
    reply = _client(server).chat.completions.create(
        model="rag", messages=[{"role": "user", "content": Q_CHAIRMAN}])
    message = reply.choices[0].message
    assert message.role == "assistant" and reply.choices[0].finish_reason == "stop"
    assert message.content == expected.text and "[1]" in message.content
    _same_citations(message.citations, expected)
    assert reply.rag["citations"] == message.citations
    assert reply.rag["index_version"] == seed_rag.version and not reply.rag["abstained"]
    assert reply.object == "chat.completion" and reply.model == "rag"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_sdk_streams_the_answer_then_its_citations(server, seed_rag):
    expected = seed_rag.ask(Q_INDUSTRIES)
    chunks = list(_client(server).chat.completions.create(
        model="rag:extractive", messages=[{"role": "user", "content": Q_INDUSTRIES}],
        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected.text
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(final) == 1
    _same_citations(final[0].choices[0].delta.citations, expected)
    assert final[0].rag["text"] == expected.text
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert {c.id for c in chunks} == {chunks[0].id}


def test_follow_up_uses_the_earlier_turns(server, seed_rag):
    history = [{"role": "user", "content": "太阳纸业在大会上做了什么发言？"},
               {"role": "assistant", "content": "作了现场发言[1]。"}]
    follow_up = "它的董事长是谁？"
    expected = seed_rag.ask(follow_up, history=history)
    reply = _client(server).chat.completions.create(
        model="rag", messages=[{"role": "system", "content": "你是助手"}, *history,
                               {"role": "user", "content": follow_up}])
    assert reply.rag["rewritten_question"] == expected.rewritten_question is not None
    assert reply.choices[0].message.content == expected.text


def test_models_lists_rag_and_one_id_per_answerer(server):
    ids = [m.id for m in _client(server).models.list()]
    assert ids[0] == "rag" and "rag:extractive" in ids and "rag:openai" in ids
    assert _client(server).models.retrieve("rag:extractive").owned_by == "rag-zh"


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    return body["error"]


def test_keys_are_required(server):
    with pytest.raises(openai.AuthenticationError):
        _client(server, key="sk-not-a-key-at-all-000").models.list()
    url = server.url + "v1/chat/completions"
    body = {"model": "rag", "messages": [{"role": "user", "content": Q_CHAIRMAN}]}
    _error(httpx.post(url, json=body), 401, "invalid_api_key")
    _error(httpx.post(url, json=body, headers={"Authorization": "Basic abc"}), 401,
           "invalid_api_key")
    assert httpx.get(server.url + "healthz").json()["status"] == "ok"  # no key needed


@pytest.mark.parametrize(("body", "status", "code", "param"), [
    ({"model": "rag", "messages": []}, 400, "invalid_value", "messages"),
    ({"model": "rag"}, 400, "invalid_value", "messages"),
    ({"messages": [{"role": "user", "content": "问"}]}, 400, "invalid_value", "model"),
    ({"model": "rag", "messages": [{"role": "assistant", "content": "答"}]}, 400,
     "invalid_value", "messages.[0]"),
    ({"model": "rag", "messages": [{"role": "user", "content": "   "}]}, 400, "invalid_value",
     None),
    ({"model": "rag", "n": 2, "messages": [{"role": "user", "content": "问"}]}, 400,
     "unsupported_parameter", "n"),
    ({"model": "rag", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400,
     "invalid_value", "messages.[0].content"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "问"}]}, 404,
     "model_not_found", "model"),
    ({"model": "rag:nope", "messages": [{"role": "user", "content": "问"}]}, 404,
     "model_not_found", "model"),
])
def test_bad_requests_get_openai_errors(server, body, status, code, param):
    response = httpx.post(server.url + "v1/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {USER_KEY}"}, timeout=60)
    assert _error(response, status, code)["param"] == param


def test_sdk_raises_the_matching_exceptions(server):
    client = _client(server)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user",
                                                                  "content": "问"}])
    with pytest.raises(openai.BadRequestError, match="question is empty"):
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": ""}])
    response = httpx.post(server.url + "v1/chat/completions", content=b"{not json",
                          headers={"Authorization": f"Bearer {USER_KEY}"})
    _error(response, 400, "invalid_json")


def test_concurrent_clients_each_get_their_own_answer(server, seed_rag):
    questions = [Q_CHAIRMAN, Q_INDUSTRIES, "济宁市绿色低碳高质量发展大会由谁主持？",
                 "自动浇注生产线的照片是谁拍的？"] * 2
    expected = {q: seed_rag.ask(q).text for q in set(questions)}
    got: dict[int, str] = {}
    barrier = threading.Barrier(len(questions))

    def ask(i: int, question: str) -> None:
        client = _client(server, ADMIN_KEY if i % 2 else USER_KEY)
        barrier.wait()
        stream = i % 3 == 0
        reply = client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": question}], stream=stream)
        got[i] = ("".join(c.choices[0].delta.content or "" for c in reply if c.choices)
                  if stream else reply.choices[0].message.content)

    threads = [threading.Thread(target=ask, args=(i, q)) for i, q in enumerate(questions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert {i: got.get(i) for i in range(len(questions))} == {
        i: expected[q] for i, q in enumerate(questions)}
    assert server.api.limiter._in_flight == {}  # every request slot given back


def test_a_key_over_its_rate_limit_gets_429(server, signin):
    limit = signin.per_key.limit
    signin.per_key.limit = 0
    try:
        with pytest.raises(openai.RateLimitError):
            _client(server).models.list()
        response = httpx.get(server.url + "v1/models",
                             headers={"Authorization": f"Bearer {USER_KEY}"})
        assert _error(response, 429, "rate_limit_exceeded") and response.headers["retry-after"]
    finally:
        signin.per_key.limit = limit


def test_a_client_over_its_requests_in_flight_gets_429(server):
    api = server.api
    per_client, api.limiter.per_client = api.limiter.per_client, 0
    try:
        for stream in (False, True):
            with pytest.raises(openai.RateLimitError, match="requests in progress"):
                _client(server).chat.completions.create(
                    model="rag", stream=stream, messages=[{"role": "user", "content": "问"}])
    finally:
        api.limiter.per_client = per_client
    assert api.limiter._in_flight == {}  # every slot given back, streams included


def test_failed_sign_ins_are_throttled_per_address(server):
    url = server.url + "v1/models"
    for _ in range(5):
        _error(httpx.get(url, headers={"Authorization": "Bearer wrong-key-000000000"}), 401,
               "invalid_api_key")
    # Now even the right key and the page's login wait: the address is throttled.
    _error(httpx.get(url, headers={"Authorization": f"Bearer {USER_KEY}"}), 429,
           "too_many_failed_signins")
    response = httpx.post(server.url + "login", data={"username": "bob", "password": "x"})
    assert response.status_code == 429


def test_page_logins_count_as_failed_sign_ins(server):
    for _ in range(5):
        response = httpx.post(server.url + "login", data={"username": "bob", "password": "x"})
        assert response.status_code == 400
    assert httpx.post(server.url + "login", data={"username": "bob", "password": "x"}
                      ).status_code == 429


def test_a_key_never_reaches_logs_or_error_messages(server, caplog):
    caplog.set_level(logging.DEBUG)
    # The access and API loggers are read directly: tests that ran earlier in the session may
    # have reconfigured logging (levels, disabled loggers) in ways a served process never sees.
    for name in ("rag.access", "rag.api"):
        own = logging.getLogger(name)
        own.disabled = False
        own.setLevel(logging.INFO)
        own.addHandler(caplog.handler)
    wrong = "sk-wrong-secret-do-not-log-123"
    bodies = [httpx.get(server.url + "v1/models", headers={"Authorization": f"Bearer {wrong}"}
                        ).text]
    for key in (USER_KEY, wrong):
        bodies.append(httpx.post(
            server.url + "v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
            json={"model": "nope", "messages": [{"role": "user", "content": Q_CHAIRMAN}]}).text)
    bodies.append(httpx.post(server.url + "v1/chat/completions",
                             headers={"Authorization": f"Bearer {USER_KEY}"},
                             json={"model": "rag", "messages": [
                                 {"role": "user", "content": Q_CHAIRMAN}]}).text)
    for name in ("rag.access", "rag.api"):
        logging.getLogger(name).removeHandler(caplog.handler)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "GET /v1/models 401" in caplog.text and "POST /v1/chat/completions 200" in logged
    for secret in (wrong, USER_KEY, ADMIN_KEY):
        assert secret not in logged
        assert all(secret not in body for body in bodies)
    assert Q_CHAIRMAN not in logged  # questions are not logged unless RAG_LOG_QUESTIONS=1


def test_streamed_errors_and_events_are_sse(server):
    with httpx.stream("POST", server.url + "v1/chat/completions",
                      headers={"Authorization": f"Bearer {USER_KEY}"},
                      json={"model": "rag", "stream": True,
                            "messages": [{"role": "user", "content": Q_CHAIRMAN}]}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
