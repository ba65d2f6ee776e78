"""The UI's pure parts: citation links, sources, document view, escaping, abstention, turns."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser

import pytest

from rag.schema import Answer, Citation, Paragraph, Passage
from rag.uploads import FileOutcome, UploadReport
from ui import panels, render, session
from ui.session import Action, Turn

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
EVIL = f"前言{SCRIPT}中段{IMG}结尾"
PARA = "第一句话。兖州区培育新能源、造纸包装、橡胶化工三个千亿级产业。第三句话。"
QUOTE = "兖州区培育新能源、造纸包装、橡胶化工三个千亿级产业。"


class _Tags(HTMLParser):
    """Collects start tags and their attributes, as a browser would see them."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def _citation(n: int = 1, *, doc: str = "a.txt", paragraph: int = 3, text: str = PARA,
              quote: str = QUOTE, lines: tuple[int, int] = (10, 11), score: float = 0.9
              ) -> Citation:
    return Citation(n=n, doc=doc, paragraph=paragraph, lines=lines, text=text, quote=quote,
                    score=score)


def _passage(doc: str = "b.txt", paragraph: int = 2, text: str = "相关的段落。") -> Passage:
    return Passage(chunk_id="c1", doc=doc, paragraph=paragraph, paragraphs=(paragraph,),
                   text=text, score=0.42, lines=(5, 7), rank=1)


def _answer(text: str = f"{QUOTE}[1]", citations: tuple[Citation, ...] | None = None,
            **kw) -> Answer:
    return Answer(question=kw.pop("question", "兖州区培育哪三个千亿级产业？"), text=text,
                  abstained=kw.pop("abstained", False),
                  citations=(_citation(),) if citations is None else citations, **kw)


def _assert_inert(markup: str) -> None:
    """No script or img element and no event-handler attribute anywhere in ``markup``."""
    parsed = _Tags(markup)
    assert not parsed.named("script") and not parsed.named("img"), markup
    for _, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), attrs


# -- answer bubble -------------------------------------------------------------------------------


def test_citation_markers_become_links_to_their_source():
    second = _citation(2, doc="b.txt", paragraph=7, quote="第三句话。", lines=(20, 20))
    html = render.answer_html(_answer(f"{QUOTE}[1]第三句话。[2]", (_citation(), second)), turn=4)
    links = _Tags(html).named("a")
    assert [a["href"] for a in links] == ["#rag:cite:4:1", "#rag:cite:4:2"]
    assert "b.txt · ¶7 · 行 20" in (links[1]["title"] or "")
    assert session.parse_action(links[1]["href"][len("#rag:"):]) == Action("cite", 4, 2)
    assert "rag-final" in html and "\n\n" not in html  # one HTML block for the chat's Markdown


def test_marker_without_a_citation_is_not_a_link():
    html = render.answer_html(_answer(f"{QUOTE}[1][9]"), turn=0)
    assert len(_Tags(html).named("a")) == 1
    assert 'class="rag-cite-missing"' in html and "[9]" in html


def test_answer_and_question_text_are_escaped():
    evil_quote = f"引用{SCRIPT}"
    citation = _citation(text=f"段落{evil_quote}和{IMG}", quote=evil_quote)
    answer = _answer(f"答{SCRIPT}[1]{IMG}\n换行", (citation,), question=EVIL)
    html = render.answer_html(answer, 0)
    _assert_inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<br>" in html
    title = _Tags(html).named("a")[0]["title"] or ""
    assert SCRIPT in title  # the parsed attribute holds the literal text, not markup
    _assert_inert(render.user_html(EVIL))
    assert "".join(_Tags(render.user_html(EVIL)).text) == EVIL


def test_abstention_is_shown_as_such_with_no_links():
    answer = _answer("抱歉，文档中没有找到这个问题的答案。", (), abstained=True,
                     related=(_passage(),), notice="abstained: weak match")
    html = render.answer_html(answer, 2)
    assert "rag-abstained" in html and "未找到答案" in html and "No answer" in html
    assert not _Tags(html).named("a")
    assert "abstained: weak match" in html and "related" in html


def test_notes_show_ungrounded_answers_and_invalid_citations():
    html = render.answer_html(_answer(grounded=False, invalid_citations=2, backend="openai",
                                      timings={"total_ms": 1234.0},
                                      rewritten_question=f"它{SCRIPT}是谁"), 0)
    _assert_inert(html)
    assert "not backed by the sources" in html and "2 invalid citation(s)" in html
    assert "searched as: 它&lt;script&gt;" in html
    assert "openai · 1.23 s" in html


# -- sources panel --------------------------------------------------------------------------------


def test_sources_panel_shows_paragraph_with_the_quote_highlighted():
    html = panels.sources_html(_answer(), turn=1)
    parsed = _Tags(html)
    card = parsed.named("li")[0]
    assert card["id"] == "src-1-1" and "rag-active" in (card["class"] or "")
    assert "a.txt" in html and "¶3" in html and "行 10–11" in html and "score 0.900" in html
    assert f"<mark>{QUOTE}</mark>" in html
    assert html.count("<mark>") == 1
    assert "第一句话。" in html and "第三句话。" in html  # the whole paragraph
    button = parsed.named("button")[0]
    assert button["data-rag-action"] == "open:1:c:1"


def test_quotes_from_one_paragraph_share_a_card_and_are_all_marked():
    two = (_citation(1, quote="第一句话。", lines=(10, 10)), _citation(1, quote="第三句话。",
                                                                     lines=(11, 11)))
    html = panels.sources_html(_answer("第一句话。[1]第三句话。[1]", two), turn=0)
    assert len(_Tags(html).named("li")) == 1
    assert "<mark>第一句话。</mark>" in html and "<mark>第三句话。</mark>" in html
    assert "行 10–11" in html


def test_clicked_citation_becomes_the_active_card():
    second = _citation(2, doc="b.txt", paragraph=7, quote="第三句话。")
    html = panels.sources_html(_answer(f"{QUOTE}[1]第三句话。[2]", (_citation(), second)),
                               turn=0, active=2)
    active = [li["id"] for li in _Tags(html).named("li") if "rag-active" in (li["class"] or "")]
    assert active == ["src-0-2"]


def test_sources_panel_escapes_document_text_and_names():
    citation = _citation(doc="<b>x</b>.txt", text=f"前{SCRIPT}后{IMG}", quote=SCRIPT)
    html = panels.sources_html(_answer("x[1]", (citation,)), 0)
    _assert_inert(html)
    assert "<mark>&lt;script&gt;alert(1)&lt;/script&gt;</mark>" in html
    assert "&lt;b&gt;x&lt;/b&gt;.txt" in html


def test_abstention_offers_related_passages_not_sources():
    related = (_passage(), _passage("c.txt", 9, f"含有{IMG}的段落"))
    answer = _answer("抱歉。", (), abstained=True, related=related)
    html = panels.sources_html(answer, turn=3)
    _assert_inert(html)
    assert "Related passages, not sources" in html and "来源 · Sources" not in html
    assert "<mark>" not in html
    actions = [b["data-rag-action"] for b in _Tags(html).named("button")]
    assert actions == ["open:3:r:0", "open:3:r:1"]
    assert "c.txt" in html and "¶9" in html and "行 5–7" in html and "score 0.420" in html


def test_sources_placeholder_before_any_question():
    assert panels.sources_html(None) == panels.SOURCES_PLACEHOLDER


# -- document view --------------------------------------------------------------------------------


def test_document_view_has_anchors_and_marks_the_target_paragraph():
    paragraphs = [Paragraph("a.txt", i, t, i * 2 + 1, i * 2 + 2)
                  for i, t in enumerate(["标题", PARA, f"脚本{SCRIPT}", QUOTE])]
    html = panels.document_html("a.txt", paragraphs, target=1, quotes=[QUOTE], key="open:0:c:1")
    parsed = _Tags(html)
    _assert_inert(html)
    ids = [p["id"] for p in parsed.named("p")]
    assert ids == ["doc-p-0", "doc-p-1", "doc-p-2", "doc-p-3"]
    targets = [p["id"] for p in parsed.named("p") if "rag-target" in (p["class"] or "")]
    assert targets == ["doc-p-1"]
    assert html.count("<mark>") == 1  # only in the target, though paragraph 3 holds the quote too
    assert parsed.named("div")[0]["data-view"] == "open:0:c:1"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "行 3–4" in html


def test_pages_are_shown_for_paged_formats():
    cited = panels.sources_html(_answer("x[1]", (replace(_citation(), page=4),)), 0)
    assert "a.txt</span> · 第 4 页 p.4 · " in cited
    assert "页" not in panels.sources_html(_answer(), 0)
    view = panels.document_html("a.pdf", [Paragraph("a.pdf", 0, "文字", 1, 2, page=2)], target=0)
    assert "第 2 页 p.2 · ¶0 · 行 1–2" in view


def test_document_view_of_a_document_no_longer_indexed():
    html = panels.document_html("gone.txt", [], target=0, key='x"><script>')
    _assert_inert(html)
    assert "no longer in the index" in html


@pytest.mark.parametrize("quotes, expected", [
    (["bc"], "a<mark>bc</mark>d&lt;e"),
    (["bc", "cd"], "a<mark>bcd</mark>&lt;e"),
    (["zz"], "abcd&lt;e"),
    (["d<e"], "abc<mark>d&lt;e</mark>"),
    ([""], "abcd&lt;e"),
])
def test_mark_quotes(quotes, expected):
    assert render.mark_quotes("abcd<e", quotes) == expected


# -- actions, turns, history ----------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("cite:0:1", Action("cite", 0, 1)),
    ("open:12:c:3", Action("open", 12, 3)),
    ("open:2:r:0", Action("open", 2, 0, related=True)),
    ("cite:a:1", None),
    ("open:1:x:1", None),
    ("cite:1:1;alert(1)", None),
    ("", None),
])
def test_parse_action(value, expected):
    assert session.parse_action(value) == expected


def test_chat_messages_follow_each_turn_status():
    answer = _answer()
    turns = [Turn("问一", answer.text, answer, "done"), Turn("问二", "半截", status="stopped"),
             Turn(f"问三{SCRIPT}", status="error", error=f"坏了{IMG}"), Turn("问四", "正在")]
    messages = render.chat_messages(turns)
    assert [m["role"] for m in messages] == ["user", "assistant"] * 4
    assert "#rag:cite:0:1" in messages[1]["content"]
    assert "已停止" in messages[3]["content"] and "半截" in messages[3]["content"]
    assert "rag-error" in messages[5]["content"]
    assert "rag-streaming" in messages[7]["content"] and "rag-cursor" in messages[7]["content"]
    for m in messages:
        _assert_inert(m["content"])


def test_stop_marks_only_a_streaming_turn():
    done = Turn("问", "答", _answer(), "done")
    assert session.stop_turns([done]) == [done]
    stopped = session.stop_turns([done, Turn("问二", "半")])
    assert stopped[-1].status == "stopped" and stopped[-1].text == "半"
    assert session.stop_turns([]) == []


def test_history_holds_finished_turns_only_as_plain_text():
    a1 = _answer("答一[1]")
    turns = [Turn("问一", a1.text, a1, "done"), Turn("问二", "半", status="stopped"),
             Turn("问三", status="error", error="x")]
    assert session.history_of(turns) == [{"role": "user", "content": "问一"},
                                        {"role": "assistant", "content": "答一[1]"}]
    many = [Turn(f"q{i}", "a", _answer("a"), "done") for i in range(8)]
    assert len(session.history_of(many, max_turns=3)) == 6
    assert session.history_of(many, max_turns=3)[0]["content"] == "q5"


# -- footer, settings, uploads --------------------------------------------------------------------


def test_footer_names_model_and_index():
    manifest = {"embed_model": "bundled:all-MiniLM-L6-v2", "documents": 2, "paragraphs": 54,
                "chunks": 52}
    html = panels.footer_html(manifest, "/tmp/<idx>")
    for part in ("bundled:all-MiniLM-L6-v2", "2 文档 documents", "54 段落", "52 片段 chunks",
                 "/tmp/&lt;idx&gt;"):
        assert part in html


def test_model_label():
    assert "none" in panels.model_label("extractive", "gpt-x")
    assert panels.model_label("openai", "gpt-4o-mini") == "gpt-4o-mini"
    assert "default" in panels.model_label("transformers", "")


def test_upload_report_names_each_file_and_reason():
    report = UploadReport((
        FileOutcome("好.md", "added", stored_as="好.md"),
        FileOutcome(f"{IMG}.txt", "refused", "binary or undecodable"),
        FileOutcome("dup.txt", "skipped", "already in the corpus", "dup.txt"),
    ))
    html = panels.upload_report_html(report)
    _assert_inert(html)
    assert "好.md" in html and "已添加 added" in html
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in html and "binary or undecodable" in html
    assert "rag-upload-error" in html
    failed = panels.upload_report_html(UploadReport(
        (FileOutcome("a.txt", "failed", "indexing failed (boom)"),), error="indexing failed"))
    assert "the index is unchanged" in failed
    nothing = panels.upload_report_html(UploadReport(()))
    assert "No files added" in nothing
