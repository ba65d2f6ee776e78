"""Sentence splitting, token budgets and the tiktoken fallback."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

from conftest import SEEDS

from rag.chunking import chunk_paragraphs
from rag.paragraphs import split_paragraphs
from rag.sentences import split_sentences
from rag.tokens import count_tokens, estimate_tokens, get_counter


def test_sentences_keep_closing_quotes_and_cover_text():
    text = "他说：“走在前。”然后离开了！What now? Fine; ok. 最后一句"
    parts = split_sentences(text)
    assert "".join(parts) == text
    assert parts[0] == "他说：“走在前。”"
    assert parts[1] == "然后离开了！"
    assert parts[-1] == "最后一句"


def _seed_paragraphs():
    name = "002_c385dfa94da2c315.txt"
    return split_paragraphs((SEEDS / name).read_text(encoding="utf-8"), name)


def test_chunks_respect_budget_and_map_back_to_paragraphs():
    paragraphs = _seed_paragraphs()
    chunks = chunk_paragraphs(paragraphs, chunk_tokens=120, overlap_tokens=30)
    by_index = {p.index: p for p in paragraphs}
    assert chunks
    for c in chunks:
        assert c.n_tokens <= 120
        first, last = by_index[c.paragraphs[0]], by_index[c.paragraphs[-1]]
        assert c.text.startswith(first.text[c.start : c.start + 10])
        assert c.text.endswith(last.text[max(0, c.end - 10) : c.end])
        for piece in c.text.split("\n"):
            assert any(piece in by_index[i].text for i in c.paragraphs)
    covered = "".join(c.text.replace("\n", "") for c in chunks)
    for p in paragraphs:  # nothing is lost
        assert p.text[:8] in covered


def test_overlap_repeats_whole_sentences_within_a_paragraph():
    paragraphs = _seed_paragraphs()
    chunks = chunk_paragraphs(paragraphs, chunk_tokens=150, overlap_tokens=60)
    long_para = max(paragraphs, key=lambda p: len(p.text)).index
    inside = [c for c in chunks if c.paragraphs == (long_para,)]
    assert len(inside) >= 3
    assert any(a.end > b.start for a, b in zip(inside, inside[1:], strict=False))


def test_chunks_never_cross_documents():
    a = split_paragraphs("甲文档的一句话。" * 3, "a.txt")
    b = split_paragraphs("乙文档的一句话。" * 3, "b.txt")
    try:
        chunk_paragraphs(a + b)
    except ValueError as exc:
        assert "one document" in str(exc)
    else:
        raise AssertionError("mixing documents must be refused")


def test_tiktoken_is_used_when_cached():
    name, _ = get_counter()
    assert name == "tiktoken:cl100k_base"
    assert count_tokens("hello world") == 2


def test_estimate_is_close_on_chinese():
    text = (SEEDS / "000_714dc78de03cf996.txt").read_text(encoding="utf-8")
    assert 0.7 < estimate_tokens(text) / count_tokens(text) < 1.3


def test_fallback_counter_warns_once_without_encoding(tmp_path):
    code = (
        "import logging; logging.basicConfig(level=logging.WARNING)\n"
        "from rag.tokens import count_tokens, get_counter\n"
        "print(get_counter()[0], count_tokens('兖州区 hello'), count_tokens('再来一次'))\n"
    )
    env = {"TIKTOKEN_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "NO_PROXY": "*", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["estimate", "5", "4"]
    assert out.stderr.count("built-in estimate") == 1


def test_a_text_in_traditional_script_is_chunked_as_its_simplified_form():
    import opencc

    to_traditional = opencc.OpenCC("s2t").convert  # character for character
    paragraphs = _seed_paragraphs()
    traditional = [replace(p, text=to_traditional(p.text)) for p in paragraphs]
    assert sum(count_tokens(p.text) for p in traditional) > 1.1 * sum(
        count_tokens(p.text) for p in paragraphs)  # cl100k spends more on traditional text

    def spans(ps):
        return [(c.paragraphs, c.start, c.end, c.n_tokens)
                for c in chunk_paragraphs(ps, chunk_tokens=240, overlap_tokens=60)]

    assert spans(traditional) == spans(paragraphs)
