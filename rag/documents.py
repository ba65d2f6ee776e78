"""Find and decode source files into ``Document``s.

Text files may be UTF-8 (with or without BOM), GB18030/GBK or Big5. Undecodable or binary
files are skipped with a warning that names them; nothing here raises on bad bytes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from rag.schema import Document

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown")
_SNIFF_BYTES = 8192


class CorpusError(ValueError):
    """The corpus folder is missing, empty or unusable; the message says what to do."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_files(root: Path) -> list[Path]:
    """Supported files under ``root`` (recursively, sorted), never leaving ``root``."""
    if not root.exists():
        raise CorpusError(f"corpus folder {root} does not exist; pass an existing folder")
    if not root.is_dir():
        raise CorpusError(f"corpus path {root} is not a folder; pass the folder holding files")
    real_root = root.resolve()
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in SUPPORTED_SUFFIXES or not path.is_file():
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if not path.resolve().is_relative_to(real_root):
            log.warning("skipping %s: it links outside the corpus folder %s", path, root)
            continue
        found.append(path)
    return found


def decode_bytes(data: bytes) -> tuple[str, str] | None:
    """Decode ``data`` as text; returns (text, encoding) or None for binary/undecodable data."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    if b"\x00" in data[:_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    return _decode_legacy(data)


def _decode_legacy(data: bytes) -> tuple[str, str] | None:
    # charset-normalizer ranks candidate encodings by how natural the decoded text looks;
    # GB18030 alone would "succeed" on almost any bytes, including Big5 text.
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_8"]).best()
    if best is None:
        return None
    text = str(best)
    if _control_ratio(text) > 0.05:
        return None
    return text, best.encoding


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for c in text if (ord(c) < 32 and c not in "\t\r\n\f") or c == "\ufffd")
    return bad / len(text)


def read_document(path: Path, root: Path) -> Document | None:
    """Read one file; returns None (with a warning naming the file) when it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        log.warning("skipping %s: cannot read it (%s)", path, exc.strerror or exc)
        return None
    decoded = decode_bytes(data)
    if decoded is None:
        log.warning("skipping %s: binary or undecodable (not UTF-8, GB18030 or Big5 text)", path)
        return None
    text, encoding = decoded
    rel = path.relative_to(root).as_posix()
    return Document(path=rel, text=text, encoding=encoding, sha256=hashlib.sha256(data).hexdigest())


def load_documents(root: Path | str) -> Iterator[Document]:
    """Yield every readable supported document under ``root``."""
    root = Path(root)
    for path in find_files(root):
        doc = read_document(path, root)
        if doc is not None:
            yield doc
