"""Pure rendering for the chat UI: questions and answers (with their citation links) as HTML.

Every piece of document, question or answer text goes through ``html.escape`` here and
nowhere else, so a paragraph holding ``<script>`` shows as text. Nothing here imports Gradio.

Clickable parts carry an action (see ``ui.session.parse_action``): ``data-rag-action`` on
buttons, an ``href="#rag:..."`` on citation links. The page script (``ui/assets.py``) sends it
to the server, which answers with freshly rendered HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rag.schema import Answer, Citation
from ui.session import Turn

if TYPE_CHECKING:
    pass

_MARKER = re.compile(r"\[(\d{1,3})\]")
LINK_PREFIX = "rag:"
_CURSOR = '<span class="rag-cursor">▍</span>'
_TITLE_QUOTE_CHARS = 80


# -- small helpers ---------------------------------------------------------------------------


def text_html(text: str) -> str:
    """Escape text for HTML, keeping line breaks without producing blank lines."""
    return html.escape(text).replace("\r\n", "\n").replace("\n", "<br>")


def attr(value: object) -> str:
    return html.escape(str(value), quote=True)


def lines_label(lines: Sequence[int]) -> str:
    start, end = lines[0], lines[1]
    return f"行 {start}" if start == end else f"行 {start}–{end}"


def page_label(page: int | None) -> str:
    """The page part of a location ('第 3 页 p.3 · ') for paged formats (PDF), else ''."""
    return f"第 {page} 页 p.{page} · " if page else ""


def mark_quotes(text: str, quotes: Iterable[str]) -> str:
    """``text`` escaped, with every quote found in it wrapped in ``<mark>``."""
    spans: list[tuple[int, int]] = []
    for quote in quotes:
        quote = quote.strip()
        start = text.find(quote) if quote else -1
        if start >= 0:
            spans.append((start, start + len(quote)))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out.append(text_html(text[pos:start]))
        out.append(f"<mark>{text_html(text[start:end])}</mark>")
        pos = end
    out.append(text_html(text[pos:]))
    return "".join(out)


def citation_groups(answer: Answer) -> dict[int, list[Citation]]:
    """Citations by marker number, in order (one paragraph may be quoted more than once)."""
    groups: dict[int, list[Citation]] = {}
    for c in answer.citations:
        groups.setdefault(c.n, []).append(c)
    return groups


def group_lines(group: Sequence[Citation]) -> tuple[int, int]:
    return (min(c.lines[0] for c in group), max(c.lines[1] for c in group))


# -- chat ------------------------------------------------------------------------------------


def user_html(question: str) -> str:
    return f'<div class="rag-question">{text_html(question)}</div>'


def _cite_link(turn: int, n: int, group: Sequence[Citation]) -> str:
    first = group[0]
    quote = first.quote if len(first.quote) <= _TITLE_QUOTE_CHARS else (
        first.quote[:_TITLE_QUOTE_CHARS] + "…")
    title = f"{first.doc} · ¶{first.paragraph} · {lines_label(group_lines(group))}\n“{quote}”"
    # The chat's sanitizer drops data-* attributes, so a link carries its action in the href.
    return (f'<a class="rag-cite" href="#{LINK_PREFIX}cite:{turn}:{n}" '
            f'title="{attr(title)}">[{n}]</a>')


def _cited_text(answer: Answer, turn: int) -> str:
    groups = citation_groups(answer)
    out, pos = [], 0
    for m in _MARKER.finditer(answer.text):
        out.append(text_html(answer.text[pos:m.start()]))
        n = int(m.group(1))
        if n in groups:
            out.append(_cite_link(turn, n, groups[n]))
        else:
            out.append(f'<span class="rag-cite-missing" title="没有这个来源 · no such source">'
                       f'{m.group(0)}</span>')
        pos = m.end()
    out.append(text_html(answer.text[pos:]))
    return "".join(out)


def _notes(answer: Answer) -> str:
    notes = []
    if not answer.abstained and not answer.grounded:
        notes.append("⚠ 部分内容未在来源中找到 · "
                     "parts of this answer are not backed by the sources")
    if answer.invalid_citations:
        notes.append(f"已忽略 {answer.invalid_citations} 个无效引用 · "
                     f"{answer.invalid_citations} invalid citation(s) ignored")
    if answer.rewritten_question:
        notes.append(f"检索时理解为 searched as: {answer.rewritten_question}")
    if answer.notice:
        notes.append(answer.notice)
    total = answer.timings.get("total_ms")
    meta = answer.backend + (f" · {total / 1000:.2f} s" if total is not None else "")
    notes.append(meta)
    return "".join(f'<div class="rag-note">{text_html(n)}</div>' for n in notes)


def answer_html(answer: Answer, turn: int) -> str:
    """The final answer bubble: text with clickable ``[n]`` links, or an abstention."""
    if answer.abstained:
        hint = ("右侧列出了最接近的段落（仅供参考，不是答案来源）· The closest passages are listed "
                "on the right as related, not as sources." if answer.related else "")
        return (f'<div class="rag-answer rag-final rag-abstained" data-turn="{turn}">'
                f'<div class="rag-label">未找到答案 · No answer in the documents</div>'
                f'<div class="rag-text">{text_html(answer.text)}</div>'
                f'<div class="rag-hint">{hint}</div>{_notes(answer)}</div>')
    hint = ("点击 [n] 查看原文段落 · click [n] to see the source paragraph"
            if answer.citations else "")
    return (f'<div class="rag-answer rag-final" data-turn="{turn}">'
            f'<div class="rag-text">{_cited_text(answer, turn)}</div>'
            f'<div class="rag-hint">{hint}</div>{_notes(answer)}</div>')


def streaming_html(text: str) -> str:
    shown = text_html(text) if text else '<span class="rag-wait">检索中… searching</span>'
    return (f'<div class="rag-answer rag-streaming"><div class="rag-text">{shown}{_CURSOR}'
            "</div></div>")


def stopped_html(text: str) -> str:
    return (f'<div class="rag-answer rag-stopped"><div class="rag-text">{text_html(text)}</div>'
            f'<div class="rag-label">已停止 · Stopped</div></div>')


def error_html(message: str) -> str:
    return (f'<div class="rag-answer rag-error"><div class="rag-label">出错了 · Error</div>'
            f'<div class="rag-text">{text_html(message)}</div></div>')


def turn_html(turn: Turn, index: int) -> str:
    if turn.status == "done" and turn.answer is not None:
        return answer_html(turn.answer, index)
    if turn.status == "stopped":
        return stopped_html(turn.text)
    if turn.status == "error":
        return error_html(turn.error)
    return streaming_html(turn.text)


def chat_messages(turns: Sequence[Turn]) -> list[dict[str, str]]:
    """The Chatbot value: one user and one assistant message per turn."""
    messages = []
    for i, turn in enumerate(turns):
        messages.append({"role": "user", "content": user_html(turn.question)})
        messages.append({"role": "assistant", "content": turn_html(turn, i)})
    return messages


# -- sources ---------------------------------------------------------------------------------
