"""Report rendering and comparison on hand-made reports (no model)."""

from __future__ import annotations

import json

import pytest

from rag.evaluation.report import (
    compare_reports,
    format_compare,
    format_markdown,
    format_table,
    format_value,
    grid,
    load_report,
    write_chart,
)


def _scope(hit1: float | None, f1: float | None, ask_p50: float) -> dict:
    return {"n": {"questions": 2, "answerable": 1, "unanswerable": 1},
            "retrieval": {"hit@1": hit1, "mrr@10": hit1},
            "answer": {"f1": f1},
            "citation": {"precision": 1.0},
            "abstention": {"correct": 0.5, "wrong": None},
            "latency_ms": {"ask_p50": ask_p50}}


def _report(types: dict[str, dict], hit1: float, f1: float, ask_p50: float) -> dict:
    curves = {t: [0.5] * 10 for t in types}
    return {"meta": {"qa_file": "qa.jsonl", "llm": "extractive", "retrieve_k": 10},
            "overall": _scope(hit1, f1, ask_p50), "per_type": types,
            "hit_curve": {"overall": [hit1] * 10, "per_type": curves},
            "misses": {"retrieval_miss": 1, "wrong_answer": 0}}


A = _report({"fact": _scope(0.5, 0.25, 10.0)}, 0.5, 0.25, 10.0)
B = _report({"fact": _scope(0.75, None, 12.5), "list": _scope(1.0, 1.0, 3.0)}, 0.75, 0.5, 12.5)


def test_format_value_by_kind():
    assert format_value("n", 7) == "7"
    assert format_value("retrieval", 0.87096) == "0.871"
    assert format_value("latency_ms", 210.04) == "210.0"
    assert format_value("answer", None) == "-"


def test_grid_aligns_columns():
    text = grid(["", "hit@1"], [["overall", "0.871"], ["fact", "1.000"]])
    assert text.splitlines() == ["         hit@1", "-------  -----",
                                 "overall  0.871", "fact     1.000"]


def test_compare_gives_every_metric_of_every_scope():
    rows = compare_reports(A, B)
    by_key = {(r["scope"], r["metric"]): r for r in rows}
    assert by_key[("overall", "retrieval.hit@1")]["delta"] == pytest.approx(0.25)
    assert by_key[("overall", "latency_ms.ask_p50")]["delta"] == pytest.approx(2.5)
    assert by_key[("fact", "answer.f1")] == {"scope": "fact", "metric": "answer.f1",
                                             "a": 0.25, "b": None, "delta": None}
    assert by_key[("list", "retrieval.hit@1")]["a"] is None  # a type only B has
    assert by_key[("overall", "abstention.wrong")]["delta"] is None
    assert len(rows) == 3 * 10  # 10 metrics in each of overall, fact, list
    text = format_compare(rows, "a.json", "b.json")
    assert text.startswith("A = a.json\nB = b.json\n")
    assert any(line.split() == ["retrieval.hit@1", "0.500", "0.750", "+0.250"]
               for line in text.splitlines())


def test_table_and_markdown_show_overall_and_types():
    table = format_table(B)
    assert "hit@1" in table and "list" in table and "misses: retrieval_miss 1" in table
    md = format_markdown(B, chart="chart.png")
    assert "| overall | 0.750 | 0.750 |" in md and "![hit@k and per-type scores](chart.png)" in md


def test_chart_is_written_even_with_missing_values(tmp_path):
    path = write_chart(B, tmp_path / "chart.png")
    assert path is not None and path.read_bytes()[:4] == b"\x89PNG"


def test_load_report_rejects_other_json(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"x": 1}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a report.json"):
        load_report(path)
    with pytest.raises(ValueError, match="cannot read report"):
        load_report(tmp_path / "missing.json")
    path.write_text(json.dumps(A), encoding="utf-8")
    assert load_report(path)["overall"]["retrieval"]["hit@1"] == 0.5
