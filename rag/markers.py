"""Citation markers: the ``[n]`` grammar answers use, and how document text is kept from forging
them.

An answer's ``[1]``/``[1,2]``/``【1】``/``［1］`` markers name its sources, and the page turns them
into links. A document may contain such text itself ("see [2]"): quoted into an answer or shown
to an LLM it would become a marker pointing at another source. ``inert`` rewrites look-alikes
in document text with tortoise-shell brackets (``〔2〕``), which read the same and match nothing.
"""

from __future__ import annotations

import re

OPEN, CLOSE, SEPARATORS = r"\[【［", r"\]】］", ",，、;；"
NUMBERS = rf"\d{{1,3}}(?:\s*(?:[{SEPARATORS}]|[-–~])\s*\d{{1,3}})*"
ONE = rf"[{OPEN}]\s*({NUMBERS})\s*[{CLOSE}]"
_LOOK_ALIKE = re.compile(rf"[{OPEN}](\s*{NUMBERS}\s*)[{CLOSE}]")


def inert(text: str) -> str:
    """``text`` with every citation-marker look-alike made inert (``[2]`` -> ``〔2〕``)."""
    return _LOOK_ALIKE.sub(r"〔\1〕", text)
