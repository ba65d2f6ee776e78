"""Ray Data ingestion (``rag.ingest.ray``) against the single-process path, on one machine.

For a corpus (the seeds, or ``--copies N`` copies of them in sub-folders) it measures, in one
process, in this order:

* **model load**: importing sentence-transformers/torch and loading the bundled model in the
  driver, as a fresh ``rag index`` does before it embeds;
* **single process**: ``rag.ingest.process.parse_file`` per file plus one ``Embedder.embed``
  of all chunk texts (what the ``local`` engine does on a fresh build);
* **Ray start-up**: ``import ray`` plus starting a local Ray (``ray.init``, as
  ``process_files_ray`` does when no Ray is running);
* **pipeline**: ``process_files_ray`` over every file: read, repair and chunk in Ray tasks,
  embed in an actor that loads the model. Every call starts a fresh actor pool, so every call
  pays torch's import and the model load inside the actor; the first also pays Ray Data's and
  the worker processes' warm-up.

The first single run and first pipeline give the fresh-process comparison; ``--rounds`` - 1
further pairs (alternating which side goes first) give the per-call figures with Ray running.
Both sides use the same embedding batch size (``--batch-size``, default
``rag.ingest.ray.DEFAULT_EMBED_BATCH_SIZE``). ``--batch-sizes 16,32,64`` also times the
pipeline at each batch size (interleaved rounds), which is how that default was chosen.

Each run updates its corpus's entry in ``results/ray_overhead.json`` and rewrites
``results/ray_overhead.md`` from every stored entry, so the seeds and ``--copies`` runs sit in
one table.

    python benchmarks/ray_overhead.py [--copies 4] [--rounds 3] [--batch-sizes 16,32,64]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import common
from common import RESULTS, SEEDS, WORK, load_average, machine, markdown_table, median

NAME = "ray_overhead"


def copies_corpus(n: int) -> Path:
    """``n`` copies of the seed files, ``copy0/...`` to ``copy{n-1}/...``."""
    root = WORK / f"ray-overhead-seeds-x{n}"
    shutil.rmtree(root, ignore_errors=True)
    for i in range(n):
        shutil.copytree(SEEDS, root / f"copy{i}")
    return root


def corpus_paths(root: Path) -> list[str]:
    from rag.documents import find_files

    return [p.relative_to(root).as_posix() for p in find_files(root)]


def run_single(root: Path, paths: list[str], settings, embedder) -> tuple[float, int]:
    """Seconds of the single-process path over ``paths``, and the chunks it made."""
    from rag.ingest.process import parse_file

    t0 = time.perf_counter()
    chunks = []
    for rel in paths:
        chunks.extend(parse_file(root, rel, settings).chunks)
    embedder.embed([c.text for c in chunks])
    return time.perf_counter() - t0, len(chunks)


def run_ray(root: Path, paths: list[str], settings, model, batch_size: int) -> tuple[float, int]:
    from rag.ingest.ray import process_files_ray

    t0 = time.perf_counter()
    results = process_files_ray(root, paths, settings, model, embed_batch_size=batch_size)
    return time.perf_counter() - t0, sum(len(r.chunks) for r in results)


def measure_batch_sizes(root, paths, settings, model, sizes: list[int], rounds: int
                        ) -> dict[str, Any]:
    times: dict[int, list[float]] = {b: [] for b in sizes}
    for r in range(rounds):
        order = sizes if r % 2 == 0 else list(reversed(sizes))
        for b in order:
            seconds, _ = run_ray(root, paths, settings, model, b)
            times[b].append(seconds)
            print(f"batch {b} round {r}: pipeline {seconds:.2f}s, load {load_average()[0]}",
                  flush=True)
    return {str(b): {"rounds_s": [round(t, 3) for t in ts], "median_s": round(median(ts), 3)}
            for b, ts in times.items()}


def render(entries: dict[str, Any], batch: dict[str, Any] | None) -> str:
    rows = []
    for label, e in entries.items():
        rows.append((label, e["files"], e["chunks"], e["model_load_s"], e["single_first_s"],
                     e["single_s_median"], e["ray_startup_s"], e["pipeline_first_s"],
                     e["pipeline_s_median"], e["single_total_s"], e["ray_total_s"],
                     e["overhead_s"], e["warm_overhead_s"]))
    parts = [
        "## Ray Data ingestion vs one process (read + paragraphs + chunks + embed)",
        markdown_table(["corpus", "files", "chunks", "model load s (with imports)",
                        "single first s", "single later s (median)", "Ray start-up s",
                        "pipeline first s", "pipeline later s (median)",
                        "single total s", "Ray total s", "overhead s (fresh process)",
                        "overhead s per later call"], rows),
        "Fresh process: single total = model load + first single-process run; Ray total = Ray "
        "start-up + first pipeline; overhead = Ray total - single total. Later calls in the "
        "same process (Ray running, model loaded in the driver): overhead = pipeline median - "
        "single median; each pipeline still starts an embedding actor that imports torch and "
        "loads the model.",
    ]
    for label, e in entries.items():
        parts.append(f"- {label}: {e['rounds']} rounds, batch size {e['batch_size']}, "
                     f"{e['num_cpus']} Ray CPUs, pipeline {e['pipeline_rounds_s']} s, "
                     f"single {e['single_rounds_s']} s, load average {e['load_before']} "
                     f"before, {e['load_after']} after ({e['finished']}).")
    if batch:
        parts.append(f"### Embedding batch size (pipeline s, {batch['corpus']}, "
                     f"{batch['chunks']} chunks, Ray running)")
        parts.append(markdown_table(["batch size", "median s", "rounds s"],
                                    [(b, v["median_s"], v["rounds_s"])
                                     for b, v in batch["sizes"].items()]))
        parts.append(f"Load average {batch['load_before']} before, {batch['load_after']} after "
                     f"({batch['finished']}).")
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=0,
                        help="use N copies of the seeds instead of the seeds themselves")
    parser.add_argument("--rounds", type=int, default=3,
                        help="pipeline/single pairs; the first is the fresh-process pair")
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="CPUs of the local Ray (default: the machine's cores)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="embedding batch size for both sides (default: the module's)")
    parser.add_argument("--batch-sizes", default="",
                        help="comma-separated batch sizes to time the pipeline with, e.g. 16,32,64")
    parser.add_argument("--quick", action="store_true", help="one round, results in *-quick")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    WORK.mkdir(parents=True, exist_ok=True)
    load_before = load_average()

    # The model first, before anything imports torch: its load time includes the imports a
    # fresh `rag index` pays.
    t0 = time.perf_counter()
    from rag.embeddings import BUNDLED_MODEL, SentenceTransformerEmbedder, resolve_model
    from rag.ingest.ray import DEFAULT_EMBED_BATCH_SIZE, _ensure_ray

    batch_size = args.batch_size or DEFAULT_EMBED_BATCH_SIZE
    model = resolve_model(BUNDLED_MODEL)
    embedder = SentenceTransformerEmbedder(model, batch_size=batch_size)
    model_load = time.perf_counter() - t0

    from rag.config import load_settings

    settings = load_settings(embed_model=BUNDLED_MODEL, embed_batch_size=batch_size)
    root = copies_corpus(args.copies) if args.copies else SEEDS
    label = f"seeds x{args.copies}" if args.copies else "seeds"
    paths = corpus_paths(root)
    single_first, chunks = run_single(root, paths, settings, embedder)

    t0 = time.perf_counter()
    ray = _ensure_ray(args.num_cpus)
    startup = time.perf_counter() - t0
    num_cpus = int(ray.cluster_resources().get("CPU", 0))
    pipeline_first, _ = run_ray(root, paths, settings, model, batch_size)
    print(f"{label}: {len(paths)} files, {chunks} chunks; model load {model_load:.2f}s, single "
          f"{single_first:.2f}s; Ray start-up {startup:.2f}s ({num_cpus} CPUs), pipeline "
          f"{pipeline_first:.2f}s", flush=True)
    info = machine()  # imports the libraries whose versions it records: after the timed loads

    pipeline, single = [], []
    for r in range(1, args.rounds):
        for side in (("single", "ray") if r % 2 else ("ray", "single")):
            if side == "ray":
                pipeline.append(run_ray(root, paths, settings, model, batch_size)[0])
            else:
                single.append(run_single(root, paths, settings, embedder)[0])
        print(f"round {r}: pipeline {pipeline[-1]:.2f}s, single {single[-1]:.2f}s, "
              f"load {load_average()[0]}", flush=True)
    pipeline_median = median(pipeline) if pipeline else pipeline_first
    single_median = median(single) if single else single_first

    ray_total = startup + pipeline_first
    single_total = model_load + single_first
    entry = {
        "corpus": label, "path": str(root), "files": len(paths), "chunks": chunks,
        "rounds": args.rounds, "batch_size": batch_size, "num_cpus": num_cpus,
        "model_load_s": round(model_load, 3),
        "single_first_s": round(single_first, 3),
        "single_rounds_s": [round(t, 2) for t in single],
        "single_s_median": round(single_median, 3),
        "ray_startup_s": round(startup, 3),
        "pipeline_first_s": round(pipeline_first, 3),
        "pipeline_rounds_s": [round(t, 2) for t in pipeline],
        "pipeline_s_median": round(pipeline_median, 3),
        "single_total_s": round(single_total, 3),
        "ray_total_s": round(ray_total, 3),
        "overhead_s": round(ray_total - single_total, 3),
        "warm_overhead_s": round(pipeline_median - single_median, 3),
        "load_before": load_before, "load_after": load_average(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    batch = None
    if args.batch_sizes:
        sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
        before = load_average()
        batch = {"corpus": label, "chunks": chunks, "load_before": before,
                 "sizes": measure_batch_sizes(root, paths, settings, model, sizes, args.rounds),
                 "load_after": load_average(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    ray.shutdown()

    stem = f"{NAME}-quick" if args.quick else NAME
    stored_path = RESULTS / f"{stem}.json"
    stored = json.loads(stored_path.read_text(encoding="utf-8")) if stored_path.is_file() else {}
    entries = stored.get("corpora", {})
    entries[label] = entry
    batch = batch or stored.get("batch_sizes")
    payload = {"machine": info, "corpora": entries, "batch_sizes": batch}
    common.write_results(NAME, payload, render(entries, batch), quick=args.quick)


if __name__ == "__main__":
    main()
