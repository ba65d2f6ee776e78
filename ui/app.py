"""The Gradio chat UI: a thin wrapper around the ``RAG`` object it is given.

``build_app(rag)`` lays out the page and wires its events to ``ChatHandlers``, which call the
library and return HTML made by ``ui.render`` and ``ui.panels``; ``ui.serve`` starts it. Nothing
leaves the machine: analytics off, the theme's fonts served locally, no share link.
"""

from __future__ import annotations

import logging  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import gradio as gr  # noqa: E402

from rag.answerers import SELECTABLE  # noqa: E402
from rag.documents import SUPPORTED_SUFFIXES  # noqa: E402
from ui import assets, endpoints, panels  # noqa: E402
from ui.handlers import ChatHandlers
from ui.saved import SavedChats

if TYPE_CHECKING:
    from collections.abc import Callable

    from rag.conversations import ConversationStore
    from rag.multi import Library
    from rag.pipeline import RAG

log = logging.getLogger(__name__)

CONCURRENCY = 4
MAX_TOP_K = 20
EXAMPLES = [
    "兖州区正在培育哪三个千亿级产业？",
    "济宁市绿色低碳高质量发展大会由谁主持？",
    "太阳纸业的董事长是谁？",
    "自动浇注生产线的照片是谁拍的？",
]
def build_app(rag: RAG, library: Library | None = None, *,
              is_admin: Callable[[str | None], bool] = lambda _: True,
              store: ConversationStore | None = None) -> gr.Blocks:
    """The chat page for ``rag``; start it with ``ui.serve`` (which adds the script and styles).

    With a ``library`` (``rag.multi.Library``) the page also selects and manages knowledge
    bases; ``is_admin(username)`` says who may upload, re-index and manage bases; ``store``
    keeps conversations."""
    from ui import bases
    h = (ChatHandlers(rag, is_admin) if library is None
         else bases.KBChat(rag, library, is_admin))
    saved = SavedChats(rag, store) if store else None
    choices = list(dict.fromkeys([rag.settings.llm, *SELECTABLE]))
    with gr.Blocks(title="文档问答 · RAG chat", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        turns = gr.State([])
        gr.HTML("<h2 style='margin:0'>文档问答 · Ask your documents</h2>"
                "<p class='rag-hint'>答案中的每一句都标有来源 [n]，点击即可核对原文段落。"
                "Every sentence cites its source [n]; click it to check the paragraph.</p>")
        if isinstance(h, bases.KBChat):
            bases.build_panel(h)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="对话 · Conversation", elem_id="chat", height=430,
                    latex_delimiters=[],
                    feedback_options=("Like", "Dislike") if saved else None, sanitize_html=True,
                    buttons=["copy", "copy_all"],
                    placeholder="用中文或英文提问 · Ask in Chinese or English",
                )
                with gr.Row():
                    question = gr.Textbox(
                        show_label=False, elem_id="question", scale=6, lines=1, max_lines=4,
                        placeholder="输入问题，按 Enter 发送 · Type a question, press Enter",
                        autofocus=True,
                    )
                    send = gr.Button("发送 Send", variant="primary", elem_id="send", scale=1,
                                     min_width=90)
                    stop = gr.Button("停止 Stop", variant="stop", elem_id="stop", scale=1,
                                     min_width=90)
                    clear = gr.Button("清空 Clear", elem_id="clear", scale=1, min_width=90)
                gr.Examples(EXAMPLES, inputs=question, label="示例问题 · Example questions")
                with gr.Accordion("设置 · Settings", open=False, elem_id="settings"):
                    with gr.Row():
                        top_k = gr.Slider(1, MAX_TOP_K, value=rag.settings.top_k, step=1,
                                          label="检索段落数 · top-k", elem_id="top-k")
                        answerer = gr.Dropdown(choices, value=rag.settings.llm,
                                               label="回答方式 · Answerer", elem_id="answerer")
                        model = gr.Textbox(
                            "" if rag.settings.llm == "extractive" else rag.settings.llm_model,
                            interactive=rag.settings.llm != "extractive",
                            placeholder=panels.model_label(rag.settings.llm, ""),
                            label="模型 · Model (RAG_LLM_MODEL)", elem_id="model")
                with gr.Accordion(f"文档 · Documents (上传 upload {' '.join(SUPPORTED_SUFFIXES)})",
                                  open=False, elem_id="documents"):
                    files = gr.File(label="选择文件 · Choose files", file_count="multiple",
                                    type="filepath", elem_id="upload")
                    add = gr.Button("加入索引 · Add to index", elem_id="add-docs")
                    report = gr.HTML("", elem_id="upload-report", js_on_load=None)
                panel = saved.layout() if saved else None
            with gr.Column(scale=2):
                sources = gr.HTML(panels.SOURCES_PLACEHOLDER, elem_id="sources-panel",
                                  js_on_load=None)
                doc_view = gr.HTML(panels.DOC_PLACEHOLDER, elem_id="doc-view", js_on_load=None)
        footer = gr.HTML(h.footer(), elem_id="rag-footer", js_on_load=None)
        action = gr.Textbox(visible="hidden", elem_id="rag-action")
        act = gr.Button("act", visible="hidden", elem_id="rag-act")

        chat = gr.on(
            [question.submit, send.click], h.chat, [question, turns, top_k, answerer, model],
            [question, turns, chatbot, sources], trigger_mode="once", show_progress="hidden",
            api_visibility="private",
        )
        stop.click(h.stop, turns, [turns, chatbot], api_visibility="private")
        for cleared in (clear.click, chatbot.clear):  # the button and the chat's trash icon
            cleared(h.clear, None, [turns, chatbot, sources, doc_view, question],
                    api_visibility="private")
        act.click(h.act, [action, turns], [sources, doc_view], js=assets.ACTION_JS,
                  show_progress="hidden", api_visibility="private",
                  ).then(None, js=assets.SCROLL_JS)
        answerer.change(h.model, answerer, model, api_visibility="private")
        add.click(h.upload, files, [report, footer, files], api_visibility="private")
        if saved:
            h.on_answer = saved.save  # saved by the chat itself, not by a follow-up event
            saved.connect(demo, panel, turns=turns, chatbot=chatbot, sources=sources,
                          doc_view=doc_view, chat=chat, clears=[clear.click, chatbot.clear])
        endpoints.add_api(rag, h.limiter, library, is_admin)
    return demo
