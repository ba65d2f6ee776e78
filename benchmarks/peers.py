"""Our pipeline beside LangChain's and LlamaIndex's usual set-ups, same corpus and same model.

All three use the bundled all-MiniLM-L6-v2, loaded once before timing starts (model loading is
``cold_start.py``'s subject), in one process with the same torch thread count:

* **ours**: ``update_index`` into a fresh FAISS store (paragraph repair, 200-token sentence
  chunks, embeddings, BM25, written to disk and reloaded by ``RAG(...).open()``), queried with
  ``RAG.retrieve`` (BM25 + dense fusion);
* **LangChain**: ``DirectoryLoader``/``TextLoader`` -> ``RecursiveCharacterTextSplitter`` ->
  ``HuggingFaceEmbeddings`` (langchain-huggingface) -> ``FAISS.from_documents`` -> ``save_local``,
  queried with ``similarity_search(q, k=5)``;
* **LlamaIndex**: ``SimpleDirectoryReader`` -> ``SentenceSplitter`` -> ``HuggingFaceEmbedding``
  (llama-index-embeddings-huggingface) -> ``VectorStoreIndex`` -> ``persist``, queried with
  ``as_retriever(similarity_top_k=5).retrieve(q)``.

Each peer runs twice: with the chunk size its documentation starts from (LangChain 1000/200
characters, LlamaIndex's SentenceSplitter defaults 1024/200 tokens) and with chunks matched to
ours (~200 tokens: 200/40 characters with Chinese separators; 200/40 tokens). Reported per
corpus: ingest seconds (median of rounds, interleaved), chunks, query p50/p95 of a warm index,
retrieval hit@5 on the answerable questions of eval/qa_seeds.jsonl (a retrieved text holds an
evidence string, whitespace removed), the characters those 5 texts hold (big chunks make hit@5
easy on a small corpus: 5 of the seeds' 9 LangChain chunks are half the corpus), and each
peer's ratio to ours.

    pip install -e '.[bench]'
    python benchmarks/peers.py [--quick] [--docs 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
from common import (
    SEEDS,
    WORK,
    evidence_hit,
    load_average,
    load_qa,
    machine,
    markdown_table,
    median,
    summarize_ms,
)

ZH_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "，", ""]
Search = Callable[[str], list[str]]


@dataclass(frozen=True)
class Setup:
    name: str
    ingest: Callable[[Path, Path], tuple[int, Search]]  # (corpus, scratch) -> (chunks, search)


def ours(embedder, settings) -> Setup:
    def ingest(corpus: Path, scratch: Path) -> tuple[int, Search]:
        from rag.indexing import update_index
        from rag.pipeline import RAG
        from rag.stores import open_store

        store = open_store(settings, scratch)  # a fresh folder: a full build, nothing reused
        snapshot = update_index(store, corpus, settings, lambda _choice: embedder)
        store.close()
        rag = RAG(index_dir=scratch, settings=settings).open()  # reloads it, as before
        return (int(snapshot.manifest["chunks"]),
                lambda q: [p.text for p in rag.retrieve(q, 5)])

    return Setup("ours", ingest)


def langchain(embeddings, chunk_size: int, overlap: int, zh: bool) -> Setup:
    def ingest(corpus: Path, scratch: Path) -> tuple[int, Search]:
        from langchain_community.document_loaders import DirectoryLoader, TextLoader
        from langchain_community.vectorstores import FAISS
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        docs = DirectoryLoader(str(corpus), glob="**/*.txt", loader_cls=TextLoader,
                               loader_kwargs={"encoding": "utf-8"}).load()
        kwargs = {"separators": ZH_SEPARATORS, "keep_separator": "end"} if zh else {}
        splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap,
                                                  **kwargs)
        chunks = splitter.split_documents(docs)
        store = FAISS.from_documents(chunks, embeddings)
        store.save_local(str(scratch))
        return len(chunks), lambda q: [d.page_content for d in store.similarity_search(q, k=5)]

    label = f"LangChain {chunk_size}/{overlap} chars" + (" zh-separators" if zh else "")
    return Setup(label, ingest)


def llamaindex(embed_model, chunk_size: int | None, overlap: int | None) -> Setup:
    def ingest(corpus: Path, scratch: Path) -> tuple[int, Search]:
        from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter

        docs = SimpleDirectoryReader(str(corpus), recursive=True, required_exts=[".txt"]
                                     ).load_data()
        splitter = (SentenceSplitter() if chunk_size is None
                    else SentenceSplitter(chunk_size=chunk_size, chunk_overlap=overlap))
        index = VectorStoreIndex.from_documents(docs, embed_model=embed_model,
                                                transformations=[splitter])
        index.storage_context.persist(persist_dir=str(scratch))
        retriever = index.as_retriever(similarity_top_k=5)
        n = len(index.docstore.docs)
        return n, lambda q: [r.node.get_content() for r in retriever.retrieve(q)]

    size = "1024/200 (defaults)" if chunk_size is None else f"{chunk_size}/{overlap}"
    return Setup(f"LlamaIndex {size} tokens", ingest)


def setups(quick: bool) -> tuple[list[Setup], Any, Any, Any]:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from rag.config import load_settings
    from rag.embeddings import load_embedder

    settings = load_settings(embed_model="bundled", store="faiss", ingest_engine="local")
    embedder = load_embedder("bundled", batch_size=settings.embed_batch_size)
    lc = langchain_embeddings()(model_name=common.model_path())
    li = HuggingFaceEmbedding(model_name=common.model_path())
    out = [ours(embedder, settings), langchain(lc, 200, 40, zh=True), llamaindex(li, 200, 40)]
    if not quick:
        out += [langchain(lc, 1000, 200, zh=False), llamaindex(li, None, None)]
    return out, lc, embedder, settings


def langchain_embeddings():
    """``HuggingFaceEmbeddings`` from langchain-huggingface, else langchain-community's copy.

    langchain-huggingface 1.2 pins huggingface-hub<2 (transformers 5 works with 2.x), so the
    bench extra may leave it out; both classes wrap the same ``SentenceTransformer.encode``."""
    try:
        from langchain_huggingface import HuggingFaceEmbeddings
    except ImportError:
        from langchain_community.embeddings import HuggingFaceEmbeddings
    return HuggingFaceEmbeddings


def measure_queries(search: Search, rounds: int) -> dict[str, Any]:
    qa = load_qa()
    for r in qa[:3]:
        search(r["question"])
    times = []
    for _ in range(rounds):
        for r in qa:
            t0 = time.perf_counter()
            search(r["question"])
            times.append(time.perf_counter() - t0)
    answerable = [r for r in qa if r.get("answerable", True)]
    found = [(search(r["question"]), r["evidence"]) for r in answerable]
    hits = [evidence_hit(texts, evidence, k=5) for texts, evidence in found]
    chars = [sum(len(t) for t in texts[:5]) for texts, _ in found]
    return {"query": summarize_ms(times), "hit_at_5": round(sum(hits) / len(hits), 3),
            "top5_chars_mean": round(sum(chars) / len(chars), 1)}


def run_corpus(label: str, corpus: Path, all_setups: list[Setup], rounds: int,
               query_rounds: int) -> list[dict[str, Any]]:
    timings: dict[str, list[float]] = {s.name: [] for s in all_setups}
    results: dict[str, dict[str, Any]] = {}
    for r in range(rounds):
        order = all_setups if r % 2 == 0 else list(reversed(all_setups))
        for setup in order:
            scratch = Path(tempfile.mkdtemp(prefix="peer-", dir=WORK))
            try:
                t0 = time.perf_counter()
                n, search = setup.ingest(corpus, scratch)
                timings[setup.name].append(time.perf_counter() - t0)
                print(f"{label} round {r}: {setup.name}: {n} chunks in "
                      f"{timings[setup.name][-1]:.1f}s (load {load_average()[0]})", flush=True)
                if r == rounds - 1:
                    results[setup.name] = {"chunks": n, **measure_queries(search, query_rounds)}
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    base = results["ours"]
    base_ingest = median(timings["ours"])
    rows = []
    for setup in all_setups:
        res = results[setup.name]
        ingest = median(timings[setup.name])
        rows.append({"corpus": label, "setup": setup.name, "chunks": res["chunks"],
                     "top5_chars_mean": res["top5_chars_mean"],
                     "ingest_s": round(ingest, 3), "ingest_s_all": timings[setup.name],
                     "query": res["query"], "hit_at_5": res["hit_at_5"],
                     "ingest_ratio_to_ours": round(ingest / base_ingest, 3),
                     "query_p50_ratio_to_ours": round(res["query"]["p50_ms"]
                                                      / base["query"]["p50_ms"], 3)})
    return rows


def query_breakdown(lc_embeddings, embedder, settings, rounds: int) -> dict[str, float]:
    """Median ms per question of our retrieve and its parts, beside LangChain's query encode.

    Interleaved per question on the seeds index, so load hits every part alike."""
    from rag.indexing import update_index
    from rag.keyword import content_terms
    from rag.pipeline import RAG
    from rag.stores import open_store

    scratch = Path(tempfile.mkdtemp(prefix="peer-", dir=WORK))
    try:
        store = open_store(settings, scratch)
        update_index(store, SEEDS, settings, lambda _choice: embedder)
        store.close()
        rag = RAG(index_dir=scratch, settings=settings).open()
        keyword = open_store(settings, scratch).open().keyword  # the FAISS snapshot's BM25
        parts: dict[str, Callable[[str], Any]] = {
            "ours: retrieve (total)": lambda q: rag.retrieve(q, 5),
            "ours: query encode (embedder.embed)": lambda q: embedder.embed([q], query=True),
            "ours: BM25 scores (jieba + bm25s)": keyword.scores,
            "ours: content_terms (jieba again)": content_terms,
            "LangChain: embed_query": lc_embeddings.embed_query,
        }
        times: dict[str, list[float]] = {k: [] for k in parts}
        questions = [r["question"] for r in load_qa()]
        for _ in range(rounds):
            for q in questions:
                for name, fn in parts.items():
                    t0 = time.perf_counter()
                    fn(q)
                    times[name].append(time.perf_counter() - t0)
        return {k: round(median(v) * 1000, 3) for k, v in times.items()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--docs", type=int, default=20, help="generated documents beside the seeds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads after loading (default: what rag sets, the cores)")
    parser.add_argument("--query-rounds", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.docs, args.rounds, args.query_rounds = 2, 1, 1
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    WORK.mkdir(parents=True, exist_ok=True)
    from synthetic import corpus_folder

    info = machine()
    all_setups, lc, embedder, settings = setups(args.quick)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    breakdown = query_breakdown(lc, embedder, settings, args.query_rounds)
    corpora = [("seeds", SEEDS), (f"seeds+{args.docs} generated", corpus_folder(args.docs))]
    rows = [row for label, path in corpora
            for row in run_corpus(label, path, all_setups, args.rounds, args.query_rounds)]
    table = [(r["corpus"], r["setup"], r["chunks"], r["ingest_s"], r["ingest_ratio_to_ours"],
              r["query"]["p50_ms"], r["query"]["p95_ms"], r["query_p50_ratio_to_ours"],
              r["hit_at_5"], r["top5_chars_mean"]) for r in rows]
    md = "\n\n".join([
        "## Peers: same corpus, same model (all-MiniLM-L6-v2), one process",
        markdown_table(["corpus", "setup", "chunks", "ingest s", "ingest / ours",
                        "query p50 ms", "query p95 ms", "query p50 / ours", "hit@5",
                        "chars in top 5"], table),
        "## Where a query's time goes (seeds, median ms per question, interleaved)",
        markdown_table(["part", "ms"], list(breakdown.items())),
        f"Ingest excludes model loading (each embedder is loaded before timing); {args.rounds} "
        f"rounds, torch threads {torch.get_num_threads()}; load average "
        f"{info['load_average']} at the start, {load_average()} at the end.",
    ])
    payload = {"machine": info, "rounds": args.rounds, "torch_threads": torch.get_num_threads(),
               "rows": rows, "query_breakdown_ms": breakdown,
               "load_average_after": load_average(),
               "versions": _peer_versions(),
               "langchain_embeddings": langchain_embeddings().__module__}
    name = f"peers-threads{args.threads}" if args.threads else "peers"
    common.write_results(name, payload, md, quick=args.quick)


def _peer_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("langchain-core", "langchain-community", "langchain-huggingface",
                 "langchain-text-splitters", "llama-index-core",
                 "llama-index-embeddings-huggingface"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


if __name__ == "__main__":
    main()
