"""Finding and decoding files: encodings, binary files, links leaving the corpus."""

from __future__ import annotations

import logging
import os

import pytest

from rag.documents import CorpusError, decode_bytes, find_files, load_documents

TEXT = "兖州区培育新能源、造纸包装、橡胶化工三个千亿级产业。企业是经济的基本细胞。"


def test_encodings_are_detected(tmp_path):
    (tmp_path / "utf8.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + TEXT.encode("utf-8"))
    (tmp_path / "gbk.txt").write_bytes(TEXT.encode("gb18030"))
    big5 = "臺灣的企業是經濟的基本細胞，發展離不開企業。"
    (tmp_path / "big5.md").write_bytes(big5.encode("big5"))
    docs = {d.path: d for d in load_documents(tmp_path)}
    assert docs["utf8.txt"].text == TEXT
    assert docs["bom.txt"].text == TEXT
    assert docs["gbk.txt"].text == TEXT and docs["gbk.txt"].encoding == "gb18030"
    assert docs["big5.md"].text.startswith("臺灣的企業")


def test_binary_file_is_skipped_with_a_warning(tmp_path, caplog):
    (tmp_path / "good.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "blob.txt").write_bytes(bytes(range(256)) * 20)
    with caplog.at_level(logging.WARNING):
        docs = list(load_documents(tmp_path))
    assert [d.path for d in docs] == ["good.txt"]
    assert "blob.txt" in caplog.text


def test_decode_never_raises_on_random_bytes():
    import random

    rng = random.Random(7)
    for _ in range(50):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        result = decode_bytes(data)
        assert result is None or isinstance(result[0], str)


def test_recursive_sorted_and_filtered(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.md").write_text("二", encoding="utf-8")
    (tmp_path / "1.txt").write_text("一", encoding="utf-8")
    (tmp_path / "skip.pdfx").write_text("x", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "3.txt").write_text("三", encoding="utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in find_files(tmp_path)] == ["1.txt", "b/2.md"]


def test_link_outside_corpus_is_not_followed(tmp_path, caplog):
    outside = tmp_path / "outside.txt"
    outside.write_text("秘密", encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    os.symlink(outside, corpus / "link.txt")
    with caplog.at_level(logging.WARNING):
        assert find_files(corpus) == []
    assert "outside the corpus" in caplog.text


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        find_files(tmp_path / "nope")
