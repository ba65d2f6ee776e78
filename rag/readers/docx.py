"""Word .docx -> one block per paragraph and one line per table row, in document order.

Library: python-docx, the maintained standard for reading .docx (MIT, only lxml underneath);
it gives body paragraphs and tables interleaved as they appear. Headers, footers and comments
are left out as page furniture. Old binary .doc files are not supported (save them as .docx).
"""

from __future__ import annotations

import io

from rag.readers.archive import archive_library
from rag.readers.base import (
    DEFAULT_OPTIONS,
    Extracted,
    ReadError,
    ReadOptions,
    paragraph_lines,
)


def read_docx(data: bytes, options: ReadOptions = DEFAULT_OPTIONS) -> Extracted:
    docx = archive_library("docx", "python-docx", "Word .docx", data, options,
                           hint="; an old .doc file must be saved as .docx first")
    from docx.table import Table
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                blocks.extend(_table_rows(item))
            else:
                blocks.append(item.text)
    except Exception as exc:  # a damaged or mislabelled zip fails in many ways
        raise ReadError(
            f"not a readable Word .docx file ({type(exc).__name__}: {exc}); "
            "an old .doc file must be saved as .docx first"
        ) from exc
    text = paragraph_lines(blocks)
    if not text:
        raise ReadError("the Word document holds no text (no paragraphs or table cells)")
    return Extracted(text=text, kind="docx", encoding="docx")


def _table_rows(table) -> list[str]:
    """Each row as its cells' texts joined by " | " (merged cells once)."""
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            key = id(cell._tc)  # a merged cell is returned once per grid column it spans
            if key in seen:
                continue
            seen.add(key)
            cells.append(_cell_text(cell))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def _cell_text(cell) -> str:
    parts = []
    for item in cell.iter_inner_content():
        if hasattr(item, "rows"):  # a table nested in the cell
            parts.extend(_table_rows(item))
        else:
            parts.append(item.text)
    return " ".join(p.strip() for p in parts if p.strip())
