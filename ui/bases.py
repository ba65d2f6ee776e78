"""Knowledge bases on the page: a selector (one or several bases to ask) and a manager (create
and delete bases; list, upload, delete, re-parse and download their files).

``KBChat`` is ``ChatHandlers`` whose answers come from the session's selected bases, through a
``rag.multi.Library`` that keeps every opened base loaded: switching bases costs no rebuild.
Every file change goes through ``rag.basefiles`` / ``rag.uploads`` (one atomic index update).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from rag import basefiles
from rag.bases import DEFAULT
from rag.errors import RAGError
from ui import panels
from ui.endpoints import ADMIN_ONLY
from ui.handlers import _PROGRESS, ChatHandlers, _error_message
from ui.render import attr, text_html

if TYPE_CHECKING:
    from collections.abc import Callable

    from rag.multi import Library
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

_LABELS = {"indexed": "✓ 已索引 indexed", "skipped": "✗ 跳过 skipped",
           "pending": "… 待索引 pending", "missing": "– 已删除 removed"}


def files_html(name: str, files: Sequence[basefiles.FileStatus] | None,
               problem: str = "") -> str:
    """The file table of base ``name``: status, reason, paragraphs, chunks, last indexed."""
    if problem:
        return (f'<div class="rag-kb-files" data-kb="{attr(name)}"><p class="rag-hint">'
                f"{text_html(problem)}</p></div>")
    rows = "".join(
        f'<tr class="rag-kb-{f.status}" data-file="{attr(f.path)}">'
        f"<td>{text_html(f.path)}</td><td>{_LABELS[f.status]}"
        f"{': ' + text_html(f.reason) if f.reason else ''}</td><td>{f.paragraphs}</td>"
        f"<td>{f.chunks}</td><td>{text_html(f.indexed or '-')}</td></tr>" for f in files or ())
    body = rows or '<tr><td colspan="5">还没有文件 · No files yet; upload some.</td></tr>'
    return (f'<div class="rag-kb-files" data-kb="{attr(name)}" data-count="{len(files or ())}">'
            f"<table><thead><tr><th>文件 file</th><th>状态 status</th><th>段落 paragraphs</th>"
            f"<th>片段 chunks</th><th>索引时间 last indexed</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


class KBChat(ChatHandlers):
    """Chat handlers over a ``Library``: each session asks the bases it selected."""

    def __init__(self, rag: RAG, library: Library,
                 is_admin: Callable[[str | None], bool] = lambda _: True) -> None:
        super().__init__(rag, is_admin)
        self.library = library
        multi = getattr(rag, "names", None)
        self.initial: list[str] = list(multi) if multi else [rag.kb or DEFAULT]
        if not multi:
            library.keep(self.initial[0], rag)  # the app's own RAG answers for its base
        self.selected: dict[str | None, list[str]] = {}

    # -- asking --------------------------------------------------------------------------

    def rag_for(self, session: str | None) -> RAG:
        return self.library.select(self.selected.get(session) or self.initial)

    def source_rag(self, kb: str | None) -> RAG:
        return self.rag if kb is None else self.library.get(kb)

    def select(self, names: list[str] | str | None, request: gr.Request | None = None) -> str:
        names = [names] if isinstance(names, str) else list(names or [])
        self.selected[request.session_hash if request else None] = names
        return self.selection_html(names)

    def selection_html(self, names: Sequence[str]) -> str:
        parts = []
        for name in names or self.initial:
            try:
                m = self.library.get(name).manifest
                parts.append(f"<b>{text_html(name)}</b>: {m['documents']} 文档 documents, "
                             f"{m['chunks']} 片段 chunks, <code>{text_html(m['embed_model'])}"
                             "</code>")
            except RAGError as exc:
                parts.append(f"<b>{text_html(name)}</b>: {text_html(str(exc))}")
        return f'<div class="rag-kb-info">{" · ".join(parts)}</div>'

    # -- managing ------------------------------------------------------------------------

    def files(self, name: str) -> tuple[str, Any]:
        """(file table, file picker) for base ``name``."""
        if not name:
            return files_html("", None, "选择一个知识库 · Pick a base."), gr.update(choices=[])
        try:
            found = basefiles.list_files(self.library.get(name))
        except (RAGError, OSError) as exc:
            return files_html(name, None, _error_message(exc)), gr.update(choices=[], value=None)
        paths = [f.path for f in found if f.status != "missing"]
        return files_html(name, found), gr.update(choices=paths, value=None)

    def _bases(self, value: str | None) -> tuple[Any, Any]:
        names = self.library.names()
        return gr.update(choices=names), gr.update(choices=names, value=value)

    def _admin(self, request: gr.Request | None) -> None:
        """Changing bases and their files is for admins (when the page has sign-in)."""
        if not self.is_admin(getattr(request, "username", None)):
            raise gr.Error(ADMIN_ONLY)

    def create(self, name: str, request: gr.Request | None = None) -> tuple[Any, ...]:
        """Create an empty base (its corpus under the bases folder) and manage it."""
        self._admin(request)
        try:
            base = self.library.create((name or "").strip())
        except (RAGError, OSError) as exc:
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), _status(exc), gr.skip())
        return (*self._bases(base.name), *self.files(base.name),
                _status(f"已创建 created {base.name}; upload files to index them"), "")

    def delete_base(self, name: str, confirm: bool, request: gr.Request | None = None
                    ) -> tuple[Any, ...]:
        self._admin(request)
        if not confirm:
            return (gr.skip(),) * 4 + (_status("勾选确认 · Tick “confirm” to delete a base."),
                                        gr.skip())
        try:
            self.library.delete(name)
        except (RAGError, OSError) as exc:
            return (gr.skip(),) * 4 + (_status(exc), False)
        for chosen in [*self.selected.values(), self.initial]:
            if name in chosen:
                chosen.remove(name)
        self.initial = self.initial or [DEFAULT]
        return (*self._bases(None), *self.files(""), _status(f"已删除 deleted {name}"), False)

    def upload_to(self, name: str, paths: list[str] | None, progress: gr.Progress = _PROGRESS,
                  request: gr.Request | None = None) -> tuple[Any, ...]:
        self._admin(request)
        if not name or not paths:
            return gr.skip(), gr.skip(), _status("先选知识库和文件 · Pick a base and files."), None
        report = basefiles.add_documents(
            self.library.get(name), paths,
            progress=lambda fraction, message: progress(fraction, desc=message))
        return (*self.files(name), panels.upload_report_html(report), None)

    def _change(self, verb: str, name: str, file: str, progress: gr.Progress) -> tuple[Any, ...]:
        if not name or not file:
            return gr.skip(), gr.skip(), _status("先选文件 · Pick a file first.")
        progress(0.2, desc=f"{verb} {file}: 重建索引 re-indexing")
        try:
            change = basefiles.remove_file if verb == "remove" else basefiles.reparse_file
            change(self.library.get(name), file)
        except (RAGError, OSError) as exc:
            log.warning("%s %s in %s failed: %s", verb, file, name, exc)
            return (*self.files(name), _status(f"{verb} {file} failed; the index is unchanged "
                                               f"({_error_message(exc)})"))
        done = "已删除 removed" if verb == "remove" else "已重新解析 re-parsed"
        return (*self.files(name), _status(f"{done} {file}"))

    def remove(self, name: str, file: str, progress: gr.Progress = _PROGRESS,
               request: gr.Request | None = None) -> tuple[Any, ...]:
        self._admin(request)
        return self._change("remove", name, file, progress)

    def reparse(self, name: str, file: str, progress: gr.Progress = _PROGRESS,
                request: gr.Request | None = None) -> tuple[Any, ...]:
        self._admin(request)
        return self._change("reparse", name, file, progress)

    def download(self, name: str, file: str) -> tuple[Any, str]:
        """The original file, served only from inside the base's corpus folder."""
        try:
            return str(basefiles.corpus_file(self.library.get(name), file)), ""
        except (RAGError, OSError) as exc:
            return None, _status(exc)


def _status(message: object) -> str:
    text = _error_message(message) if isinstance(message, Exception) else str(message)
    return f'<div class="rag-kb-status">{text_html(text)}</div>'


def build_panel(h: KBChat) -> None:
    """The knowledge-base selector and manager, laid out where it is called in ``build_app``."""
    names = h.library.names()
    with gr.Row(equal_height=False):
        select = gr.Dropdown(names, value=h.initial, multiselect=True, scale=2,
                             label="知识库 · Knowledge base(s) to ask", elem_id="kb-select")
        info = gr.HTML(h.selection_html(h.initial), elem_id="kb-info", js_on_load=None)
    with gr.Accordion("知识库管理 · Manage knowledge bases", open=False, elem_id="kb-manage"):
        with gr.Row():
            manage = gr.Dropdown(names, value=h.initial[0], label="知识库 · Base",
                                 elem_id="kb-base")
            new_name = gr.Textbox(label="新知识库名称 · New base name", elem_id="kb-new-name")
            create = gr.Button("创建 · Create", elem_id="kb-create")
        with gr.Row():
            confirm = gr.Checkbox(False, label="确认删除 · confirm", elem_id="kb-confirm")
            delete = gr.Button("删除知识库 · Delete base", variant="stop", elem_id="kb-delete")
        table = gr.HTML(lambda: h.files(h.initial[0])[0], elem_id="kb-files", js_on_load=None)
        with gr.Row():
            upload = gr.File(label="上传文件 · Upload files", file_count="multiple",
                             type="filepath", elem_id="kb-upload")
            add = gr.Button("上传并索引 · Upload and index", elem_id="kb-add")
        with gr.Row():
            pick = gr.Dropdown([], label="文件 · File", elem_id="kb-file")
            remove = gr.Button("删除文件 · Delete file", elem_id="kb-file-delete")
            reparse = gr.Button("重新解析 · Re-parse", elem_id="kb-file-reparse")
            download = gr.Button("下载原件 · Download original", elem_id="kb-file-download")
        original = gr.File(label="原件 · Original", interactive=False, elem_id="kb-original")
        status = gr.HTML("", elem_id="kb-status", js_on_load=None)

    private = {"api_visibility": "private"}
    select.change(h.select, select, info, **private)
    manage.change(h.files, manage, [table, pick], **private)
    create.click(h.create, new_name, [select, manage, table, pick, status, new_name], **private)
    delete.click(h.delete_base, [manage, confirm], [select, manage, table, pick, status, confirm],
                 **private)
    add.click(h.upload_to, [manage, upload], [table, pick, status, upload], **private)
    remove.click(h.remove, [manage, pick], [table, pick, status], **private)
    reparse.click(h.reparse, [manage, pick], [table, pick, status], **private)
    download.click(h.download, [manage, pick], [original, status], **private)
