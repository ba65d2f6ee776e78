"""Language helpers shared by retrieval and answering: CJK runs and bigrams, the answer language,
and the "not found" message in that language."""

from __future__ import annotations

import re

# CJK Unified Ideographs, Extension A and the compatibility block.
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
CJK_CHAR = re.compile(f"[{CJK_CHARS}]")

NOT_FOUND = {
    "zh": "抱歉，文档中没有找到这个问题的答案。",
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


def language_of(text: str) -> str:
    """'zh' when the text contains Chinese characters, else 'en'."""
    return "zh" if has_cjk(text) else "en"


def not_found_message(question: str) -> str:
    return NOT_FOUND[language_of(question)]
