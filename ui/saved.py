"""The page's saved conversations and answer ratings, over ``rag.conversations``.

Each signed-in user (``request.username``; ``local`` on a page without accounts) sees only
their own conversations: a dropdown to reopen one (answers with their citations), buttons for a
new conversation and to delete the open one, and the chat's thumbs up/down (plus an optional
comment) to rate an answer. A finished answer is saved by the chat handler as soon as it is
complete (``ChatHandlers.on_answer``), not by a follow-up event from the browser: a browser that
never sends one (a closed tab, a stalled event chain) loses nothing. The follow-up event then
only shows the conversation in the dropdown.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import gradio as gr

from rag.conversations import ConversationError, ConversationStore
from ui import panels, render
from ui.session import Turn

if TYPE_CHECKING:
    from rag.pipeline import RAG

log = logging.getLogger(__name__)
LOCAL_USER = "local"


def _user(request: gr.Request | None) -> str:
    return getattr(request, "username", None) or LOCAL_USER


def _label(title: str, updated: float, turns: int) -> str:
    return f"{time.strftime('%m-%d %H:%M', time.localtime(updated))} · {title} ({turns})"


class SavedChats:
    """Handlers of the saved-conversations panel; ``wire`` lays it out and connects it."""

    def __init__(self, rag: RAG, store: ConversationStore) -> None:
        self.rag, self.store = rag, store

    def choices(self, request: gr.Request | None = None, value: str | None = None) -> Any:
        items = self.store.list(_user(request))
        return gr.update(choices=[(_label(c.title, c.updated, c.turns), c.id) for c in items],
                         value=value)

    def save(self, turns: list[Turn], request: gr.Request | None = None,
             conversation: str = "") -> list[Turn]:
        """The finished answers of ``turns`` not saved yet, saved (in a new conversation when
        none is open); returns the turns marked with their positions. Called by the chat itself
        when an answer is complete, so that saving never waits on the browser."""
        user, out = _user(request), list(turns)
        todo = [i for i, t in enumerate(out) if t.status == "done" and t.answer is not None
                and t.saved is None]
        if not todo:
            return out
        conversation = conversation or next(
            (t.conversation for t in reversed(out) if t.conversation), "")
        if not conversation:
            conversation = self.store.create(user, out[todo[0]].question)
        version = self.rag.version
        for i in todo:
            assert out[i].answer is not None
            position = self.store.add_turn(user, conversation, out[i].question, out[i].answer,
                                           version)
            out[i] = replace(out[i], saved=position, conversation=conversation)
        return out

    def record(self, turns: list[Turn], conversation: str, request: gr.Request | None = None
               ) -> tuple[Any, Any, Any]:
        """After each answer: save what is not saved yet (normally the chat already did) and
        show the conversation in the dropdown; returns (turns, conversation, dropdown)."""
        saved = self.save(turns, request, conversation)
        current = next((t.conversation for t in reversed(saved) if t.conversation), "")
        if not current:
            return gr.skip(), gr.skip(), gr.skip()
        return (saved if saved != list(turns) else gr.skip()), current, self.choices(
            request, current)

    def reopen(self, conversation: str | None, request: gr.Request | None = None
               ) -> tuple[Any, ...]:
        """(turns, chat, sources, document view, conversation) of a saved conversation."""
        try:
            saved = self.store.turns(_user(request), conversation or "")
        except ConversationError as exc:
            raise gr.Error(str(exc)) from None
        turns = [Turn(s.question, s.answer.text, s.answer, "done", saved=i,
                      conversation=conversation or "") for i, s in enumerate(saved)]
        sources = (panels.sources_html(turns[-1].answer, len(turns) - 1)
                   if turns and turns[-1].answer else panels.SOURCES_PLACEHOLDER)
        return turns, render.chat_messages(turns), sources, panels.DOC_PLACEHOLDER, conversation

    def delete(self, conversation: str = "", request: gr.Request | None = None
               ) -> tuple[Any, ...]:
        """Delete ``conversation`` (if any) and show an empty one (also the New button)."""
        if conversation:
            try:
                self.store.delete(_user(request), conversation)
            except ConversationError as exc:
                raise gr.Error(str(exc)) from None
        return ([], [], panels.SOURCES_PLACEHOLDER, panels.DOC_PLACEHOLDER, "",
                self.choices(request))

    def rate(self, turns: list[Turn], conversation: str, comment: str, like: gr.LikeData,
             request: gr.Request | None = None) -> tuple[str, str]:
        """A thumbs up/down on an answer in the chat; returns (status, cleared comment)."""
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        turn = turns[index // 2] if 0 <= index // 2 < len(turns) else None
        conversation = conversation or (turn.conversation if turn else "")
        if turn is None or turn.saved is None or not conversation:
            return "只能评价已完成的回答 · Only finished answers can be rated.", gr.skip()
        rating = 1 if like.liked is True or like.liked == "Like" else -1
        self.store.rate(_user(request), conversation, turn.saved, rating, comment or "")
        mark = "👍" if rating > 0 else "👎"
        return f"{mark} 已记录，谢谢 · Feedback saved for answer {index // 2 + 1}.", ""

    def layout(self) -> SimpleNamespace:
        """The panel's components, laid out in the current Blocks column."""
        with gr.Accordion("对话记录 · Saved conversations", open=True, elem_id="saved"):
            picker = gr.Dropdown([], label="打开对话 · Open a conversation",
                                 elem_id="conversations", interactive=True)
            with gr.Row():
                new = gr.Button("新对话 · New", elem_id="new-conversation", size="sm")
                delete = gr.Button("删除 · Delete", elem_id="delete-conversation", size="sm",
                                   variant="stop")
            comment = gr.Textbox(label="评价备注（可选）· Feedback comment (optional), then 👍/👎",
                                 elem_id="feedback-comment", lines=1)
            status = gr.Markdown("", elem_id="feedback-status")
        return SimpleNamespace(conversation=gr.State(""), picker=picker, new=new,
                               delete=delete, comment=comment, status=status)

    def connect(self, demo: gr.Blocks, panel: SimpleNamespace, *, turns: Any, chatbot: Any,
                sources: Any, doc_view: Any, chat: Any, clears: list[Any]) -> None:
        """Wire the panel: save after each answer, reopen, new, delete, rate, list on load."""
        conversation, picker, private = panel.conversation, panel.picker, "private"
        page = [turns, chatbot, sources, doc_view, conversation]
        chat.then(self.record, [turns, conversation], [turns, conversation, picker],
                  api_visibility=private)
        picker.input(self.reopen, picker, page, api_visibility=private)
        panel.delete.click(self.delete, conversation, [*page, picker], api_visibility=private)
        panel.new.click(self.delete, None, [*page, picker], api_visibility=private)
        for event in clears:
            event(lambda: ("", gr.update(value=None)), None, [conversation, picker],
                  api_visibility=private)
        chatbot.like(self.rate, [turns, conversation, panel.comment],
                     [panel.status, panel.comment], api_visibility=private)
        demo.load(self.choices, None, picker, api_visibility=private)
