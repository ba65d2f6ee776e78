"""What the HTTP API adds over ``RAG.ask``: p50/p95 per question at 1 and 8 concurrent clients.

Starts the real server (``ui.serve.start``, what ``rag chat`` runs, with an API key checked on
every request) over the seed index and asks the seed Q&A questions four ways from ``c`` client
threads: ``RAG.ask`` in process, ``POST /v1/chat/completions`` with httpx (non-streaming and
streaming, to the last byte), and through the ``openai`` SDK. The overhead is each way's p50/p95
minus the in-process one; the per-request overhead is the client's wall time minus the
``rag.timings.total_ms`` the server measured for the same answer.

    python benchmarks/api_overhead.py [--index DIR] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from common import RESULTS, SEEDS, WORK, load_qa, machine, markdown_table, summarize_ms

KEY = "bench-key-0123456789abcdef"
WAYS = ("RAG.ask", "HTTP", "HTTP stream", "openai SDK")


def _clients(url: str) -> Callable[[str, str], tuple[float, float | None]]:
    """A per-thread caller: (way, question) -> (wall seconds, server-side ms or None)."""
    import httpx
    import openai

    local = threading.local()
    headers = {"Authorization": f"Bearer {KEY}"}

    def call(way: str, question: str, rag) -> tuple[float, float | None]:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=url, headers=headers, timeout=120)
            local.sdk = openai.OpenAI(base_url=url + "v1", api_key=KEY, max_retries=0)
        body = {"model": "rag", "messages": [{"role": "user", "content": question}]}
        start = time.perf_counter()
        if way == "RAG.ask":
            answer = rag.ask(question)
            return time.perf_counter() - start, answer.timings["total_ms"]
        if way == "HTTP":
            reply = local.http.post("/v1/chat/completions", json=body).json()
        elif way == "HTTP stream":
            with local.http.stream("POST", "/v1/chat/completions",
                                   json={**body, "stream": True}) as response:
                lines = [line for line in response.iter_lines() if line]
            reply = json.loads(lines[-2].removeprefix("data: "))
        else:
            reply = local.sdk.chat.completions.create(**body).model_dump()
        return time.perf_counter() - start, reply["rag"]["timings"]["total_ms"]

    return call


def measure(rag, url: str, questions: list[str], clients: int) -> dict[str, dict]:
    """Each client thread asks a question all four ways in turn (rotating which goes first),
    so load that drifts during the run weighs on every way alike."""
    call = _clients(url)
    walls: dict[str, list[float]] = {w: [] for w in WAYS}
    extra: dict[str, list[float]] = {w: [] for w in WAYS}

    def task(i: int) -> list[tuple[str, float, float]]:
        ways = WAYS[i % len(WAYS):] + WAYS[:i % len(WAYS)]
        return [(way, *call(way, questions[i], rag)) for way in ways]

    for question in questions[:8]:  # warm every path once
        for way in WAYS:
            call(way, question, rag)
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for results in pool.map(task, range(len(questions))):
            for way, wall, server_ms in results:
                walls[way].append(wall)
                extra[way].append(wall - server_ms / 1000)
    return {way: {**summarize_ms(walls[way]), "beyond_server_answer": summarize_ms(extra[way])}
            for way in WAYS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", default=str(WORK / "api-index"))
    parser.add_argument("--rounds", type=int, default=2, help="passes over the questions")
    args = parser.parse_args()
    from rag.conversations import ConversationStore
    from rag.pipeline import RAG
    from ui.auth import SignIn
    from ui.serve import start

    # 8 clients share one key: allow them all in flight (the default is 4 per key).
    rag = RAG(index_dir=args.index, corpus_dir=SEEDS, max_requests_per_client=8).open()
    server = start(rag, port=0, signin=SignIn({"RAG_API_KEYS": KEY, "RAG_RATE_LIMIT": "100000"}),
                   store=ConversationStore(WORK / "api-conversations.sqlite"))
    questions = [row["question"] for row in load_qa()] * args.rounds
    env = machine()
    try:
        results = {str(c): measure(rag, server.url, questions, c) for c in (1, 8)}
    finally:
        server.close()
    env["load_after"] = machine()["load_average"]
    rows = []
    for clients, ways in results.items():
        base = ways["RAG.ask"]
        for way, s in ways.items():
            over = "" if way == "RAG.ask" else (
                f"{s['p50_ms'] - base['p50_ms']:+.1f} / {s['p95_ms'] - base['p95_ms']:+.1f}")
            beyond = s["beyond_server_answer"]
            rows.append([clients, way, f"{s['p50_ms']:.1f}", f"{s['p95_ms']:.1f}", over,
                         f"{beyond['p50_ms']:.1f} / {beyond['p95_ms']:.1f}"])
    table = markdown_table(["clients", "way", "p50 ms", "p95 ms", "overhead p50 / p95 ms",
                            "wall - server answer time, p50 / p95 ms"], rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api_overhead.json").write_text(json.dumps(
        {"questions": len(questions), "results": results, "machine": env}, indent=2,
        ensure_ascii=False), encoding="utf-8")
    (RESULTS / "api_overhead.md").write_text(
        f"# API overhead over RAG.ask\n\n`python benchmarks/api_overhead.py` — {len(questions)} "
        f"questions per way (seed Q&A x{args.rounds}), extractive answerer, seed index, server "
        f"and clients in one process on this machine (load before {env['load_average']}, "
        f"after {env['load_after']}).\n\n{table}\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
