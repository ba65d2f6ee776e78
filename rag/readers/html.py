"""HTML -> the page's main text, one block per paragraph, boilerplate dropped.

Library: Beautiful Soup 4 with Python's own ``html.parser`` (pure Python, tolerant of broken
markup, long maintained). trafilatura, the usual main-text extractor, was tried first: it pulls
in about ten packages (dateparser, babel, justext, htmldate, courlan, ...) and then failed to
import here (it needs lxml.html.clean, which left lxml). The rules below are small, predictable
and tested:

* scripts, styles, forms, ``nav``/``aside``/``menu``, hidden elements and ARIA landmarks for
  navigation, banners, footers and search are dropped; so are elements whose class or id names
  them as navigation, sidebars, share bars, ads, comments or copyright lines (unless they hold
  most of the page's text);
* the main text is ``<main>`` (or ``role="main"``), else the ``<article>`` with the most text,
  else ``<body>`` without its page ``<header>``/``<footer>``;
* block elements become paragraphs; ``<br>`` breaks a line; a table row becomes one line with
  its cells joined by " | ". Text is plain text: markup inside it is never interpreted.
"""

from __future__ import annotations

import re

from rag.readers.base import Extracted, ReadError, missing_library, paragraph_lines
from rag.readers.text import UNDECODABLE, decode_bytes

_DROP = ("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed",
         "form", "button", "select", "input", "textarea", "nav", "aside", "menu", "dialog", "head")
_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu",
               "menubar", "dialog", "alert"}
_BOILERPLATE = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|menu|sidebar|breadcrumbs?|share|social|ads?|advert\w*|cookies?|"
    r"comments?|footer|copyright|related|toolbar|skip)(?:$|[-_\s])",
    re.IGNORECASE,
)
_BLOCKS = {"p", "div", "section", "article", "main", "header", "footer", "li", "ul", "ol", "dl",
           "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figure", "figcaption",
           "caption", "address", "details", "summary", "hr", "center", "body", "html"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
# Source line breaks between two CJK characters are not spaces in Chinese text.
_CJK_BREAK = re.compile(rf"(?<=[{_CJK}])[ \t\r]*\n\s*(?=[{_CJK}])")
_LEGACY = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "big5hkscs"}
# Browsers stop nesting at about this depth too; deeper markup is broken or hostile.
MAX_DEPTH = 512


def read_html(data: bytes) -> Extracted:
    try:
        from bs4 import BeautifulSoup
    except ImportError as exc:
        raise missing_library("beautifulsoup4", "HTML") from exc
    markup, encoding = _decode(data)
    soup = BeautifulSoup(markup, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    _drop_boilerplate(soup)
    root, skip = _main_element(soup)
    blocks = _Walker(skip).walk(root)
    if title and root.find("h1") is None:
        blocks.insert(0, title)
    text = paragraph_lines(blocks)
    if not text:
        raise ReadError("no main text in the HTML page (only markup, scripts or navigation)")
    return Extracted(text=text, kind="html", encoding=encoding)


def _decode(data: bytes) -> tuple[str, str]:
    """The declared charset when it decodes cleanly, else the usual text detection."""
    declared = _META_CHARSET.search(data[:4096])
    if declared and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        name = declared.group(1).decode("ascii", "replace").lower()
        name = _LEGACY.get(name, name)
        try:
            return data.decode(name), name
        except (LookupError, UnicodeDecodeError):
            pass
    decoded = decode_bytes(data)
    if decoded is None:
        raise ReadError(UNDECODABLE)
    return decoded


def _drop_boilerplate(soup) -> None:
    """Remove boilerplate elements, visiting each element once (never inside a removed one)."""
    from bs4 import Tag

    total = sum(len(s) for s in soup.find_all(string=True) if s.parent.name not in _DROP)
    stack = [(soup, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ReadError(f"the HTML is nested more than {MAX_DEPTH} elements deep; not read")
        for child in list(node.children):
            if not isinstance(child, Tag):
                continue
            if _boilerplate(child, total):
                child.extract()
            else:
                stack.append((child, depth + 1))


def _boilerplate(tag, total: int) -> bool:
    if tag.name in _DROP:
        return True
    if tag.name in ("html", "body", "main", "article"):
        return False
    if _hidden(tag) or (tag.get("role") or "").lower() in _DROP_ROLES:
        return True
    return _named_boilerplate(tag) and len(tag.get_text()) < 0.3 * total


def _hidden(tag) -> bool:
    style = re.sub(r"\s+", "", str(tag.get("style") or "")).lower()
    return (tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).lower() == "true"
            or "display:none" in style or "visibility:hidden" in style)


def _named_boilerplate(tag) -> bool:
    classes = tag.get("class") or []
    names = " ".join([*classes, str(tag.get("id") or "")]).strip()
    return bool(names) and bool(_BOILERPLATE.search(names))


def _main_element(soup):
    """The element holding the main text, and the tags to leave out inside it."""
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if main is not None:
        return main, frozenset()
    articles = soup.find_all("article")
    if articles:
        return max(articles, key=lambda a: len(a.get_text(strip=True))), frozenset()
    return soup.body or soup, frozenset({"header", "footer"})  # the page's own header/footer


class _Walker:
    """Collects the text of block elements as separate blocks, in document order."""

    def __init__(self, skip: frozenset[str]) -> None:
        self.skip = skip
        self.blocks: list[str] = []
        self.buffer: list[str] = []

    def walk(self, root) -> list[str]:
        from bs4 import NavigableString, Tag

        # An explicit stack: deep nesting must not hit Python's recursion limit.
        stack = [(iter(root.children), False)]
        while stack:
            child = next(stack[-1][0], None)
            if child is None:
                if stack.pop()[1]:
                    self._flush()
            elif isinstance(child, Tag):
                if self._take(child):
                    is_block = child.name in _BLOCKS
                    if is_block:
                        self._flush()
                    stack.append((iter(child.children), is_block))
            elif type(child) is NavigableString:  # not comments, doctypes or CDATA
                self.buffer.append(re.sub(r"\s+", " ", _CJK_BREAK.sub("", str(child))))
        self._flush()
        return self.blocks

    def _take(self, tag) -> bool:
        """Handle ``tag`` whole and return False, or return True to descend into it."""
        if tag.name in self.skip:
            return False
        if tag.name == "br":
            self.buffer.append("\n")
        elif tag.name == "table":
            self._flush()
            self.blocks.extend(_table_rows(tag))
        elif tag.name == "pre":
            self._flush()
            self.blocks.append(tag.get_text())
        else:
            return True
        return False

    def _flush(self) -> None:
        text = "".join(self.buffer)
        self.buffer = []
        if text.strip():
            self.blocks.append(text)


def _table_rows(table) -> list[str]:
    rows = []
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue  # a nested table's rows appear inside their cell's text
        cells = [c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"], recursive=False)]
        if any(cells):
            rows.append(" | ".join(cells))
    caption = table.find("caption")
    if caption is not None and caption.get_text(strip=True):
        rows.insert(0, caption.get_text(" ", strip=True))
    return rows
