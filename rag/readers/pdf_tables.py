"""Ruled tables on text-layer PDF pages -> one line per row written with its header
("列名: 值；列名: 值", as spreadsheets are read), in place of the cell-by-cell jumble a text
layer gives.

Library: pdfplumber (MIT; pdfminer.six underneath, on pypdfium2 which OCR already needs), the
usual choice for table extraction: ``find_tables`` builds the cell grid from the page's ruling
lines. It parses a page far slower than pypdf, so only pages whose content stream draws lines
or rectangles (``has_rules``) are given to it; every other page keeps pypdf's text as it was.
The table's text is found in pypdf's lines as a run of lines that together hold exactly the
table's characters; when no such run is found the page is left as it was.
"""

from __future__ import annotations

import io
import logging
import re

from rag.readers.tables import table_rows

log = logging.getLogger(__name__)

# Path-painting operands then operator: "x y w h re" (rectangle) or "x y l" (line to).
_RULE = re.compile(rb"\d\s+(?:re|l)\s")
_SPACE = re.compile(r"\s+")
_CJK_BREAK = re.compile(r"(?<=[^\x00-\x7f])\s*\n\s*(?=[^\x00-\x7f])")


def has_rules(page) -> bool:
    """Whether a pypdf page draws at least four lines or rectangles (a grid needs them)."""
    try:
        contents = page.get_contents()
        data = contents.get_data() if contents is not None else b""
    except Exception:  # a damaged stream: the text layer is used as it is
        return False
    return len(_RULE.findall(data, 0, 4_000_000)) >= 4


def tables_as_rows(data: bytes, texts: list[str], pages: list[int]) -> None:
    """Rewrite ``texts[n]`` for each page ``n`` in ``pages`` on which pdfplumber finds ruled
    tables. Any failure leaves the text as pypdf gave it."""
    try:
        import pdfplumber
    except ImportError:
        log.debug("pdfplumber not installed; PDF tables are read as plain text")
        return
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for n in pages:
                tables = [t.extract() for t in pdf.pages[n].find_tables()]
                if tables:
                    texts[n] = with_rows(texts[n], tables)
    except Exception as exc:  # pdfminer fails differently from pypdf on damaged files
        log.debug("table detection failed (%s: %s); tables read as plain text",
                  type(exc).__name__, exc)


def _cell(value: object) -> str:
    return _CJK_BREAK.sub("", str(value)) if value is not None else ""


def _squash(text: str) -> str:
    return _SPACE.sub("", text)


def with_rows(text: str, tables: list[list[list[object]]]) -> str:
    """``text`` with each table's lines replaced by its rows, each row a paragraph."""
    lines = text.split("\n")
    for table in tables:
        rows = [[_cell(c) for c in row] for row in table]
        target = _squash("".join(c for row in rows for c in row))
        if len(rows) < 2 or len(target) < 2:
            continue
        span = _find_run(lines, target)
        if span is None:
            continue
        start, end = span
        if end < len(lines) and lines[end][:1] not in (" ", "\t", "\u3000"):
            lines[end] = "\u3000" + lines[end]  # the text after a table starts a paragraph
        lines[start:end] = ["\u3000" + row for row in table_rows(rows)]
    return "\n".join(lines)


def _find_run(lines: list[str], target: str) -> tuple[int, int] | None:
    """The lines [start, end) that hold exactly the table's characters (in row order, or in
    another order with the same characters), each line a piece of the table's text."""
    keys = [_squash(line) for line in lines]
    want = sorted(target)
    for start, key in enumerate(keys):
        if not key or key not in target:
            continue
        got = ""
        for end in range(start, len(keys)):
            if keys[end] and keys[end] not in target:
                break
            got += keys[end]
            if len(got) >= len(target):
                if got == target or sorted(got) == want:
                    return start, end + 1
                break
    return None
