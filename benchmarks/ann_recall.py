"""Approximate FAISS indexes against exact search: recall, query time, build time and size.

Database vectors are those of the query-scale indexes (``scale_index.index_vectors``: clustered
around real all-MiniLM-L6-v2 embeddings of generated chunks) and, with ``--kinds random``, plain
random unit vectors (fixed seed; the hardest case for graph and cluster indexes, since nothing is
near anything). Queries are real: the seed Q&A questions and generated sentences, encoded with
the model. Every index is made with ``rag.stores.faiss.vectors.make_vector_index`` and tuned
with ``tune_for_search`` as ``FaissSnapshot`` does, then swept over efSearch / nprobe.

* recall@10 = |approximate top 10 ∩ exact top 10| / 10, searching k = 50 like the retriever
  (``retrieval.CANDIDATES``); recall@50 likewise over all 50 candidates;
* PQ uses the ``np`` suffix (no polysemous training): plain ``PQ48`` spent 210 s training on
  20k vectors here, against 24 s without it, for the same codes;
* query time: one query per ``search`` call (as in ``RAG.retrieve``), p50/p95;
* exact query time at several sizes (subsets of the same vectors) for the threshold.

    python benchmarks/ann_recall.py [--quick] [--sizes 100000,1000000] [--kinds clustered,random]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import common
import numpy as np
from common import WORK, load_average, machine, markdown_table, percentile

EF_SWEEP = (16, 32, 64, 128, 256, 512)
NPROBE_SWEEP = (8, 16, 32, 64, 128)
K = 50


def queries(n_generated: int) -> np.ndarray:
    from scale_index import embed_texts
    from synthetic import SentenceGenerator

    gen = SentenceGenerator(seed=99)
    texts = [r["question"] for r in common.load_qa()] + [gen.sentence()
                                                         for _ in range(n_generated)]
    return embed_texts(texts)


def database(kind: str, n: int, real_vectors_upto: int) -> np.ndarray:
    """The n vectors of the query-scale index of that size, or random unit vectors."""
    from scale_index import DIMENSION, corpus, index_vectors, seed_records, synthetic_vectors

    if kind == "random":
        return synthetic_vectors(n, np.zeros((0, DIMENSION), dtype=np.float32), seed=n)
    texts = [c.text for c in corpus(n)[1]] if n <= real_vectors_upto else []
    return index_vectors(n, texts, len(seed_records()[1]), real_vectors_upto)[0]


def timed_search(index, q: np.ndarray, k: int = K) -> tuple[np.ndarray, list[float]]:
    ids = np.empty((len(q), k), dtype=np.int64)
    times = []
    for i in range(len(q)):
        t0 = time.perf_counter()
        _, found = index.search(q[i : i + 1], k)
        times.append((time.perf_counter() - t0) * 1000)
        ids[i] = found[0]
    return ids, times


def recall(approx: np.ndarray, exact: np.ndarray, k: int) -> float:
    hits = [len(set(a[:k]) & set(e[:k])) / k for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits))


def sweep(spec: str, vectors: np.ndarray, q: np.ndarray, exact: np.ndarray) -> dict[str, Any]:
    import faiss

    from rag.stores.faiss.vectors import make_vector_index, tune_for_search

    t0 = time.perf_counter()
    index = make_vector_index(vectors, vectors.shape[1], spec)
    build_s = time.perf_counter() - t0
    tune_for_search(index)
    inner = faiss.downcast_index(index)
    knob = "efSearch" if hasattr(inner, "hnsw") else "nprobe"
    default = inner.hnsw.efSearch if knob == "efSearch" else inner.nprobe
    points = []
    for value in EF_SWEEP if knob == "efSearch" else NPROBE_SWEEP:
        if knob == "efSearch":
            inner.hnsw.efSearch = value
        else:
            inner.nprobe = value
        timed_search(index, q[:5])  # warm
        ids, ms = timed_search(index, q)
        points.append({knob: value, "recall_at_10": round(recall(ids, exact, 10), 4),
                       "recall_at_50": round(recall(ids, exact, 50), 4),
                       "p50_ms": round(percentile(ms, 50), 3),
                       "p95_ms": round(percentile(ms, 95), 3)})
        print(f"  {spec} {knob}={value}: recall@10 {points[-1]['recall_at_10']}, "
              f"p50 {points[-1]['p50_ms']} ms", flush=True)
    size = len(faiss.serialize_index(index))
    del index
    return {"spec": spec, "knob": knob, "library_default": default, "build_s": round(build_s, 2),
            "bytes_per_vector": round(size / len(vectors), 1), "points": points}


def exact_curve(vectors: np.ndarray, q: np.ndarray, sizes: list[int]) -> list[dict[str, Any]]:
    """Exact search time by size with 1 and with all FAISS OpenMP threads (interleaved)."""
    import faiss

    from rag.stores.faiss.vectors import make_vector_index

    cores = os.cpu_count() or 1
    out = []
    for m in sizes:
        if m > len(vectors):
            continue
        index = make_vector_index(vectors[:m], vectors.shape[1], "Flat")
        ms: dict[int, list[float]] = {1: [], cores: []}
        for i in range(100):
            for threads in ms:
                faiss.omp_set_num_threads(threads)
                ms[threads] += timed_search(index, q[i % len(q) : i % len(q) + 1])[1]
        row = {"vectors": m}
        for threads, values in ms.items():
            row[f"p50_ms_{threads}t"] = round(percentile(values, 50), 3)
            row[f"p95_ms_{threads}t"] = round(percentile(values, 95), 3)
        out.append(row)
        del index
    faiss.omp_set_num_threads(cores)
    return out


def run_size(kind: str, n: int, q: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    from rag.stores.faiss.vectors import make_vector_index

    vectors = database(kind, n, args.real_vectors_upto)
    flat = make_vector_index(vectors, vectors.shape[1], "Flat")
    timed_search(flat, q[:5])
    exact, flat_ms = timed_search(flat, q)
    del flat
    print(f"{kind} {n:,}: exact p50 {percentile(flat_ms, 50):.2f} ms", flush=True)
    nlist = args.nlist
    specs = ["HNSW32,Flat", f"IVF{nlist},SQ8", f"IVF{nlist},PQ48np"]
    result = {"kind": kind, "vectors": n,
              "exact": {"p50_ms": round(percentile(flat_ms, 50), 3),
                        "p95_ms": round(percentile(flat_ms, 95), 3),
                        "bytes_per_vector": vectors.shape[1] * 4},
              "indexes": [sweep(spec, vectors, q, exact) for spec in specs],
              "load_average": load_average()}
    return result


def recommend(runs: list[dict[str, Any]], curve: list[dict[str, Any]]) -> dict[str, Any]:
    """Where exact search starts to cost more than HNSW by a noticeable margin."""
    hnsw = [r for run in runs if run["kind"] == "clustered" for r in run["indexes"]
            if r["spec"].startswith("HNSW")]
    default_points = [p for r in hnsw for p in r["points"] if p["efSearch"] == r["library_default"]]
    hnsw_ms = max((p["p50_ms"] for p in default_points), default=0.0)
    # exact search time is linear in the vectors: fit ms = a * n through the curve
    out: dict[str, Any] = {"hnsw_default_p50_ms": hnsw_ms}
    xs = np.array([c["vectors"] for c in curve], dtype=float)
    for key in [k for k in curve[0] if k.startswith("p50_ms_")] if curve else []:
        ys = np.array([c[key] for c in curve], dtype=float)
        slope = float(np.sum(xs * ys) / np.sum(xs * xs))
        tag = key.removeprefix("p50_ms_")
        out[f"exact_ms_per_100k_{tag}"] = round(slope * 100_000, 3)
        out[f"exact_exceeds_hnsw_by_5ms_at_{tag}"] = int((hnsw_ms + 5) / slope)
        out[f"exact_exceeds_hnsw_by_20ms_at_{tag}"] = int((hnsw_ms + 20) / slope)
    return out


def report(runs: list[dict[str, Any]], curve: list[dict[str, Any]], rec: dict[str, Any]) -> str:
    rows = []
    for run in runs:
        rows.append((run["kind"], f"{run['vectors']:,}", "Flat (exact)", "-", 1.0, 1.0,
                     run["exact"]["p50_ms"], run["exact"]["p95_ms"], "-",
                     run["exact"]["bytes_per_vector"]))
        for idx in run["indexes"]:
            for p in idx["points"]:
                mark = "*" if p[idx["knob"]] == idx["library_default"] else ""
                rows.append((run["kind"], f"{run['vectors']:,}", idx["spec"],
                             f"{idx['knob']}={p[idx['knob']]}{mark}", p["recall_at_10"],
                             p["recall_at_50"], p["p50_ms"], p["p95_ms"], idx["build_s"],
                             idx["bytes_per_vector"]))
    return "\n\n".join([
        "## Approximate vs exact search (one query per call, k=50; * = the FAISS store default)",
        markdown_table(["vectors", "n", "index", "setting", "recall@10", "recall@50", "p50 ms",
                        "p95 ms", "build s", "bytes/vector"], rows),
        "## Exact search time by size (Flat, one query, k=50; FAISS OpenMP threads 1 and all)",
        markdown_table(["vectors", *[k.replace("_", " ") for k in curve[0] if k != "vectors"]],
                       [(f"{c['vectors']:,}", *[v for k, v in c.items() if k != "vectors"])
                        for c in curve]),
        "Linear fit of exact search time and where it exceeds HNSW (default efSearch, "
        f"{rec['hnsw_default_p50_ms']} ms at the largest size): "
        + "; ".join(f"{k.replace('_', ' ')} = {v:,}" for k, v in rec.items()
                    if k != "hnsw_default_p50_ms") + ".",
    ])


def update_curve(args: argparse.Namespace, q: np.ndarray, info: dict[str, Any]) -> None:
    """Re-measure the exact curve and rewrite results/ann_recall.json|md with it."""
    import json

    stem = "ann_recall-quick" if args.quick else "ann_recall"
    path = common.RESULTS / f"{stem}.json"
    payload = json.loads(path.read_text(encoding="utf-8"))
    biggest = max(int(s) for s in args.sizes.split(","))
    curve = exact_curve(database("clustered", biggest, args.real_vectors_upto), q,
                        curve_sizes(biggest))
    rec = recommend(payload["runs"], curve)
    md = report(payload["runs"], curve, rec) + (
        f"\n\n{len(q)} real queries. Sweeps: load average {payload['machine']['load_average']}"
        f" to {payload['load_average_after']}; exact curve re-measured with load "
        f"{info['load_average']} to {load_average()}.")
    payload.update({"exact_curve": curve, "recommendation": rec, "curve_machine": info})
    common.write_results("ann_recall", {k: v for k, v in payload.items()
                                        if k not in ("benchmark", "quick", "finished")}, md,
                         quick=args.quick)


def curve_sizes(biggest: int) -> list[int]:
    steps = [10_000, 30_000, 50_000, 100_000, 200_000, 300_000, 500_000, 1_000_000]
    return [s for s in steps if s <= biggest] or [biggest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--kinds", default="clustered,random")
    parser.add_argument("--random-sizes", default="100000", help="sizes for the random kind")
    parser.add_argument("--nlist", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=129, help="generated queries beside "
                                                                 "the 71 questions")
    parser.add_argument("--real-vectors-upto", type=int, default=10_000)
    parser.add_argument("--curve-only", action="store_true",
                        help="only re-measure the exact-search curve into the existing results")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.random_sizes, args.nlist, args.queries = "20000", "20000", 64, 29
        args.real_vectors_upto = 300
    WORK.mkdir(parents=True, exist_ok=True)
    info = machine()
    import faiss

    q = queries(args.queries)
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # embedding set 1 thread; use what rag gets
    if args.curve_only:
        update_curve(args, q, info)
        return
    runs = []
    for kind in args.kinds.split(","):
        sizes = args.sizes if kind == "clustered" else args.random_sizes
        for n in (int(s) for s in sizes.split(",")):
            runs.append(run_size(kind, n, q, args))
    biggest = max(int(s) for s in args.sizes.split(","))
    curve = exact_curve(database("clustered", biggest, args.real_vectors_upto), q,
                        curve_sizes(biggest))
    rec = recommend(runs, curve)
    md = report(runs, curve, rec) + (
        f"\n\n{len(q)} real queries; faiss {faiss.__version__} with "
        f"{faiss.omp_get_max_threads()} OpenMP threads; load average {info['load_average']} at "
        f"the start, {load_average()} at the end.")
    payload = {"machine": info, "queries": len(q), "k": K, "runs": runs, "exact_curve": curve,
               "recommendation": rec, "load_average_after": load_average()}
    common.write_results("ann_recall", payload, md, quick=args.quick)


if __name__ == "__main__":
    main()
