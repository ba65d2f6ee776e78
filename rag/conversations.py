"""Saved conversations and answer feedback, per user, in one SQLite file.

``ConversationStore(path)`` keeps each user's conversations (every answer with its citations and
the index generation, ``RAG.version``, it came from) and the thumbs up/down given to answers.
Pure storage: every read and write names the user, so one user never sees another's rows, and
conversation ids are checked against one strict pattern before they reach a query.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RAGError
from rag.schema import Answer

FILE_NAME = "conversations.sqlite"
_ID = re.compile(r"[0-9a-f]{32}")
MAX_TITLE = 60
MAX_COMMENT = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, title TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_user ON conversations (user, updated);
CREATE TABLE IF NOT EXISTS turns (
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
    generation TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (conversation, position));
CREATE TABLE IF NOT EXISTS feedback (
    user TEXT NOT NULL, conversation TEXT NOT NULL, position INTEGER NOT NULL,
    rating INTEGER NOT NULL, comment TEXT NOT NULL, question TEXT NOT NULL,
    answer TEXT NOT NULL, generation TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (user, conversation, position));
"""


class ConversationError(RAGError, ValueError):
    """A conversation id that is malformed or not this user's."""


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    title: str
    updated: float
    turns: int


@dataclass(frozen=True)
class SavedTurn:
    question: str
    answer: Answer
    generation: str


@dataclass(frozen=True)
class Feedback:
    """A rated answer: +1 (thumbs up) or -1 (down), with what was asked and answered."""

    user: str
    conversation: str
    position: int
    rating: int
    comment: str
    question: str
    answer: Answer
    generation: str


def check_id(conversation: str) -> str:
    """``conversation`` if it is a well-formed id (32 hex digits), else ConversationError."""
    if not isinstance(conversation, str) or not _ID.fullmatch(conversation):
        raise ConversationError("not a conversation id")
    return conversation


class ConversationStore:
    """Conversations and feedback in the SQLite file ``path``; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:
            yield self._db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _owned(self, db: sqlite3.Connection, user: str, conversation: str) -> None:
        row = db.execute("SELECT 1 FROM conversations WHERE id = ? AND user = ?",
                         (check_id(conversation), user)).fetchone()
        if row is None:
            raise ConversationError("no such conversation")

    def create(self, user: str, title: str) -> str:
        """A new, empty conversation of ``user``; returns its id."""
        conversation, now = secrets.token_hex(16), time.time()
        title = " ".join(title.split())[:MAX_TITLE] or "…"
        with self._tx() as db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
                       (conversation, user, title, now, now))
        return conversation

    def list(self, user: str) -> list[ConversationInfo]:
        """``user``'s conversations, the most recently updated first."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT c.id, c.title, c.updated, COUNT(t.position) FROM conversations c "
                "LEFT JOIN turns t ON t.conversation = c.id WHERE c.user = ? "
                "GROUP BY c.id ORDER BY c.updated DESC", (user,)).fetchall()
        return [ConversationInfo(*row) for row in rows]

    def turns(self, user: str, conversation: str) -> list[SavedTurn]:
        with self._tx() as db:
            self._owned(db, user, conversation)
            rows = db.execute("SELECT question, answer, generation FROM turns "
                              "WHERE conversation = ? ORDER BY position",
                              (conversation,)).fetchall()
        return [SavedTurn(q, Answer.from_dict(json.loads(a)), g) for q, a, g in rows]

    def add_turn(self, user: str, conversation: str, question: str, answer: Answer,
                 generation: str) -> int:
        """Append an answered question; returns its position (0-based)."""
        now = time.time()
        with self._tx() as db:
            self._owned(db, user, conversation)
            (position,) = db.execute("SELECT COUNT(*) FROM turns WHERE conversation = ?",
                                     (conversation,)).fetchone()
            db.execute("INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?)",
                       (conversation, position, question, _dump(answer), generation, now))
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation))
        return position

    def delete(self, user: str, conversation: str) -> None:
        """Remove a conversation and its turns (its feedback stays, for evaluation)."""
        with self._tx() as db:
            self._owned(db, user, conversation)
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation,))

    def rate(self, user: str, conversation: str, position: int, rating: int,
             comment: str = "") -> None:
        """Record (or replace) ``user``'s rating of one answer: +1 or -1, with a comment."""
        if rating not in (1, -1):
            raise ConversationError("a rating is 1 (good) or -1 (bad)")
        with self._tx() as db:
            self._owned(db, user, conversation)
            row = db.execute("SELECT question, answer, generation FROM turns "
                             "WHERE conversation = ? AND position = ?",
                             (conversation, int(position))).fetchone()
            if row is None:
                raise ConversationError("no such answer in this conversation")
            db.execute("INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (user, conversation, int(position), rating,
                        (comment or "").strip()[:MAX_COMMENT], *row, time.time()))

    def feedback(self, rating: int | None = None) -> list[Feedback]:
        """Every rated answer (all users), oldest first; only ``rating`` ones if given."""
        query = ("SELECT user, conversation, position, rating, comment, question, answer, "
                 "generation FROM feedback")
        args: tuple = ()
        if rating is not None:
            query, args = query + " WHERE rating = ?", (rating,)
        with self._tx() as db:
            rows = db.execute(query + " ORDER BY created", args).fetchall()
        return [Feedback(*row[:6], Answer.from_dict(json.loads(row[6])), row[7]) for row in rows]


def _dump(answer: Answer) -> str:
    return json.dumps(answer.to_dict(), ensure_ascii=False)
