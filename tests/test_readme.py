"""The README's two commands stay the ones that work: CI runs the second one verbatim."""

from __future__ import annotations

import re

from conftest import ROOT


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)[:2]


def test_ci_runs_the_readme_test_command():
    main, tests = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests.strip() in ci
    assert "rag chat" in main and "pytest" in tests
    assert "torch==2.13.0" in main and "torch==2.13.0" in tests
