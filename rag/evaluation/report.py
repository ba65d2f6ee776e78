"""Render an evaluation report: terminal table, report.json, report.md, a chart, misses JSONL,
and the metric-by-metric difference of two reports. Rendering only; no scoring here."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CHART_PNG = "chart.png"
MISSES_JSONL = "misses.jsonl"

SECTIONS = {
    "n": "Questions",
    "retrieval": "Retrieval (answerable questions; hit: a top-k passage holds an evidence string)",
    "answer": "Answers (answerable questions; abstentions score 0)",
    "citation": "Citations (answerable questions; cited paragraphs holding evidence)",
    "abstention": "Abstention (correct: share of unanswerable; wrong: share of answerable)",
    "latency_ms": "Latency (ms)",
}


def format_value(group: str, value: Any) -> str:
    """A metric for display: counts as integers, latency in ms, rates with 3 decimals."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.1f}" if group == "latency_ms" else f"{value:.3f}"


def _scopes(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("overall", report["overall"]), *report["per_type"].items()]


def section_rows(report: dict[str, Any], group: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows (overall, then each type) of one metric group."""
    metrics = list(report["overall"][group])
    rows = [[scope, *(format_value(group, values[group].get(name)) for name in metrics)]
            for scope, values in _scopes(report)]
    return ["", *metrics], rows


def grid(headers: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """Plain-text table: the first ``left`` columns left-aligned, the values right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = (str(c).ljust(w) if i < left else str(c).rjust(w)
                  for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "| " + " | ".join(headers) + " |"
    rule = "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"
    return "\n".join([head, rule, *("| " + " | ".join(r) + " |" for r in rows)])


def _meta_lines(report: dict[str, Any]) -> list[str]:
    meta = report["meta"]
    return [f"{key}: {meta[key]}" for key in ("split", "qa_file", "index", "embed_model", "llm",
                                               "backends", "top_k", "retrieve_k", "created")
            if key in meta]


def _miss_line(report: dict[str, Any]) -> str:
    return "misses: " + ", ".join(f"{k} {v}" for k, v in report["misses"].items())


def format_table(report: dict[str, Any]) -> str:
    """The terminal rendering: one small table per metric group, rows overall and per type."""
    parts = ["  ".join(_meta_lines(report)[:5])]
    for group, title in SECTIONS.items():
        headers, rows = section_rows(report, group)
        parts.append(f"{title}\n{grid(headers, rows)}")
    parts.append(_miss_line(report))
    return "\n\n".join(parts)


def format_markdown(report: dict[str, Any], *, chart: str | None = CHART_PNG) -> str:
    parts = ["# Evaluation report", "\n".join(f"- {line}" for line in _meta_lines(report))]
    for group, title in SECTIONS.items():
        headers, rows = section_rows(report, group)
        parts.append(f"## {title}\n\n{markdown_table(headers, rows)}")
    if chart:
        parts.append(f"## Chart\n\n![hit@k and per-type scores]({chart})")
    parts.append(f"## Misses\n\n{_miss_line(report)} (details in `{MISSES_JSONL}`)")
    return "\n\n".join(parts) + "\n"


def _bar_values(report: dict[str, Any]) -> dict[str, list[float]]:
    picks = {"hit@5": ("retrieval", "hit@5"), "answer contains gold": ("answer", "contains_gold"),
             "answer F1": ("answer", "f1"), "citation recall": ("citation", "recall"),
             "correct abstention": ("abstention", "correct")}
    series = {}
    for label, (group, name) in picks.items():
        values = [scope.get(group, {}).get(name) for _, scope in _scopes(report)]
        series[label] = [math.nan if v is None else v for v in values]
    return series


def write_chart(report: dict[str, Any], path: Path) -> Path | None:
    """PNG: the hit@k curve (overall and per type) and per-type bars of the main metrics."""
    try:
        import matplotlib
    except ImportError:
        log.warning("matplotlib is not installed, so no chart; install it with: "
                    "pip install 'rag-zh[eval]'")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curve, bars) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [2, 3]})
    ks = range(1, report["meta"].get("retrieve_k", 10) + 1)
    for scope, values in [("overall", report["hit_curve"]["overall"]),
                          *report["hit_curve"]["per_type"].items()]:
        if values:
            wide = scope == "overall"
            curve.plot(list(ks)[: len(values)], values, marker="o" if wide else None,
                       linewidth=2.5 if wide else 1, label=scope, alpha=1 if wide else 0.7)
    curve.set(xlabel="k", ylabel="hit@k", ylim=(0, 1.05), xticks=list(ks),
              title="Retrieval: evidence in the top k")
    curve.grid(alpha=0.3)
    curve.legend(fontsize=8)
    scopes = [scope for scope, _ in _scopes(report)]
    series = _bar_values(report)
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        bars.bar([x + i * width for x in range(len(scopes))], values, width, label=label)
    bars.set_xticks([x + 0.4 - width / 2 for x in range(len(scopes))], scopes, rotation=30,
                    ha="right")
    bars.set(ylim=(0, 1.05), title="Per question type")
    bars.grid(axis="y", alpha=0.3)
    bars.legend(fontsize=8, ncols=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_misses(records: Sequence[dict[str, Any]], path: Path) -> int:
    """One JSON line per question with a miss; returns how many were written."""
    missed = [r for r in records if r["misses"]]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in missed),
                    encoding="utf-8")
    return len(missed)


def write_reports(report: dict[str, Any], records: Sequence[dict[str, Any]], out_dir: Path
                  ) -> dict[str, Path]:
    """Write report.json, report.md, chart.png and misses.jsonl into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / REPORT_JSON, "markdown": out_dir / REPORT_MD,
             "misses": out_dir / MISSES_JSONL}
    paths["json"].write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n",
                             encoding="utf-8")
    chart = write_chart(report, out_dir / CHART_PNG)
    if chart is not None:
        paths["chart"] = chart
    paths["markdown"].write_text(format_markdown(report, chart=chart and chart.name),
                                 encoding="utf-8")
    write_misses(records, paths["misses"])
    return paths


# -- comparing two reports -----------------------------------------------------------------------


def _flatten(scope: dict[str, Any]) -> dict[str, Any]:
    return {f"{group}.{name}": value for group in SECTIONS
            for name, value in scope.get(group, {}).items()}


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric of every scope (overall, then each type in either report): a, b, b - a."""
    scopes = ["overall", *dict.fromkeys([*a["per_type"], *b["per_type"]])]
    rows = []
    for scope in scopes:
        fa = _flatten(a["overall"] if scope == "overall" else a["per_type"].get(scope, {}))
        fb = _flatten(b["overall"] if scope == "overall" else b["per_type"].get(scope, {}))
        for metric in dict.fromkeys([*fa, *fb]):
            va, vb = fa.get(metric), fb.get(metric)
            delta = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
            rows.append({"scope": scope, "metric": metric, "a": va, "b": vb, "delta": delta})
    return rows


def format_compare(rows: Sequence[dict[str, Any]], a_name: str = "A", b_name: str = "B") -> str:
    def show(metric: str, value: Any, *, signed: bool = False) -> str:
        text = format_value(metric.split(".")[0], value)
        return f"+{text}" if signed and value is not None and value > 0 else text

    table, previous = [], None
    for row in rows:
        scope = row["scope"] if row["scope"] != previous else ""
        previous = row["scope"]
        metric = row["metric"]
        table.append([scope, metric, show(metric, row["a"]), show(metric, row["b"]),
                      show(metric, row["delta"], signed=True)])
    legend = f"A = {a_name}\nB = {b_name}\n"
    return legend + grid(["scope", "metric", "A", "B", "B - A"], table, left=2)


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a report.json, with a clear error when it is not one."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read report {path}: {exc}") from exc
    if not isinstance(report, dict) or not {"overall", "per_type"} <= report.keys():
        raise ValueError(f"{path} is not a report.json written by rag eval")
    return report
