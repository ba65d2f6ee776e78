"""The readers' fit set (eval/qa_readers_fit.jsonl) against the CMRC corpus it was written on.

The set was written questions-first over fit-half articles of the CMRC 2018 trial split (seed
13) and frozen before any tuning. Its answerable questions must point at fit-half documents
that stay in the corpus, with every answer and evidence string found there; its unanswerable
questions carry nothing. The corpus is rebuilt here with ``split_squad`` so the check follows
the same split the calibration reads.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rag.evaluation.dataset import KEYS, SEED_TYPES, UNANSWERABLE, load_qa
from rag.evaluation.metrics import squeeze
from rag.evaluation.split import split_squad

ROOT = Path(__file__).resolve().parents[2]
FIT_SET = ROOT / "eval" / "qa_readers_fit.jsonl"
CMRC = ROOT.parent / "shared" / "data" / "cmrc2018_trial.json"
MIN_PER_TYPE = {"fact": 25, "number_date": 25, "person_role": 15, "list": 5, "why_how": 10,
                "unanswerable": 25}
ROWS = [json.loads(line) for line in FIT_SET.read_text(encoding="utf-8").splitlines()
        if line.strip()]
ANSWERABLE = [r for r in ROWS if r["answerable"]]


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> dict[str, object]:
    """The seed-13 split: each corpus document squeezed, the fit half's in-corpus documents and
    every CMRC question of either half."""
    if not CMRC.is_file():
        pytest.fail("../shared/data/cmrc2018_trial.json is missing; run the suite from a "
                    "checkout beside shared/")
    paths = split_squad(CMRC, tmp_path_factory.mktemp("cmrc-split"))
    texts = {p.name: squeeze(p.read_text(encoding="utf-8")) for p in paths.corpus.iterdir()}
    fit_docs = {item.doc for item in load_qa(paths.fit) if item.answerable}
    cmrc_questions = {item.question for path in (paths.fit, paths.report)
                      for item in load_qa(path)}
    return {"texts": texts, "fit_docs": fit_docs, "cmrc_questions": cmrc_questions}


def test_fit_set_loads_with_enough_questions_of_each_type():
    items = load_qa(FIT_SET)  # raises on any schema problem or duplicate id
    assert len(items) == len(ROWS) >= 150
    counts = Counter(item.qtype for item in items)
    for qtype, minimum in MIN_PER_TYPE.items():
        assert counts[qtype] >= minimum, f"type {qtype}: {counts[qtype]} < {minimum}"
    assert len({item.doc for item in items if item.answerable}) >= 40


@pytest.mark.parametrize("row", ROWS, ids=[r.get("id", "?") for r in ROWS])
def test_fit_row_schema(row):
    assert sorted(row) == sorted(KEYS)
    assert row["type"] in SEED_TYPES and row["type"] != "multi_doc"
    if row["answerable"]:
        assert row["type"] != UNANSWERABLE and row["answers"]
        assert 1 <= len(row["evidence"]) <= 2 and isinstance(row["doc"], str)
    else:
        assert row["type"] == UNANSWERABLE
        assert row["answers"] == [] and row["evidence"] == [] and row["doc"] is None


@pytest.mark.parametrize("row", ANSWERABLE, ids=[r["id"] for r in ANSWERABLE])
def test_fit_answers_and_evidence_occur_in_fit_half_documents(row, split):
    assert row["doc"] in split["fit_docs"], f"{row['doc']} is not a fit-half corpus document"
    text = split["texts"][row["doc"]]
    for answer in row["answers"]:
        wanted = squeeze(answer)
        assert wanted and wanted in text, f"answer {answer!r}"
    for evidence in row["evidence"]:
        wanted = squeeze(evidence)
        assert 10 <= len(wanted) <= 60, f"evidence length {len(wanted)}: {evidence!r}"
        assert wanted in text, f"evidence not found: {evidence!r}"
    assert any(squeeze(a) in squeeze(e) for a in row["answers"] for e in row["evidence"]), \
        "no evidence string holds an answer"


def test_fit_set_reuses_no_cmrc_question(split):
    reused = sorted(r["id"] for r in ROWS if r["question"] in split["cmrc_questions"])
    assert not reused, f"CMRC questions copied: {reused}"
