"""Plain text and Markdown: UTF-8 (with or without BOM), UTF-16 with BOM, GB18030/GBK or Big5.

Nothing here raises on bad bytes: ``decode_bytes`` returns None for binary or undecodable data
and the readers turn that into a ``ReadError`` naming the encodings tried.
"""

from __future__ import annotations

from rag.readers.base import Extracted, ReadError

_SNIFF_BYTES = 8192
UNDECODABLE = "binary or undecodable (not UTF-8, GB18030 or Big5 text)"


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


def read_text(data: bytes) -> Extracted:
    decoded = decode_bytes(data)
    if decoded is None:
        raise ReadError(UNDECODABLE)
    return Extracted(text=decoded[0], kind="text", encoding=decoded[1])


def read_markdown(data: bytes) -> Extracted:
    """Markdown is read as text; paragraph repair cleans headings, links and emphasis."""
    decoded = read_text(data)
    return Extracted(text=decoded.text, kind="markdown", encoding=decoded.encoding)
