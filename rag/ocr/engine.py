"""The OCR engine: rapidocr's PP-OCR detection and recognition ONNX models (shipped inside the
rapidocr wheel, nothing downloaded) on onnxruntime, CPU only. Loaded once, on first use.

Measured here (2 cores): onnxruntime's own intra-op threads already use both cores; one page
at a time with 2 threads took 7.4 s for 6 pages, two worker processes with 1 thread each 8.8 s,
so pages are not processed in parallel (see benchmarks/ocr.py).
"""

from __future__ import annotations

import threading

from rag.ocr.layout import Box, box_from_quad
from rag.readers.base import ReadError, missing_library

# The whole page goes to the detector at up to this many pixels a side (rapidocr's default of
# 2000 shrinks a newspaper page until its body text is unreadable).
MAX_SIDE = 6000
_lock = threading.Lock()
_engine = None


def engine_id() -> str:
    """Names the engine and its settings; part of every cache key."""
    try:
        from rapidocr._version import __version__ as version
    except ImportError:  # pragma: no cover - a build without the version module
        version = "?"
    return f"rapidocr-{version}-ppocrv6-small-side{MAX_SIDE}"


def _load():
    global _engine
    with _lock:
        if _engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as exc:
                raise missing_library("rapidocr", "scanned PDF and image") from exc
            _engine = RapidOCR(params={"Global.log_level": "error",
                                       "Global.max_side_len": MAX_SIDE})
        return _engine


def recognise(image) -> list[Box]:
    """The text boxes the engine finds in a PIL image (any mode)."""
    import numpy as np

    try:
        result = _load()(np.asarray(image.convert("RGB")))
    except ReadError:
        raise
    except Exception as exc:  # onnxruntime / OpenCV failures on odd images
        raise ReadError(f"OCR failed on it ({type(exc).__name__}: {exc})") from exc
    if result.boxes is None or getattr(result, "txts", None) is None:
        return []
    return [box_from_quad(text, quad) for quad, text in zip(result.boxes, result.txts,
                                                              strict=False) if text.strip()]
