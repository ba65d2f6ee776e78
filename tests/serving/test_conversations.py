"""Saved conversations keep answers whole (citations, index generation); rated answers export to
a Q&A file in the eval schema (``rag eval --export-feedback``)."""

from __future__ import annotations

import json

import pytest

from rag.conversations import ConversationError, ConversationStore
from rag.evaluation.dataset import load_qa
from rag.evaluation.feedback import export_feedback
from ui.cli import main

QUESTIONS = ["太阳纸业的董事长是谁？", "火星上有几个人？"]


@pytest.fixture
def rated(tmp_path, seed_rag):
    """alice asked both seed questions (one answered, one abstained) and rated both."""
    store = ConversationStore(tmp_path / "conversations.sqlite")
    conversation = store.create("alice", QUESTIONS[0])
    for question in QUESTIONS:
        store.add_turn("alice", conversation, question, seed_rag.ask(question), seed_rag.version)
    store.rate("alice", conversation, 0, 1)
    store.rate("alice", conversation, 1, -1, "  答案应该是零人  ")
    store.rate("alice", conversation, 1, -1, "火星上没有人")  # a second rating replaces the first
    return store, conversation


def test_a_conversation_comes_back_whole(rated, seed_rag):
    store, conversation = rated
    [info] = store.list("alice")
    assert (info.id, info.title, info.turns) == (conversation, QUESTIONS[0], 2)
    saved = store.turns("alice", conversation)
    assert [t.question for t in saved] == QUESTIONS
    fresh = seed_rag.ask(QUESTIONS[0])
    assert (saved[0].answer.text, saved[0].answer.citations) == (fresh.text, fresh.citations)
    assert saved[1].answer.abstained and saved[1].answer.related
    assert {t.generation for t in saved} == {seed_rag.version}
    with pytest.raises(ConversationError):
        store.rate("alice", conversation, 7, 1)
    with pytest.raises(ConversationError):
        store.rate("alice", conversation, 0, 5)
    store.delete("alice", conversation)
    assert store.list("alice") == [] and len(store.feedback()) == 2  # feedback outlives it


def test_rated_answers_export_as_a_qa_file(rated, tmp_path):
    store, conversation = rated
    out = tmp_path / "feedback.jsonl"
    assert export_feedback(store, out) == 2
    items = load_qa(out)  # the eval loader accepts it as is
    assert [i.question for i in items] == QUESTIONS
    good, bad = items
    assert good.answerable and good.evidence and good.doc and "[1]" not in good.answers[0]
    assert not bad.answerable and bad.qtype == "unanswerable"
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[1]["feedback"]["rating"] == "down"
    assert rows[1]["feedback"]["comment"] == "火星上没有人"
    assert rows[0]["feedback"]["generation"] and rows[0]["id"] == f"fb-{conversation[:8]}-0"
    assert export_feedback(store, out, rating=-1) == 1


def test_rag_eval_exports_feedback(rated, tmp_path, capsys):
    store, _ = rated
    out = tmp_path / "out" / "marked.jsonl"
    code = main(["eval", "--export-feedback", str(out), "--rating", "down",
                 "--index", str(store.path.parent)])
    assert code == 0 and "wrote 1 rated question" in capsys.readouterr().out
    assert [i.question for i in load_qa(out)] == [QUESTIONS[1]]
    assert main(["eval", "--export-feedback", str(out), "--index", str(tmp_path / "no")]) == 2
