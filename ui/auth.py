"""Who may use the server: API keys, page accounts, rate limits and the allowed Host names.

* API keys (``Authorization: Bearer KEY``) come from ``RAG_API_KEYS`` (comma-separated) or the
  file named by ``RAG_API_KEYS_FILE`` (one a line); ``KEY:admin`` marks an admin key.
* Page accounts come from ``RAG_USERS_FILE``: ``name:HASH`` or ``name:HASH:admin`` a line, the
  hash made by ``rag user NAME`` (``hashlib.scrypt``: memory-hard, in the standard library,
  so no new dependency; a random salt per password and a constant-time comparison).
* A secrets file readable by group or others is refused. Secrets are never logged: a key is
  named by ``key_id`` (a hash prefix) wherever one must be identified.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RAGError

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
ADMIN = "admin"
FAILED_SIGNINS = (5, 60.0)  # at most 5 failed sign-ins per client address a minute
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class AuthConfigError(RAGError):
    """A secrets file or setting that cannot be used; the message says why (never the secret)."""


@dataclass(frozen=True)
class Principal:
    """Who a request is from: a page user's name or an API key's ``key_id``."""

    name: str
    admin: bool = False


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    b64 = base64.b64encode
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        kind, n, r, p, salt, digest = encoded.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), maxmem=2**26)
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def key_id(key: str) -> str:
    """A name for a key that is safe to log: ``key-`` and 8 hex digits of its SHA-256."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def read_secret_file(path: str | Path, what: str) -> list[str]:
    """The non-blank, non-comment lines of a secrets file that only its owner may read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise AuthConfigError(f"{what} file {path} cannot be read: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthConfigError(f"{what} file {path} is readable by others; run chmod 600 {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip() and not s.strip().startswith("#")]


def _keys(env: Mapping[str, str]) -> dict[str, Principal]:
    entries = [e.strip() for e in env.get("RAG_API_KEYS", "").split(",") if e.strip()]
    if env.get("RAG_API_KEYS_FILE"):
        entries += read_secret_file(env["RAG_API_KEYS_FILE"], "API keys")
    keys = {}
    for entry in entries:
        key, _, role = entry.partition(":")
        if len(key) < 16 or role not in ("", ADMIN):
            raise AuthConfigError(f"API key {key_id(key)} is shorter than 16 characters or has "
                                  "a role other than ':admin'; make one with: rag key")
        keys[key] = Principal(key_id(key), admin=role == ADMIN)
    return keys


def _users(env: Mapping[str, str]) -> dict[str, tuple[str, bool]]:
    if not env.get("RAG_USERS_FILE"):
        return {}
    users = {}
    for number, line in enumerate(read_secret_file(env["RAG_USERS_FILE"], "users"), 1):
        name, _, rest = line.partition(":")
        encoded, _, role = rest.partition(":")
        if not name or not encoded.startswith("scrypt$") or role not in ("", ADMIN):
            raise AuthConfigError(f"users file, entry {number}: expected name:HASH[:admin] "
                                  "(make a line with: rag user NAME)")
        users[name] = (encoded, role == ADMIN)
    return users


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds for each key (a client, an API key)."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may act again, or None if it may now."""
        now = time.monotonic()
        with self._lock:
            events = self._recent(key, now)
            if len(events) < self.limit:
                return None
            return max(1.0, events[0] + self.window - now)

    def add(self, key: str) -> None:
        with self._lock:
            self._recent(key, time.monotonic()).append(time.monotonic())

    def take(self, key: str) -> float | None:
        """Count one event unless over the limit; returns ``retry_after`` when refused."""
        with self._lock:
            now = time.monotonic()
            events = self._recent(key, now)
            if len(events) >= self.limit:
                return max(1.0, events[0] + self.window - now)
            events.append(now)
            return None


class SignIn:
    """The configured keys and accounts, plus the failed-sign-in and per-key limiters."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.keys = _keys(env)
        self.users = _users(env)
        self.failed = SlidingWindow(*FAILED_SIGNINS)
        self.per_key = SlidingWindow(int(env.get("RAG_RATE_LIMIT", "60") or 60))

    @property
    def configured(self) -> bool:
        return bool(self.keys or self.users)

    def key(self, authorization: str | None) -> Principal | None:
        """The key's principal for an ``Authorization`` header, or None (missing or wrong)."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        found = None
        for key, principal in self.keys.items():  # constant time per key
            if hmac.compare_digest(key.encode(), token.encode()):
                found = principal
        return found

    def password(self, username: str, password: str) -> bool:
        """Gradio's ``auth`` callable: does the password match the account's hash?"""
        encoded, _ = self.users.get(username, ("scrypt$16384$8$1$AAAA$AAAA", False))
        return verify_password(password, encoded) and username in self.users

    def is_admin(self, username: str | None) -> bool:
        """May this page user upload and re-index? Without page accounts the page is served
        only on loopback (or with ``--insecure-no-auth``), and its one user may."""
        if not self.users:
            return True
        return username in self.users and self.users[username][1]


def new_key() -> str:
    return "rag-" + secrets.token_urlsafe(24)
