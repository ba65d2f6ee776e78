"""Question latency while a large upload is being indexed, against the same server idle.

    python benchmarks/serving_under_indexing.py [--mb 2] [--quick]

One warm ``RAG`` over a copy of the seeds answers the Q&A questions one after another (as a
user waiting for each answer would): first idle, then while a generated text file of ``--mb``
MB is indexed, once with ``index_process="inline"`` (the build in this process) and once with
``"child"`` (what ``rag chat`` uses: a low-priority child process). Prints p50/p95 and the
ratio to idle p95; writes results/serving_under_indexing.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, load_average, machine, markdown_table, summarize_ms, write_results
from synthetic import SentenceGenerator


def big_text(megabytes: float, seed: int = 7) -> str:
    """About ``megabytes`` MB of generated news-like Chinese text, in paragraphs."""
    gen, parts, size = SentenceGenerator(seed), [], 0
    while size < megabytes * 1_000_000:
        paragraph = "  " + gen.paragraph(200, 600)
        parts.append(paragraph)
        size += len(paragraph.encode("utf-8")) + 2
    return "\n\n".join(parts) + "\n"


def timed_asks(rag, questions: list[str], until: threading.Event | None) -> list[float]:
    """Ask in turn (all of ``questions`` once when idle; while ``until`` is unset otherwise)."""
    out, i = [], 0
    while (until is None and i < len(questions)) or (until is not None and not until.is_set()):
        started = time.perf_counter()
        rag.ask(questions[i % len(questions)])
        out.append(time.perf_counter() - started)
        i += 1
    return out


def run_mode(mode: str, text: str, questions: list[str], work: Path) -> dict:
    from rag.pipeline import RAG

    corpus, index = work / f"corpus-{mode}", work / f"index-{mode}"
    shutil.copytree(ROOT / "seeds", corpus)
    rag = RAG(index_dir=index, corpus_dir=corpus, index_process=mode).open()
    timed_asks(rag, questions[:10], None)  # warm
    idle = timed_asks(rag, questions, None)
    (corpus / "upload.txt").write_text(text, encoding="utf-8")
    done = threading.Event()
    build: dict[str, float] = {}

    def reindex() -> None:
        started = time.perf_counter()
        try:
            rag.reindex()
        finally:
            build["seconds"] = time.perf_counter() - started
            done.set()

    thread = threading.Thread(target=reindex)
    thread.start()
    during = timed_asks(rag, questions, done)
    thread.join()
    rag.close()
    idle_ms, during_ms = summarize_ms(idle), summarize_ms(during)
    return {"mode": mode, "idle": idle_ms, "during": during_ms, "asks_during": len(during),
            "build_s": round(build["seconds"], 1), "chunks_after": rag.manifest["chunks"],
            "p95_ratio": round(during_ms["p95"] / idle_ms["p95"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=2.0, help="size of the uploaded text file")
    parser.add_argument("--quick", action="store_true", help="a 0.2 MB upload")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    mb = 0.2 if args.quick else args.mb
    rows = [json.loads(x) for x in (ROOT / "eval" / "qa_seeds.jsonl").open(encoding="utf-8")]
    questions = [r["question"] for r in rows]
    text = big_text(mb)
    results = []
    with tempfile.TemporaryDirectory(prefix="rag-serving-") as tmp:
        for mode in ("child", "inline"):
            results.append(run_mode(mode, text, questions, Path(tmp)))
    table = markdown_table(
        ["build", "idle p50 / p95 ms", "during p50 / p95 ms", "p95 / idle p95", "asks during",
         "build s"],
        [[r["mode"], f"{r['idle']['p50']} / {r['idle']['p95']}",
          f"{r['during']['p50']} / {r['during']['p95']}", r["p95_ratio"], r["asks_during"],
          r["build_s"]] for r in results])
    md = (f"# Questions while a {mb:g} MB upload is indexed\n\n{table}\n\n"
          f"Load average at the end: {load_average()}.\n")
    write_results("serving_under_indexing", {"machine": machine(), "mb": mb,
                                             "results": results}, md, quick=args.quick)


if __name__ == "__main__":
    main()
