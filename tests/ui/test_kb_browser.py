"""Knowledge bases on the page, in headless Chromium: create a base, upload a file and watch the
file list update, ask it, switch bases, ask several at once, delete the base.

Same recipe as ``test_ui_browser.py`` (Debian's chromium, every non-local request aborted).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from test_ui_browser import CHROMIUM, CHROMIUM_ARGS, WAIT, _free_port, _require_browser

from rag.bases import Registry
from rag.multi import Library

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:Warning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:Warning")]

HOTEL = "白云酒店的总经理是李华。白云酒店成立于1998年，位于泰安。\n\n白云酒店共有客房三百间。"
Q_HOTEL = "白云酒店的总经理是谁？"
Q_SEEDS = "兖州区委书记叫什么名字？"


@pytest.fixture
def app(seed_rag, tmp_path):
    from ui.app import build_app
    from ui.serve import launch

    library = Library(Registry(tmp_path / "bases"), default=seed_rag)
    demo = build_app(seed_rag, library)
    url = launch(demo, host="127.0.0.1", port=_free_port())
    yield url, library
    demo.close()
    library._rags.pop("default", None)  # the session's seed RAG stays open for other tests
    library.close()


@pytest.fixture
def page(app):
    _require_browser()
    external: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
        context.route(lambda u: not u.startswith("http://127.0.0.1"),
                      lambda route: external.append(route.request.url) or route.abort())
        page = context.new_page()
        page.goto(app[0])
        expect(page.locator("#question textarea")).to_be_visible(timeout=WAIT)
        yield page
        context.close()
        browser.close()
    assert external == [], f"the page tried to reach other hosts: {external}"


def _choose(page: Page, names: list[str]) -> None:
    """Make ``names`` the knowledge bases to ask (the multiselect's tokens)."""
    select = page.locator("#kb-select")
    while select.locator(".token").count():
        select.locator(".token .token-remove").first.click()
    for name in names:
        select.locator("input").click()
        page.get_by_role("option", name=name, exact=True).click()
    page.keyboard.press("Escape")
    expect(select.locator(".token")).to_have_count(len(names))
    expect(page.locator("#kb-info")).to_contain_text(names[-1])


def _ask(page: Page, question: str, count: int):
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    finals = page.locator("#chat .rag-final")
    expect(finals).to_have_count(count, timeout=WAIT)
    return finals.nth(count - 1)


def test_create_upload_ask_switch_and_delete_a_base(page, app, tmp_path):
    _, library = app
    page.get_by_text("知识库管理 · Manage knowledge bases").click()
    page.locator("#kb-new-name textarea").fill("酒店库")
    page.locator("#kb-create").click()
    expect(page.locator("#kb-status")).to_contain_text("created 酒店库", timeout=WAIT)
    files = page.locator("#kb-files .rag-kb-files")
    expect(files).to_have_attribute("data-kb", "酒店库")
    expect(files).to_contain_text("No files yet")

    upload = tmp_path / "hotel.txt"
    upload.write_text(HOTEL, encoding="utf-8")
    page.locator("#kb-upload input[type=file]").set_input_files([str(upload)])
    expect(page.locator("#kb-upload").get_by_role("cell", name="hotel.txt", exact=True)
           ).to_be_visible(timeout=WAIT)
    page.locator("#kb-add").click()
    row = page.locator('#kb-files tr[data-file="hotel.txt"]')
    expect(row).to_contain_text("indexed", timeout=WAIT)
    expect(row.locator("td").nth(3)).to_have_text("1")  # chunks
    expect(page.locator("#kb-status")).to_contain_text("1 file(s) indexed")

    _choose(page, ["酒店库"])
    answer = _ask(page, Q_HOTEL, 1)
    expect(answer).to_contain_text("李华")
    expect(page.locator("#sources-panel .rag-doc").first).to_have_text("hotel.txt")
    expect(page.locator("#sources-panel .rag-kb").first).to_have_text("酒店库")

    _choose(page, ["default"])  # back to the seeds: no rebuild, the opened base is reused
    hotel_rag = library.get("酒店库")
    expect(_ask(page, Q_SEEDS, 2)).to_contain_text("王庆")
    assert library.get("酒店库") is hotel_rag

    _choose(page, ["default", "酒店库"])  # both at once
    expect(_ask(page, Q_HOTEL, 3)).to_contain_text("李华")

    from gradio_client import Client  # the /ask endpoint takes the base(s) by name

    got = Client(app[0], verbose=False).predict(question=Q_HOTEL, top_k=3, kb="default,酒店库",
                                                api_name="/ask")
    assert (got["citations"][0]["kb"], got["citations"][0]["doc"]) == ("酒店库", "hotel.txt")

    index = library.base("酒店库").index
    page.locator("#kb-delete").click()  # refused until confirmed
    expect(page.locator("#kb-status")).to_contain_text("confirm")
    assert index.is_dir()
    page.locator("#kb-confirm input").check()
    page.locator("#kb-delete").click()
    expect(page.locator("#kb-status")).to_contain_text("deleted 酒店库", timeout=WAIT)
    assert not index.exists() and library.names() == ["default"]
    page.locator("#kb-select input").click()
    expect(page.get_by_role("option", name="酒店库")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(_ask(page, Q_SEEDS, 4)).to_contain_text("王庆")  # the seeds still answer
    assert re.search(r"\d+ 文档 documents", page.locator("#rag-footer").inner_text())
