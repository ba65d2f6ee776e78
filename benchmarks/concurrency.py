"""Throughput of extractive RAG.ask (asks/s) from 1, 2, 4 and 8 threads on one warm RAG.

    python benchmarks/concurrency.py [--index DIR] [--rounds N]

Prints a Markdown table and writes benchmarks/results/concurrency.json|md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", default=None, help="index folder (default: build over seeds)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the Q&A questions")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rag.pipeline import RAG

    rag = RAG(index_dir=args.index) if args.index else RAG(
        index_dir=ROOT / "index", corpus_dir=ROOT / "seeds")
    rows = [json.loads(x) for x in (ROOT / "eval" / "qa_seeds.jsonl").open(encoding="utf-8")]
    questions = [r["question"] for r in rows] * args.rounds
    for q in questions[:10]:
        rag.ask(q)  # warm caches
    results = []
    for threads in (1, 2, 4, 8):
        with ThreadPoolExecutor(max_workers=threads) as pool:
            started = time.perf_counter()
            list(pool.map(rag.ask, questions))
            elapsed = time.perf_counter() - started
        results.append({"threads": threads, "asks": len(questions),
                        "asks_per_s": round(len(questions) / elapsed, 1)})
    load = os.getloadavg()
    table = ["| threads | asks | asks/s |", "|---|---|---|"]
    table += [f"| {r['threads']} | {r['asks']} | {r['asks_per_s']} |" for r in results]
    md = "\n".join(["## Extractive ask throughput by thread count", "", *table, "",
                    f"2 cores; load average at the end {load[0]:.2f}."])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "concurrency.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "concurrency.md").write_text(md + "\n", encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
