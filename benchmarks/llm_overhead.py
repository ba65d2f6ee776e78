"""What the LLM path adds per answer besides the model: prompt building plus citation checking.

For every question of the seed Q&A set it retrieves passages once, then times
``build_prompt`` + ``check_citations`` on a canned reply (the first sentences of sources 1 and
2 with their markers, one of them full-width and one pointing at no source; the fixed
not-found sentence for unanswerable questions). Reports the median over questions of each
question's median over ``--repeat`` runs.

    python benchmarks/llm_overhead.py [--index index] [--corpus seeds] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import time
from pathlib import Path

from rag.answerers.base import NOT_FOUND
from rag.citations import check_citations
from rag.pipeline import RAG
from rag.prompting import build_prompt

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("benchmarks.llm_overhead")


def canned_reply(sources: list[str], answerable: bool) -> str:
    if not answerable or not sources:
        return NOT_FOUND["zh"]
    first = [re.match(r"[^。！？]*[。！？]?", s).group(0).strip() for s in sources[:2]]
    reply = f"{first[0]}[1]"
    if len(first) > 1:
        reply += f"{first[1]}【2】[{len(sources) + 3}]"
    return reply


def measure(rag: RAG, item: dict, repeat: int) -> tuple[float, float, float]:
    """Median ms of (prompt, citations, both) for one question."""
    question = item["question"]
    passages = rag.retrieve(question)
    evidence = rag.evidence(question, passages, ())
    prompt_ms, cite_ms, both_ms = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        prompt = build_prompt(question, passages, context_tokens=rag.settings.context_tokens,
                              answer_tokens=rag.settings.answer_tokens)
        t1 = time.perf_counter()
        reply = canned_reply([s.text for s in prompt.sources], item.get("answerable", True))
        t2 = time.perf_counter()
        check_citations(reply, prompt.sources, evidence.paragraph)
        t3 = time.perf_counter()
        prompt_ms.append((t1 - t0) * 1000)
        cite_ms.append((t3 - t2) * 1000)
        both_ms.append((t1 - t0 + t3 - t2) * 1000)
    return statistics.median(prompt_ms), statistics.median(cite_ms), statistics.median(both_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=str(ROOT / "index"))
    parser.add_argument("--corpus", default=str(ROOT / "seeds"))
    parser.add_argument("--qa", default=str(ROOT / "eval" / "qa_seeds.jsonl"))
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rag = RAG(index_dir=args.index, corpus_dir=args.corpus)
    items = [json.loads(line) for line in Path(args.qa).read_text(encoding="utf-8").splitlines()
             if line.strip()]
    measure(rag, items[0], 3)  # warm up: tiktoken and jieba load on first use
    rows = [measure(rag, item, args.repeat) for item in items]
    prompt, cite, both = (sorted(col) for col in zip(*rows, strict=True))
    result = {
        "questions": len(rows),
        "repeat": args.repeat,
        "prompt_ms_median": round(statistics.median(prompt), 3),
        "citations_ms_median": round(statistics.median(cite), 3),
        "overhead_ms_median": round(statistics.median(both), 3),
        "overhead_ms_p90": round(both[int(0.9 * (len(both) - 1))], 3),
        "overhead_ms_max": round(both[-1], 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
