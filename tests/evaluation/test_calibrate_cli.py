"""`python -m rag.evaluation.calibrate`: report data is refused; ``--only abstention`` fits the
abstention model alone, over the shipped sentence ranker, and writes nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answerers.abstention import RANKING_FILE
from rag.evaluation.calibrate import main

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"


def test_report_sets_are_refused(tmp_path, capsys):
    for name in ("qa_readers.jsonl", "report.jsonl"):
        qa = tmp_path / name
        qa.write_text((ROOT / "eval" / "qa_readers.jsonl").read_text(encoding="utf-8"),
                      encoding="utf-8")
        code = main(["--set", str(qa), str(tmp_path / "index"), str(SEEDS), "--dry-run"])
        assert code == 2
        assert "report set" in capsys.readouterr().err
    assert not (tmp_path / "index").exists()  # refused before anything was built


def test_only_abstention_keeps_the_ranker_and_fits_on_every_set(seed_index, tmp_path, capsys):
    ranking_before = RANKING_FILE.read_text(encoding="utf-8")
    out = tmp_path / "calibration.json"
    rerank_out = tmp_path / "rerank.json"
    sets = [str(ROOT / "eval" / "qa_seeds.jsonl"), str(ROOT / "eval" / "qa_seeds_reworded.jsonl")]
    argv = [a for qa in sets for a in ("--set", qa, str(seed_index), str(SEEDS))]
    assert main([*argv, "--only", "abstention", "--out", str(out),
                 "--rerank-out", str(rerank_out)]) == 0
    printed = capsys.readouterr().out
    assert RANKING_FILE.read_text(encoding="utf-8") == ranking_before
    assert not rerank_out.exists()
    model = json.loads(out.read_text(encoding="utf-8"))
    assert model["fitted_on"]["sets"] == sorted(sets)
    assert model["fitted_on"]["max_wrong_abstentions"] == "0.05 on each set"
    assert 0.0 < model["threshold"] < 1.0
    # each set's figures are printed; no set abstains on more than 5% of what the model decides
    # (English questions over Chinese text abstain by rule, before the model, so allow those)
    for qa in sets:
        line = next(x for x in printed.splitlines() if x.startswith(qa))
        wrong = float(line.split("'wrong_abstention': ")[1].split(",")[0])
        assert wrong <= 0.05 + 3 / 59


def test_leave_one_out_scores_each_set_with_a_model_fitted_on_the_others(seed_index, capsys,
                                                                         tmp_path):
    sets = [str(ROOT / "eval" / "qa_seeds.jsonl"), str(ROOT / "eval" / "qa_seeds_reworded.jsonl")]
    argv = [a for qa in sets for a in ("--set", qa, str(seed_index), str(SEEDS))]
    out = tmp_path / "calibration.json"
    assert main([*argv, "--only", "abstention", "--leave-one-out", "--out", str(out)]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("left out: ")]
    assert [x.split()[2] for x in lines] == sorted(sets)
    assert all("'wrong_abstention': " in x and "'correct_abstention': " in x for x in lines)
    assert not out.exists()  # it writes nothing
    with pytest.raises(SystemExit):  # only the abstention model is left out
        main([*argv, "--leave-one-out"])


def test_semantic_fits_the_model_with_the_meaning_signals(seed_index, tmp_path, capsys):
    qa = str(ROOT / "eval" / "qa_seeds_reworded.jsonl")
    argv = ["--set", qa, str(seed_index), str(SEEDS)]
    out = tmp_path / "calibration_semantic.json"
    assert main([*argv, "--only", "abstention", "--semantic", "--out", str(out)]) == 0
    model = json.loads(out.read_text(encoding="utf-8"))
    assert model["features"][-2:] == ["e5_sentence", "e5_passage"]
    assert model["fitted_on"]["command"].endswith("--only abstention --semantic")
    assert 0.0 < model["threshold"] < 1.0
    capsys.readouterr()
    with pytest.raises(SystemExit):  # the meaning signals are only for the abstention model
        main([*argv, "--semantic"])
