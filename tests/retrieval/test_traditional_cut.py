"""Traditional text is cut into words where its simplified form is cut (jieba's dictionary is
simplified), and the words keep the text's own characters."""

from __future__ import annotations

import opencc

import rag.language as language
from rag.answers_analysis import key_terms
from rag.keyword import content_terms, tokenize
from rag.language import same_cut, simplified_form, to_simplified

# character for character (s2t keeps the length; s2twp's phrases may not)
TO_TRADITIONAL = opencc.OpenCC("s2t").convert


def test_traditional_words_are_the_simplified_forms_words(seed_chunk_texts):
    chunks = seed_chunk_texts
    changed = 0
    for text in chunks:
        traditional = TO_TRADITIONAL(text)
        assert len(traditional) == len(text)
        words = content_terms(traditional)
        assert [to_simplified(w) for w in words] == content_terms(to_simplified(traditional))
        assert all(w in traditional.lower() for w in words)  # the text's own characters
        changed += traditional != text
    assert changed > len(chunks) // 2  # the seeds hold characters that s2t changes


def test_a_traditional_question_has_whole_words():
    assert content_terms("這個軟體的開發者是誰？") == ["軟體", "開發者"]
    assert content_terms("这个软件的开发者是谁？") == ["软件", "开发者"]
    assert key_terms("臺灣大學位於哪個城市？") == ["臺灣大學", "城市"]


def test_traditional_stopwords_are_dropped():
    assert "什麼" not in tokenize("這是什麼產業") and "什么" not in tokenize("这是什么产业")


def test_simplified_form():
    assert simplified_form("兗州區") == "兖州区"
    assert simplified_form("兖州区") == "兖州区"
    assert simplified_form("abc") == "abc"
    assert same_cut("兗州區發展", ["兖州区", "发展"]) == ["兗州區", "發展"]
    assert same_cut("兗州區發展", ["兖州区", "发"]) is None  # not a cut of a text that long


def test_without_opencc_text_is_cut_as_written(monkeypatch):
    monkeypatch.setattr(language, "script_converter", lambda config: None)
    assert simplified_form("兗州區") == "兗州區"


def test_a_conversion_of_another_length_is_not_used(monkeypatch):
    class Longer:
        def convert(self, text: str) -> str:
            return text + "了"

    monkeypatch.setattr(language, "script_converter", lambda config: Longer())
    assert simplified_form("兗州區") == "兗州區"
