"""Token counting with tiktoken (``cl100k_base``), falling back to a documented estimate.

tiktoken downloads its encoding files on first use; offline, point ``TIKTOKEN_CACHE_DIR`` at a
folder holding them. When no encoding can be loaded, counting falls back to ``estimate_tokens``
(one token per CJK character, one per four ASCII letters/digits, one per other symbol), which
over-counts English slightly and matches cl100k on Chinese within about 20%, and one warning is
logged.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable

log = logging.getLogger(__name__)

ENCODING = "cl100k_base"
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]+")


def estimate_tokens(text: str) -> int:
    """The fallback counter (no files needed)."""
    count = 0
    for word in _ASCII_WORD.findall(text):
        count += math.ceil(len(word) / 4)
    rest = _ASCII_WORD.sub("", text)
    count += sum(1 for c in rest if not c.isspace())
    return count


@functools.lru_cache(maxsize=4)
def get_counter(encoding: str = ENCODING) -> tuple[str, Callable[[str], int]]:
    """(name, count function). The name says which counter is in use, for the manifest."""
    try:
        import tiktoken

        enc = tiktoken.get_encoding(encoding)
    except Exception as exc:  # no cache and no network, or tiktoken missing
        log.warning(
            "tiktoken encoding %s unavailable (%s); counting tokens with the built-in estimate. "
            "Set TIKTOKEN_CACHE_DIR to a folder holding the encoding to use tiktoken.",
            encoding,
            type(exc).__name__,
        )
        return "estimate", estimate_tokens

    def count(text: str) -> int:
        return len(enc.encode(text, disallowed_special=()))

    return f"tiktoken:{encoding}", count


def count_tokens(text: str) -> int:
    return get_counter()[1](text)
