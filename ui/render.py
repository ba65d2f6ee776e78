"""Pure rendering for the chat UI: answers, sources, documents and footer as HTML strings.

Every piece of document, question or answer text goes through ``html.escape`` here and
nowhere else, so a paragraph holding ``<script>`` shows as text. Nothing here imports Gradio.

Clickable parts carry an action (see ``ui.session.parse_action``): ``data-rag-action`` on
buttons, an ``href="#rag:..."`` on citation links. The page script (``ui/assets.py``) sends it
to the server, which answers with freshly rendered HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.schema import Answer, Citation, Paragraph, Passage
from ui.session import Turn

if TYPE_CHECKING:
    from rag.uploads import UploadReport

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

SOURCES_PLACEHOLDER = (
    '<div class="rag-sources rag-empty"><h3>来源 · Sources</h3>'
    "<p>提问后，答案引用的原文段落会显示在这里，引用句以高亮标出。"
    "<br>After you ask, the paragraphs the answer cites appear here, "
    "with the quoted sentence highlighted.</p></div>"
)


def _source_card(turn: int, n: int, group: Sequence[Citation], active: bool) -> str:
    first = group[0]
    score = max(c.score for c in group)
    classes = "rag-source rag-active" if active else "rag-source"
    return (
        f'<li class="{classes}" id="src-{turn}-{n}" data-n="{n}">'
        f'<div class="rag-source-head"><span class="rag-n">[{n}]</span> '
        f'<span class="rag-doc">{text_html(first.doc)}</span> · {page_label(first.page)}'
        f'<span class="rag-para-no">段落 ¶{first.paragraph}</span> · '
        f'<span class="rag-lines">{lines_label(group_lines(group))}</span> · '
        f'<span class="rag-score">score {score:.3f}</span></div>'
        f'<blockquote class="rag-para">{mark_quotes(first.text, [c.quote for c in group])}'
        f"</blockquote>"
        f'<button class="rag-open" type="button" data-rag-action="open:{turn}:c:{n}">'
        f"在文档中查看 · Show in document</button></li>"
    )


def _related_card(turn: int, i: int, p: Passage) -> str:
    return (
        f'<li class="rag-related-item" id="rel-{turn}-{i}">'
        f'<div class="rag-source-head"><span class="rag-doc">{text_html(p.doc)}</span> · '
        f'<span class="rag-para-no">段落 ¶{p.paragraph}</span> · '
        f'<span class="rag-lines">{lines_label(p.lines)}</span> · '
        f'<span class="rag-score">score {p.score:.3f}</span></div>'
        f'<blockquote class="rag-para">{text_html(p.text)}</blockquote>'
        f'<button class="rag-open" type="button" data-rag-action="open:{turn}:r:{i}">'
        f"在文档中查看 · Show in document</button></li>"
    )


def sources_html(answer: Answer | None, turn: int = 0, *, active: int | None = None) -> str:
    """The sources panel for one answer: a card per citation, or related passages."""
    if answer is None:
        return SOURCES_PLACEHOLDER
    asked = f'<p class="rag-asked">问题 Q{turn + 1}: {text_html(answer.question)}</p>'
    if answer.abstained or not answer.citations:
        cards = "".join(_related_card(turn, i, p) for i, p in enumerate(answer.related))
        body = (f'<ul class="rag-related">{cards}</ul>' if cards
                else "<p>没有找到相关段落 · No related passages.</p>")
        return (f'<div class="rag-sources rag-abstained" data-turn="{turn}">'
                f"<h3>相关段落（非来源）· Related passages, not sources</h3>{asked}"
                f'<p class="rag-hint">文档中没有找到答案；以下是最接近的段落。'
                f"The documents do not answer this; these are the closest passages.</p>"
                f"{body}</div>")
    groups = citation_groups(answer)
    active = active if active in groups else next(iter(groups))
    cards = "".join(_source_card(turn, n, g, n == active) for n, g in groups.items())
    return (f'<div class="rag-sources" data-turn="{turn}" data-active="{active}">'
            f"<h3>来源 · Sources</h3>{asked}<ol>{cards}</ol></div>")


# -- document view ---------------------------------------------------------------------------


def document_html(doc: str, paragraphs: Sequence[Paragraph], *, target: int,
                  quotes: Sequence[str] = (), key: str = "") -> str:
    """The whole cleaned document, the ``target`` paragraph marked and its quotes highlighted.

    Paragraph ``i`` has the anchor id ``doc-p-i``; ``key`` (the action that opened the view)
    lets the page script wait for this view before scrolling to the target.
    """
    head = (f'<div class="rag-docview-head"><strong>{text_html(doc)}</strong> · '
            f"{len(paragraphs)} 段 paragraphs · 定位到 showing ¶{target}</div>")
    if not paragraphs:
        return (f'<div class="rag-docview" data-view="{attr(key)}">{head}'
                "<p>这个文档已不在索引中 · This document is no longer in the index.</p></div>")
    rows = []
    for p in paragraphs:
        is_target = p.index == target
        body = mark_quotes(p.text, quotes) if is_target else text_html(p.text)
        cls = "rag-doc-para rag-target" if is_target else "rag-doc-para"
        rows.append(f'<p class="{cls}" id="doc-p-{p.index}" data-paragraph="{p.index}">'
                    f'<span class="rag-pnum">{page_label(p.page)}¶{p.index} · '
                    f"{lines_label(p.lines)}</span> {body}</p>")
    return (f'<div class="rag-docview" data-view="{attr(key)}">{head}'
            f'<div class="rag-doc-body">{"".join(rows)}</div></div>')


# -- settings, footer, uploads ---------------------------------------------------------------


def model_label(answerer: str, llm_model: str) -> str:
    if answerer == "extractive":
        return "无需模型 · none (quotes the documents)"
    return llm_model or "后端默认 · backend default (set RAG_LLM_MODEL)"


def footer_html(manifest: Mapping[str, Any], index_dir: str | Path) -> str:
    parts = [
        f"嵌入模型 Embedding model: <code>{text_html(str(manifest.get('embed_model', '?')))}"
        "</code>",
        f"索引 Index: <code>{text_html(str(index_dir))}</code>",
        f'{manifest.get("documents", 0)} 文档 documents',
        f'{manifest.get("paragraphs", 0)} 段落 paragraphs',
        f'{manifest.get("chunks", 0)} 片段 chunks',
        "离线运行 runs offline",
    ]
    return f'<div class="rag-footer">{" · ".join(parts)}</div>'


_STATUS = {
    "added": ("✓", "已添加 added"),
    "skipped": ("–", "已存在，跳过 skipped"),
    "refused": ("✗", "被拒绝 refused"),
    "failed": ("✗", "失败 failed"),
}


def upload_report_html(report: UploadReport) -> str:
    rows = []
    for f in report.files:
        icon, label = _STATUS[f.status]
        stored = (f" → {text_html(f.stored_as)}"
                  if f.stored_as and f.stored_as != f.name and f.status == "added" else "")
        reason = f": {text_html(f.reason)}" if f.reason else ""
        rows.append(f'<li class="rag-upload-{f.status}">{icon} <strong>{text_html(f.name)}</strong>'
                    f"{stored} — {label}{reason}</li>")
    if report.error:
        summary = ("上传失败，索引未改变 · Upload failed; the index is unchanged. "
                   f"{text_html(report.error)}")
    elif report.added:
        summary = f"已加入索引 {len(report.added)} 个文件 · {len(report.added)} file(s) indexed."
    else:
        summary = "没有添加文件，索引未改变 · No files added; the index is unchanged."
    cls = "rag-upload rag-upload-error" if report.error or report.refused else "rag-upload"
    return f'<div class="{cls}"><p>{summary}</p><ul>{"".join(rows)}</ul></div>'
