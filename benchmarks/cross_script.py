"""Questions in one Chinese script over a corpus in the other: what matching the question to the
corpus's script (rag.script) gives.

    PYTHONPATH=. python benchmarks/cross_script.py --half fit          # the fit half (default)
    PYTHONPATH=. python benchmarks/cross_script.py --half report       # once per change

From a split made by ``rag eval FILE --split`` (default ``eval/out/cmrc_split``, seed 13), it
writes the corpus and the half's questions in Taiwan's traditional script (OpenCC ``s2twp``),
indexes that corpus under ``--work`` (kept and reused), and asks the half's questions four ways,
each with script matching off and on: simplified over simplified (the baseline), traditional
over traditional, simplified questions over the traditional corpus and traditional questions
over the simplified corpus. The answers and evidence are written in the corpus's script, so
every row is scored as ``rag eval`` scores it. Results: benchmarks/results/cross_script-HALF.*
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.evaluation.dataset import QAItem, load_qa
from rag.evaluation.runner import evaluate
from rag.pipeline import RAG

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parent / "results"
METRICS = (("retrieval", "hit@1"), ("retrieval", "hit@5"), ("answer", "contains_gold"),
           ("answer", "chars"), ("citation", "precision"), ("abstention", "wrong"),
           ("abstention", "correct"))


def _traditional(split: Path, work: Path, half: str) -> tuple[Path, list[QAItem]]:
    """The split's corpus and the half's questions written in traditional script (cached)."""
    import opencc

    convert = opencc.OpenCC("s2twp").convert
    corpus = work / "corpus"
    if not corpus.is_dir():
        tmp = work / "corpus.tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for path in tqdm(sorted((split / "corpus").iterdir()), desc="convert", unit="file"):
            (tmp / convert(path.name)).write_text(convert(path.read_text(encoding="utf-8")),
                                                  encoding="utf-8")
        tmp.rename(corpus)
    items = [replace(item, question=convert(item.question), doc=convert(item.doc or "") or None,
                     answers=tuple(convert(a) for a in item.answers),
                     evidence=tuple(convert(e) for e in item.evidence))
             for item in load_qa(split / f"{half}.jsonl")]
    return corpus, items


def _overall(report: dict[str, Any]) -> dict[str, float | None]:
    return {f"{table}.{name}": report["overall"][table].get(name) for table, name in METRICS}


def measure(split: Path, simplified_index: Path, work: Path, half: str) -> list[dict[str, Any]]:
    simplified = load_qa(split / f"{half}.jsonl")
    corpus, traditional = _traditional(split, work, half)
    indexes = {"simplified": (simplified_index, split / "corpus"),
               "traditional": (work / "index", corpus)}
    # (questions' script, corpus's script): the rows' questions over that corpus's answers
    cases = {
        ("simplified", "simplified"): simplified,
        ("traditional", "traditional"): traditional,
        ("simplified", "traditional"): [replace(t, question=s.question)
                                        for s, t in zip(simplified, traditional, strict=True)],
        ("traditional", "simplified"): [replace(s, question=t.question)
                                        for s, t in zip(simplified, traditional, strict=True)],
    }
    rows = []
    for (asked, written), items in cases.items():
        index, corpus_dir = indexes[written]
        for match in (False, True):
            rag = RAG(index_dir=index, corpus_dir=corpus_dir, match_script=match).open()
            report, _ = evaluate(rag, items, progress=True, source=f"{half}.jsonl")
            rows.append({"questions": asked, "corpus": written, "match_script": match,
                         **_overall(report)})
            log.info("%s questions, %s corpus, match %s: %s", asked, written, match, rows[-1])
            rag.close()
    return rows


def _markdown(rows: list[dict[str, Any]], half: str) -> str:
    names = [f"{t}.{n}" for t, n in METRICS]
    lines = [f"# Cross-script questions, CMRC 2018 {half} half (traditional via OpenCC s2twp)",
             "", "| questions | corpus | match script | " + " | ".join(names) + " |",
             "|---|---|---|" + "---:|" * len(names)]
    for r in rows:
        cells = [f"{r[n]:.3f}" if isinstance(r[n], float) else str(r[n]) for n in names]
        lines.append(f"| {r['questions']} | {r['corpus']} | {'on' if r['match_script'] else 'off'}"
                     f" | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="eval/out/cmrc_split", help="a rag eval --split folder")
    parser.add_argument("--index", default="eval/out/cmrc_index",
                        help="the split corpus's index (built here when missing)")
    parser.add_argument("--work", default="/tmp/rag-cross-script",
                        help="where the traditional corpus and its index are kept")
    parser.add_argument("--half", choices=("fit", "report"), default="fit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    split = Path(args.split)
    if not (split / "corpus").is_dir():
        print(f"error: {split} is not a split folder; make one with "
              "`rag eval ../shared/data/cmrc2018_trial.json --split fit --out eval/out`",
              file=sys.stderr)
        return 2
    rows = measure(split, Path(args.index), Path(args.work), args.half)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"cross_script-{args.half}"
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    text = _markdown(rows, args.half)
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
