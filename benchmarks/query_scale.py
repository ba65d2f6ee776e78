"""Query latency and memory from 1k to 1M chunks: ``RAG.retrieve`` and extractive ``RAG.ask``.

For each size an index folder is built once (``scale_index.py``: real seed chunks plus generated
Chinese chunks; real vectors up to ``--real-vectors-upto`` chunks, clustered synthetic vectors
above; the store's streaming keyword build at every size, ``--keyword-processes`` processes)
and kept in
``$RAG_BENCH_WORK`` (default /tmp/rag-bench) for the next run. Each size is then measured in a
fresh process:

* RSS after loading the embedding model, after ``RAG(index_dir=...).open()`` and after the
  queries;
  bytes per chunk = (RSS with the index - RSS with the model alone) / chunks;
* ``retrieve`` and ``ask`` (extractive) wall time on a warm process for every question of
  ``eval/qa_seeds.jsonl``, ``--rounds`` times, interleaved: p50/p95; real query encoding;
* hit@5 of ``retrieve`` on the answerable questions (does retrieval hold among distractors);
* a cProfile of the retrieve calls (where the time goes at this size).

Writes results/query_scale.json|md and query_scale.png (latency and memory against size).

    python benchmarks/query_scale.py [--quick] [--sizes 1000,10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common
from common import (
    WORK,
    evidence_hit,
    load_average,
    load_qa,
    machine,
    markdown_table,
    mib,
    peak_rss_bytes,
    rss_bytes,
    summarize_ms,
)

PROFILE_FUNCTIONS = ("encode", "get_scores", "tokenize", "lcut", "argsort", "search",
                     "reconstruct", "fuse_scores", "_passage", "stream")


def index_dir_for(n: int, faiss_index: str) -> Path:
    tag = "" if faiss_index == "auto" else "-" + faiss_index.replace(",", "_")
    return WORK / f"scale-{n}{tag}"


def ensure_index(n: int, args: argparse.Namespace) -> dict[str, Any]:
    folder = index_dir_for(n, args.faiss_index)
    stats_file = folder / "bench-build.json"
    if stats_file.exists() and not args.rebuild and _loadable(folder):
        return json.loads(stats_file.read_text())
    cmd = [sys.executable, __file__, "--child-build", str(n), "--faiss-index", args.faiss_index,
           "--real-vectors-upto", str(args.real_vectors_upto),
           "--keyword-processes", str(args.keyword_processes)]
    subprocess.run(cmd, check=True)
    return json.loads(stats_file.read_text())


def _loadable(folder: Path) -> bool:
    """Whether the cached folder is in the index format this checkout reads."""
    from rag.stores import StoreError
    from rag.stores.faiss.build import read_build
    from rag.stores.manifest import FORMAT_VERSION, KEYWORD_SCHEME

    try:
        _, manifest = read_build(folder, FORMAT_VERSION)  # complete, this format, files as listed
    except StoreError:
        return False
    return manifest.get("keyword") == KEYWORD_SCHEME  # an older keyword index is rebuilt


def child_build(n: int, args: argparse.Namespace) -> None:
    import shutil

    from scale_index import build

    folder = index_dir_for(n, args.faiss_index)
    shutil.rmtree(folder, ignore_errors=True)
    stats = build(folder, n, real_vectors_upto=args.real_vectors_upto,
                  faiss_index=args.faiss_index, keyword_processes=args.keyword_processes)
    print(json.dumps(stats), flush=True)


def _profile_summary(profile: cProfile.Profile, calls: int) -> dict[str, float]:
    """Cumulative ms per retrieve call of the functions of interest."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    out: dict[str, float] = {}
    for (filename, _, name), (_, _, _, cumtime, _) in stats.stats.items():
        if name in PROFILE_FUNCTIONS:
            key = f"{Path(filename).stem}.{name}"
            out[key] = max(out.get(key, 0.0), round(cumtime / calls * 1000, 3))
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:12])


def child_measure(folder: Path, rounds: int, threads: int | None) -> dict[str, Any]:
    from rag.embeddings import load_embedder
    from rag.pipeline import RAG

    rss_start = rss_bytes()
    embedder = load_embedder("bundled")  # RAG shares this model instance (cached per process)
    embedder.embed(["预热"], query=True)
    if threads:
        import torch

        torch.set_num_threads(threads)
    rss_model = rss_bytes()
    t0 = time.perf_counter()
    rag = RAG(index_dir=folder).open()  # the constructor reads nothing; open() loads
    load_s = time.perf_counter() - t0
    rss_index = rss_bytes()
    qa = load_qa()
    questions = [r["question"] for r in qa]
    for q in questions[:5]:  # warm up: jieba dictionary, tiktoken, code paths
        rag.ask(q)
    retrieve_s, ask_s = [], []
    for _ in range(rounds):
        for q in questions:
            t0 = time.perf_counter()
            rag.retrieve(q)
            retrieve_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rag.ask(q)
            ask_s.append(time.perf_counter() - t0)
    answerable = [r for r in qa if r.get("answerable", True)]
    hits = [evidence_hit([p.text for p in rag.retrieve(r["question"])], r["evidence"])
            for r in answerable]
    profile = cProfile.Profile()
    profile.enable()
    for q in questions[:20]:
        rag.retrieve(q)
    profile.disable()
    import torch

    n = rag.manifest["chunks"]
    return {
        "chunks": n,
        "faiss_spec": rag.manifest.get("faiss_spec"),
        "torch_threads": torch.get_num_threads(),
        "load_s": round(load_s, 3),
        "retrieve": summarize_ms(retrieve_s),
        "ask": summarize_ms(ask_s),
        "hit_at_5": round(sum(hits) / len(hits), 3),
        "rss_mib": {"start": mib(rss_start), "model": mib(rss_model), "index": mib(rss_index),
                    "after_queries": mib(rss_bytes()), "peak": mib(peak_rss_bytes())},
        "index_bytes_per_chunk": round((rss_bytes() - rss_model) / n, 1),
        "profile_ms_per_retrieve": _profile_summary(profile, 20),
        "load_average": load_average(),
    }


def measure(n: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child-measure", str(index_dir_for(n, args.faiss_index)),
           "--rounds", str(args.rounds)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    load = load_average()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load_average_before"] = load
    return result


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    sizes = [r["chunks"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    for key, colour in (("retrieve", "tab:blue"), ("ask", "tab:green")):
        ax1.plot(sizes, [r[key]["p50_ms"] for r in rows], "o-", color=colour, label=f"{key} p50")
        ax1.plot(sizes, [r[key]["p95_ms"] for r in rows], "o--", color=colour, alpha=0.5,
                 label=f"{key} p95")
    ax1.set(xscale="log", yscale="log", xlabel="chunks", ylabel="ms",
            title="Query latency (warm process)")
    ax2.plot(sizes, [r["rss_mib"]["after_queries"] for r in rows], "o-", color="tab:red",
             label="process RSS")
    ax2.plot(sizes, [r["rss_mib"]["model"] for r in rows], "--", color="grey",
             label="model loaded, no index")
    ax2.set(xscale="log", yscale="log", xlabel="chunks", ylabel="MiB", title="Memory (RSS)")
    for ax in (ax1, ax2):
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(ScalarFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def replot(stem: str) -> None:
    """Redraw results/<stem>.png and .md from results/<stem>.json."""
    data = json.loads((common.RESULTS / f"{stem}.json").read_text(encoding="utf-8"))
    plot(data["sizes"], common.RESULTS / f"{stem}.png")
    builds = {int(k): v for k, v in data["builds"].items()}
    md = report(data["sizes"], builds).replace("query_scale.png", f"{stem}.png")
    md += _footer(data["machine"], data["load_average_after"], data["rounds"],
                  data.get("threads"))
    (common.RESULTS / f"{stem}.md").write_text(md + "\n", encoding="utf-8")


def _footer(info: dict[str, Any], load_after: list[float], rounds: int,
            threads: int | None) -> str:
    return (f"\n\ntorch threads: {threads or 'as rag sets them (the cores)'}. Load average "
            f"{info['load_average']} at the start, {load_after} at the end "
            f"({info['cpu_count']} cores); {rounds} rounds of {len(load_qa())} questions; "
            f"git {info.get('git', {}).get('commit')}.")


def report(rows: list[dict[str, Any]], builds: dict[int, dict[str, Any]]) -> str:
    table = []
    for prev, r in zip([None, *rows[:-1]], rows, strict=True):
        marginal = "-" if prev is None else f"{(r['rss_mib']['after_queries'] - prev['rss_mib']['after_queries']) * 2**20 / (r['chunks'] - prev['chunks']):,.0f}"  # noqa: E501
        table.append((f"{r['chunks']:,}", r["faiss_spec"],
                      builds[r["chunks"]]["vectors"].split(" ")[0], r["retrieve"]["p50_ms"],
                      r["retrieve"]["p95_ms"], r["ask"]["p50_ms"], r["ask"]["p95_ms"],
                      r["hit_at_5"], r["rss_mib"]["after_queries"],
                      f"{r['index_bytes_per_chunk']:,.0f}", marginal,
                      f"{builds[r['chunks']]['disk_bytes'] / r['chunks']:,.0f}", r["load_s"]))
    build_rows = [(f"{n:,}", b["bm25"].split(" (")[0], b["bm25_s"], b["bm25_peak_rss_growth_mib"],
                   b["write_s"], b["peak_rss_mib"], b.get("peak_memory_all_processes_mib", "-"))
                  for n, b in sorted(builds.items())]
    profile_rows = [(f"{r['chunks']:,}", ", ".join(f"{k} {v:.1f}" for k, v in
                                                    list(r["profile_ms_per_retrieve"].items())[:6]))
                    for r in rows]
    return "\n\n".join([
        "## Query latency and memory by corpus size (warm process, extractive ask)",
        markdown_table(["chunks", "FAISS", "vectors", "retrieve p50 ms", "retrieve p95 ms",
                        "ask p50 ms", "ask p95 ms", "hit@5", "RSS MiB",
                        "RAM B/chunk (RSS - model) / n", "RAM B/chunk marginal",
                        "disk B/chunk", "index load s"], table),
        "## Building the indexes",
        markdown_table(["chunks", "BM25 build", "BM25 s", "BM25 peak RSS growth MiB",
                        "write (store.stage) s", "build peak RSS MiB",
                        "build peak, all processes (Pss) MiB"], build_rows),
        "## Where retrieve time goes (cProfile, cumulative ms per call)",
        markdown_table(["chunks", "top functions"], profile_rows),
        "![latency and memory](query_scale.png)",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: "
                                                                   "what rag sets)")
    parser.add_argument("--faiss-index", default="auto")
    parser.add_argument("--real-vectors-upto", type=int, default=10_000)
    parser.add_argument("--keyword-processes", type=int, default=0,
                        help="keyword build processes (0: one per CPU)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild cached index folders")
    parser.add_argument("--build-only", action="store_true", help="build the index folders only")
    parser.add_argument("--replot", help="only redraw the PNG of results/REPLOT.json")
    parser.add_argument("--child-build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replot:
        replot(args.replot)
        return
    if args.child_build:
        child_build(args.child_build, args)
        return
    if args.child_measure:
        print(json.dumps(child_measure(Path(args.child_measure), args.rounds, args.threads)))
        return
    if args.quick:
        args.sizes, args.rounds, args.real_vectors_upto = "300,2000", 1, 300
    info = machine()
    sizes = [int(s) for s in args.sizes.split(",")]
    builds, rows = {}, []
    for n in sizes:
        builds[n] = ensure_index(n, args)
        if args.build_only:
            print(json.dumps(builds[n]), flush=True)
            continue
        rows.append(measure(n, args))
        print(f"{n:,} chunks: retrieve p50 {rows[-1]['retrieve']['p50_ms']} ms, ask p50 "
              f"{rows[-1]['ask']['p50_ms']} ms, RSS {rows[-1]['rss_mib']['after_queries']} MiB",
              flush=True)
    if args.build_only:
        return
    name = f"query_scale-threads{args.threads}" if args.threads else "query_scale"
    stem = f"{name}-quick" if args.quick else name
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    plot(rows, common.RESULTS / f"{stem}.png")
    md = report(rows, builds).replace("query_scale.png", f"{stem}.png")
    md += _footer(info, load_average(), args.rounds, args.threads)
    payload = {"machine": info, "rounds": args.rounds, "threads": args.threads,
               "builds": {str(k): v for k, v in builds.items()}, "sizes": rows,
               "load_average_after": load_average(), "work_dir": str(WORK),
               "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}}
    common.write_results(name, payload, md, quick=args.quick)


if __name__ == "__main__":
    main()
