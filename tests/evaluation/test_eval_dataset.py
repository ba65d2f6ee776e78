"""The seed Q&A set itself, the JSONL loader's errors, and SQuAD-style conversion."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rag.evaluation.dataset import (
    KEYS,
    SEED_TYPES,
    UNANSWERABLE,
    DatasetError,
    answer_span,
    convert_squad,
    evidence_around,
    load_qa,
    parse_lines,
    read_squad,
    squad_to_corpus,
)
from rag.evaluation.metrics import squeeze

ROOT = Path(__file__).resolve().parents[2]
QA_PATH = ROOT / "eval" / "qa_seeds.jsonl"
SEEDS = ROOT / "seeds"
DOCS = ("000_714dc78de03cf996.txt", "002_c385dfa94da2c315.txt")
MIN_PER_TYPE = {"fact": 8, "number_date": 6, "person_role": 6, "list": 5, "why_how": 5,
                "multi_doc": 4, "caption": 2, "unanswerable": 7}
RAW_ROWS = [json.loads(line) for line in QA_PATH.read_text(encoding="utf-8").splitlines()
            if line.strip()]


@pytest.fixture(scope="module")
def seed_texts() -> dict[str, str]:
    """Each seed document with line breaks, all other whitespace and ``**`` removed."""
    return {name: squeeze((SEEDS / name).read_text(encoding="utf-8")) for name in DOCS}


# -- the seed Q&A set ---------------------------------------------------------------------------


def test_seed_set_loads_with_unique_ids_and_enough_questions_per_type():
    items = load_qa(QA_PATH)  # raises on any schema problem or duplicate id
    ids = [item.id for item in items]
    assert len(ids) == len(set(ids)) == len(RAW_ROWS) >= 48
    counts = Counter(item.qtype for item in items)
    for qtype, minimum in MIN_PER_TYPE.items():
        assert counts[qtype] >= minimum, f"type {qtype}: {counts[qtype]} < {minimum}"


@pytest.mark.parametrize("row", RAW_ROWS, ids=[r.get("id", "?") for r in RAW_ROWS])
def test_seed_row_schema(row):
    assert sorted(row) == sorted(KEYS)
    assert row["type"] in SEED_TYPES
    assert isinstance(row["answerable"], bool)
    if not row["answerable"]:
        assert row["type"] == UNANSWERABLE
        assert row["answers"] == [] and row["evidence"] == [] and row["doc"] is None
    else:
        assert row["type"] != UNANSWERABLE
        assert row["answers"], "answerable row without answers"
        assert 1 <= len(row["evidence"]) <= 3
        assert row["doc"] == "both" or row["doc"] in DOCS
        assert (row["type"] == "multi_doc") == (row["doc"] == "both")


@pytest.mark.parametrize("row", [r for r in RAW_ROWS if r["answerable"]],
                         ids=[r["id"] for r in RAW_ROWS if r["answerable"]])
def test_seed_answers_and_evidence_occur_in_their_documents(row, seed_texts):
    targets = DOCS if row["doc"] == "both" else (row["doc"],)
    for answer in row["answers"]:
        wanted = squeeze(answer)
        assert wanted and any(wanted in seed_texts[t] for t in targets), f"answer {answer!r}"
    covered = set()
    for evidence in row["evidence"]:
        wanted = squeeze(evidence)
        assert 10 <= len(wanted) <= 60, f"evidence length {len(wanted)}: {evidence!r}"
        found = {t for t in targets if wanted in seed_texts[t]}
        assert found, f"evidence not found: {evidence!r}"
        covered |= found
    if row["doc"] == "both":
        assert covered == set(DOCS), "doc 'both' but the evidence covers only one document"


# -- loader errors --------------------------------------------------------------------------------

GOOD = {"id": "a1", "question": "问题？", "answers": ["答案"], "evidence": ["证据句子在这里"],
        "doc": "x.txt", "answerable": True, "type": "fact"}


def _lines(*rows) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]


@pytest.mark.parametrize("bad, message", [
    ("{not json", "qa.jsonl:2: not valid JSON"),
    ({k: v for k, v in GOOD.items() if k != "evidence"} | {"id": "b"}, "qa.jsonl:2: missing key"),
    (GOOD | {"id": "b", "answerable": "yes"}, "qa.jsonl:2: 'answerable' must be true or false"),
    (GOOD | {"id": "b", "answers": []}, "qa.jsonl:2: an answerable row needs"),
    (GOOD | {"id": "b", "answerable": False}, "qa.jsonl:2: an unanswerable row"),
    (GOOD | {"id": "b", "answers": ["ok", ""]}, "qa.jsonl:2: 'answers' must be a list"),
    (GOOD | {"id": "b", "question": " "}, "qa.jsonl:2: 'question' must be a non-empty"),
    (GOOD, "qa.jsonl:2: duplicate id 'a1' (first on line 1)"),
])
def test_loader_names_the_line_of_each_problem(bad, message):
    with pytest.raises(DatasetError) as excinfo:
        parse_lines(_lines(GOOD, bad), "qa.jsonl")
    assert message in str(excinfo.value)


def test_loader_reports_every_problem_and_skips_blank_lines(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(_lines(GOOD, "", "[1]", GOOD | {"id": "c", "doc": 3})) + "\n",
                    encoding="utf-8")
    with pytest.raises(DatasetError) as excinfo:
        load_qa(path)
    text = str(excinfo.value)
    assert "2 problem(s)" in text and f"{path}:3: expected a JSON object" in text
    assert f"{path}:4: 'doc' must be" in text
    unanswerable = GOOD | {"id": "u", "answers": [], "evidence": [], "doc": None,
                           "answerable": False, "type": "unanswerable"}
    path.write_text("\n".join(_lines(GOOD, "", unanswerable)), encoding="utf-8")
    assert [item.id for item in load_qa(path)] == ["a1", "u"]
    with pytest.raises(DatasetError, match="does not exist"):
        load_qa(tmp_path / "missing.jsonl")


# -- SQuAD-style conversion ---------------------------------------------------------------------

CONTEXT_1 = ("范廷颂是越南罗马天主教枢机。1963年被任为主教；"
             "1990年被擢升为天主教河内总教区宗座署理。"
             "他于2009年2月22日清晨在河内离世，享年89岁。")
CONTEXT_2 = ("这座桥全长一千二百米，是当时亚洲最长的铁路桥之一，"
             "它的建成极大地改善了两岸之间的交通状况并带动了沿线经济。")
SQUAD = {"version": "test", "data": [
    {"title": "范廷颂", "paragraphs": [{"context": CONTEXT_1, "qas": [
        {"id": "s1", "question": "范廷颂是什么时候被任为主教的？",
         "answers": [{"text": "1963年", "answer_start": CONTEXT_1.index("1963年")},
                     {"text": "1963年", "answer_start": CONTEXT_1.index("1963年")}]},
        {"id": "s2", "question": "范廷颂是在哪里离世的？",  # answer_start off by three
         "answers": [{"text": "河内", "answer_start": CONTEXT_1.rindex("河内") + 3}]},
        {"id": "s3", "question": "范廷颂的母亲是谁？", "answers": [], "is_impossible": True},
        {"id": "s4", "question": "不存在的答案？",
         "answers": [{"text": "巴黎", "answer_start": 0}]},
    ]}]},
    {"title": "大桥/铁路", "paragraphs": [
        {"context": CONTEXT_2, "qas": [
            {"id": "s5", "question": "这座桥全长多少米？",
             "answers": [{"text": "一千二百米", "answer_start": 5}]}]},
        {"context": "第二段背景。", "qas": []},
    ]},
]}


def test_answer_span_uses_answer_start_or_the_nearest_occurrence():
    text = "河内，然后是河内。"
    assert answer_span(text, "河内", 6) == (6, 8)
    assert answer_span(text, "河内", 5) == (6, 8)
    assert answer_span(text, "河内", None) == (0, 2)
    assert answer_span(text, "巴黎", 0) is None


def test_evidence_is_the_sentence_around_the_answer_cut_to_fit():
    start = CONTEXT_1.index("1963年")
    assert evidence_around(CONTEXT_1, start, start + 5) == "1963年被任为主教；"
    start = CONTEXT_2.index("亚洲")
    cut = evidence_around(CONTEXT_2, start, start + 2, max_chars=20)
    assert len(cut) == 20 and "亚洲" in cut and cut in CONTEXT_2


def test_squad_to_corpus_builds_documents_and_schema_rows():
    docs, items = squad_to_corpus(SQUAD)
    assert sorted(docs) == ["0000_000_范廷颂.txt", "0001_000_大桥_铁路.txt",
                            "0001_001_大桥_铁路.txt"]
    by_id = {item.id: item for item in items}
    assert sorted(by_id) == ["s1", "s2", "s3", "s5"]  # s4's answer is not in its context
    assert by_id["s1"].answers == ("1963年",) and by_id["s1"].qtype == "number_date"
    assert by_id["s2"].evidence == ("他于2009年2月22日清晨在河内离世，享年89岁。",)
    assert by_id["s3"].answerable is False and by_id["s3"].qtype == UNANSWERABLE
    assert by_id["s3"].doc is None and not by_id["s3"].evidence
    for item in items:
        if item.answerable:
            assert all(squeeze(e) in squeeze(docs[item.doc]) for e in item.evidence)
            assert all(any(a in e for e in item.evidence) for a in item.answers)
    docs, _ = squad_to_corpus(SQUAD, per="title")
    assert sorted(docs) == ["0000_范廷颂.txt", "0001_大桥_铁路.txt"]
    assert docs["0001_大桥_铁路.txt"] == CONTEXT_2 + "\n\n第二段背景。"


def test_convert_squad_writes_a_corpus_and_a_loadable_qa_file(tmp_path):
    source = tmp_path / "dev.json"
    source.write_text(json.dumps(SQUAD, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    corpus, qa_path = convert_squad(source, out)
    assert corpus == out / "squad_corpus" and qa_path == out / "qa.jsonl"
    items = load_qa(qa_path)
    assert len(items) == 4
    for item in items:
        if item.answerable:
            text = (corpus / item.doc).read_text(encoding="utf-8")
            assert all(answer in text for answer in item.answers)
    stale = corpus / "9999_old.txt"
    stale.write_text("旧文件", encoding="utf-8")
    before = {p.name: p.stat().st_mtime_ns for p in corpus.glob("*.txt") if p != stale}
    convert_squad(source, out)
    assert not stale.exists()
    assert {p.name: p.stat().st_mtime_ns for p in corpus.glob("*.txt")} == before


def test_read_squad_tells_squad_from_other_files(tmp_path):
    assert read_squad(QA_PATH) is None  # JSONL is not SQuAD
    other = tmp_path / "other.json"
    other.write_text('{"questions": []}', encoding="utf-8")
    with pytest.raises(DatasetError, match="not SQuAD-style"):
        read_squad(other)
    other.write_text("{", encoding="utf-8")
    with pytest.raises(DatasetError, match="not valid JSON"):
        read_squad(other)


# -- the readers' seed sets: eval/qa_readers.jsonl (questions written first, frozen, report) and
# eval/qa_seeds_reworded.jsonl (the seed set in readers' words, fit) ----------------------------


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


READERS_PATH = ROOT / "eval" / "qa_readers.jsonl"
# the seed set reworded (fit data in readers' words): rNN asks qNN again
REWORDED_PATH = ROOT / "eval" / "qa_seeds_reworded.jsonl"
READER_ROWS, REWORDED_ROWS = _rows(READERS_PATH), _rows(REWORDED_PATH)
SEED_BY_ID = {r["id"]: r for r in RAW_ROWS}
# set -> (rows, at least this many questions, unanswerable, answerable)
OVER_THE_SEEDS = {READERS_PATH: (READER_ROWS, 50, 8, 40),
                  REWORDED_PATH: (REWORDED_ROWS, 60, 10, 50)}


@pytest.mark.parametrize("path", list(OVER_THE_SEEDS), ids=lambda p: p.stem)
def test_reader_sets_load_and_have_both_kinds_of_question(path):
    rows, total, unanswerable, answerable = OVER_THE_SEEDS[path]
    items = load_qa(path)
    assert len(items) == len(rows) >= total
    assert sum(not i.answerable for i in items) >= unanswerable
    assert sum(i.answerable for i in items) >= answerable


@pytest.mark.parametrize("row", READER_ROWS + REWORDED_ROWS,
                         ids=[r.get("id", "?") for r in READER_ROWS + REWORDED_ROWS])
def test_reader_rows_follow_the_seed_rules(row, seed_texts):
    test_seed_row_schema(row)
    if row["answerable"]:
        test_seed_answers_and_evidence_occur_in_their_documents(row, seed_texts)


@pytest.mark.parametrize("row", [r for r in REWORDED_ROWS if r["answerable"]],
                         ids=[r["id"] for r in REWORDED_ROWS if r["answerable"]])
def test_reworded_rows_ask_a_seed_question_in_other_words(row):
    """An answerable row keeps its seed question's answers, evidence and type (rNN <- qNN) and
    words the question differently: it is not the seed question, nor one of its halves."""
    seed = SEED_BY_ID["q" + row["id"][1:]]
    for key in ("answers", "evidence", "doc", "type", "answerable"):
        assert row[key] == seed[key], key
    original, reworded = squeeze(seed["question"]), squeeze(row["question"])
    assert reworded != original
    assert reworded[:-1] not in original and original[:-1] not in reworded
