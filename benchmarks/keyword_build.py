"""Keyword-index build against jieba's own tokenising time, on the same chunks and cores.

On the generated chunks of ``scale_index.corpus`` (the seeds' chunks plus generated ones), with
the same number of processes (``--processes``, default 2):

* jieba alone: ``jieba.lcut`` over every chunk in a pool of worker processes forked after the
  dictionary is loaded (batches of ``rag.keyword_build.BATCH`` chunks; each batch answers only
  its token count, so the pool costs as little as a pool can);
* the build's cutter alone: the same pool over ``rag.fast_cut`` (jieba's cut, the same words,
  in about 0.6 of the time), to show what the build adds to its own cutting;
* ours: ``build_keyword_index`` over the same texts (tokenise in workers, ids and forward rows
  in the parent, then the term-major BM25 pass), timed whole and in its two halves.

Bar: ours / jieba <= 1.2 (wall time; the CPU-time ratio of all processes is printed too, a
steadier figure on a busy machine, less the CPU time of the memory sampler: it reads every
process's smaps once a second, and the build's process is charged for it). Peak RSS is the
parent's high-water mark during the build (reset before it through /proc/self/clear_refs) and
the largest worker's (``RUSAGE_CHILDREN``). The two runs alternate ``--rounds`` times; the
medians are compared.

    python benchmarks/keyword_build.py [--quick] [--chunks 100000] [--processes 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import (
    TreeMemory,
    load_average,
    machine,
    markdown_table,
    median,
    mib,
    peak_rss_bytes,
    rss_bytes,
    write_results,
)


def _lcut_batch(texts: Sequence[str]) -> int:
    from rag.segmenter import jieba

    lcut = jieba().lcut
    return sum(len(lcut(t)) for t in texts)


_CUTTER: Any = None  # made before the pool forks (rag.fast_cut)


def _fast_batch(texts: Sequence[str]) -> int:
    return sum(len(_CUTTER.lcut(t)) for t in texts)


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children so far (user + system)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def time_jieba(texts: list[str], processes: int, batch: int, *, fast: bool = False
               ) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all processes) of cutting alone: ``jieba.lcut``, or with
    ``fast`` the build's own cutter (``rag.fast_cut``, the same words)."""
    global _CUTTER
    from rag.fast_cut import Cutter
    from rag.segmenter import jieba

    jieba().initialize()
    _CUTTER = Cutter() if fast else None
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    pool = multiprocessing.get_context("fork").Pool(processes)
    try:
        batches = (texts[i:i + batch] for i in range(0, len(texts), batch))
        sum(pool.imap(_fast_batch if fast else _lcut_batch, batches))
    finally:
        pool.terminate()  # joins the workers, so that their CPU time is counted
    return time.perf_counter() - t0, cpu_seconds() - cpu0


def reset_peak_rss() -> bool:
    """Start the high-water mark of this process's RSS again (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
        return True
    except OSError:
        return False


def time_build(texts: list[str], processes: int, memory_mb: int) -> dict[str, Any]:
    import rag.keyword_build as kb

    folder = Path(tempfile.mkdtemp(prefix="kwbuild-"))
    spent: dict[str, float] = {}
    original = kb.write_postings

    def timed_postings(*args: Any, **kwargs: Any) -> None:
        t = time.perf_counter()
        original(*args, **kwargs)
        spent["postings_s"] = time.perf_counter() - t

    kb.write_postings = timed_postings
    rss0 = rss_bytes()
    reset_peak_rss()
    cpu0 = cpu_seconds()
    try:
        with TreeMemory(interval=1.0) as memory:
            t0 = time.perf_counter()
            index = kb.build_keyword_index(folder, [texts], processes=processes,
                                           memory_mb=memory_mb)
            total = time.perf_counter() - t0
    finally:
        kb.write_postings = original
    # the memory sampler's CPU time is the benchmark's, not the build's
    out = {"build_s": total, "build_cpu_s": cpu_seconds() - cpu0 - memory.cpu_s,
           "memory_sampler_cpu_s": round(memory.cpu_s, 2),
           "tokenise_s": total - spent["postings_s"], **spent,
           "terms": index.n_terms, "postings": int(index.meta["entries"]),
           "disk_mib": mib(sum(p.stat().st_size for p in folder.iterdir())),
           "peak_memory_all_processes_mib": mib(memory.peak_bytes),
           "parent_peak_rss_mib": mib(peak_rss_bytes()),
           "parent_peak_growth_mib": mib(peak_rss_bytes() - rss0),
           "worker_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                                        / 1024, 1)}
    shutil.rmtree(folder, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--memory-mb", type=int, default=512)
    ap.add_argument("--quick", action="store_true", help="20k chunks, one round")
    args = ap.parse_args()
    if args.quick:
        args.chunks, args.rounds = min(args.chunks, 20_000), 1
    from scale_index import corpus

    from rag.keyword_build import BATCH

    t0 = time.perf_counter()
    texts = [c.text for c in corpus(args.chunks)[1]]
    print(f"generated {len(texts)} chunks in {time.perf_counter() - t0:.0f}s", flush=True)
    load_before = load_average()
    rounds = []
    for r in range(args.rounds):
        ours = time_build(texts, args.processes, args.memory_mb)
        jieba_s, jieba_cpu_s = time_jieba(texts, args.processes, BATCH)
        cutter_s, _ = time_jieba(texts, args.processes, BATCH, fast=True)
        rounds.append({"jieba_s": jieba_s, "jieba_cpu_s": jieba_cpu_s, "cutter_s": cutter_s,
                       **ours, "ratio": ours["build_s"] / jieba_s,
                       "ratio_to_cutter": ours["build_s"] / cutter_s,
                       "cpu_ratio": ours["build_cpu_s"] / jieba_cpu_s})
        print(f"round {r + 1}: jieba {jieba_s:.1f}s ({jieba_cpu_s:.1f} CPU s), build "
              f"{ours['build_s']:.1f}s ({ours['build_cpu_s']:.1f} CPU s): ratio "
              f"{rounds[-1]['ratio']:.2f}, CPU ratio {rounds[-1]['cpu_ratio']:.2f}", flush=True)
    jieba_s = median([x["jieba_s"] for x in rounds])
    build_s = median([x["build_s"] for x in rounds])
    summary = {"chunks": len(texts), "processes": args.processes, "memory_mb": args.memory_mb,
               "jieba_s": round(jieba_s, 2), "build_s": round(build_s, 2),
               "ratio": round(build_s / jieba_s, 3),
               "cutter_s": round(median([x["cutter_s"] for x in rounds]), 2),
               "ratio_to_cutter": round(median([x["ratio_to_cutter"] for x in rounds]), 3),
               "cpu_ratio": round(median([x["cpu_ratio"] for x in rounds]), 3),
               "tokenise_s": round(median([x["tokenise_s"] for x in rounds]), 2),
               "postings_s": round(median([x["postings_s"] for x in rounds]), 2),
               "memory_sampler_cpu_s": round(median([x["memory_sampler_cpu_s"]
                                                     for x in rounds]), 2),
               "peak_memory_all_processes_mib": max(x["peak_memory_all_processes_mib"]
                                                    for x in rounds),
               "parent_peak_rss_mib": max(x["parent_peak_rss_mib"] for x in rounds),
               "parent_peak_growth_mib": max(x["parent_peak_growth_mib"] for x in rounds),
               "worker_peak_rss_mib": max(x["worker_peak_rss_mib"] for x in rounds),
               "terms": rounds[-1]["terms"], "postings": rounds[-1]["postings"],
               "disk_mib": rounds[-1]["disk_mib"]}
    payload = {"summary": summary, "rounds": rounds, "load_before": load_before,
               "load_after": load_average(), "machine": machine()}
    md = (f"# Keyword-index build vs jieba alone ({len(texts):,} chunks, {args.processes} "
          f"processes)\n\n" + markdown_table(
              ["", "value"], [(k, v) for k, v in summary.items()])
          + "\n\nBar: ratio <= 1.2 (the build against `jieba.lcut` alone). `cutter_s` is the "
          "build's own cutter alone (`rag.fast_cut`: the same words as `jieba.lcut`), and "
          "`ratio_to_cutter` what the build adds to it.\n"
          f"Load before/after: {load_before} / {load_average()}.\n")
    write_results("keyword_build", payload, md, quick=args.quick)


if __name__ == "__main__":
    main()
