"""Embedding throughput by torch thread count and batch size, and single-query encode latency.

Encodes the same generated chunk texts (~130 Chinese characters, like the index's chunks) with
the bundled all-MiniLM-L6-v2 through ``SentenceTransformer.encode`` for every combination of
``torch.set_num_threads`` and ``batch_size``. Configurations are interleaved round by round, so
a burst of load from other processes hits all of them alike; the figure per configuration is the
median over rounds. Also times encoding one question (the query path) with 1 and 2 threads.
Each OpenMP wait policy (``--policies``; the default spins, PASSIVE sleeps) runs in its own
process, since libgomp reads it at start-up: on a box whose cores are busy with other work a
spinning thread waits for a descheduled partner.

    python benchmarks/tuning.py [--quick] [--texts 128] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import common
from common import load_average, load_qa, machine, markdown_table, median, percentile


def chunk_texts(n: int) -> list[str]:
    from synthetic import SentencePool, chunk_text, compose_chunks

    pool = SentencePool(max(200, n * 3), seed=11)
    return [chunk_text(pool, m) for m in compose_chunks(pool, n, seed=12)]


def encode_rate(model, texts: list[str], threads: int, batch: int) -> float:
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)
    return len(texts) / (time.perf_counter() - t0)


def query_latency_ms(model, questions: list[str], threads: int) -> list[float]:
    import torch

    torch.set_num_threads(threads)
    out = []
    for q in questions:
        t0 = time.perf_counter()
        model.encode([q], normalize_embeddings=True, convert_to_numpy=True)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(texts_n: int, rounds: int, threads: list[int], batches: list[int], quick: bool
            ) -> dict[str, Any]:
    """All configurations in this process (its OMP_WAIT_POLICY is fixed at start-up)."""
    texts = chunk_texts(texts_n)
    model = common.load_model()
    encode_rate(model, texts[:16], 2, 16)  # warm up kernels and the tokenizer
    rates: dict[tuple[int, int], list[float]] = {(t, b): [] for t in threads for b in batches}
    loads = []
    for _ in range(rounds):
        for t, b in rates:
            loads.append(load_average()[0])
            rates[(t, b)].append(encode_rate(model, texts, t, b))
    questions = [r["question"] for r in load_qa()][: 20 if quick else None]
    query = {t: query_latency_ms(model, questions, t) for t in threads}
    return {
        "texts": len(texts), "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
        "configs": [{"threads": t, "batch_size": b, "texts_per_s_median": round(median(v), 2),
                     "texts_per_s_all": [round(x, 2) for x in v]} for (t, b), v in rates.items()],
        "query_encode_ms": {str(t): {"p50": round(percentile(v, 50), 2),
                                     "p95": round(percentile(v, 95), 2)} for t, v in query.items()},
        "load_average_during": [min(loads), max(loads)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--texts", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batches", default="16,32,64")
    parser.add_argument("--policies", default="default,PASSIVE",
                        help="OMP_WAIT_POLICY values, each in its own process")
    parser.add_argument("--tag", default="", help="suffix for the result files (e.g. loaded)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.texts, args.rounds = 32, 1
    threads = [int(x) for x in args.threads.split(",")]
    batches = [int(x) for x in args.batches.split(",")]
    if args.child:
        print(json.dumps(measure(args.texts, args.rounds, threads, batches, args.quick)))
        return
    info = machine()
    results = {}
    for policy in args.policies.split(","):
        env = os.environ.copy()
        env.pop("OMP_WAIT_POLICY", None)
        if policy != "default":
            env["OMP_WAIT_POLICY"] = policy
        cmd = [sys.executable, __file__, "--child", "--texts", str(args.texts), "--rounds",
               str(args.rounds), "--threads", args.threads, "--batches", args.batches]
        if args.quick:
            cmd.append("--quick")
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        results[policy] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"OMP_WAIT_POLICY={policy}: done (load {load_average()[0]})", flush=True)
    rows, query_rows = [], []
    for policy, res in results.items():
        for c in res["configs"]:
            v = c["texts_per_s_all"]
            rows.append((policy, c["threads"], c["batch_size"], c["texts_per_s_median"], min(v),
                         max(v)))
        for t, q in res["query_encode_ms"].items():
            query_rows.append((policy, t, q["p50"], q["p95"]))
    best = max(((p, c) for p, r in results.items() for c in r["configs"]),
               key=lambda pc: pc[1]["texts_per_s_median"])
    loads = [x for r in results.values() for x in r["load_average_during"]]
    md = "\n\n".join([
        "## Embedding throughput (texts/s, median over rounds; ~130-character Chinese chunks)",
        markdown_table(["OMP_WAIT_POLICY", "torch threads", "batch", "median", "min", "max"],
                       rows),
        "## One query's encode latency (ms)",
        markdown_table(["OMP_WAIT_POLICY", "torch threads", "p50", "p95"], query_rows),
        f"Best throughput: OMP_WAIT_POLICY={best[0]}, {best[1]['threads']} threads, batch "
        f"{best[1]['batch_size']} ({best[1]['texts_per_s_median']} texts/s). Load average during "
        f"the runs: {min(loads):.2f}-{max(loads):.2f} (1-minute, {info['cpu_count']} cores).",
    ])
    payload = {"machine": info, "rounds": args.rounds, "policies": results,
               "best": {"policy": best[0], **best[1]}, "load_average_after": load_average()}
    common.write_results(f"tuning-{args.tag}" if args.tag else "tuning", payload, md,
                         quick=args.quick)


if __name__ == "__main__":
    main()
