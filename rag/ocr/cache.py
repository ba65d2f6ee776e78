"""OCR results on disk, keyed by the file's sha256, the page and the engine: a re-index of an
unchanged scan (or the same scan under another name, or in another index) reads them back
instead of running OCR again. Boxes are stored, not text, so layout fixes need no new OCR."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from rag.ocr.layout import Box

log = logging.getLogger(__name__)


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-zh" / "ocr"


class OcrCache:
    def __init__(self, folder: Path, engine: str) -> None:
        self.folder = folder
        self.variant = hashlib.sha256(engine.encode()).hexdigest()[:12]

    def _path(self, key: str, page: int) -> Path:
        return self.folder / key[:2] / f"{key}.p{page}.{self.variant}.json"

    def get(self, key: str, page: int) -> list[Box] | None:
        try:
            rows = json.loads(self._path(key, page).read_text(encoding="utf-8"))
            return [Box(str(t), float(a), float(b), float(c), float(d)) for t, a, b, c, d in rows]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:  # a damaged entry is done again
            log.debug("OCR cache entry for %s page %d unusable: %s", key, page, exc)
            return None

    def put(self, key: str, page: int, boxes: list[Box]) -> None:
        path = self._path(key, page)
        rows = [[b.text, round(b.x0, 1), round(b.y0, 1), round(b.x1, 1), round(b.y1, 1)]
                for b in boxes]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(rows, fh, ensure_ascii=False)
            os.replace(tmp, path)  # readers never see half an entry
        except OSError as exc:  # a read-only cache only costs speed
            log.warning("cannot write the OCR cache in %s (%s); OCR results are not kept",
                        self.folder, exc)
