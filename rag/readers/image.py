"""Images (.png .jpg .jpeg .tif .tiff .bmp) -> OCR text; each frame of a TIFF is a page ("\\f").

Sizes are checked against ``max_image_pixels`` before any pixel is decoded; OCR results are
cached by the file's sha256 (``rag.ocr``). With OCR turned off an image is refused.
"""

from __future__ import annotations

import hashlib

from rag.readers.base import DEFAULT_OPTIONS, Extracted, ReadError, ReadOptions


def read_image(data: bytes, options: ReadOptions = DEFAULT_OPTIONS) -> Extracted:
    from rag.ocr import ocr_options, ocr_pages
    from rag.ocr.images import decode_frame, open_image

    ocr = ocr_options(options)
    image, count = open_image(data, ocr.max_pixels)
    if not ocr.enabled:
        raise ReadError("an image needs OCR to be indexed, and OCR is turned off; turn it on "
                        "with RAG_OCR=1 (or ocr = true in rag.toml)")
    texts = ocr_pages(hashlib.sha256(data).hexdigest(), list(range(count)),
                      lambda n: decode_frame(image, n), options=ocr, label="image")
    if not any(t.strip() for t in texts):
        raise ReadError("OCR found no text in the image (a photo or drawing without words, or "
                        "text too small or blurred to read)")
    return Extracted(text="\n\f".join(texts), kind="image", encoding="ocr")
