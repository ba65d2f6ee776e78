"""PowerPoint .pptx -> each slide's text (titles, text boxes, tables, grouped shapes, top to
bottom) and then its speaker notes; slides are pages ("\\f"), so a citation names the slide
number. Library: python-pptx (MIT, lxml underneath). Old binary .ppt files are not supported."""

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
from rag.readers.tables import table_rows


def read_pptx(data: bytes, options: ReadOptions = DEFAULT_OPTIONS) -> Extracted:
    pptx = archive_library("pptx", "python-pptx", "PowerPoint .pptx", data, options)
    try:
        slides = [_slide_blocks(slide) for slide in pptx.Presentation(io.BytesIO(data)).slides]
    except Exception as exc:  # a damaged or mislabelled archive fails in many ways
        raise ReadError(f"not a readable PowerPoint .pptx file ({type(exc).__name__}: {exc}); "
                        "an old .ppt file must be saved as .pptx first") from exc
    pages = [paragraph_lines(blocks) for blocks in slides]
    if not any(pages):
        raise ReadError("the presentation holds no text (no text boxes, tables or notes)")
    return Extracted(text="\n\f".join(pages), kind="pptx", encoding="pptx")


def _slide_blocks(slide) -> list[str]:
    blocks = _shape_blocks(slide.shapes)
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        blocks.extend(p.text for p in slide.notes_slide.notes_text_frame.paragraphs)
    return blocks


def _shape_blocks(shapes) -> list[str]:
    from pptx.shapes.group import GroupShape

    blocks: list[str] = []
    for shape in sorted(shapes, key=lambda s: (s.top or 0, s.left or 0)):
        if isinstance(shape, GroupShape):
            blocks.extend(_shape_blocks(shape.shapes))
        elif getattr(shape, "has_table", False) and shape.has_table:
            rows = ([cell.text for cell in row.cells] for row in shape.table.rows)
            blocks.extend(table_rows(rows))
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            blocks.extend(p.text for p in shape.text_frame.paragraphs)
    return blocks
