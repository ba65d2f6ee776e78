"""The `rag` command: output, JSON, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT, SEEDS


def _rag(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ})


def test_ask_prints_answer_and_citations(seed_index):
    out = _rag("ask", "兖州区委书记是谁？", "--index", str(seed_index))
    assert out.returncode == 0, out.stderr
    assert "王庆" in out.stdout
    assert "[1] 000_714dc78de03cf996.txt · paragraph" in out.stdout and "lines 96-98" in out.stdout


def test_ask_json_is_answer_to_dict(seed_index):
    out = _rag("ask", "太阳纸业的董事长是谁？", "--index", str(seed_index), "--json",
               "--top-k", "3")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["abstained"] is False and "李娜" in data["text"]
    assert data["citations"][0]["doc"] == "002_c385dfa94da2c315.txt"


def test_errors_are_one_line_and_nonzero(seed_index, tmp_path):
    cases = [
        ("ask", "   ", "--index", str(seed_index)),
        ("ask", "问题", "--index", str(tmp_path / "no-index")),
        ("index", str(tmp_path / "missing"), "--index", str(tmp_path / "i1")),
        ("ask", "问题", "--index", str(seed_index), "--llm", "nonsense"),
    ]
    (tmp_path / "empty").mkdir()
    cases.append(("index", str(tmp_path / "empty"), "--index", str(tmp_path / "i2")))
    for args in cases:
        out = _rag(*args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith("error: "), out.stderr


def test_index_command_builds_and_reports(tmp_path):
    out = _rag("index", str(SEEDS), "--index", str(tmp_path / "idx"))
    assert out.returncode == 0, out.stderr
    assert "2 documents" in out.stdout and "bundled:all-MiniLM-L6-v2" in out.stdout
    assert (tmp_path / "idx" / "CURRENT").is_file()
