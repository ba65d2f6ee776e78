"""Fit/report splits of a SQuAD-style file: a shared corpus and two disjoint question sets.

Rules, weights and thresholds are chosen on the *fit* questions; the *report* questions are
run once per change and never used to choose. Articles are split (not questions), so no
report question shares an article with a fit question. A share of the articles of each half
is left out of the corpus: their questions are unanswerable by construction, and on-topic
enough (same source, same style) to be a fair test of abstention.

``split_squad(path, out_dir, seed=13, report_share=0.5, holdout_share=0.15)`` writes::

    out_dir/corpus/*.txt    one document per article kept in the corpus (both halves)
    out_dir/fit.jsonl       fit questions (answerable + unanswerable), the Q&A schema
    out_dir/report.jsonl    report questions, same schema
    out_dir/split.json      source, seed, shares and counts
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.evaluation.dataset import (
    UNANSWERABLE,
    DatasetError,
    QAItem,
    read_squad,
    squad_to_corpus,
    write_corpus,
    write_qa,
)

log = logging.getLogger(__name__)

SPLITS = ("fit", "report")
SPLIT_FILE = "split.json"


@dataclass(frozen=True)
class SplitPaths:
    corpus: Path
    fit: Path
    report: Path
    info: Path


def _article_of(doc: str) -> int:
    # squad_to_corpus(per="title") names each file "<article index:04d>_<slug>.txt".
    return int(doc.split("_", 1)[0])


def assign_articles(n: int, *, seed: int, report_share: float, holdout_share: float
                    ) -> dict[int, tuple[str, bool]]:
    """Article index -> (split, kept in corpus). Deterministic for a given seed and n."""
    if not 0 < report_share < 1 or not 0 <= holdout_share < 1:
        raise ValueError("report_share must be in (0, 1) and holdout_share in [0, 1)")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_report = round(n * report_share)
    halves = {"report": order[:n_report], "fit": order[n_report:]}
    out: dict[int, tuple[str, bool]] = {}
    for split, members in halves.items():
        held = round(len(members) * holdout_share)
        for pos, article in enumerate(members):
            out[article] = (split, pos >= held)
    return out


def _unanswerable(item: QAItem) -> QAItem:
    return replace(item, answers=(), evidence=(), doc=None, answerable=False,
                   qtype=UNANSWERABLE)


def split_squad(path: str | Path, out_dir: str | Path, *, seed: int = 13,
                report_share: float = 0.5, holdout_share: float = 0.15) -> SplitPaths:
    """Write a corpus + fit/report Q&A files from a SQuAD-style file (see the module doc).

    ``report_share`` of the articles go to the report half; in each half ``holdout_share`` of
    its articles are left out of the corpus and their questions become unanswerable.
    Re-running with the same arguments rewrites nothing that is unchanged, so an index over
    the corpus folder stays current.
    """
    data = read_squad(path)
    if data is None:
        raise DatasetError(f"{path} is not a SQuAD-style .json file")
    docs, items = squad_to_corpus(data, per="title")
    articles = len(data.get("data") or [])
    plan = assign_articles(articles, seed=seed, report_share=report_share,
                           holdout_share=holdout_share)
    kept = {name: text for name, text in docs.items() if plan[_article_of(name)][1]}
    questions: dict[str, list[QAItem]] = {s: [] for s in SPLITS}
    for item in items:
        assert item.doc is not None  # per="title" items always name their article
        split, in_corpus = plan[_article_of(item.doc)]
        questions[split].append(item if in_corpus and item.answerable else _unanswerable(item))
    out = Path(out_dir)
    paths = SplitPaths(out / "corpus", out / "fit.jsonl", out / "report.jsonl", out / SPLIT_FILE)
    write_corpus(kept, paths.corpus)
    write_qa(questions["fit"], paths.fit)
    write_qa(questions["report"], paths.report)
    info = {
        "source": Path(path).name, "seed": seed, "report_share": report_share,
        "holdout_share": holdout_share, "articles": articles, "corpus_documents": len(kept),
        "splits": {s: _counts(questions[s], plan, s) for s in SPLITS},
    }
    paths.info.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n",
                          encoding="utf-8")
    log.info("split %s: %d documents; fit %s; report %s", path, len(kept),
             info["splits"]["fit"], info["splits"]["report"])
    return paths


def _counts(items: list[QAItem], plan: dict[int, tuple[str, bool]], split: str
            ) -> dict[str, int]:
    return {
        "articles": sum(1 for s, _ in plan.values() if s == split),
        "held_out_articles": sum(1 for s, kept in plan.values() if s == split and not kept),
        "answerable": sum(1 for i in items if i.answerable),
        "unanswerable": sum(1 for i in items if not i.answerable),
    }


def split_name(qa_file: str | Path | None) -> str | None:
    """Which split a Q&A file is: "fit"/"report" (with the seed, from a split.json beside it)
    for a file written by ``split_squad``, else the file's stem (qa_seeds, qa_readers)."""
    if not qa_file:
        return None
    path = Path(qa_file)
    info_file = path.parent / SPLIT_FILE
    if path.stem in SPLITS and info_file.is_file():
        try:
            info: dict[str, Any] = json.loads(info_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return path.stem
        return f"{path.stem} (seed {info.get('seed')}, {info.get('source')})"
    return path.stem


def subsample(qa_file: str | Path, corpus_dir: str | Path, out_dir: str | Path, *,
              articles: int = 40, seed: int = 13) -> tuple[Path, Path]:
    """A small, fixed sample of a split for a fast test: ``articles`` of its documents (the
    corpus is only those), their questions, and unanswerable questions in the same proportion.

    Retrieval over 40 documents is easier than over all of them, so floors measured on the
    sample hold only for the sample. Writes ``out_dir/corpus/`` and ``out_dir/qa.jsonl``.
    """
    from rag.evaluation.dataset import load_qa

    items = load_qa(qa_file)
    docs = sorted({i.doc for i in items if i.answerable and i.doc})
    rng = random.Random(seed)
    chosen = set(rng.sample(docs, min(articles, len(docs))))
    answerable = [i for i in items if i.answerable and i.doc in chosen]
    others = [i for i in items if not i.answerable]
    share = len(chosen) / max(len(docs), 1)
    unanswerable = rng.sample(others, round(len(others) * share))
    texts = {name: (Path(corpus_dir) / name).read_text(encoding="utf-8") for name in chosen}
    out = Path(out_dir)
    write_corpus(texts, out / "corpus")
    write_qa([*answerable, *unanswerable], out / "qa.jsonl")
    return out / "corpus", out / "qa.jsonl"
