"""The FAISS store against the Milvus store (Milvus Lite) on the same chunks, vectors and queries.

For each size the corpus is the query-scale one (``scale_index.corpus``: the seeds' real chunks
plus generated Chinese chunks, one paragraph each); vectors are real MiniLM embeddings up to
``--real-vectors-upto`` chunks and clustered synthetic ones above (``scale_index.index_vectors``,
dimension 384). Queries are the ``eval/qa_seeds.jsonl`` questions plus generated sentences (as
``ann_recall.py`` does) up to ``--queries``, embedded with the bundled model through
``rag.embeddings`` (``resolve_model("auto")``, offline: the bundled MiniLM). Each step runs in its
own fresh process, so memory figures do not mix:

* **build** (chunks/s, embedding excluded): the same ``Delta`` (``scale_index.delta_for``: one
  ``FileContent`` per document, as ``update_index`` hands a store) published by each store as
  ``store.stage`` + ``store.commit``. FAISS = ``KeywordIndex.build`` (jieba + bm25s) + the build
  folder (vectors, SQLite records, BM25 files, fsync, checksums) + the atomic rename; Milvus =
  ``create_build`` + the writer's own rows (``chunk_record``: jieba terms into ``keywords``,
  where Milvus's BM25 function makes the sparse vector server-side) inserted with ``insert``,
  paragraph and file rows, ``write_terms``, the manifest row and ``publish``. Opening the
  published state (the end of ``commit``) is reported apart (``reopen_s``), not in the build;
* **query** (a fresh process opening what the build wrote): per query, (a) the dense channel
  alone: FAISS ``index.search`` against Milvus ``client.search`` on ``dense`` (IP, the
  generation filter and search parameters of ``rag.stores.milvus.snapshot``, ids only); (b)
  BM25 alone: ``KeywordIndex.scores`` + ``ranks_from_scores`` against Milvus ``client.search``
  on ``sparse``; both with k = 50, the retriever's candidate count; (c) the full retrieve (query
  encode included): the one ``rag.retrieval.Retriever`` over each store's snapshot, with score
  fusion and with ``fusion="rrf"``; recall@10 of dense search against numpy brute force over the
  same vectors;
* **memory**: RSS of the benchmark process and, for Milvus Lite, of its ``milvus`` server child;
  disk: the FAISS build folder and the Milvus Lite folder (``milvus.db`` and its data).

The Milvus Lite database lives in a fresh temporary folder, deleted at the end.

    python benchmarks/milvus_vs_faiss.py [--quick] [--sizes 10000 100000] [--queries 120]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import common
import numpy as np
from common import (
    WORK,
    evidence_hit,
    load_average,
    load_qa,
    machine,
    markdown_table,
    mib,
    peak_rss_bytes,
    rss_bytes,
    summarize_ms,
)

NAME = "milvus_vs_faiss"
DATA = WORK / NAME
COLLECTION = "bench"
K = 50  # candidates per channel, as the retriever asks (retrieval.CANDIDATES)
RECALL_AT = 10
TOP_K = 5
WARMUP = 5
SWEEP_PARAMS = [{"metric_type": "IP"}] + [{"metric_type": "IP", "params": p} for p in (
    {"ef": 64}, {"ef": 1024}, {"nprobe": 128}, {"level": 5})]


# -- processes and memory ---------------------------------------------------------------------


def _proc_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def milvus_children() -> list[int]:
    """Pids of the ``milvus`` (Milvus Lite server) children of this process (/proc; no psutil)."""
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == me and "milvus" in comm:
            out.append(int(entry))
    return out


def server_memory() -> dict[str, float]:
    """RSS and peak RSS (MiB) of the Milvus Lite server child(ren)."""
    pids = milvus_children()
    return {"pids": len(pids),
            "rss_mib": mib(sum(_proc_kb(p, "VmRSS") for p in pids) * 1024),
            "peak_mib": mib(sum(_proc_kb(p, "VmHWM") for p in pids) * 1024)}


def folder_size(folder: Path) -> dict[str, int]:
    """Apparent bytes (file sizes) and allocated bytes (blocks) under ``folder``."""
    apparent = allocated = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return {"apparent": apparent, "allocated": allocated}


def _timed_iter(items: Iterable[Any], spent: list[float]) -> Iterator[Any]:
    """``items``, adding the time spent producing each one to ``spent[0]``."""
    it = iter(items)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            spent[0] += time.perf_counter() - t0
            return
        spent[0] += time.perf_counter() - t0
        yield item


def _time_queries(fn: Callable[[int], Any], n: int) -> tuple[list[float], list[Any]]:
    times, results = [], []
    for i in range(n):
        t0 = time.perf_counter()
        results.append(fn(i))
        times.append(time.perf_counter() - t0)
    return times, results


# -- data shared by both stores ---------------------------------------------------------------


def data_paths(n: int, real_vectors_upto: int, n_queries: int) -> dict[str, Path]:
    stem = DATA / f"{n}-real{real_vectors_upto}-q{n_queries}"
    return {"records": stem.with_suffix(".pkl"), "vectors": stem.with_suffix(".vectors.npy"),
            "queries": stem.with_suffix(".queries.json"), "qvecs": stem.with_suffix(".qvecs.npy"),
            "done": stem.with_suffix(".json")}


def embedder():
    from rag.embeddings import SentenceTransformerEmbedder, resolve_model

    return SentenceTransformerEmbedder(resolve_model("auto"))


def query_texts(n_queries: int) -> tuple[list[str], list[dict[str, Any]]]:
    """The seed questions, then generated sentences up to ``n_queries`` (ann_recall's queries)."""
    from synthetic import SentenceGenerator

    qa = load_qa()
    texts = [r["question"] for r in qa]
    gen = SentenceGenerator(seed=99)
    while len(texts) < n_queries:
        texts.append(gen.sentence())
    answerable = [{"i": i, "evidence": r["evidence"]} for i, r in enumerate(qa)
                  if r.get("answerable", True)]
    return texts, answerable


def prepare(n: int, real_vectors_upto: int, n_queries: int) -> dict[str, Any]:
    """Chunks, paragraphs, vectors, query vectors and exact top-k, cached under WORK."""
    from scale_index import corpus, index_vectors

    paths = data_paths(n, real_vectors_upto, n_queries)
    if paths["done"].exists():
        return json.loads(paths["done"].read_text())
    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    paragraphs, chunks, _ = corpus(n)
    seed_chunks = sum(1 for c in chunks if not c.doc.startswith("generated/"))
    texts = [c.text for c in chunks]
    vectors, how = index_vectors(n, texts if n <= real_vectors_upto else [], seed_chunks,
                                 real_vectors_upto)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    model = embedder()
    unk = model.unk_rate(texts[:: max(1, n // 2000)])
    queries, answerable = query_texts(n_queries)
    qvecs = np.vstack([model.embed([q], query=True) for q in queries])
    exact = np.argsort(-(qvecs @ vectors.T), axis=1)[:, :RECALL_AT]
    with paths["records"].open("wb") as fh:
        pickle.dump({"paragraphs": paragraphs, "chunks": chunks}, fh,
                    protocol=pickle.HIGHEST_PROTOCOL)
    np.save(paths["vectors"], vectors)
    np.save(paths["qvecs"], qvecs)
    paths["queries"].write_text(json.dumps({"texts": queries, "answerable": answerable,
                                            "exact": exact.tolist()}, ensure_ascii=False))
    info = {"chunks": n, "paragraphs": len(paragraphs),
            "documents": len({c.doc for c in chunks}), "vectors": how, "unk_rate": round(unk, 4),
            "embed_model": model.name, "dimension": int(vectors.shape[1]),
            "queries": len(queries), "answerable": len(answerable),
            "mean_chars": round(sum(map(len, texts)) / n, 1),
            "prepare_s": round(time.perf_counter() - t0, 1)}
    paths["done"].write_text(json.dumps(info, indent=2))
    return info


def load_data(args: argparse.Namespace, *, records: bool = True) -> dict[str, Any]:
    paths = data_paths(args.n, args.real_vectors_upto, args.queries)
    out: dict[str, Any] = {"info": json.loads(paths["done"].read_text()),
                           **json.loads(paths["queries"].read_text()),
                           "qvecs": np.load(paths["qvecs"])}
    if records:
        with paths["records"].open("rb") as fh:
            out.update(pickle.load(fh))
        out["vectors"] = np.load(paths["vectors"])
    return out


def recall_at(found: list[list[int]], exact: list[list[int]], k: int = RECALL_AT) -> float:
    return round(float(np.mean([len(set(f[:k]) & set(e[:k])) / k
                                for f, e in zip(found, exact, strict=True)])), 4)


def tie_aware_recall(found: list[list[int]], n: int, args: argparse.Namespace,
                     k: int = RECALL_AT) -> float:
    """recall@k where a hit is any vector scoring at least the exact k-th score (duplicate
    chunks give equal vectors, and exact search may order equal scores either way)."""
    paths = data_paths(n, args.real_vectors_upto, args.queries)
    vectors, qvecs = np.load(paths["vectors"]), np.load(paths["qvecs"])
    hits = []
    for q, f in zip(qvecs, found, strict=True):
        scores = vectors @ q
        kth = np.partition(-scores, k - 1)[k - 1] * -1
        hits.append(sum(1 for i in set(f[:k]) if scores[i] >= kth - 1e-5) / k)
    return round(float(np.mean(hits)), 4)


def hit_rate(passages: list[list[str]], answerable: list[dict[str, Any]]) -> float:
    hits = [evidence_hit(passages[a["i"]], a["evidence"], k=TOP_K) for a in answerable]
    return round(sum(hits) / len(hits), 3)


# -- FAISS ------------------------------------------------------------------------------------


@contextlib.contextmanager
def timed_calls(module: Any, names: dict[str, Callable[..., str]],
                seconds: dict[str, float]) -> Iterator[None]:
    """While active, calls of ``module.<name>`` add their wall time to ``seconds[key]``, where
    ``key = names[name](*args)`` (the functions a store's ``stage``/``commit`` reach)."""
    saved = {name: getattr(module, name) for name in names}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                key = names[name](*a)
                seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
        return timed

    for name, fn in saved.items():
        setattr(module, name, wrap(name, fn))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(module, name, fn)


def faiss_build(args: argparse.Namespace) -> dict[str, Any]:
    from scale_index import delta_for

    import rag.stores.faiss as faiss_store
    import rag.stores.faiss.build as faiss_files
    from rag.config import load_settings
    from rag.keyword import tokenize
    from rag.stores import open_store

    data = load_data(args)
    info = data["info"]
    settings = load_settings(store="faiss", faiss_index="auto")
    delta = delta_for(data["paragraphs"], data["chunks"], data["vectors"], info["unk_rate"],
                      settings)
    store = open_store(settings, Path(args.dir))
    tokenize("预热")  # jieba's dictionary loads once per process, not per build
    gc.collect()
    rss0 = rss_bytes()
    spent: dict[str, float] = {}
    t0 = time.perf_counter()
    # store.stage: assemble, then the build folder, with the keyword index written inside it
    with timed_calls(faiss_store, {"build_keyword_index": lambda *a: "bm25"}, spent):
        build = store.stage(delta)
    stage_s = time.perf_counter() - t0
    peak = peak_rss_bytes()  # before the reopen in commit
    t1 = time.perf_counter()
    with timed_calls(faiss_files, {"commit": lambda *a: "rename"}, spent):
        store.commit(build)  # the atomic rename, then the new build opened as a snapshot
    commit_s = time.perf_counter() - t1
    store.close()
    total = stage_s + spent["rename"]  # publishing, without opening the result
    return {"bm25_build_s": round(spent["bm25"], 2),
            "write_index_s": round(total - spent["bm25"], 2),
            "reopen_s": round(commit_s - spent["rename"], 2),
            "total_s": round(total, 2), "chunks_per_s": round(args.n / total, 1),
            "faiss_spec": json.loads((build / "manifest.json").read_text())["faiss_spec"],
            "peak_rss_growth_mib": mib(max(0, peak - rss0)),
            "peak_rss_mib": mib(peak), "disk": folder_size(build),
            "load_average": load_average()}


def open_faiss(args: argparse.Namespace, data: dict[str, Any], model: Any
               ) -> tuple[dict[str, Callable[[int], Any]], dict[str, Any]]:
    """Per-query calls (query number -> chunk positions or passages) on the FAISS store."""
    from rag.config import load_settings
    from rag.fusion import ranks_from_scores
    from rag.retrieval import Retriever
    from rag.stores import open_store

    texts, qvecs = data["texts"], data["qvecs"]
    t0 = time.perf_counter()
    index = open_store(load_settings(store="faiss"), Path(args.dir)).open()
    load_s = time.perf_counter() - t0
    retriever = Retriever(index, model, dense_weight="auto", fusion="score")
    ids = {c.id: i for i, c in index.records.all_chunks()}

    def dense(i: int) -> list[int]:
        _, found = index.vectors.search(qvecs[i:i + 1], K)
        return [int(x) for x in found[0] if x >= 0]

    def bm25(i: int) -> list[int]:
        return ranks_from_scores(index.keyword.scores(texts[i]), K)

    def full(i: int) -> list[Any]:
        return retriever.search(texts[i], TOP_K)

    warm, _ = query_texts(0)
    for q in warm[-WARMUP:]:
        retriever.search(q, TOP_K)
    return ({"dense": dense, "bm25": bm25, "full": full},
            {"load_s": round(load_s, 3), "faiss_spec": index.manifest.get("faiss_spec"),
             "position": ids.__getitem__})


def _measure(calls: dict[str, Callable[[int], Any]], data: dict[str, Any], position: Any,
             model: Any) -> dict[str, Any]:
    """Latency of each call over every query (one pass each), recall@10, hit@5, top lists."""
    texts = data["texts"]
    out: dict[str, Any] = {"top": {}}
    calls = {**calls, "encode": lambda i: model.embed([texts[i]], query=True)}
    for name, fn in calls.items():
        times, results = _time_queries(fn, len(texts))
        out[name] = summarize_ms(times)
        if name in ("dense", "bm25"):
            out["top"][name] = [r[:RECALL_AT] for r in results]
        elif name.startswith("full"):
            out["top"][name] = [[position(p.chunk_id) for p in ps] for ps in results]
            out[f"hit_at_5{name[4:]}"] = hit_rate([[p.text for p in ps] for ps in results],
                                                  data["answerable"])
    out["recall_at_10"] = recall_at(out["top"]["dense"], data["exact"])
    return out


def faiss_query(args: argparse.Namespace) -> dict[str, Any]:
    from rag.keyword import tokenize

    data = load_data(args, records=False)
    rss_start = rss_bytes()
    model = embedder()
    model.embed(["预热"], query=True)
    tokenize("预热")  # jieba's dictionary counts with the model in both stores' processes
    rss_model = rss_bytes()
    calls, meta = open_faiss(args, data, model)
    rss_index = rss_bytes()
    out = _measure(calls, data, meta.pop("position"), model)
    return {**meta, **out,
            "rss_mib": {"start": mib(rss_start), "model": mib(rss_model), "index": mib(rss_index),
                        "after_queries": mib(rss_bytes()), "peak": mib(peak_rss_bytes())},
            "load_average": load_average()}


# -- Milvus -----------------------------------------------------------------------------------


def milvus_store(settings: Any, folder: Path, dense_index: str) -> Any:
    """The Milvus store at ``folder``; its chunks' dense index is ``dense_index`` (the store
    itself picks ``layout.dense_index_type``: another variant overrides only that choice)."""
    from rag.stores.milvus import MilvusStore, writer
    from rag.stores.milvus.layout import dense_index_type

    store = MilvusStore(settings, folder)
    if dense_index == dense_index_type(store.uri):
        return store

    class Variant(MilvusStore):
        def stage(self, delta: Any) -> Any:
            return writer.stage(self.client, self.name, delta, analyzer=self.analyzer,
                                dense_index=dense_index)

    return Variant(settings, folder)


def milvus_build(args: argparse.Namespace) -> dict[str, Any]:
    from scale_index import delta_for

    from rag.config import load_settings
    from rag.keyword import tokenize
    from rag.stores.milvus import writer
    from rag.stores.milvus.client import live_filter
    from rag.stores.milvus.rows import keywords_text

    data = load_data(args)
    info, vectors = data["info"], data["vectors"]
    settings = load_settings(store="milvus", milvus_collection=COLLECTION)
    analyzer = settings.milvus_analyzer
    delta = delta_for(data["paragraphs"], data["chunks"], vectors, info["unk_rate"], settings)
    store = milvus_store(settings, Path(args.dir), args.variant)
    tokenize("预热")
    gc.collect()
    rss0 = rss_bytes()
    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    store.client  # noqa: B018  (connects: starts the Milvus Lite server)
    steps["server_start_s"] = time.perf_counter() - t0

    # store.stage (writer.stage): create_build, the rows of every collection, terms, manifest
    spent: dict[str, float] = {}
    timed = {"create_build": lambda *a: "create_build",
             "insert": lambda client, coll, *a: "insert " + coll.rsplit("_", 1)[-1],
             "chunk_record": lambda *a: "chunk_rows_made", "write_terms": lambda *a: "terms",
             "commit": lambda *a: "publish"}
    t = time.perf_counter()
    with timed_calls(writer, timed, spent):
        staged = store.stage(delta)
        stage_s = time.perf_counter() - t
        t = time.perf_counter()
        snapshot = store.commit(staged)  # writer.commit (pointer + cleanup), then open
        commit_s = time.perf_counter() - t
    build_s = steps["server_start_s"] + stage_s + spent["publish"]
    steps["create_build_s"] = spent["create_build"]
    steps["paragraphs_s"] = spent["insert paragraphs"]
    steps["chunks_s"] = spent["insert chunks"]
    steps["chunk_rows_made_s"] = spent["chunk_rows_made"]  # jieba terms + .tolist(), in chunks_s
    steps["chunk_insert_rpc_s"] = steps["chunks_s"] - steps["chunk_rows_made_s"]
    steps["files_s"] = spent["insert files"]
    steps["terms_s"] = spent["terms"]
    steps["manifest_publish_s"] = (stage_s - sum(spent[k] for k in (
        "create_build", "insert paragraphs", "insert chunks", "insert files", "terms"))
        + spent["publish"])  # the manifest row, then the live pointer and cleanup
    steps["reopen_s"] = commit_s - spent["publish"]  # read the pointer and manifest back
    if snapshot.manifest.get("chunks") != args.n:
        raise RuntimeError(f"published {snapshot.manifest.get('chunks')} chunks, "
                           f"expected {args.n}")

    # The first searches after publishing (Milvus may build or load the index on demand).
    client, names, expr = snapshot.client, snapshot.names, live_filter(snapshot.gen)
    t = time.perf_counter()
    client.search(names.chunks, data=[data["qvecs"][0].tolist()], anns_field="dense", limit=K,
                  filter=expr, search_params={"metric_type": "IP"})
    steps["first_dense_search_s"] = time.perf_counter() - t
    t = time.perf_counter()
    client.search(names.chunks, data=[keywords_text(data["texts"][0], analyzer)],
                  anns_field="sparse", limit=K, filter=expr,
                  search_params={"metric_type": "BM25"})
    steps["first_bm25_search_s"] = time.perf_counter() - t
    try:
        index_info = {f: client.describe_index(names.chunks, f) for f in ("dense", "sparse")}
    except Exception as exc:  # describe_index is informative only
        index_info = {"error": str(exc)}
    server = server_memory()
    client_peak = peak_rss_bytes()
    t = time.perf_counter()
    store.close()  # stop the server: what it wrote is on disk for the query process
    steps["close_s"] = time.perf_counter() - t
    return {"build_s": round(build_s, 2), "chunks_per_s": round(args.n / build_s, 1),
            "steps": {k: round(v, 2) for k, v in steps.items()}, "index": index_info,
            "client_peak_rss_mib": mib(client_peak),
            "client_peak_rss_growth_mib": mib(max(0, client_peak - rss0)),
            "server_at_end": server, "disk": folder_size(Path(args.dir)),
            "load_average": load_average()}


def open_milvus(args: argparse.Namespace, data: dict[str, Any], model: Any
                ) -> tuple[dict[str, Callable[[int], Any]], dict[str, Any]]:
    """Per-query calls on the Milvus store, opened as ``RAG(store="milvus")`` opens it."""
    from rag.config import load_settings
    from rag.retrieval import Retriever
    from rag.stores.milvus import MilvusStore
    from rag.stores.milvus import snapshot as milvus_snapshot
    from rag.stores.milvus.client import live_filter
    from rag.stores.milvus.rows import keywords_text

    texts, qvecs = data["texts"], data["qvecs"]
    settings = load_settings(store="milvus", milvus_collection=COLLECTION)
    t0 = time.perf_counter()
    store = MilvusStore(settings, Path(args.dir))
    snapshot = store.open()
    open_s = time.perf_counter() - t0
    client, names, expr = snapshot.client, snapshot.names, live_filter(snapshot.gen)
    analyzer = snapshot.manifest.get("analyzer", "rag")
    with data_paths(args.n, args.real_vectors_upto, args.queries)["records"].open("rb") as fh:
        order = {c.id: i for i, c in enumerate(pickle.load(fh)["chunks"])}

    dense_params: dict[str, Any] = {"metric_type": "IP"}
    if hasattr(milvus_snapshot, "DENSE_EF"):  # search parameters as the snapshot sends them
        dense_params["params"] = {"ef": max(milvus_snapshot.DENSE_EF, K)}

    def dense(i: int, params: dict[str, Any] = dense_params) -> list[int]:
        hits = client.search(names.chunks, data=[qvecs[i].tolist()], anns_field="dense", limit=K,
                             filter=expr, search_params=params)
        return [order[h["id"].split(":", 1)[1]] for h in hits[0]]

    def bm25(i: int) -> list[int]:
        hits = client.search(names.chunks, data=[keywords_text(texts[i], analyzer)],
                             anns_field="sparse", limit=K, filter=expr,
                             search_params={"metric_type": "BM25"})
        return [order[h["id"].split(":", 1)[1]] for h in hits[0]]

    t = time.perf_counter()
    dense(0)
    first_dense_s = time.perf_counter() - t
    t = time.perf_counter()
    bm25(0)
    first_bm25_s = time.perf_counter() - t
    meta = {"dense_search_params": dense_params, "open_s": round(open_s, 3),
            "first_dense_search_s": round(first_dense_s, 3),
            "first_bm25_search_s": round(first_bm25_s, 3), "server_loaded": server_memory(),
            "position": order.__getitem__, "dense_with": dense}
    score = Retriever(snapshot, model, dense_weight="auto", fusion="score")
    rrf = Retriever(snapshot, model, dense_weight="auto", fusion="rrf")
    warm, _ = query_texts(0)
    for q in warm[-WARMUP:]:
        score.search(q, TOP_K)
        rrf.search(q, TOP_K)
    return ({"dense": dense, "bm25": bm25, "full": lambda i: score.search(texts[i], TOP_K),
             "full_rrf": lambda i: rrf.search(texts[i], TOP_K)}, meta)


def milvus_query(args: argparse.Namespace) -> dict[str, Any]:
    from rag.keyword import tokenize

    data = load_data(args, records=False)
    rss_start = rss_bytes()
    model = embedder()
    model.embed(["预热"], query=True)
    tokenize("预热")
    rss_model = rss_bytes()
    calls, meta = open_milvus(args, data, model)
    rss_index = rss_bytes()
    dense_with = meta.pop("dense_with")
    out = _measure(calls, data, meta.pop("position"), model)
    # Does any search parameter move AUTOINDEX's recall? (top 10 lists; recall computed later)
    out["top"]["param_sweep"] = {
        json.dumps(params.get("params", {})): [dense_with(i, params)[:RECALL_AT]
                                               for i in range(len(data["texts"]))]
        for params in SWEEP_PARAMS}
    return {**meta, **out,
            "rss_mib": {"start": mib(rss_start), "model": mib(rss_model), "index": mib(rss_index),
                        "after_queries": mib(rss_bytes()), "peak": mib(peak_rss_bytes())},
            "server_after_queries": server_memory(), "load_average": load_average()}


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """FAISS and every Milvus variant in one process, query by query in rotating order, so that
    the shared box's load falls on all alike (the latencies of the table)."""
    from rag.keyword import tokenize

    data = load_data(args, records=False)
    model = embedder()
    model.embed(["预热"], query=True)
    tokenize("预热")

    def at(sub: str) -> argparse.Namespace:
        return argparse.Namespace(**{**vars(args), "dir": str(Path(args.dir) / sub)})

    stores = {"faiss": open_faiss(at("faiss"), data, model)[0]}
    for variant in args.variants.split(","):
        stores[f"milvus-{variant}"] = open_milvus(at(f"milvus-{variant}"), data, model)[0]
    texts = data["texts"]
    times: dict[str, list[float]] = {}
    names = list(stores)
    for _ in range(args.rounds):
        for i in range(len(texts)):
            t0 = time.perf_counter()
            model.embed([texts[i]], query=True)
            times.setdefault("encode", []).append(time.perf_counter() - t0)
            shift = i % len(names)
            for store in names[shift:] + names[:shift]:
                for name, fn in stores[store].items():
                    t0 = time.perf_counter()
                    fn(i)
                    times.setdefault(f"{store}.{name}", []).append(time.perf_counter() - t0)
    return {**{k: summarize_ms(v) for k, v in times.items()}, "rounds": args.rounds,
            "load_average": load_average()}


# -- orchestration ----------------------------------------------------------------------------

CHILDREN: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "faiss-build": faiss_build, "faiss-query": faiss_query,
    "milvus-build": milvus_build, "milvus-query": milvus_query, "compare": compare,
}


def run_child(step: str, n: int, folder: Path, args: argparse.Namespace,
              *extra: str) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(prefix=f"{NAME}-{step}-", suffix=".json")[1])
    cmd = [sys.executable, __file__, "--child", step, "--n", str(n), "--out", str(out),
           "--queries", str(args.queries), "--real-vectors-upto", str(args.real_vectors_upto),
           "--rounds", str(args.rounds), "--dir", str(folder), *extra]
    load = load_average()
    t0 = time.perf_counter()
    try:
        subprocess.run(cmd, check=True, timeout=args.child_timeout)
        result = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["load_average_before"] = load
    print(f"[{n:,}] {step} {' '.join(extra)}: {result['wall_s']} s, load {load} ->"
          f" {result.get('load_average')}", flush=True)
    return result


def overlap(a: list[list[int]], b: list[list[int]], k: int) -> float:
    return round(float(np.mean([len(set(x[:k]) & set(y[:k])) / max(1, min(k, len(x), len(y)))
                                for x, y in zip(a, b, strict=True)])), 3)


def measure_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    prep = prepare(n, args.real_vectors_upto, args.queries)
    print(f"[{n:,}] data ready ({time.perf_counter() - t0:.0f} s): {prep}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{NAME}-{n}-"))
    milvus: dict[str, dict[str, Any]] = {}
    try:
        fb = run_child("faiss-build", n, tmp / "faiss", args)
        fq = run_child("faiss-query", n, tmp / "faiss", args)
        for variant in args.variants:
            folder = tmp / f"milvus-{variant}"
            mb = run_child("milvus-build", n, folder, args, "--variant", variant)
            mb["disk_after_close"] = folder_size(folder)
            mq = run_child("milvus-query", n, folder, args, "--variant", variant)
            mq["disk_after_queries"] = folder_size(folder)
            milvus[variant] = {"build": mb, "query": mq}
        cmp = run_child("compare", n, tmp, args, "--variants", ",".join(args.variants))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ftop = fq.pop("top")
    fq["recall_at_10_strict"] = fq["recall_at_10"]  # against numpy's order of equal scores
    fq["recall_at_10"] = tie_aware_recall(ftop["dense"], n, args)
    for m in milvus.values():
        mq = m["query"]
        mtop = mq.pop("top")
        mq["recall_at_10_strict"] = mq["recall_at_10"]
        mq["recall_at_10"] = tie_aware_recall(mtop["dense"], n, args)
        mq["recall_at_10_by_search_params"] = {
            label: tie_aware_recall(found, n, args)
            for label, found in mtop["param_sweep"].items()}
        m["agreement_with_faiss"] = {
            "dense_top10_overlap": overlap(ftop["dense"], mtop["dense"], RECALL_AT),
            "bm25_top10_overlap": overlap(ftop["bm25"], mtop["bm25"], RECALL_AT),
            "full_top5_overlap_score": overlap(ftop["full"], mtop["full"], TOP_K),
            "full_top5_overlap_rrf": overlap(ftop["full"], mtop["full_rrf"], TOP_K),
        }
    return {"chunks": n, "data": prep, "faiss_build": fb, "faiss_query": fq, "milvus": milvus,
            "interleaved": cmp, "wall_s": round(time.perf_counter() - t0, 1)}


def _pp(s: dict[str, Any]) -> str:
    return f"{s['p50_ms']:.1f} / {s['p95_ms']:.1f}"


def _ratio(a: float, b: float) -> str:
    """``a`` against ``b`` in words ("3.2x slower", "1.5x faster") for times."""
    return f"{a / b:.1f}x slower" if a >= b else f"{b / a:.1f}x faster"


def _label(variant: str, store_index: str) -> str:
    mark = ", the store's choice" if variant == store_index else ""
    return f"Milvus Lite ({variant}{mark})"


def guidance(rows: list[dict[str, Any]], store_index: str) -> str:
    """Plain-language reading of the figures (largest size measured)."""
    r = rows[-1]
    n = f"{r['chunks']:,}"
    fb, fq, cmp = r["faiss_build"], r["faiss_query"], r["interleaved"]
    main = store_index if store_index in r["milvus"] else next(iter(r["milvus"]))
    mb, mq = r["milvus"][main]["build"], r["milvus"][main]["query"]
    srv = mq["server_after_queries"]["rss_mib"]
    faiss_kb = (fq["rss_mib"]["after_queries"] - fq["rss_mib"]["model"]) * 1024 / r["chunks"]
    milvus_kb = ((mq["rss_mib"]["after_queries"] - mq["rss_mib"]["model"] + srv) * 1024
                 / r["chunks"])

    def p50(key: str) -> float:
        return float(cmp[key]["p50_ms"])

    m = f"milvus-{main}"
    dense = []
    for variant, v in r["milvus"].items():
        vq = v["query"]
        sweep = sorted(set(vq.get("recall_at_10_by_search_params", {}).values()))
        fixed = (" whatever ef/nprobe/level is sent" if len(sweep) == 1 and sweep[0] < 0.99
                 else "")
        dense.append(f"{variant} {p50(f'milvus-{variant}.dense'):.1f} ms at recall@10"
                     f" {vq['recall_at_10']:.3f}{fixed}")
    return "\n".join([
        f"- **Build** ({n} chunks, embedding excluded): FAISS {fb['chunks_per_s']:,.0f} chunks/s,"
        f" Milvus Lite {mb['chunks_per_s']:,.0f} (Milvus {_ratio(mb['build_s'], fb['total_s'])})."
        " Both run jieba over every chunk; Milvus adds the RPC inserts, its BM25 function and one"
        f" `_terms` row per distinct term. Peak RAM while building: FAISS {fb['peak_rss_mib']:,.0f}"
        f" MiB (bm25s), Milvus {mb['client_peak_rss_mib']:,.0f} +"
        f" {mb['server_at_end']['peak_mib']:,.0f} MiB (client + server).",
        f"- **Query** (p50): a whole retrieve takes {p50('faiss.full'):.0f} ms with FAISS and"
        f" {p50(m + '.full'):.0f} ms with Milvus Lite {main} (score fusion;"
        f" {p50(m + '.full_rrf'):.0f} ms RRF), of which the query encode is"
        f" {p50('encode'):.0f} ms. Dense channel: FAISS {fq['faiss_spec']}"
        f" {p50('faiss.dense'):.1f} ms at recall@10 {fq['recall_at_10']:.3f}; Milvus Lite "
        + "; ".join(dense) + ". (FAISS's own HNSW, chosen above 100k, keeps 0.998 at ~1.5 ms:"
        f" `results/ann_recall.md`.) BM25 is {_ratio(p50(m + '.bm25'), p50('faiss.bm25'))}"
        f" through Milvus ({p50(m + '.bm25'):.1f} against {p50('faiss.bm25'):.1f} ms). Opening the"
        f" store: the first Milvus Lite dense search takes {mq['first_dense_search_s']:.1f} s,"
        f" FAISS `FaissStore.open` {fq['load_s']:.1f} s.",
        f"- **Memory and disk**: FAISS needs ~{faiss_kb:.1f} KB of RAM per chunk in the serving"
        f" process; Milvus Lite ~{milvus_kb:.1f} KB, mostly in its server process ({srv:,.0f} MiB,"
        f" peak {mq['server_after_queries']['peak_mib']:,.0f}), and"
        f" {mib(mq['disk_after_queries']['allocated']):,.0f} MiB of disk against"
        f" {mib(fb['disk']['allocated']):,.0f} MiB.",
        "- **When to switch**: on one host, stay on FAISS: it builds faster, searches exactly (or"
        " HNSW at 0.998) and uses less RAM and disk, and Milvus Lite is no way out of that: it is"
        " embedded and single-process (one process holds the `.db` file; others go through"
        " `python -m rag.stores.milvus.serve`). Move to a Milvus standalone/distributed *server*"
        " when what FAISS files cannot give is needed: several serving replicas or hosts reading"
        " one index and switching generations together, a corpus whose index no longer fits one"
        " machine's RAM (shards and replicas across machines), or frequent incremental updates"
        " of a large corpus without rewriting index files. None of those can be measured on this"
        " 2-core box, and a server's figures (network hops, its own ANN index and ef) will differ"
        " from Lite's.",
    ])


def report(rows: list[dict[str, Any]], info: dict[str, Any], load_after: list[float],
           store_index: str, extrapolated: str = "") -> str:
    table, alone, builds, detail = [], [], [], []
    for r in rows:
        n = f"{r['chunks']:,}"
        fb, fq, cmp = r["faiss_build"], r["faiss_query"], r["interleaved"]
        table.append((f"FAISS ({fq['faiss_spec']}) + bm25s", n, f"{fb['chunks_per_s']:,.0f}",
                      _pp(cmp["faiss.dense"]), _pp(cmp["faiss.bm25"]), _pp(cmp["faiss.full"]),
                      "-", f"{fq['recall_at_10']:.3f}", fq["hit_at_5"],
                      f"{fq['rss_mib']['after_queries']:,.0f}",
                      f"{mib(fb['disk']['allocated']):,.0f}"))
        alone.append((n, "FAISS", _pp(fq["encode"]), _pp(fq["dense"]), _pp(fq["bm25"]),
                      _pp(fq["full"]), "-", fq["load_average"][0]))
        builds.append((n, "FAISS", fb["total_s"], f"BM25 {fb['bm25_build_s']} + write "
                       f"{fb['write_index_s']}; then reopen {fb.get('reopen_s', '-')}",
                       f"{fb['peak_rss_mib']:,.0f}"))
        for variant, v in r["milvus"].items():
            mb, mq, a = v["build"], v["query"], v["agreement_with_faiss"]
            key, label = f"milvus-{variant}", _label(variant, store_index)
            srv = mq["server_after_queries"]["rss_mib"]
            table.append((label, n, f"{mb['chunks_per_s']:,.0f}", _pp(cmp[key + ".dense"]),
                          _pp(cmp[key + ".bm25"]), _pp(cmp[key + ".full"]),
                          _pp(cmp[key + ".full_rrf"]), f"{mq['recall_at_10']:.3f}",
                          f"{mq['hit_at_5']} (RRF {mq['hit_at_5_rrf']})",
                          f"{mq['rss_mib']['after_queries']:,.0f} + {srv:,.0f}",
                          f"{mib(mq['disk_after_queries']['allocated']):,.0f}"))
            alone.append((n, label, _pp(mq["encode"]), _pp(mq["dense"]), _pp(mq["bm25"]),
                          _pp(mq["full"]), _pp(mq["full_rrf"]), mq["load_average"][0]))
            st = mb["steps"]
            builds.append((n, label, mb["build_s"],
                           f"server start {st['server_start_s']}, create {st['create_build_s']},"
                           f" paragraphs {st['paragraphs_s']}, chunks {st['chunks_s']} (rows"
                           f" made {st['chunk_rows_made_s']} + insert"
                           f" {st['chunk_insert_rpc_s']}), files {st['files_s']}, terms"
                           f" {st['terms_s']}, manifest + publish {st['manifest_publish_s']};"
                           f" then reopen {st.get('reopen_s', '-')},"
                           f" then first dense/BM25 search {st['first_dense_search_s']}/"
                           f"{st['first_bm25_search_s']}",
                           f"{mb['client_peak_rss_mib']:,.0f} + "
                           f"{mb['server_at_end']['peak_mib']:,.0f}"))
            detail.append((n, label, f"{fq['load_s']} / {mq['open_s']} (first searches "
                           f"{mq['first_dense_search_s']} / {mq['first_bm25_search_s']})",
                           f"{fq['rss_mib']['model']:,.0f} / {mq['rss_mib']['model']:,.0f}",
                           a["dense_top10_overlap"], a["bm25_top10_overlap"],
                           a["full_top5_overlap_score"], a["full_top5_overlap_rrf"],
                           f"{mq['server_loaded']['rss_mib']:,.0f} / "
                           f"{mq['server_after_queries']['peak_mib']:,.0f}",
                           ", ".join(f"{k} {x:.3f}" for k, x in
                                     mq.get("recall_at_10_by_search_params", {}).items())))
    d = rows[0]["data"]
    rounds = rows[0]["interleaved"]["rounds"]
    parts = [
        "## FAISS store against the Milvus store (Milvus Lite): same chunks, vectors, queries",
        markdown_table(["store", "chunks", "build chunks/s", "dense p50/p95 ms",
                        "BM25 p50/p95 ms", "retrieve p50/p95 ms (score fusion)",
                        "retrieve p50/p95 ms (Milvus RRF)", "dense recall@10",
                        "hit@5 (seed questions)", "RSS MiB client (+ Milvus server)",
                        "disk MiB"], table),
        f"Milvus rows differ only in the dense index of the chunks collection: the store itself"
        f" creates `{store_index}` in a Milvus Lite file (`layout.dense_index_type`); AUTOINDEX"
        " is what it creates on a Milvus server. Latencies: "
        f"{d['queries']} queries x {rounds} pass(es) (the {len(load_qa())} seed"
        f" questions plus generated sentences), all stores opened in one process and timed"
        f" query by query in rotating order, after {WARMUP} warm-up queries, so the shared"
        f" box's load falls on all alike. Channels alone search k = {K} (the retriever's"
        " candidate count) and return ids only (Milvus with the generation filter and search"
        " parameters of `rag.stores.milvus.snapshot`); retrieve = `Retriever.search` over each"
        " store's snapshot (top 5, query encode and passages included). Recall@10:"
        " dense top 10 against numpy brute force over the same vectors (any vector scoring at"
        " least the exact 10th score counts, since duplicate chunks tie). hit@5: evidence in"
        f" the top 5 for the {d['answerable']} answerable"
        " seed questions. RSS: a fresh process per store after the queries (embedding model"
        " included in both) and, for Milvus Lite, its `milvus` server child. Disk: allocated"
        " blocks of the FAISS build folder / the Milvus Lite folder (`milvus.db` and its data).",
        "## Guidance",
        guidance(rows, store_index),
        "## Build (insert) time, seconds",
        markdown_table(["chunks", "store", "total s", "steps s",
                        "peak RSS MiB (Milvus: client + server)"], builds),
        "## Latency of each store measured alone (its own process, one pass; load at the end)",
        markdown_table(["chunks", "store", "encode p50/p95 ms", "dense p50/p95 ms",
                        "BM25 p50/p95 ms", "retrieve p50/p95 ms", "RRF p50/p95 ms",
                        "load 1 min"], alone),
        "## Details",
        markdown_table(["chunks", "Milvus", "open s: FaissStore.open / MilvusStore.open",
                        "RSS with the model only MiB FAISS / Milvus client",
                        "dense top10 overlap with FAISS", "BM25 top10 overlap",
                        "retrieve top5 overlap (score)", "retrieve top5 overlap (RRF vs FAISS)",
                        "Milvus server RSS after first searches / peak MiB",
                        "Milvus dense recall@10 by search params"], detail),
        "BM25 differs slightly by design: bm25s (FAISS store) uses k1 1.5, Milvus k1 1.2, both"
        " b 0.75 over the same terms (analyzer `rag`).",
    ]
    if extrapolated:
        parts.append("## Extrapolated (not measured)\n\n" + extrapolated)
    vectors = "; ".join(f"{r['chunks']:,}: {r['data']['vectors']}" for r in rows)
    parts.append(f"Vectors: {vectors}. Load average {info['load_average']} at the start,"
                 f" {load_after} at the end ({info['cpu_count']} cores, shared); per-step loads"
                 f" and the SHA-256 of the library files measured in the JSON. pymilvus"
                 f" {info['versions'].get('pymilvus')}, milvus-lite"
                 f" {info['versions'].get('milvus_lite')}, faiss"
                 f" {info['versions'].get('faiss')}; git {info.get('git', {}).get('commit')}.")
    return "\n\n".join(parts)


def store_dense_index() -> str:
    """The dense index the Milvus store creates in a Milvus Lite file."""
    from rag.stores.milvus.client import default_uri
    from rag.stores.milvus.layout import dense_index_type

    return str(dense_index_type(default_uri(WORK)))


def code_hashes() -> dict[str, str]:
    """Short SHA-256 of the library files measured (others edit them; git may not show it)."""
    import hashlib

    stores = common.ROOT / "rag" / "stores"
    files = sorted(stores.glob("*.py")) + sorted((stores / "faiss").glob("*.py")) + sorted(
        (stores / "milvus").glob("*.py")) + [
        common.ROOT / "rag" / f for f in ("retrieval.py", "keyword.py", "fusion.py")]
    return {p.relative_to(common.ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()[:12]
            for p in files if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run at 2,000 chunks")
    parser.add_argument("--sizes", nargs="+", default=["10000", "100000"],
                        help="chunk counts (space or comma separated)")
    parser.add_argument("--queries", type=int, default=120, help="queries per measurement")
    parser.add_argument("--rounds", type=int, default=1,
                        help="passes over the queries in the interleaved comparison")
    parser.add_argument("--real-vectors-upto", type=int, default=10_000)
    parser.add_argument("--dense-index", nargs="+", default=["store", "AUTOINDEX"],
                        help="Milvus dense index types to measure; 'store': what the store"
                        " itself picks for a Milvus Lite file (layout.dense_index_type)")
    parser.add_argument("--child-timeout", type=int, default=3600)
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="AUTOINDEX", help=argparse.SUPPRESS)
    parser.add_argument("--variants", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = CHILDREN[args.child](args)
        Path(args.out).write_text(json.dumps(result, ensure_ascii=False, default=str))
        return
    if args.quick:
        args.sizes, args.real_vectors_upto = ["2000"], 300
    sizes = [int(s) for part in args.sizes for s in part.split(",") if s]
    args.store_index = store_dense_index()
    args.variants = list(dict.fromkeys(args.store_index if v == "store" else v.upper()
                                       for v in args.dense_index))
    info = machine()
    for name in ("pymilvus", "milvus_lite"):
        try:
            info["versions"][name] = version(name.replace("_", "-"))
        except Exception:  # not installed: the Milvus half will fail and say so
            info["versions"][name] = None
    info["code_sha256"] = code_hashes()
    started = time.perf_counter()
    rows = [measure_size(n, args) for n in sizes]
    load_after = load_average()
    md = report(rows, info, load_after, args.store_index)
    payload = {"machine": info, "sizes": rows, "load_average_after": load_after,
               "store_dense_index": args.store_index, "dense_index_variants": args.variants,
               "queries": args.queries, "k": K, "wall_s": round(time.perf_counter() - started, 1),
               "work_dir": str(DATA)}
    common.write_results(NAME, payload, md, quick=args.quick)


if __name__ == "__main__":
    main()
