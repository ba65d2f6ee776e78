"""The streaming keyword index: BM25 scores as the plain formula gives them on real text, the
same bytes whatever the process count, batch size or memory passes, and updates that re-use
unchanged chunks instead of tokenising them again."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import opencc
import pytest
from conftest import ROOT, SEEDS

import rag.keyword_build as keyword_build
import rag.keyword_postings as keyword_postings
from rag import keyword_batch
from rag.keyword import K1, B, tokenize
from rag.keyword_batch import term_key, term_text, tokenize_batch
from rag.keyword_build import Reuse, build_keyword_index
from rag.keyword_index import KeywordIndex
from rag.pipeline import RAG


@pytest.fixture(scope="module")
def texts(seed_chunk_texts) -> list[str]:
    """The seed documents' chunk texts, plus an empty and a blank one."""
    return seed_chunk_texts + ["", "  \n"]


@pytest.fixture(scope="module")
def questions() -> list[str]:
    lines = (ROOT / "eval" / "qa_seeds.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def reference_scores(texts: list[str], query: str) -> np.ndarray:
    """BM25 (Lucene idf, k1 1.5, b 0.75) by the textbook formula, in double precision; an
    empty text has length 1; a repeated query term counts each time."""
    docs = [Counter(tokenize(t)) for t in texts]
    lengths = [max(1, sum(d.values())) for d in docs]
    avg = sum(lengths) / len(texts)
    df = Counter(term for d in docs for term in d)
    n = len(texts)
    out = np.zeros(n)
    for term in tokenize(query):
        if term not in df:
            continue
        idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
        for i, d in enumerate(docs):
            tf = d.get(term, 0)
            if tf:
                out[i] += idf * tf / (tf + K1 * (1 - B + B * lengths[i] / avg))
    return out


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_scores_match_the_bm25_formula(texts, questions, tmp_path):
    index = build_keyword_index(tmp_path / "kw", [texts], processes=1)
    assert index.size == len(texts)
    for q in questions[:25] + ["请问", "千亿级 千亿级 产业"]:
        got = index.scores(q)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, reference_scores(texts, q), rtol=1e-5, atol=1e-6)
    some = next(t for t in tokenize(texts[0]) if not t.startswith("§"))
    assert index.knows(some.upper()) and not index.knows("不在索引里的词")
    assert index.document_frequency(some) == sum(some in tokenize(t) for t in texts)
    assert index.document_frequency("不在索引里的词") == 0


def test_arrays_are_memory_mapped(texts, tmp_path):
    build_keyword_index(tmp_path / "kw", [texts[:20]], processes=1)
    index = KeywordIndex.load(tmp_path / "kw", 20)
    weights = index._a["postings_weights"]
    assert not weights.flags.owndata and not weights.flags.writeable  # a read-only map
    with pytest.raises(ValueError, match="inconsistent"):
        KeywordIndex.load(tmp_path / "kw", 21)


def test_process_count_batches_and_memory_passes_give_the_same_bytes(texts, tmp_path,
                                                                     monkeypatch):
    one = build_keyword_index(tmp_path / "one", [texts], processes=1)
    # tiny batches over two worker processes, and a memory budget of a few hundred postings
    # (many term-range passes over the forward files, each in many blocks)
    monkeypatch.setattr(keyword_postings, "_ENTRY_BYTES", 2**19 * 16 // 300)
    monkeypatch.setattr(keyword_postings, "_BLOCK_ENTRY_BYTES", 2**19 * 16 // 200)
    # and tokenising processes that start their term numbering again every few batches
    monkeypatch.setattr(keyword_batch, "_LIMIT", 100)
    two = build_keyword_index(tmp_path / "two", [texts[:30], texts[30:]], processes=2,
                              memory_mb=16, batch_size=7)
    assert files_of(one.directory) == files_of(two.directory)


def test_reused_rows_give_the_bytes_of_a_fresh_build(texts, tmp_path):
    fresh = build_keyword_index(tmp_path / "fresh", [texts], processes=1)
    previous = build_keyword_index(tmp_path / "prev", [texts[:40][::-1]], processes=1)
    # chunks 0..39 come from the previous index (stored reversed), the rest are tokenised
    rows = list(range(39, -1, -1))
    updated = build_keyword_index(tmp_path / "upd", [Reuse(previous, rows[:10]),
                                                     Reuse(previous, rows[10:]), texts[40:]],
                                  processes=1, batch_size=5)
    assert files_of(fresh.directory) == files_of(updated.directory)


def test_empty_input_builds_an_empty_index(tmp_path):
    index = build_keyword_index(tmp_path / "kw", [], processes=2)
    assert index.size == 0 and index.scores("任何问题").shape == (0,)
    assert not index.knows("任何")


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="keyword_processes"):
        build_keyword_index(tmp_path / "kw", [["文本"]], processes=-1)
    with pytest.raises(ValueError, match="keyword_memory_mb"):
        build_keyword_index(tmp_path / "kw", [["文本"]], memory_mb=1)


def test_an_update_tokenises_only_the_changed_files(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    idx = tmp_path / "idx"
    RAG(index_dir=idx, corpus_dir=corpus, keyword_processes=1).open()
    seen: list[str] = []
    original = keyword_build.tokenize_batch

    def counting(batch, **kwargs):
        seen.extend(batch)
        return original(batch, **kwargs)

    monkeypatch.setattr(keyword_build, "tokenize_batch", counting)
    changed = sorted(corpus.glob("*.txt"))[0]
    added = "\n\n新增的一段：兖州区的千亿级产业。\n"
    changed.write_text(changed.read_text(encoding="utf-8") + added, encoding="utf-8")
    updated = RAG(index_dir=idx, corpus_dir=corpus, keyword_processes=1).open()
    chunks = updated.store.open().records
    changed_texts = [c.text for _, c in chunks.all_chunks() if c.doc == changed.name]
    assert sorted(seen) == sorted(changed_texts)
    # and the result is the index a full rebuild makes
    rebuilt = RAG(index_dir=tmp_path / "full", corpus_dir=corpus, keyword_processes=1).open()
    assert (files_of(updated.store.open().keyword.directory)
            == files_of(rebuilt.store.open().keyword.directory))


def test_batches_hold_each_chunks_counted_tokens_in_order(texts):
    traditional = [opencc.OpenCC("s2twp").convert(t) for t in texts[:5]]
    odd = ["ABC abc 千亿级千亿级 §千亿", "§§ 文本 İ千亿 ΣΑΣ 千", "", "中"]
    batch = texts[:40] + odd + traditional
    terms: list = []
    for part in (batch[:20], batch[20:]):  # the second batch re-uses the first one's numbers
        got = tokenize_batch(part, build="test-batches")
        assert got.first == len(terms)
        terms += got.new_terms
        assert len(set(terms)) == len(terms)
        at = 0
        for text, n, length in zip(part, got.n_terms, got.lengths, strict=True):
            pairs = [(term_text(terms[i]), int(c))
                     for i, c in zip(got.ids[at:at + n], got.counts[at:at + n], strict=True)]
            tokens = tokenize(text)
            assert pairs == list(Counter(tokens).items()) and length == (len(tokens) or 1)
            at += n
    assert all(term_key(term_text(t)) == t for t in terms)
    assert tokenize_batch(batch[:3], build="another").first == 0  # another build starts again
    keyword_batch.forget()


def test_terms_sharing_a_hash_are_told_apart(texts, tmp_path, monkeypatch):
    import zlib

    monkeypatch.setattr(zlib, "crc32", lambda data: len(data) % 3)  # collisions everywhere
    index = build_keyword_index(tmp_path / "kw", [texts[:10]], processes=1)
    terms = [index.term(i) for i in range(index.n_terms)]
    assert index.term_ids(terms) == list(range(index.n_terms))
    assert index.term_ids(["不在索引里的词", terms[0] + "x"]) == [None, None]
