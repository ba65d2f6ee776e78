"""Switching knowledge bases in a running process: no rebuild, and once a base is loaded no
extra latency per question.

Two bases are made from the two seed files (A: ``000_…``, B: ``002_…``) and built once before
timing, in another process (the build is reported, not part of the switch). Then one
``rag.multi.Library`` (what ``rag chat`` keeps) asks base A, B, A and B again, each phase
``--passes`` times over the questions of ``eval/qa_seeds.jsonl`` about that base's file. For
every phase it records the time to select the base, the first question after the switch (for
a base not yet loaded, this includes opening its index and loading its model) and p50/p95 of
all questions. Index publications are counted (``Store.publish``) to show that no switch
rebuilds. For contrast, opening a base afresh (a new ``RAG(kb=...)`` per switch, no cache;
the models already in memory) is timed too.

By default base B uses a second embedding model (the bundled MiniLM's files under another
path), so a switch also changes the model that encodes the question.

    python benchmarks/kb_switch.py [--passes 3] [--same-model] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common
from common import SEEDS, WORK, load_average, load_qa, machine, markdown_table, summarize_ms

DOCS = {"A": "000_714dc78de03cf996.txt", "B": "002_c385dfa94da2c315.txt"}


def _bases(root: Path, two_models: bool):
    from rag.bases import Registry
    from rag.embeddings import bundled_model_path

    shutil.rmtree(root, ignore_errors=True)
    registry = Registry(root / "bases")
    model_b = "bundled"
    if two_models:
        copy = root / "minilm-copy"
        copy.mkdir(parents=True)
        for item in Path(bundled_model_path()).iterdir():
            (copy / item.name).symlink_to(item)
        model_b = str(copy)
    for name, doc in DOCS.items():
        corpus = root / f"corpus-{name}"
        corpus.mkdir(parents=True)
        shutil.copy(SEEDS / doc, corpus / doc)
        registry.create(name, corpus, embed_model="bundled" if name == "A" else model_b)
    return registry


def _build(registry) -> dict[str, float]:
    """Build both bases in a separate process, so the timed process starts cold (its first
    question on each base includes loading that base's index and embedding model)."""
    code = ("import sys, time; from rag.pipeline import RAG; t = time.perf_counter(); "
            "RAG(kb=sys.argv[1], bases_dir=sys.argv[2]).open(); print(time.perf_counter() - t)")
    env = {**os.environ, "PYTHONPATH": str(common.ROOT)}
    return {name: round(float(subprocess.run(
        [sys.executable, "-c", code, name, str(registry.root)], env=env, check=True,
        capture_output=True, text=True).stdout.split()[-1]), 3) for name in DOCS}


def _phase(library, name: str, questions: list[str], passes: int) -> dict[str, Any]:
    started = time.perf_counter()
    rag = library.select(name)
    selected = time.perf_counter() - started
    first = time.perf_counter()
    answer = rag.ask(questions[0])
    first = time.perf_counter() - first
    assert {c.kb for c in answer.citations} <= {name}, answer.citations
    seconds = []
    for _ in range(passes):
        for q in questions:
            t = time.perf_counter()
            rag.ask(q)
            seconds.append(time.perf_counter() - t)
    return {"base": name, "select_ms": round(selected * 1000, 3),
            "first_question_ms": round(first * 1000, 1), **summarize_ms(seconds),
            "version": rag.version}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--same-model", action="store_true", help="both bases on one model")
    parser.add_argument("--quick", action="store_true", help="one pass, fewer questions")
    args = parser.parse_args()
    passes = 1 if args.quick else args.passes

    from rag.multi import Library
    from rag.pipeline import RAG
    from rag.stores.base import Store

    load_before = load_average()
    registry = _bases(WORK / "kb_switch", two_models=not args.same_model)
    built = _build(registry)
    publishes = {"n": 0}
    publish = Store.publish

    def counted(self, delta):
        publishes["n"] += 1
        return publish(self, delta)

    Store.publish = counted  # type: ignore[method-assign]
    qa = [r for r in load_qa(answerable_only=True) if r.get("doc") in DOCS.values()]
    questions = {n: [r["question"] for r in qa if r["doc"] == d] for n, d in DOCS.items()}
    if args.quick:
        questions = {n: q[:5] for n, q in questions.items()}

    library = Library(registry)
    phases = [_phase(library, name, questions[name], passes) for name in ("A", "B", "A", "B")]
    fresh = []
    for name in ("A", "B"):  # no cache: a new RAG for the base at every switch
        started = time.perf_counter()
        rag = RAG(kb=name, bases_dir=str(registry.root)).open()
        rag.ask(questions[name][0])
        fresh.append({"base": name, "open_and_first_question_ms":
                      round((time.perf_counter() - started) * 1000, 1)})
        rag.close()
    library.close()
    models = {n: registry.get(n).settings.get("embed_model") for n in DOCS}
    payload = {"machine": machine(), "load_before": load_before, "passes": passes, "models": models,
               "questions": {n: len(q) for n, q in questions.items()}, "build_s": built,
               "publishes_during_switching": publishes["n"], "phases": phases,
               "fresh_open_per_switch": fresh}
    rows = [[i + 1, p["base"], p["select_ms"], p["first_question_ms"], p["p50_ms"],
             p["p95_ms"], p["n"]] for i, p in enumerate(phases)]
    md = "\n".join([
        "# Switching knowledge bases in one process",
        "",
        f"Bases: A = {DOCS['A']} (model `{models['A']}`), B = {DOCS['B']} (model "
        f"`{models['B']}`); built once before timing, in another process, in {built['A']} s "
        f"and {built['B']} s. This process starts cold: the first question on a base includes "
        "opening its index and loading its model.",
        f"One `Library` asks A, B, A, B; each phase {passes} pass(es) over the base's questions.",
        "",
        markdown_table(["phase", "base", "select (ms)", "first question (ms)", "p50 (ms)",
                        "p95 (ms)", "questions"], rows),
        "",
        f"Index publications during the switching: {publishes['n']} (no rebuild).",
        "Opening a base afresh per switch instead (new `RAG(kb=...)`, open + first question): "
        + ", ".join(f"{f['base']} {f['open_and_first_question_ms']} ms" for f in fresh) + ".",
        "",
        f"Load average before / after: {load_before} / {payload['machine']['load_average']} "
        "(2 shared cores).",
    ])
    common.write_results("kb_switch", payload, md, quick=args.quick)


if __name__ == "__main__":
    main()
