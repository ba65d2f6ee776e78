"""Language helpers shared by retrieval and answering: CJK runs and bigrams, the answer language,
and the "not found" message in that language."""

from __future__ import annotations

import functools
import logging
import re
import threading
from typing import Any

log = logging.getLogger(__name__)

# CJK Unified Ideographs, Extension A and the compatibility block.
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
CJK_CHAR = re.compile(f"[{CJK_CHARS}]")

NOT_FOUND = {
    "zh": "抱歉，文档中没有找到这个问题的答案。",
    "zh-Hant": "抱歉，文件中沒有找到這個問題的答案。",
    "en": "Sorry, the answer to this question was not found in the documents.",
}


def has_cjk(text: str) -> bool:
    return bool(CJK_CHAR.search(text))


def cjk_bigrams(text: str) -> list[str]:
    """Every pair of adjacent CJK characters of ``text``, in order (repeats kept)."""
    out: list[str] = []
    for run in CJK_RUN.findall(text):
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


@functools.cache
def _opencc() -> Any:
    try:
        import opencc
    except ImportError:
        log.warning("opencc is not installed: questions are used as typed, in their own Chinese "
                    "script (pip install opencc)")
        return None
    return opencc


_converter_lock = threading.Lock()


def script_converter(config: str) -> Any:
    """OpenCC's converter ``config`` ("t2s", "s2twp", ...), read once per process on first
    need (6-200 ms a table); None when OpenCC is not installed (said once)."""
    with _converter_lock:  # a table is read once, even when two questions arrive together
        return _converter(config)


@functools.cache
def _converter(config: str) -> Any:
    opencc = _opencc()
    return opencc.OpenCC(config) if opencc is not None else None


def _t2s(text: str) -> str:
    """``text`` through OpenCC t2s; as it is without CJK characters or without OpenCC."""
    if not has_cjk(text):
        return text
    converter = script_converter("t2s")
    return converter.convert(text) if converter is not None else text


@functools.lru_cache(maxsize=65536)
def to_simplified(text: str) -> str:
    """``text`` with traditional characters written simplified (OpenCC t2s), for the analyses
    whose word lists and patterns are written in simplified Chinese (谁/誰, 几个/幾個); never
    for text that is quoted or searched. Text without CJK characters is returned as it is."""
    return _t2s(text)


def simplified_form(text: str) -> str:
    """``text`` in simplified characters (OpenCC t2s) when that has the same length, else
    ``text`` itself: what is cut into words and what is measured for a chunk's size, so that a
    text in either script is cut and chunked alike. jieba's dictionary is simplified Chinese:
    traditional text cut as written falls apart into single characters (體 is no dictionary
    word's), and ``same_cut`` takes the simplified form's words back to the text's own
    characters. Unlike ``to_simplified`` nothing is cached: chunk texts rarely repeat."""
    form = _t2s(text)
    return form if len(form) == len(text) else text


def same_cut(text: str, pieces: list[str]) -> list[str] | None:
    """``text`` cut where ``pieces`` (a cut of a text of the same length) cut their text; None
    when the pieces do not add up to the text's length."""
    if sum(map(len, pieces)) != len(text):
        return None
    out, at = [], 0
    for piece in pieces:
        out.append(text[at : at + len(piece)])
        at += len(piece)
    return out


# A text whose simplified form changes at least this share of its Chinese characters is
# written in traditional script (a traditional question changes a quarter to a half of them; a
# simplified one at most a rare variant character, 舖 -> 铺).
TRADITIONAL_SHARE = 0.2


def language_of(text: str) -> str:
    """'zh-Hant' for Chinese in traditional script, 'zh' for other Chinese, else 'en'."""
    if not has_cjk(text):
        return "en"
    cjk = CJK_CHAR.findall(text)
    simplified = CJK_CHAR.findall(to_simplified(text))  # (t2s may change a phrase's length)
    changed = sum(a != b for a, b in zip(cjk, simplified, strict=False))
    return "zh-Hant" if changed >= TRADITIONAL_SHARE * len(cjk) and changed else "zh"


def not_found_message(question: str) -> str:
    return NOT_FOUND[language_of(question)]
