"""The signed-in page in headless Chromium: sign in, ask, reload, reopen the saved conversation,
rate an answer; another user sees none of it. Recipe as in tests/ui/test_ui_browser.py."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from serving.accounts import PASSWORDS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
QUESTION = "太阳纸业的董事长是谁？"
WAIT = 30_000
pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:Warning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:Warning")]


@pytest.fixture(scope="module")
def browser():
    from pathlib import Path

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium is missing at {CHROMIUM}; apt-get install -y chromium",
                    pytrace=False)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _sign_in(browser, url: str, user: str) -> Page:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.route(lambda u: not u.startswith("http://127.0.0.1"), lambda route: route.abort())
    page = context.new_page()
    page.goto(url)
    page.locator('input[data-testid="textbox"]').fill(user)  # labels follow the locale
    page.locator('input[type="password"]').fill(PASSWORDS[user])
    page.locator("button.primary").click()
    expect(page.locator("#question textarea")).to_be_visible(timeout=WAIT)
    return page


def _options(page: Page):
    page.locator("#conversations input").click()
    return page.get_by_role("option")


def test_conversations_persist_per_user_and_answers_can_be_rated(browser, server, seed_rag):
    expected = seed_rag.ask(QUESTION)
    page = _sign_in(browser, server.url, "alice")
    box = page.locator("#question textarea")
    box.fill(QUESTION)
    box.press("Enter")
    expect(page.locator("#chat .rag-final a.rag-cite")).not_to_have_count(0, timeout=WAIT)
    deadline = time.monotonic() + 10
    while not server.store.list("alice") and time.monotonic() < deadline:
        time.sleep(0.1)
    [saved] = server.store.list("alice")

    page.reload()  # the session's chat is gone; the saved conversation is listed
    expect(page.locator("#question textarea")).to_be_visible(timeout=WAIT)
    expect(page.locator("#chat .rag-final")).to_have_count(0)
    option = _options(page).filter(has_text=QUESTION)
    expect(option).to_have_count(1, timeout=WAIT)
    option.click()
    answer = page.locator("#chat .rag-final")
    expect(answer).to_have_count(1, timeout=WAIT)
    expect(answer.locator(".rag-text")).to_contain_text(expected.citations[0].quote[:20])
    # One link per marker in the text (two sentences of one paragraph both carry its [n]).
    expect(answer.locator("a.rag-cite")).to_have_count(len(re.findall(r"\[\d+\]",
                                                                      expected.text)))
    expect(page.locator("#sources-panel .rag-asked")).to_contain_text(QUESTION)
    expect(page.locator("#sources-panel mark").first).to_have_text(expected.citations[0].quote)

    page.locator("#feedback-comment textarea, #feedback-comment input").first.fill("不够具体")
    page.locator('#chat button[aria-label="Dislike"]').first.click()  # en-US labels
    expect(page.locator("#feedback-status")).to_contain_text("Feedback saved", timeout=WAIT)
    [rating] = [f for f in server.store.feedback() if f.user == "alice"]
    assert (rating.conversation, rating.position, rating.rating, rating.comment) == (
        saved.id, 0, -1, "不够具体")
    assert rating.answer.citations == expected.citations
    assert rating.generation == seed_rag.version

    other = _sign_in(browser, server.url, "bob")
    _options(other)
    other.wait_for_timeout(500)
    expect(other.get_by_role("option")).to_have_count(0)
    expect(other.locator("#conversations")).not_to_contain_text(re.compile(QUESTION))
    assert server.store.list("bob") == []
