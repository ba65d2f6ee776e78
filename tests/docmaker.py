"""Small PDF/DOCX files made inside tests (reportlab with its built-in CJK font, python-docx)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pytest

FONT = "STSong-Light"  # reportlab's built-in Adobe CID font for Simplified Chinese


def wrap(text: str, width: int = 20) -> list[str]:
    """Hard-wrap ``text`` every ``width`` characters, as a newspaper column does."""
    return [text[i : i + width] for i in range(0, len(text), width)]


def make_pdf(path: Path, pages: Sequence[Sequence[str]], *, footer: bool = False,
             password: str | None = None) -> Path:
    """A PDF whose page n draws the lines ``pages[n]`` top-down; [] makes an image-only page.

    With ``password`` the file is encrypted (RC4) with it as the user password ("" encrypts
    with an owner password only: anyone may open it, as many published PDFs are).
    """
    pytest.importorskip("reportlab")
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    encrypt = None
    if password is not None:
        encrypt = StandardEncryption(password, ownerPassword="owner-secret", canModify=0)
    c = canvas.Canvas(str(path), encrypt=encrypt)
    for number, lines in enumerate(pages, start=1):
        if not lines:
            c.setFillGray(0.5)
            c.rect(72, 300, 400, 400, fill=1)  # a "scanned" page: graphics, no text
        c.setFont(FONT, 12)
        y = 800
        for line in lines:
            c.drawString(50, y, line)
            y -= 16
        if footer and lines:
            c.drawString(290, 40, f"- {number} -")
        c.showPage()
    c.save()
    return path


def make_docx(path: Path, blocks: Sequence[str | list[list[str]]]) -> Path:
    """A .docx with each block as a paragraph (str) or a table (a list of rows)."""
    pytest.importorskip("docx")
    import docx

    document = docx.Document()
    for block in blocks:
        if isinstance(block, str):
            document.add_paragraph(block)
            continue
        table = document.add_table(rows=len(block), cols=len(block[0]))
        for r, row in enumerate(block):
            for k, cell in enumerate(row):
                table.cell(r, k).text = cell
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path
