"""Page images for OCR: image files decoded with a pixel limit checked before decoding, and PDF
pages rendered with pypdfium2 at a resolution that fits the same limit."""

from __future__ import annotations

import io
from contextlib import contextmanager

from rag.readers.base import ReadError, missing_library

# Rendering resolution for PDF pages: 12 pt body text becomes 25 px tall, which the
# recogniser reads well (its input lines are 48 px high).
DPI = 150


def _pixels_refusal(width: int, height: int, limit: int, what: str) -> ReadError:
    return ReadError(
        f"{what} is {width}x{height} = {width * height:,} pixels, over the "
        f"{limit:,}-pixel limit (a guard against decompression bombs); raise it with "
        f"RAG_MAX_IMAGE_PIXELS={width * height} (or max_image_pixels in rag.toml) to read it")


def open_image(data: bytes, max_pixels: int) -> tuple[object, int]:
    """An image file opened (headers only) and its frame count; every frame's size is checked
    against ``max_pixels`` before anything is decoded."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise missing_library("pillow", "image") from exc
    try:
        with _no_pillow_limit(Image):
            image = Image.open(io.BytesIO(data))
            count = getattr(image, "n_frames", 1)
            for n in range(count):
                image.seek(n)
                width, height = image.size
                if width * height > max_pixels:
                    raise _pixels_refusal(width, height, max_pixels, f"the image (frame {n + 1})"
                                          if count > 1 else "the image")
    except ReadError:
        raise
    except Exception as exc:  # UnidentifiedImageError, bad TIFF tags, ...
        raise ReadError(f"not a readable image ({type(exc).__name__}: {exc})") from exc
    return image, count


def decode_frame(image, n: int):
    """Frame ``n`` of an image from ``open_image``, decoded to RGB."""
    from PIL import Image

    try:
        with _no_pillow_limit(Image):
            image.seek(n)
            return image.convert("RGB")
    except Exception as exc:  # truncated or damaged pixel data
        raise ReadError(f"not a readable image ({type(exc).__name__}: {exc})") from exc


@contextmanager
def _no_pillow_limit(image_module):
    """Pillow's own bomb check off: ``open_image`` applies ``max_image_pixels`` instead."""
    old = image_module.MAX_IMAGE_PIXELS
    image_module.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        image_module.MAX_IMAGE_PIXELS = old


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
