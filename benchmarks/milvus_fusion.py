"""Retrieval and answer quality of the stores on the seed Q&A set, per analyzer and fusion.

Runs ``rag.evaluation.evaluate`` (the same code as ``rag eval``) over ``eval/qa_seeds.jsonl``
for the FAISS store and for the Milvus store (Milvus Lite) with each keyword analyzer
(``rag``: the foundation's jieba words + bigrams; ``jieba``: Milvus's own jieba analyzer) and
each fusion (``score``: the channels fused by score; ``rrf``: reciprocal rank fusion, the
``fusion`` setting of the one retriever). Writes ``benchmarks/results/milvus_fusion.{json,md}``.

    python benchmarks/milvus_fusion.py
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import QA_FILE, SEEDS, load_average, machine, markdown_table, write_results

VARIANTS = [
    ("faiss", {"store": "faiss"}),
    ("milvus rag/score", {"store": "milvus", "milvus_analyzer": "rag", "fusion": "score"}),
    ("milvus rag/rrf", {"store": "milvus", "milvus_analyzer": "rag", "fusion": "rrf"}),
    ("milvus jieba/score", {"store": "milvus", "milvus_analyzer": "jieba",
                            "fusion": "score"}),
    ("milvus jieba/rrf", {"store": "milvus", "milvus_analyzer": "jieba", "fusion": "rrf"}),
]


def run_variant(settings: dict[str, str], folder: Path) -> dict[str, float]:
    from rag.evaluation.dataset import load_qa
    from rag.evaluation.runner import evaluate
    from rag.pipeline import RAG
    from rag.stores.milvus.client import forget_all

    started = time.perf_counter()
    rag = RAG(index_dir=folder, corpus_dir=SEEDS, **settings).open()  # builds the index
    build_s = time.perf_counter() - started
    report, _ = evaluate(rag, load_qa(QA_FILE))
    forget_all(folder)
    o = report["overall"]
    return {"build_s": round(build_s, 2), "hit@1": o["retrieval"]["hit@1"],
            "hit@5": o["retrieval"]["hit@5"], "mrr@10": o["retrieval"]["mrr@10"],
            "contains_gold": o["answer"]["contains_gold"],
            "citation_precision": o["citation"]["precision"],
            "abstain_correct": o["abstention"]["correct"],
            "abstain_wrong": o["abstention"]["wrong"],
            "retrieve_p50_ms": o["latency_ms"]["retrieve_p50"],
            "ask_p50_ms": o["latency_ms"]["ask_p50"]}


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    load_before = load_average()
    results = {}
    work = Path(tempfile.mkdtemp(prefix="milvus-fusion-"))
    try:
        for name, settings in VARIANTS:
            results[name] = run_variant(settings, work / name.replace(" ", "_").replace("/", "_"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    keys = list(next(iter(results.values())))
    table = markdown_table(["store"] + keys, [[n] + [r[k] for k in keys]
                                              for n, r in results.items()])
    md = ("## Store quality on the seed Q&A set (bundled MiniLM, extractive answers)\n\n"
          f"{table}\n\nload average before/after: {load_before} / {load_average()}\n")
    write_results("milvus_fusion", {"machine": machine(), "results": results}, md, quick=False)
    print(md)


if __name__ == "__main__":
    main()
