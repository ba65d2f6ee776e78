"""A real server (``ui.serve.start``, what ``rag chat`` runs) over the seed index, with API keys
and two page accounts: alice (admin) and bob."""

from __future__ import annotations

import os

import pytest

from rag.conversations import ConversationStore
from serving.accounts import ADMIN_KEY, PASSWORDS, USER_KEY
from ui.auth import FAILED_SIGNINS, SignIn, SlidingWindow, hash_password


@pytest.fixture(scope="session")
def users_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("secrets") / "users.txt"
    path.write_text(f"alice:{hash_password(PASSWORDS['alice'])}:admin\n"
                    f"bob:{hash_password(PASSWORDS['bob'])}\n", encoding="utf-8")
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope="session")
def signin(users_file):
    return SignIn({"RAG_API_KEYS": f"{USER_KEY},{ADMIN_KEY}:admin",
                   "RAG_USERS_FILE": str(users_file), "RAG_RATE_LIMIT": "1000"})


@pytest.fixture(scope="session")
def server(seed_rag, signin, tmp_path_factory):
    from ui.serve import start

    store = ConversationStore(tmp_path_factory.mktemp("data") / "conversations.sqlite")
    running = start(seed_rag, host="127.0.0.1", port=0, signin=signin, store=store)
    yield running
    running.close()


@pytest.fixture(autouse=True)
def _fresh_limits(signin):
    """Each test starts with no failed sign-ins counted against 127.0.0.1."""
    signin.failed = SlidingWindow(*FAILED_SIGNINS)
    yield
