"""Start-up that loads only what pays: a keyword-only process never imports torch, jieba's tables
come from a cache that changes no cut, tag or answer (read word by word, loaded whole, rebuilt
when damaged), and an unchanged index opens without naming its token counter."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, SEEDS

from rag import segmenter_cache
from rag.pipeline import RAG

QUESTION = "兖州区在大会上强调要坚定扛起哪两种身份所对应的责任担当？"

# A cold process: answers through the library, cuts and tags every seed line, and reports what
# it imported. argv: index folder, corpus folder, question, LOAD_WHOLE_AFTER ("" to keep).
PROBE = """
import json, logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
from rag import segmenter
if sys.argv[4]:
    segmenter.LOAD_WHOLE_AFTER = int(sys.argv[4])
from rag.pipeline import RAG
answer = RAG(index_dir=sys.argv[1], corpus_dir=sys.argv[2]).ask(sys.argv[3])
jieba, posseg = segmenter.jieba(), segmenter.posseg()
lines = [l for p in sorted(Path(sys.argv[2]).glob("*.txt"))
         for l in p.read_text(encoding="utf-8").splitlines() if l.strip()]
cuts = [[jieba.lcut(l), [list(p) for p in posseg.lcut(l)], jieba.lcut_for_search(l)]
        for l in lines]
print(json.dumps({"answer": answer.text, "citations": [[c.doc, c.paragraph, c.quote]
                                                       for c in answer.citations],
                  "cuts": cuts, "loaded": sorted(m for m in ("torch", "sentence_transformers",
                  "transformers", "jieba.posseg") if m in sys.modules),
                  "whole": type(jieba.dt.FREQ) is dict}, ensure_ascii=False))
"""


def _run(index: Path, cache: Path, *, dense_weight: str = "0",
         load_whole_after: str = "") -> tuple[dict, str]:
    env = {**os.environ, "RAG_JIEBA_CACHE_DIR": str(cache), "RAG_DENSE_WEIGHT": dense_weight,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", PROBE, str(index), str(SEEDS), QUESTION,
                          load_whole_after], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def _cache_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("tables-*.sqlite"))


def test_keyword_only_start_answers_without_torch_and_cache_changes_nothing(seed_index,
                                                                            tmp_path):
    cache = tmp_path / "jieba-cache"
    built, log_built = _run(seed_index, cache)  # no cache yet: jieba's own tables, then written
    assert "building jieba's dictionary tables" in log_built
    assert built["citations"] and built["whole"]
    assert built["loaded"] == ["jieba.posseg"]  # no torch, no sentence-transformers
    assert "dense channel off (dense_weight=0)" in log_built
    [written] = _cache_files(cache)

    cached, log_cached = _run(seed_index, cache, load_whole_after="10000000")  # word by word
    assert "building" not in log_cached and not cached["whole"]
    assert cached == {**built, "whole": False}

    loaded_whole, _ = _run(seed_index, cache, load_whole_after="50")  # switches midway
    assert loaded_whole == built

    key = written.name.removeprefix("tables-").removesuffix(".sqlite")
    with sqlite3.connect(written) as con:  # its index intact, its whole-table copy damaged
        con.execute("UPDATE whole SET value = ?", (b"\x80\x05garbage",))
    replaced, log_replaced = _run(seed_index, cache, load_whole_after="50")
    assert replaced == built and "failed" in log_replaced
    assert segmenter_cache.Dictionary(key).everything()[0]  # rewritten

    written.write_bytes(b"not a database" * 100)  # damaged throughout: rebuilt, never an error
    repaired, log_repaired = _run(seed_index, cache)
    assert "unusable" in log_repaired and repaired == built
    assert segmenter_cache.Dictionary(key).everything()[0]


def test_unchanged_index_opens_without_its_token_counter(tmp_path, monkeypatch, caplog):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("兖州区召开大会。\n\n全区上下迅速行动。\n", encoding="utf-8")
    index = tmp_path / "idx"
    RAG(index_dir=index, corpus_dir=corpus).open()
    calls: list[int] = []

    def other_counter():
        calls.append(1)
        return "estimate", len

    import rag.stores.manifest as manifest

    monkeypatch.setattr(manifest, "get_counter", other_counter)
    assert RAG(index_dir=index, corpus_dir=corpus).open().manifest["chunking"][
        "token_counter"] == "tiktoken:cl100k_base"
    assert calls == []  # nothing to chunk: the counter in use was never asked for

    (corpus / "b.txt").write_text("新增一句：项目落户兖州。\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="rag"):
        rag = RAG(index_dir=index, corpus_dir=corpus).open()
    assert calls and "chunking settings changed" in caplog.text  # rebuilt, not mixed
    assert rag.manifest["chunking"]["token_counter"] == "estimate"
