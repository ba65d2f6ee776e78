"""Ingest throughput: ``update_index`` against the raw ``SentenceTransformer.encode`` limit.

For each corpus (the seeds, and the seeds plus generated Chinese documents) and each round:

* **ours**: ``rag.indexing.update_index`` on a new FAISS store in a fresh temporary folder (a
  full build, nothing to reuse) with the embedder already loaded (what ``rag index`` does after
  loading the model): read, repair paragraphs, chunk, embed, [UNK] rate, BM25, write, commit and
  reload. Stages are timed by wrapping the functions ``update_index`` reaches;
* **raw**: ``SentenceTransformer.encode`` of exactly the chunk texts our build produced, with the
  same model, batch size, normalisation and torch thread count; the floor our build approaches.

Rounds interleave ours and raw (alternating which goes first) so load from other processes hits
both; the ratio reported is the median of the per-round ratios ours/raw (target <= 1.10). The
first build in the process (jieba and tiktoken loading their dictionaries) is a warm-up and
reported separately.

    python benchmarks/ingest.py [--quick] [--docs 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import functools
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import common
from common import SEEDS, WORK, load_average, machine, markdown_table, median, peak_rss_bytes


class _StageClock:
    """Accumulates wall time of wrapped callables by stage name. A stage reached inside another
    (the BM25 build inside the store's write) counts for itself only: its time is taken off the
    stage around it, so the stages add up to no more than the whole build. The wrapped
    functions are called from one thread (``update_index``'s), so one stack is enough."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._nested: list[float] = []  # time spent in stages inside each open stage

    def wrap(self, stage: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            self._nested.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - t0
                self.seconds[stage] += took - self._nested.pop()
                if self._nested:
                    self._nested[-1] += took

        return timed


class _TimedEmbedder:
    """Proxy embedder that times ``embed`` and the [UNK]-rate pass (``unk_counts``) separately."""

    def __init__(self, inner, clock: _StageClock) -> None:
        self._inner = inner
        self.name, self.dimension = inner.name, inner.dimension
        self.embed = clock.wrap("embed", inner.embed)
        self.unk_counts = clock.wrap("unk_rate", inner.unk_counts)
        self.unk_rate = clock.wrap("unk_rate", inner.unk_rate)

    def __getattr__(self, item: str) -> Any:
        return getattr(self._inner, item)


# (module, attribute) -> stage name: the functions ``update_index`` reaches on a fresh build
_STAGES = {
    ("rag.indexing", "scan_corpus"): "scan",
    ("rag.indexing", "_live"): "previous",
    ("rag.ingest.engines", "parse_file"): "read+paragraphs+chunks",
    ("rag.stores.faiss.build", "stage"): "write",
    ("rag.stores.faiss", "build_keyword_index"): "bm25",  # inside the write
}


def build_ours(corpus: Path, embedder, settings) -> tuple[float, dict[str, float], list[str]]:
    """Seconds of one fresh ``update_index`` (a new FAISS store: nothing to reuse), its stage
    times, and the chunk texts it made."""
    import importlib

    from rag.indexing import update_index
    from rag.stores import open_store

    clock = _StageClock()
    saved = {key: getattr(importlib.import_module(key[0]), key[1]) for key in _STAGES}
    target = Path(tempfile.mkdtemp(prefix="ingest-", dir=WORK))
    timed = _TimedEmbedder(embedder, clock)
    try:
        for (module, name), fn in saved.items():
            setattr(importlib.import_module(module), name, clock.wrap(_STAGES[module, name], fn))
        store = open_store(settings, target)
        # publish = stage (BM25 + write, timed above) + commit, which reloads the new build
        store.commit = clock.wrap("commit+reload", store.commit)
        t0 = time.perf_counter()
        snapshot = update_index(store, corpus, settings, lambda _choice: timed)
        total = time.perf_counter() - t0
        texts = [c.text for _, c in snapshot.records.all_chunks()]
        store.close()
    finally:
        for (module, name), fn in saved.items():
            setattr(importlib.import_module(module), name, fn)
        shutil.rmtree(target, ignore_errors=True)
    stages = dict(clock.seconds)
    stages["other"] = max(0.0, total - sum(stages.values()))
    return total, stages, texts


def encode_raw(model, texts: list[str], batch_size: int) -> float:
    t0 = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    return time.perf_counter() - t0


def run_corpus(name: str, corpus: Path, rounds: int, embedder, model, settings) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    for r in range(rounds):
        load_before = load_average()[0]
        if r % 2 == 0:
            total, stages, texts = build_ours(corpus, embedder, settings)
            raw = encode_raw(model, texts, settings.embed_batch_size)
        else:  # alternate the order so a drift in load does not favour one side
            raw = encode_raw(model, texts, settings.embed_batch_size)
            total, stages, texts = build_ours(corpus, embedder, settings)
        rows.append({"round": r, "chunks": len(texts), "ours_s": total, "raw_encode_s": raw,
                     "ratio": total / raw, "stages_s": stages, "load_1min": load_before})
        print(f"{name} round {r}: {len(texts)} chunks, ours {total:.1f}s, raw {raw:.1f}s, "
              f"ratio {total / raw:.3f}, load {load_before}", flush=True)
    n = rows[0]["chunks"]
    ours, raw = median([x["ours_s"] for x in rows]), median([x["raw_encode_s"] for x in rows])
    stage_names = sorted({k for x in rows for k in x["stages_s"]})
    return {
        "corpus": name, "path": str(corpus), "chunks": n,
        "chars": sum(len(t) for t in texts), "rounds": rows,
        "ours_s_median": round(ours, 3), "raw_s_median": round(raw, 3),
        "ours_chunks_per_s": round(n / ours, 2), "raw_chunks_per_s": round(n / raw, 2),
        "ratio_median": round(median([x["ratio"] for x in rows]), 3),
        "stages_s_median": {k: round(median([x["stages_s"].get(k, 0.0) for x in rows]), 3)
                            for k in stage_names},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--docs", type=int, default=40, help="generated documents beside the seeds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads after loading (default: what rag sets, the cores)")
    args = parser.parse_args()
    if args.quick:
        args.docs, args.rounds = 2, 1
    WORK.mkdir(parents=True, exist_ok=True)
    from synthetic import corpus_folder

    from rag.config import load_settings
    from rag.embeddings import load_embedder

    info = machine()
    settings = load_settings(embed_model="bundled", store="faiss", ingest_engine="local")
    embedder = load_embedder("bundled", batch_size=settings.embed_batch_size)
    import torch

    model = common.load_model()  # a second, plain instance: the "raw" baseline
    if args.threads:
        torch.set_num_threads(args.threads)
    corpora = [("seeds", SEEDS), (f"seeds+{args.docs} generated", corpus_folder(args.docs))]
    t0 = time.perf_counter()
    first_total, first_stages, _ = build_ours(SEEDS, embedder, settings)
    warmup = {"seconds": round(time.perf_counter() - t0, 3),
              "stages_s": {k: round(v, 3) for k, v in first_stages.items()}}
    results = [run_corpus(name, path, args.rounds, embedder, model, settings)
               for name, path in corpora]
    rows = []
    for res in results:
        st = res["stages_s_median"]
        rows.append((res["corpus"], res["chunks"], res["ours_chunks_per_s"],
                     res["raw_chunks_per_s"], res["ratio_median"],
                     ", ".join(f"{k} {v:.2f}" for k, v in sorted(st.items(), key=lambda x: -x[1]))))
    md = "\n\n".join([
        "## Ingest: update_index vs raw SentenceTransformer.encode (same texts, model, batch, "
        "threads)",
        markdown_table(["corpus", "chunks", "ours chunks/s", "raw encode chunks/s",
                        "ours/raw time (target <= 1.10)", "our stages (s, median)"], rows),
        f"torch threads {torch.get_num_threads()}, batch size {settings.embed_batch_size}, "
        f"{args.rounds} rounds, load average {info['load_average']} before and "
        f"{load_average()} after. First build in the process (jieba/tiktoken warm-up, seeds): "
        f"{warmup['seconds']} s.",
    ])
    payload = {"machine": info, "torch_threads": torch.get_num_threads(),
               "batch_size": settings.embed_batch_size, "warmup_build": warmup,
               "corpora": results, "peak_rss_mib": common.mib(peak_rss_bytes()),
               "load_average_after": load_average()}
    name = f"ingest-threads{args.threads}" if args.threads else "ingest"
    common.write_results(name, payload, md, quick=args.quick)


if __name__ == "__main__":
    main()
