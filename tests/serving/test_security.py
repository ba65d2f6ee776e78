"""Who may do what: Host allowlist, admin-only uploads and re-indexing, sign-in config, refusing
to serve the network openly, and conversation ids that try to escape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import httpx
import pytest

from rag.conversations import ConversationError, ConversationStore, check_id
from rag.schema import Answer, Citation
from serving.accounts import ADMIN_KEY, PASSWORDS, USER_KEY
from ui.auth import AuthConfigError, SignIn, hash_password, verify_password
from ui.guard import allowed_hosts, host_name
from ui.serve import check_exposure

ROOT = Path(__file__).resolve().parents[2]
# Known noise from Gradio's queue under pandas 3 (shared/docs/browser-testing.md, pitfall 6).
pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:Warning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:Warning")]


@pytest.mark.parametrize("path", ["", "v1/models", "gradio_api/info", "config", "login",
                                  "gradio_api/call/reindex", "healthz"])
@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "attacker:7860"])
def test_a_foreign_host_header_is_refused_everywhere(server, path, host):
    response = httpx.request("POST" if "call" in path or path == "login" else "GET",
                             server.url + path, json={"data": []},
                             headers={"Host": host, "Authorization": f"Bearer {USER_KEY}"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_host"
    assert "access-control-allow-origin" not in response.headers


def test_served_host_names_pass(server):
    port = server.url.rstrip("/").rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert httpx.get(server.url + "healthz", headers={"Host": host}).status_code == 200


def test_allowed_hosts_come_from_the_host_and_the_setting():
    assert allowed_hosts("0.0.0.0") == {"127.0.0.1", "localhost", "::1"}
    assert "rag.example.org" in allowed_hosts("10.0.0.5", " rag.example.org ,x.org")
    assert "10.0.0.5" in allowed_hosts("10.0.0.5")
    assert [host_name(h) for h in ("A.org:80", "[::1]:7860", "::1", "b.org")] == [
        "a.org", "::1", "::1", "b.org"]


def test_reindex_needs_an_admin_account(server):
    from gradio_client import Client

    bob = Client(server.url, auth=("bob", PASSWORDS["bob"]), verbose=False)
    with pytest.raises(Exception, match="Only an admin"):
        bob.predict(api_name="/reindex")
    alice = Client(server.url, auth=("alice", PASSWORDS["alice"]), verbose=False)
    assert alice.predict(api_name="/reindex")["chunks"] > 0
    response = httpx.post(server.url + "gradio_api/call/reindex", json={"data": []})
    assert response.status_code in (401, 403)  # no session at all


def test_the_http_reindex_needs_an_admin_key(server, seed_rag):
    url = server.url + "v1/reindex"
    refused = httpx.post(url, headers={"Authorization": f"Bearer {USER_KEY}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_required"
    assert httpx.post(url).status_code == 401
    done = httpx.post(url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=120)
    assert done.status_code == 200 and done.json()["index_version"] == seed_rag.version


def test_uploads_need_an_admin_account(seed_rag, signin, tmp_path):
    from ui.app import ChatHandlers
    from ui.endpoints import ADMIN_ONLY

    doc = tmp_path / "new.md"
    doc.write_text("# 新文件\n\n一段新的文字。", encoding="utf-8")
    before = sorted(p.name for p in seed_rag.corpus_dir.iterdir())
    handlers = ChatHandlers(seed_rag, signin.is_admin)
    report, footer, files = handlers.upload([str(doc)], request=SimpleNamespace(username="bob"))
    assert (report, footer, files) == (ADMIN_ONLY, gr.skip(), None)
    assert sorted(p.name for p in seed_rag.corpus_dir.iterdir()) == before
    assert not signin.is_admin(None) and not signin.is_admin("mallory")
    assert signin.is_admin("alice") and SignIn({}).is_admin(None)


def test_serving_the_network_without_sign_in_is_refused(users_file):
    with pytest.raises(AuthConfigError, match="--insecure-no-auth"):
        check_exposure("0.0.0.0", SignIn({}), insecure=False)
    with pytest.raises(AuthConfigError):  # keys alone leave the page open
        check_exposure("10.1.2.3", SignIn({"RAG_API_KEYS": USER_KEY}), insecure=False)
    check_exposure("0.0.0.0", SignIn({}), insecure=True)
    check_exposure("0.0.0.0", SignIn({"RAG_USERS_FILE": str(users_file)}), insecure=False)
    check_exposure("127.0.0.1", SignIn({}), insecure=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    done = subprocess.run([sys.executable, "-m", "ui.cli", "chat", "--host", "0.0.0.0"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "refusing to serve on 0.0.0.0" in done.stderr


def test_secrets_files_must_be_private_and_are_never_echoed(tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("a-secret-key-0123456789:admin\n", encoding="utf-8")
    os.chmod(keys, 0o644)
    with pytest.raises(AuthConfigError, match="chmod 600") as err:
        SignIn({"RAG_API_KEYS_FILE": str(keys)})
    assert "a-secret-key" not in str(err.value)
    os.chmod(keys, 0o600)
    signin = SignIn({"RAG_API_KEYS_FILE": str(keys)})
    assert signin.key("Bearer a-secret-key-0123456789").admin
    assert signin.key("Bearer a-secret-key-012345678") is None and signin.key(None) is None
    with pytest.raises(AuthConfigError) as err:
        SignIn({"RAG_API_KEYS": "short-secret"})
    assert "short-secret" not in str(err.value)
    users = tmp_path / "users.txt"
    users.write_text("carol:plain-password\n", encoding="utf-8")
    os.chmod(users, 0o600)
    with pytest.raises(AuthConfigError) as err:
        SignIn({"RAG_USERS_FILE": str(users)})
    assert "plain-password" not in str(err.value)


def test_passwords_are_salted_scrypt_hashes():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$16384$8$1$") and "correct" not in a
    assert verify_password("correct horse", a) and not verify_password("wrong horse", a)
    assert not verify_password("x", "md5$whatever")


def _answer(text: str = "李娜是董事长。[1]") -> Answer:
    cite = Citation(1, "d.txt", 3, (10, 11), "段落全文。李娜是董事长。", "李娜是董事长。", 0.9)
    return Answer("太阳纸业的董事长是谁？", text, False, (cite,))


@pytest.mark.parametrize("bad", ["../../etc/passwd", "..", "", "A" * 32, "0" * 31,
                                 "0" * 32 + "/x", "0" * 32 + "\n", None, 5])
def test_conversation_ids_with_path_tricks_are_refused(tmp_path, bad):
    store = ConversationStore(tmp_path / "c.sqlite")
    with pytest.raises(ConversationError):
        check_id(bad)
    with pytest.raises(ConversationError):
        store.turns("alice", bad)
    with pytest.raises(ConversationError):
        store.delete("alice", bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.sqlite"]


def test_one_user_cannot_reach_another_users_conversation(tmp_path, seed_rag):
    from ui.saved import SavedChats

    store = ConversationStore(tmp_path / "c.sqlite")
    mine = store.create("alice", "太阳纸业的董事长是谁？")
    store.add_turn("alice", mine, "太阳纸业的董事长是谁？", _answer(), "build-1")
    for call in (lambda: store.turns("bob", mine), lambda: store.delete("bob", mine),
                 lambda: store.rate("bob", mine, 0, 1),
                 lambda: store.add_turn("bob", mine, "q", _answer(), "g")):
        with pytest.raises(ConversationError, match="no such conversation"):
            call()
    assert store.list("bob") == []
    page = SavedChats(seed_rag, store)
    with pytest.raises(gr.Error):
        page.reopen(mine, SimpleNamespace(username="bob"))
    with pytest.raises(gr.Error):
        page.reopen("../" + mine, SimpleNamespace(username="alice"))
    turns, *_ = page.reopen(mine, SimpleNamespace(username="alice"))
    assert turns[0].answer == store.turns("alice", mine)[0].answer == _answer()


def test_the_chat_saves_a_finished_answer_without_the_browsers_follow_up(tmp_path, seed_rag):
    """The chat handler saves the answer itself; the follow-up event only refreshes the list,
    so a browser that never sends it (a closed tab, a stalled event chain) loses nothing."""
    from ui.app import ChatHandlers
    from ui.saved import SavedChats

    store = ConversationStore(tmp_path / "c.sqlite")
    page = SavedChats(seed_rag, store)
    handlers = ChatHandlers(seed_rag)
    handlers.on_answer = page.save
    alice = SimpleNamespace(username="alice", session_hash="s1", client=None, headers={})
    *_, last = handlers.chat("太阳纸业的董事长是谁？", [], 5, "extractive", "", alice)
    turns = last[1]
    [saved] = store.list("alice")
    assert turns[-1].saved == 0 and turns[-1].conversation == saved.id
    stored = store.turns("alice", saved.id)[0].answer
    assert stored.text == turns[-1].answer.text and stored.citations == turns[-1].answer.citations
    # a second question in the same session joins the same conversation
    *_, last = handlers.chat("兖州区委书记是谁？", turns, 5, "extractive", "", alice)
    assert [t.saved for t in last[1]] == [0, 1] and len(store.list("alice")) == 1
    # the follow-up event saves nothing twice and shows the conversation
    _, conversation, _ = page.record(last[1], "", alice)
    assert conversation == saved.id and len(store.turns("alice", saved.id)) == 2
    assert store.list("bob") == []
