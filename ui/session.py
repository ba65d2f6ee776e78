"""The state of one browser session's conversation, and the actions its page sends.

Plain data and pure functions: ``ui.render`` draws a list of ``Turn``s, ``ui.app`` keeps it in
a ``gr.State`` and turns it into the ``history`` that ``RAG.ask_stream`` takes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from rag.schema import Answer

TurnStatus = Literal["streaming", "done", "stopped", "error"]

_ACTION = re.compile(r"^(cite|page):(\d{1,4}):(\d{1,3})$|^(open):(\d{1,4}):([cr]):(\d{1,3})$")


@dataclass(frozen=True)
class Turn:
    """One question and its answer as the chat shows it (``text`` grows while streaming)."""

    question: str
    text: str = ""
    answer: Answer | None = None
    status: TurnStatus = "streaming"
    error: str = ""
    saved: int | None = None  # its position in the saved conversation, once saved
    conversation: str = ""  # the saved conversation it belongs to, once saved


@dataclass(frozen=True)
class Action:
    """A click from the page: show citation ``n`` of a turn, open a source in its document, or
    show a scanned source's page image with the cited lines boxed."""

    kind: Literal["cite", "open", "page"]
    turn: int
    n: int
    related: bool = False


def parse_action(value: str) -> Action | None:
    """The action sent by the page (``cite:T:N``, ``open:T:c:N``, ``open:T:r:I``,
    ``page:T:N``), or None."""
    m = _ACTION.match((value or "").strip())
    if m is None:
        return None
    if m.group(1):
        return Action(m.group(1), int(m.group(2)), int(m.group(3)))
    return Action("open", int(m.group(5)), int(m.group(7)), related=m.group(6) == "r")


def stop_turns(turns: Sequence[Turn]) -> list[Turn]:
    """Mark the answer still being produced as stopped (the Stop button)."""
    out = list(turns)
    if out and out[-1].status == "streaming":
        out[-1] = replace(out[-1], status="stopped")
    return out


def history_of(turns: Sequence[Turn], *, max_turns: int = 5) -> list[dict[str, str]]:
    """Finished turns as the ``history`` RAG.ask_stream takes (oldest first, the last few)."""
    done = [t for t in turns if t.status == "done" and t.answer is not None]
    history: list[dict[str, str]] = []
    for t in done[-max_turns:]:
        assert t.answer is not None
        history.append({"role": "user", "content": t.question})
        history.append({"role": "assistant", "content": t.answer.text})
    return history
