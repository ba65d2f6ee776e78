"""Pure rendering of the chat UI's side panels: sources of an answer, the document view, the
footer and upload reports, as HTML strings (escaped through ``ui.render``'s helpers)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.ocr.locate import shows_pages
from rag.schema import Answer, Citation, Paragraph, Passage
from ui.render import (
    attr,
    citation_groups,
    group_lines,
    lines_label,
    mark_quotes,
    page_label,
    text_html,
)

if TYPE_CHECKING:
    from rag.ocr.locate import CitedPage
    from rag.uploads import UploadReport


DOC_PLACEHOLDER = ('<div class="rag-docview rag-empty">点击来源中的“在文档中查看”可打开整篇文档。'
                   "<br>“Show in document” opens the whole cleaned document here.</div>")
SOURCES_PLACEHOLDER = (
    '<div class="rag-sources rag-empty"><h3>来源 · Sources</h3>'
    "<p>提问后，答案引用的原文段落会显示在这里，引用句以高亮标出。"
    "<br>After you ask, the paragraphs the answer cites appear here, "
    "with the quoted sentence highlighted.</p></div>"
)


def _base(kb: str | None) -> str:
    """The knowledge base a source comes from, when the answer names one."""
    return "" if kb is None else f'<span class="rag-kb">{text_html(kb)}</span> · '


def _source_card(turn: int, n: int, group: Sequence[Citation], active: bool) -> str:
    first = group[0]
    score = max(c.score for c in group)
    classes = "rag-source rag-active" if active else "rag-source"
    return (
        f'<li class="{classes}" id="src-{turn}-{n}" data-n="{n}">'
        f'<div class="rag-source-head"><span class="rag-n">[{n}]</span> {_base(first.kb)}'
        f'<span class="rag-doc">{text_html(first.doc)}</span> · {page_label(first.page)}'
        f'<span class="rag-para-no">段落 ¶{first.paragraph}</span> · '
        f'<span class="rag-lines">{lines_label(group_lines(group))}</span> · '
        f'<span class="rag-score">score {score:.3f}</span></div>'
        f'<blockquote class="rag-para">{mark_quotes(first.text, [c.quote for c in group])}'
        f"</blockquote>"
        f'<button class="rag-open" type="button" data-rag-action="open:{turn}:c:{n}">'
        f"在文档中查看 · Show in document</button>"
        + (f' <button class="rag-page" type="button" data-rag-action="page:{turn}:{n}">'
           "查看原页 · Show page</button>" if shows_pages(first.doc) else "")
        + "</li>"
    )


def _related_card(turn: int, i: int, p: Passage) -> str:
    return (
        f'<li class="rag-related-item" id="rel-{turn}-{i}">'
        f'<div class="rag-source-head">{_base(p.kb)}'
        f'<span class="rag-doc">{text_html(p.doc)}</span> · '
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


def page_html(citation: Citation, found: CitedPage | None, *, key: str = "",
              problem: str = "") -> str:
    """A scanned source's page image with the cited lines boxed (``rag.ocr.locate``), or why
    it cannot be shown (``problem``; a page read from its text layer has no image to box)."""
    head = (f'<div class="rag-docview-head"><strong>{text_html(citation.doc)}</strong> · '
            f"{page_label(citation.page or 1)}¶{citation.paragraph} · "
            f"{lines_label(citation.lines)}</div>")
    if found is None:
        why = text_html(problem) if problem else (
            "这一页没有可标出的扫描图像（页面有文字层，或引文不在该页图像中）。"
            "<br>No scanned image to box here: the page was read from its text layer, or the "
            "quote is not on the page image. “Show in document” shows the paragraph.")
        return (f'<div class="rag-docview" data-view="{attr(key)}">{head}'
                f'<p class="rag-target rag-hint">{why}</p></div>')
    src = "data:image/png;base64," + base64.b64encode(found.png).decode("ascii")
    alt = f"{citation.doc} p.{citation.page or 1}, {len(found.boxes)} cited line(s) boxed"
    return (f'<div class="rag-docview" data-view="{attr(key)}">{head}'
            f'<div class="rag-doc-body rag-target"><img class="rag-page-image" '
            f'src="{src}" alt="{attr(alt)}"></div></div>')


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
