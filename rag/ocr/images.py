"""Page images for OCR: image files decoded with a pixel limit checked before decoding, and PDF
pages rendered with pypdfium2 at a resolution that fits the same limit."""

from __future__ import annotations

import io

from rag.readers.base import ReadError, missing_library

# Rendering resolution for PDF pages: 12 pt body text becomes ~33 px tall, which the
# recogniser reads well (its input lines are 48 px high).
DPI = 200


def _pixels_refusal(width: int, height: int, limit: int, what: str) -> ReadError:
    return ReadError(
        f"{what} is {width}x{height} = {width * height:,} pixels, over the "
        f"{limit:,}-pixel limit (a guard against decompression bombs); raise it with "
        f"RAG_MAX_IMAGE_PIXELS={width * height} (or max_image_pixels in rag.toml) to read it")


def image_frames(data: bytes, max_pixels: int) -> list:
    """The frames (pages) of an image file as PIL images; every size checked before decoding."""
    try:
        from PIL import Image, ImageSequence
    except ImportError as exc:
        raise missing_library("pillow", "image") from exc
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # checked below against our own limit, with our message
    try:
        image = Image.open(io.BytesIO(data))
        frames = []
        for frame in ImageSequence.Iterator(image):
            width, height = frame.size
            if width * height > max_pixels:
                raise _pixels_refusal(width, height, max_pixels,
                                      f"the image (frame {len(frames) + 1})")
            frames.append(frame.convert("RGB"))  # decodes this frame only
    except ReadError:
        raise
    except Exception as exc:  # UnidentifiedImageError, truncated data, bad TIFF tags, ...
        raise ReadError(f"not a readable image ({type(exc).__name__}: {exc})") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = old
    return frames


def open_pdf(data: bytes):
    try:
        import pypdfium2 as pdfium
    except ImportError as exc:
        raise missing_library("pypdfium2", "scanned PDF") from exc
    try:
        return pdfium.PdfDocument(data)
    except Exception as exc:  # pdfium refuses what pypdf repaired, or needs a password
        raise ReadError(f"its scanned pages cannot be rendered for OCR ({exc}); save a "
                        "repaired or unencrypted copy (print to PDF) and index that") from exc


def render_page(pdf, index: int, max_pixels: int):
    """Page ``index`` (0-based) as a PIL image at ``DPI``, scaled down to fit ``max_pixels``."""
    page = pdf[index]
    width, height = page.get_size()  # points
    scale = DPI / 72
    if width * height * scale * scale > max_pixels:
        scale = (max_pixels / (width * height)) ** 0.5
    return page.render(scale=scale).to_pil()
