"""The chat UI end to end in headless Chromium (Playwright), offline, over the real seeds.

Needs Debian's chromium and a CJK font: ``apt-get install -y chromium fonts-noto-cjk``.
Never ``playwright install``: the browser is /usr/bin/chromium. The app runs in-process on a
free 127.0.0.1 port; every request to another host is aborted and fails the test.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from rag.answerers.extractive import ExtractiveAnswerer
from rag.schema import Answer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
INSTALL = "run `apt-get install -y chromium fonts-noto-cjk`"
SEEDS = Path(__file__).resolve().parents[2] / "seeds"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
XSS_DOC = f"""# 网页安全测试

这是一段用于检验网页转义的测试文字：{SCRIPT} 脚本标签必须原样显示为文字。

图片标签 {IMG} 同样必须显示为文字，不能执行。
"""
Q_INDUSTRIES = "兖州区正在培育哪三个千亿级产业？"
Q_CHAIRMAN = "太阳纸业的董事长是谁？"
Q_PHOTO = "自动浇注生产线的照片是谁拍的？"
WAIT = 30_000  # ms; the first question also warms the retriever up

# Known noise from Gradio's queue under pandas 3 (shared/docs/browser-testing.md, pitfall 6).
pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:Warning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:Warning")]

# Times the newest answer bubble in the page: its first streamed text and its final form.
TIMER_JS = """
() => {
  const chat = document.querySelector('#chat');
  const before = chat.querySelectorAll('.rag-answer').length;
  const t = window.__ragTimes = {start: performance.now()};
  const check = () => {
    const bubble = chat.querySelectorAll('.rag-answer')[before];
    if (!bubble) return;
    const text = bubble.querySelector('.rag-text');
    const shown = text && !text.querySelector('.rag-wait') &&
      text.textContent.replace('▍', '').trim();
    if (shown && t.first === undefined) t.first = performance.now() - t.start;
    if (bubble.classList.contains('rag-final')) {
      t.full = performance.now() - t.start;
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(chat, {subtree: true, childList: true, characterData: true});
}
"""


class PacedAnswerer(ExtractiveAnswerer):
    """The extractive answer streamed in ten pieces 0.2 s apart, the way an LLM streams."""

    name = "paced"

    def stream(self, evidence):
        final = [x for x in super().stream(evidence) if isinstance(x, Answer)][-1]
        step = max(1, -(-len(final.text) // 10))
        for start in range(0, len(final.text), step):
            time.sleep(0.2)
            yield final.text[start:start + step]
        yield final


def _require_browser() -> None:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium is missing at {CHROMIUM}; {INSTALL}", pytrace=False)
    fc_list = shutil.which("fc-list")
    fonts = subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout \
        if fc_list else ""
    if not fonts.strip():
        pytest.fail(f"no CJK font (fc-list :lang=zh is empty), Chinese would show as boxes; "
                    f"{INSTALL}", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(rag):
    from ui.app import build_app
    from ui.serve import launch

    demo = build_app(rag)
    return demo, launch(demo, host="127.0.0.1", port=_free_port())


def _say(request, line: str) -> None:
    """Print a measurement even under pytest -q (captured output would hide it)."""
    plugins = request.config.pluginmanager
    with plugins.getplugin("capturemanager").global_and_fixture_disabled():
        plugins.getplugin("terminalreporter").write_line(line)


def _bare(text: str) -> str:
    return re.sub(r"\[\d+\]|\s", "", text)


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def seed_url(seed_rag):
    demo, url = _serve(seed_rag)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def tmp_rag(tmp_path_factory, seed_index):
    """A RAG over a copy of the seeds plus an XSS document, streaming through PacedAnswerer."""
    from rag.pipeline import RAG

    root = tmp_path_factory.mktemp("ui-corpus")
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(SEEDS, corpus)
    (corpus / "xss.md").write_text(XSS_DOC, encoding="utf-8")
    shutil.copytree(seed_index, index)  # the rebuild then embeds only xss.md
    return RAG(index_dir=index, corpus_dir=corpus, llm=PacedAnswerer()).open()


@pytest.fixture(scope="module")
def tmp_url(tmp_rag):
    demo, url = _serve(tmp_rag)
    yield url
    demo.close()


@pytest.fixture
def open_page(browser):
    """Opens the app in a fresh context (its own session) that may reach only 127.0.0.1."""
    contexts, external = [], []

    def block(route):
        external.append(route.request.url)
        route.abort()

    def open_(url: str) -> Page:
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860})
        contexts.append(context)
        context.route(lambda u: not u.startswith("http://127.0.0.1"), block)
        page = context.new_page()
        page.goto(url)
        expect(page.locator("#question textarea")).to_be_visible(timeout=WAIT)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert external == [], f"the page tried to reach other hosts: {external}"


def _ask(page: Page, question: str) -> None:
    page.evaluate(TIMER_JS)
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def _answered(page: Page, count: int):
    """The ``count``-th final answer bubble (1-based), once it is there."""
    finals = page.locator("#chat .rag-final")
    expect(finals).to_have_count(count, timeout=WAIT)
    return finals.nth(count - 1)


def _times(page: Page) -> tuple[float, float]:
    t = page.evaluate("() => window.__ragTimes")
    return t["first"], t["full"]


def _assert_not_blank(png: Path) -> None:
    pixels = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
    background = np.bincount(pixels.astype(np.uint8).ravel()).argmax()
    inked = float((np.abs(pixels - background) > 40).mean())
    assert pixels.shape[0] > 600 and pixels.std() > 10 and inked > 0.02, (
        f"screenshot looks blank: std {pixels.std():.1f}, {inked:.1%} pixels differ")


def test_cited_answer_opens_its_paragraph_and_document(open_page, seed_url, seed_rag,
                                                       tmp_path, request):
    expected = seed_rag.ask(Q_INDUSTRIES)
    cited = expected.citations[0]
    page = open_page(seed_url)

    _ask(page, Q_INDUSTRIES)
    first = _answered(page, 1)
    expect(first.locator(".rag-text")).to_contain_text(cited.quote[:20])
    expect(first.locator("a.rag-cite")).to_have_count(len({c.n for c in expected.citations}))
    first_ms, full_ms = _times(page)
    _ask(page, Q_CHAIRMAN)  # a second turn: the panel now shows its sources
    _answered(page, 2)
    warm_first_ms, warm_full_ms = _times(page)
    expect(page.locator("#sources-panel .rag-asked")).to_contain_text(Q_CHAIRMAN)
    _say(request, f"[browser] extractive, seeds: first token {first_ms:.0f} ms / full answer "
                  f"{full_ms:.0f} ms (cold); {warm_first_ms:.0f} / {warm_full_ms:.0f} ms (warm)")

    first.locator("a.rag-cite").first.click()  # a citation of the first answer
    card = page.locator("#sources-panel .rag-source.rag-active")
    expect(card).to_have_attribute("id", "src-0-1")
    expect(page.locator("#sources-panel .rag-asked")).to_contain_text(Q_INDUSTRIES)
    expect(card.locator(".rag-doc")).to_have_text(cited.doc)
    expect(card.locator(".rag-para-no")).to_have_text(f"段落 ¶{cited.paragraph}")
    expect(card.locator(".rag-lines")).to_contain_text(str(cited.lines[0]))
    expect(card.locator("mark")).to_have_text(cited.quote)
    assert _bare(card.locator(".rag-para").inner_text()) == _bare(cited.text)
    expect(card.locator(".rag-score")).to_contain_text(f"{cited.score:.3f}")
    expect(card).to_be_in_viewport()

    card.locator("button.rag-open").click()
    target = page.locator("#doc-view .rag-target")
    expect(target).to_have_attribute("id", f"doc-p-{cited.paragraph}")
    expect(target.locator("mark")).to_have_text(cited.quote)
    expect(page.locator("#doc-view .rag-doc-para")).to_have_count(
        len(seed_rag.document(cited.doc)))
    expect(target).to_be_in_viewport()

    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot), full_page=True)
    _assert_not_blank(shot)
    _say(request, f"[browser] screenshot: {shot} ({shot.stat().st_size // 1024} KiB)")


def test_abstention_shows_related_passages_not_sources(open_page, seed_url, seed_rag):
    question = "火星上有几个人？"
    expected = seed_rag.ask(question)
    assert expected.abstained and expected.related
    page = open_page(seed_url)
    _ask(page, question)
    bubble = _answered(page, 1)
    expect(bubble).to_have_class(re.compile(r"\brag-abstained\b"))
    expect(bubble).to_contain_text("未找到答案")
    expect(bubble.locator("a.rag-cite")).to_have_count(0)
    panel = page.locator("#sources-panel")
    expect(panel).to_contain_text("Related passages, not sources")
    expect(panel.locator(".rag-related-item")).to_have_count(len(expected.related))
    expect(panel.locator("mark")).to_have_count(0)
    panel.locator("button.rag-open").first.click()
    expect(page.locator("#doc-view .rag-target")).to_have_attribute(
        "id", f"doc-p-{expected.related[0].paragraph}")

    english = "Who took the photo of the automatic pouring line?"
    _ask(page, english)
    expect(_answered(page, 2).locator(".rag-text")).to_contain_text(
        re.sub(r"\[\d+\]", "", seed_rag.ask(english).text)[:30])


def test_streaming_stop_and_clear(open_page, tmp_url, request):
    page = open_page(tmp_url)
    _ask(page, Q_PHOTO)
    streaming = page.locator("#chat .rag-streaming .rag-text")
    expect(streaming).not_to_have_text(re.compile(r"^\s*(检索中… searching)?▍?\s*$"),
                                       timeout=WAIT)
    partial = streaming.inner_text()
    final = _answered(page, 1).locator(".rag-text").inner_text()
    assert 0 < len(partial.strip("▍ ")) < len(final)
    first_ms, full_ms = _times(page)
    assert full_ms - first_ms > 1000  # pieces arrived over time, not all at the end
    _say(request, f"[browser] paced stream (10 pieces, 0.2 s apart): first token "
                  f"{first_ms:.0f} ms, full answer {full_ms:.0f} ms")

    _ask(page, Q_PHOTO)
    expect(streaming).not_to_have_text(re.compile(r"^\s*(检索中… searching)?▍?\s*$"),
                                       timeout=WAIT)
    page.locator("#stop").click()
    expect(page.locator("#chat .rag-stopped")).to_contain_text("已停止")
    page.wait_for_timeout(2500)  # longer than the rest of the stream would take
    expect(page.locator("#chat .rag-final")).to_have_count(1)
    expect(page.locator("#chat .rag-streaming")).to_have_count(0)

    page.locator("#clear").click()
    expect(page.locator("#chat .rag-answer")).to_have_count(0)
    expect(page.locator("#sources-panel")).to_contain_text("After you ask")


def test_markup_in_documents_shows_as_text(open_page, tmp_url):
    page = open_page(tmp_url)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _ask(page, "脚本标签必须怎样显示？")
    bubble = _answered(page, 1)
    expect(bubble).to_contain_text(SCRIPT)
    panel = page.locator("#sources-panel")
    expect(panel.locator(".rag-source.rag-active .rag-doc")).to_have_text("xss.md")
    expect(panel.locator("mark")).to_contain_text(SCRIPT)
    panel.locator(".rag-source.rag-active button.rag-open").click()
    view = page.locator("#doc-view")
    expect(view.locator(".rag-target")).to_have_attribute("id", "doc-p-1")
    expect(view).to_contain_text(SCRIPT)
    expect(view).to_contain_text(IMG)
    page.wait_for_timeout(500)  # time for an onerror handler to have fired
    rendered = "#chat .rag-answer, #sources-panel, #doc-view"
    assert page.locator(f":is({rendered}) :is(script, img)").count() == 0
    assert dialogs == []


def test_bad_upload_is_refused_and_the_index_kept(open_page, tmp_url, tmp_rag, tmp_path):
    corpus_before = sorted(p.name for p in tmp_rag.corpus_dir.iterdir())
    files_before = dict(tmp_rag.manifest["files"])
    bad = {"binary.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 40,
           "empty.md": b"",
           "photo.heic": b"\x00\x00\x00\x18ftypheic",
           "slides.pdf": b"%PDF-1.4\n1 0 obj\n"}
    paths = []
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))

    page = open_page(tmp_url)
    footer = page.locator("#rag-footer")
    expect(footer).to_contain_text(f"{len(files_before)} 文档 documents")
    page.get_by_text("文档 · Documents").click()
    page.locator("#upload input[type=file]").set_input_files(paths)
    for name in bad:  # uploaded to the server, listed by the file box
        expect(page.locator("#upload").get_by_role("cell", name=name, exact=True)).to_be_visible()
    page.locator("#add-docs").click()
    report = page.locator("#upload-report")
    expect(report).to_contain_text("index is unchanged", timeout=WAIT)
    for name, reason in [("binary.txt", "binary or undecodable"), ("empty.md", "empty"),
                         ("photo.heic", "unsupported file type (.heic)"),
                         ("slides.pdf", "not a readable PDF")]:
        expect(report.locator("li", has_text=name)).to_contain_text(reason)
    expect(footer).to_contain_text(f"{len(files_before)} 文档 documents")
    assert sorted(p.name for p in tmp_rag.corpus_dir.iterdir()) == corpus_before
    assert tmp_rag.manifest["files"] == files_before

    _ask(page, Q_CHAIRMAN)  # the index still answers
    expect(_answered(page, 1).locator("a.rag-cite")).not_to_have_count(0)


def test_tabs_and_api_clients_each_get_their_own_answer(open_page, seed_url, seed_rag,
                                                        request):
    from gradio_client import Client

    questions = [Q_INDUSTRIES, Q_CHAIRMAN]
    tabs = [open_page(seed_url) for _ in questions]
    for tab, question in zip(tabs, questions, strict=True):
        _ask(tab, question)  # both are in flight together
    for tab, question in zip(tabs, questions, strict=True):
        answer = seed_rag.ask(question)
        expect(_answered(tab, 1)).to_contain_text(answer.citations[0].quote[:20])
        expect(tab.locator("#sources-panel .rag-asked")).to_contain_text(question)

    api = Client(seed_url, verbose=False).view_api(return_format="dict", print_info=False)
    assert list(api["named_endpoints"]) == ["/ask", "/reindex"]
    params = [p["parameter_name"] for p in api["named_endpoints"]["/ask"]["parameters"]]
    assert params == ["question", "top_k"]
    with pytest.raises(Exception, match="the question is empty"):
        Client(seed_url, verbose=False).predict(question="   ", top_k=3, api_name="/ask")

    results: dict[str, dict] = {}
    spans: dict[str, tuple[float, float]] = {}
    barrier = threading.Barrier(len(questions))

    def call(question: str) -> None:
        client = Client(seed_url, verbose=False)
        barrier.wait()
        start = time.perf_counter()
        results[question] = client.predict(question=question, top_k=3, api_name="/ask")
        spans[question] = (start, time.perf_counter())

    threads = [threading.Thread(target=call, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == sorted(questions)
    for question in questions:
        expected = seed_rag.ask(question, 3).to_dict()
        got = results[question]
        assert set(got) == set(expected)
        assert {k: v for k, v in got.items() if k != "timings"} == {
            k: v for k, v in expected.items() if k != "timings"}
        assert len(got["related"]) <= 3
    overlap = min(e for _, e in spans.values()) - max(s for s, _ in spans.values())
    _say(request, "[api] two concurrent /ask calls: " + ", ".join(
        f"{e - s:.2f} s" for s, e in spans.values()) + f"; overlapping {overlap:.2f} s")
