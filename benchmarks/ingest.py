"""Ingest throughput: ``build_index`` against the raw ``SentenceTransformer.encode`` limit.

For each corpus (the seeds, and the seeds plus generated Chinese documents) and each round:

* **ours**: ``rag.indexing.build_index`` into a fresh temporary folder with the embedder already
  loaded (what ``rag index`` does after loading the model): read, repair paragraphs, chunk, embed,
  BM25, write, reload. Stages are timed by wrapping the functions ``build_index`` calls;
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
    """Accumulates wall time of wrapped callables by stage name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, stage: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - t0

        return timed


class _TimedEmbedder:
    """Proxy embedder that times ``embed`` and ``unk_rate`` separately."""

    def __init__(self, inner, clock: _StageClock) -> None:
        self._inner = inner
        self.name, self.dimension = inner.name, inner.dimension
        self.embed = clock.wrap("embed", inner.embed)
        self.unk_rate = clock.wrap("unk_rate", inner.unk_rate)

    def __getattr__(self, item: str) -> Any:
        return getattr(self._inner, item)


_STAGES = {  # rag.indexing attribute -> stage name
    "scan_corpus": "scan",
    "_previous": "previous",
    "_collect": "read+paragraphs+chunks",
    "write_index": "write",
    "load_index": "reload",
}


def build_ours(corpus: Path, embedder, settings) -> tuple[float, dict[str, float], list[str]]:
    """Seconds of one fresh build_index, its stage times, and the chunk texts it made."""
    import rag.indexing as indexing

    clock = _StageClock()
    saved = {name: getattr(indexing, name) for name in _STAGES if hasattr(indexing, name)}
    keyword_cls = indexing.KeywordIndex
    original_build = keyword_cls.__dict__["build"]
    target = Path(tempfile.mkdtemp(prefix="ingest-", dir=WORK))
    try:
        for name, fn in saved.items():
            setattr(indexing, name, clock.wrap(_STAGES[name], fn))
        keyword_cls.build = classmethod(clock.wrap("bm25", original_build.__func__))
        t0 = time.perf_counter()
        data = indexing.build_index(corpus, target, settings, _TimedEmbedder(embedder, clock),
                                    reuse=False)
        total = time.perf_counter() - t0
    finally:
        for name, fn in saved.items():
            setattr(indexing, name, fn)
        keyword_cls.build = original_build
        shutil.rmtree(target, ignore_errors=True)
    stages = dict(clock.seconds)
    stages["other"] = max(0.0, total - sum(stages.values()))
    return total, stages, [c.text for c in data.chunks]


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
    settings = load_settings(embed_model="bundled")
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
        "## Ingest: build_index vs raw SentenceTransformer.encode (same texts, model, batch, "
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
