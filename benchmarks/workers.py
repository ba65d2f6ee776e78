"""Asks per second of a real server at 1, 2 and 4 worker processes (the ``workers`` setting).

    python benchmarks/workers.py [--quick] [--workers 1,2,4] [--clients 8] [--seconds 20]

For each worker count, ``rag chat --index IDX --workers N`` (the seed index, the extractive
answerer) runs on 127.0.0.1 in its own process; one client process keeps ``--clients``
keep-alive connections (``http.client``, one thread each) busy with ``POST
/v1/chat/completions`` over the seed Q&A questions for ``--seconds`` after a warm-up. Reported:
asks/s and the ratio to ``workers=1`` (today's single process), p50/p95 latency, CPU per ask of
the serving process, of the workers and of the client (from /proc), each process's RSS and PSS
(PSS divides shared pages among the processes sharing them: the index's memory-mapped vectors
and the libraries' code), the size of the vectors file mapped into each worker, and the load
average. Then one in-process ``RAG.ask`` profile (CPU per ask, the top functions).
Writes results/workers.{json,md} (``-quick`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    SEEDS,
    WORK,
    load_average,
    load_qa,
    machine,
    markdown_table,
    percentile,
    write_results,
)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(found)


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS and shared MB of ``pid``, and the RSS/PSS MB of its mapped vectors file."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        if key in ("Rss", "Pss", "Shared_Clean", "Shared_Dirty"):
            out[key.lower()] = int(value.split()[0]) / 1024
    vectors = {"rss": 0.0, "pss": 0.0}
    inside = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:  # a mapping's first line
            inside = line.endswith("vectors.faiss")
        elif inside and head[0] in ("Rss:", "Pss:"):
            vectors[head[0][:-1].lower()] += int(head[1]) / 1024
    out["vectors_rss"], out["vectors_pss"] = vectors["rss"], vectors["pss"]
    return {k: round(v, 3) for k, v in out.items()}


def drive(port: int, questions: list[str], clients: int, warmup: float, seconds: float,
          pids: list[int]) -> dict[str, Any]:
    """The client process: ``clients`` connections asking until the window ends."""
    bodies = [json.dumps({"model": "rag", "messages": [{"role": "user", "content": q}]},
                         ensure_ascii=False).encode() for q in questions]
    t0 = time.perf_counter() + warmup
    t1 = t0 + seconds
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        i = k
        while (start := time.perf_counter()) < t1:
            conn.request("POST", "/v1/chat/completions", bodies[i % len(bodies)],
                         {"Content-Type": "application/json"})
            reply = conn.getresponse()
            reply.read()
            end = time.perf_counter()
            i += clients
            if t0 <= start and end <= t1:
                with lock:
                    (latencies.append(end - start) if reply.status == 200
                     else failures.append(reply.status))
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    time.sleep(max(0.0, t0 - time.perf_counter()))
    cpu0 = {p: cpu_seconds(p) for p in pids}
    own0 = time.process_time()
    time.sleep(max(0.0, t1 - time.perf_counter()))
    cpu1 = {p: cpu_seconds(p) for p in pids}
    own1 = time.process_time()
    load = load_average()
    for t in threads:
        t.join()
    return {"latencies": latencies, "failures": failures, "load": load,
            "cpu": {p: cpu1[p] - cpu0[p] for p in pids}, "client_cpu": own1 - own0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(index: Path, workers: int, port: int, clients: int) -> subprocess.Popen[bytes]:
    # All connections come from one address: let it have them all in flight.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_LLM": "extractive",
           "RAG_DATA_DIR": str(WORK / "workers-data"),
           "RAG_MAX_REQUESTS_PER_CLIENT": str(clients)}
    env.pop("RAG_WORKERS", None)
    return subprocess.Popen([sys.executable, "-m", "ui.cli", "chat", "--index", str(index),
                             "--port", str(port), "--workers", str(workers)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_up(port: int, process: subprocess.Popen[bytes], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)  # polling a starting server: nothing to wait on but the port
    raise RuntimeError("the server did not come up")


def measure(index: Path, workers: int, questions: list[str], args: argparse.Namespace
            ) -> dict[str, Any]:
    port = free_port()
    started = time.perf_counter()
    process = serve(index, workers, port, args.clients)
    try:
        wait_up(port, process)
        start_s = time.perf_counter() - started
        pids = [process.pid, *children(process.pid)]
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            run = pool.submit(drive, port, questions, args.clients, args.warmup, args.seconds,
                              pids).result()
        mem = {pid: memory(pid) for pid in pids}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    asks = len(run["latencies"])
    ms = [x * 1000 for x in run["latencies"]]
    worker_pids = pids[1:] if workers > 1 else []
    per_ask = (lambda s: round(s * 1000 / asks, 2)) if asks else (lambda s: None)
    return {
        "workers": workers, "asks": asks, "failures": len(run["failures"]),
        "asks_per_s": round(asks / args.seconds, 1),
        "p50_ms": round(percentile(ms, 50), 1) if ms else None,
        "p95_ms": round(percentile(ms, 95), 1) if ms else None,
        "cpu_ms_per_ask": {"server": per_ask(run["cpu"][process.pid]),
                           "workers": per_ask(sum(run["cpu"][p] for p in worker_pids)),
                           "client": per_ask(run["client_cpu"])},
        "memory_mb": {"server": mem[process.pid], "workers": [mem[p] for p in worker_pids]},
        "total_rss_mb": round(sum(m["rss"] for m in mem.values()), 1),
        "total_pss_mb": round(sum(m["pss"] for m in mem.values()), 1),
        "load_at_end": run["load"], "start_s": round(start_s, 1),
    }


def ceiling(row: dict[str, Any], cores: int) -> float | None:
    """Asks/s the measured CPU per ask allows on idle cores (a model, not a measurement): the
    serving process on at most one core (the GIL), the workers on at most min(N, cores), and
    everything (the client too) within the cores."""
    cpu = row["cpu_ms_per_ask"]
    if not cpu["server"]:
        return None
    bounds = [1000 / cpu["server"], cores * 1000 / (cpu["server"] + (cpu["workers"] or 0)
                                                     + (cpu["client"] or 0))]
    if cpu["workers"]:
        bounds.append(min(row["workers"], cores) * 1000 / cpu["workers"])
    return round(min(bounds), 1)


def profile_one_ask(index: Path, questions: list[str]) -> dict[str, Any]:
    """CPU per in-process ``RAG.ask`` and where it goes (cProfile, by own time)."""
    from rag.pipeline import RAG

    rag = RAG(index_dir=index, llm="extractive").open()
    for q in questions[:10]:
        rag.ask(q)
    cpu = time.process_time()
    wall = time.perf_counter()
    for q in questions:
        rag.ask(q)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    profile = cProfile.Profile()
    profile.runcall(lambda: [rag.ask(q) for q in questions])
    stats = pstats.Stats(profile)
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][3])  # type: ignore[attr-defined]
    rows = [{"function": f"{Path(f).name}:{line}({name})",
             "cumulative_ms_per_ask": round(v[3] * 1000 / len(questions), 2)}
            for (f, line, name), v in top if "rag/" in f or "torch" in f][:8]
    return {"cpu_ms_per_ask": round(cpu * 1000 / len(questions), 1),
            "wall_ms_per_ask": round(wall * 1000 / len(questions), 1), "top": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short windows (5 s each)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=None, help="measured window")
    parser.add_argument("--warmup", type=float, default=None, help="unmeasured seconds first")
    parser.add_argument("--index", default=None, help="index folder (default: built over seeds)")
    args = parser.parse_args()
    args.seconds = args.seconds or (5.0 if args.quick else 20.0)
    args.warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else 5.0)
    counts = [int(n) for n in args.workers.split(",")]
    before = machine()
    index = Path(args.index) if args.index else WORK / "workers-index"
    if not args.index:
        from rag.pipeline import RAG

        RAG(index_dir=index, corpus_dir=SEEDS).open()
    questions = [r["question"] for r in load_qa()]
    rows = [measure(index, n, questions, args) for n in counts]
    base = next((r["asks_per_s"] for r in rows if r["workers"] == 1), None)
    for r in rows:
        r["ratio_to_1"] = round(r["asks_per_s"] / base, 2) if base else None
        r["ceiling_asks_per_s"] = ceiling(r, before["cpu_count"])
    low = next((r["ceiling_asks_per_s"] for r in rows if r["workers"] == 1), None)
    for r in rows:
        r["ceiling_ratio_to_1"] = (round(r["ceiling_asks_per_s"] / low, 2)
                                   if low and r["ceiling_asks_per_s"] else None)
    profile = profile_one_ask(index, questions)
    table = markdown_table(
        ["workers", "asks/s", "x 1 worker", "CPU ceiling asks/s (x 1)", "p50 ms", "p95 ms",
         "CPU ms/ask server / workers / client", "RSS MB server; each worker",
         "PSS MB total (RSS total)",
         "vectors mapped per worker: RSS / PSS MB", "load at end"],
        [[r["workers"], r["asks_per_s"], r["ratio_to_1"],
          f"{r['ceiling_asks_per_s']} ({r['ceiling_ratio_to_1']})", r["p50_ms"], r["p95_ms"],
          " / ".join(str(r["cpu_ms_per_ask"][k]) for k in ("server", "workers", "client")),
          f"{r['memory_mb']['server']['rss']:.0f}; "
          + ", ".join(f"{w['rss']:.0f}" for w in r["memory_mb"]["workers"]),
          f"{r['total_pss_mb']:.0f} ({r['total_rss_mb']:.0f})",
          ", ".join(f"{w['vectors_rss']:.3g} / {w['vectors_pss']:.3g}"
                    for w in r["memory_mb"]["workers"]) or "-",
          " ".join(map(str, r["load_at_end"]))] for r in rows])
    top = "\n".join(f"- {t['function']}: {t['cumulative_ms_per_ask']} ms" for t in profile["top"])
    md = "\n".join([
        "# Serving throughput by worker processes", "",
        f"`python benchmarks/workers.py{' --quick' if args.quick else ''}` - seed index, "
        f"extractive answerer, `POST /v1/chat/completions` from {args.clients} keep-alive "
        f"connections in one client process on the same machine, {args.seconds:g} s measured "
        f"after {args.warmup:g} s warm-up per row; {before['cpu_count']} cores, load before "
        f"{before['load_average']}. workers=1 is the serving process answering itself "
        "(the default); N > 1 are N ask-worker processes. The CPU ceiling is a model: the asks/s "
        "the measured CPU per ask would allow on idle cores (the serving process on one core at "
        "most, the workers on min(N, cores)); on a shared machine it is steadier than asks/s.",
        "", table, "",
        f"In-process `RAG.ask`: {profile['cpu_ms_per_ask']} ms CPU, {profile['wall_ms_per_ask']}"
        " ms wall per ask; cumulative time per ask:", "", top])
    write_results("workers", {"machine": before, "settings": vars(args), "rows": rows,
                              "profile": profile, "load_after": load_average()}, md,
                  quick=args.quick)


if __name__ == "__main__":
    main()
