"""Small PDF/DOCX files made inside tests (reportlab with its built-in CJK font, python-docx)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pytest

# conftest.py points RAG_OCR_CACHE_DIR at one cache for the session: a page image made twice
# with the same bytes is OCR'd once, which keeps the OCR tests fast.

# Seed-like paragraphs the OCR tests render into pages.
P1 = "兖州区培育新能源、造纸包装、橡胶化工三个千亿级产业，企业兴则经济兴，企业强则经济强。"
P2 = "市委书记温金荣出席会议并讲话，强调要坚定不移走生态优先、绿色发展之路。"
P3 = "宁德时代新能源电池项目落户兖州经济技术开发区，总投资一百二十亿元。"
P4 = "华勤橡胶工业集团有限公司总经理牛飞介绍，公司今年出口增长30%。"

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


# -- page images for OCR (Pillow + the Noto CJK font from fonts-noto-cjk) --------------------

def cjk_font_path() -> str:
    """The Noto Sans CJK font file; the test is skipped when fonts-noto-cjk is missing."""
    for folder in (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts")):
        found = sorted(folder.rglob("NotoSansCJK-Regular.ttc")) if folder.is_dir() else []
        if found:
            return str(found[0])
    pytest.skip("fonts-noto-cjk is not installed")


def render_page(columns: Sequence[Sequence[str]], *, size: int = 24, gutter: int = 3,
                rotate: float = 0.0, noise: float = 0.0, seed: int = 0):
    """A white page image with ``columns`` of lines side by side (a line starting with "　　"
    is drawn indented, as printed paragraphs start); optionally rotated and noisy."""
    pytest.importorskip("PIL")
    import random

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(cjk_font_path(), size)
    pitch = int(size * 1.6)
    widths = [max((len(line) for line in col), default=1) * size for col in columns]
    width = sum(widths) + gutter * size * (len(columns) - 1) + 4 * size
    height = max(len(col) for col in columns) * pitch + 4 * size
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    x = 2 * size
    for col, col_width in zip(columns, widths, strict=True):
        for row, line in enumerate(col):
            draw.text((x, 2 * size + row * pitch), line, font=font, fill=0)
        x += col_width + gutter * size
    if rotate:
        image = image.rotate(rotate, resample=Image.BICUBIC, expand=True, fillcolor=255)
    if noise:
        rng = random.Random(seed)
        pixels = image.load()
        for _ in range(int(noise * image.width * image.height)):
            px, py = rng.randrange(image.width), rng.randrange(image.height)
            pixels[px, py] = rng.choice((0, 96, 160, 255))
    return image.convert("RGB")


def image_bytes(image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def make_image_pdf(path: Path, images: Sequence) -> Path:
    """An image-only PDF (no text layer), one page per image, as a scanner writes it."""
    images[0].save(path, format="PDF", save_all=True, append_images=list(images[1:]),
                   resolution=150)
    return path


def make_table_pdf(path: Path, before: Sequence[str], rows: Sequence[Sequence[str]],
                   after: Sequence[str]) -> Path:
    """A one-page text PDF: the lines ``before``, a ruled table of ``rows`` (the first is the
    header; every cell boxed by grid lines) and the lines ``after``."""
    pytest.importorskip("reportlab")
    from reportlab.lib import colors
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas
    from reportlab.platypus import Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    c = canvas.Canvas(str(path))
    c.setFont(FONT, 12)
    y = 800
    for line in before:
        c.drawString(50, y, line)
        y -= 16
    table = Table([list(r) for r in rows], style=TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("FONT", (0, 0), (-1, -1), FONT, 10)]))
    _, height = table.wrapOn(c, 500, 600)
    y -= height
    table.drawOn(c, 50, y)
    y -= 24
    c.setFont(FONT, 12)
    for line in after:
        c.drawString(50, y, line)
        y -= 16
    c.showPage()
    c.save()
    return path


def read_options(**overrides):
    """Reading options from the test environment's settings (conftest's private OCR cache)
    with ``overrides``, as ``parse_file`` builds them from an index's settings."""
    from rag.config import load_settings
    from rag.readers import ReadOptions

    return ReadOptions.from_settings(load_settings(**overrides))
