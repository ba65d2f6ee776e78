"""Distributed ingestion with Ray Data: read, repair paragraphs, chunk and embed corpus files.

``process_files_ray`` runs the per-file half of an index build as a Ray Data pipeline:

1. ``from_items`` over the corpus-relative paths;
2. a ``flat_map`` stage (stateless tasks) that reads each file with ``read_document``, repairs
   its paragraphs and chunks them with ``rag.ingest.process.parse_file``, and emits one
   header row per file (its paragraphs, chunks and skip records, pickled) plus one row per chunk
   text;
3. a ``map_batches`` stage on a pool of actors, each holding one ``SentenceTransformerEmbedder``
   loaded once, that embeds the chunk texts in batches and passes header rows through;
4. the driver gathers the rows and regroups them per file, in the order of ``paths``.

The result is what the single-process path gives (same paragraphs and chunks, vectors equal to
within float rounding), one ``FileResult`` per path.

When it pays off: not on one machine. It has a fixed cost: starting a local Ray (~6 s on the
2-core development box), and on every call a fresh embedding actor that imports torch and loads
the model (~5 s), plus Ray Data's scheduling. On one machine the embedding is already the
bottleneck and uses every core through torch's threads, so there is nothing to win back:
``benchmarks/ray_overhead.py`` measured 10-20 s of overhead on the seeds (52 chunks) and on 4
copies of them (208 chunks) (``benchmarks/results/ray_overhead.md``). It pays off across
machines, where each node's actor embeds with all of that node's cores (or one actor per GPU),
on corpora whose embedding takes many minutes, beside which the fixed cost vanishes.

Pointing it at a cluster: set ``RAY_ADDRESS`` (e.g. ``RAY_ADDRESS=ray://head:10001`` or
``auto``) or call ``ray.init(address=...)`` before calling ``process_files_ray``; a running Ray
is always reused. Without one, a local Ray is started with ``num_cpus`` (default: this machine's
cores) and left running for later calls in the process. The driver's offline and configuration
variables (``HF_*``, ``TRANSFORMERS_*``, ``TIKTOKEN_CACHE_DIR``, ``RAG_*``, ...) are passed to
the workers, so every node must hold the same model and tiktoken files at the same paths.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.documents import Skipped
from rag.embeddings import ModelChoice
from rag.errors import RAGError
from rag.ingest.process import parse_file
from rag.schema import Chunk, Paragraph
from rag.tokens import get_counter

log = logging.getLogger(__name__)

# Texts per embedding batch (one Ray batch = one model call). Measured with
# `benchmarks/ray_overhead.py --copies 4 --batch-sizes 16,32,64` on the shared 2-core box (seeds
# x4, 208 chunks, 3 interleaved rounds, load average 5-7): pipeline median 32.8 s at 16, 30.8 s
# at 32, 36.2 s at 64, and 32 beat 16 in every round (by 2.0-4.4 s). The single-process tuning
# found 16 best (results/tuning.md); through Ray each batch is also an actor call with Arrow
# conversions, which favours fewer, larger batches.
DEFAULT_EMBED_BATCH_SIZE = 32

# Driver environment variables the workers must see (offline switches, caches, settings).
_ENV_PREFIXES = ("RAG_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_",
                 "TIKTOKEN_", "TOKENIZERS_", "TORCH_HOME", "OMP_WAIT_POLICY")

__all__ = ["DEFAULT_EMBED_BATCH_SIZE", "FileResult", "RayUnavailableError", "process_files_ray"]


class RayUnavailableError(RAGError, RuntimeError):
    """Ray (with Ray Data) is not installed; the message says what to install."""


@dataclass
class FileResult:
    path: str  # corpus-relative posix path
    paragraphs: list[Paragraph]
    chunks: list[Chunk]
    vectors: np.ndarray  # float32 (len(chunks), dim), rows aligned with chunks
    skipped: list[Skipped]  # skip records produced while reading this file (may be empty)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data ships in the "ray[data]" extra)
    except ImportError as exc:
        raise RayUnavailableError(
            "distributed ingestion needs Ray: pip install 'rag-zh[ray]'"
        ) from exc
    return ray


# (Ray job id, variables given to its workers) when this module started or joined Ray; a job
# the caller's own ray.init started does not match, and its workers may lack the variables.
_job_env: tuple[str, dict[str, str]] | None = None


def _worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}


def _stage_env(ray: Any) -> dict[str, Any]:
    """``runtime_env`` for the stages, only when the job's workers may lack the driver's variables.

    Giving a stage a runtime_env of its own makes Ray start fresh worker processes for it
    (measured: the embedding actor began loading ~1.3 s later), so it is left out when the
    job-level environment already holds the same variables.
    """
    env = _worker_env()
    if _job_env == (ray.get_runtime_context().get_job_id(), env):
        return {}
    return {"runtime_env": {"env_vars": env}}


def _ensure_ray(num_cpus: int | None = None) -> Any:
    """The ``ray`` module, connected: a running Ray is reused, else a local one is started.

    ``RAY_ADDRESS`` in the environment makes ``ray.init`` connect to that cluster instead (then
    ``num_cpus`` must not be given: a cluster's resources are its own).
    """
    global _job_env
    ray = _import_ray()
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if ray.is_initialized():
        return ray
    env = _worker_env()
    if os.environ.get("RAY_ADDRESS"):
        log.info("connecting to the Ray cluster at %s", os.environ["RAY_ADDRESS"])
        ray.init(log_to_driver=False, logging_level=logging.WARNING,
                 runtime_env={"env_vars": env}, ignore_reinit_error=True)
    else:
        # A local Ray enables token authentication by default and says so at WARNING level on
        # every start; nothing for a user of this module to act on.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
            logging.ERROR)
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING,
                 runtime_env={"env_vars": env}, ignore_reinit_error=True)
    _job_env = (ray.get_runtime_context().get_job_id(), env)
    return ray


# -- stage 1: read, repair paragraphs, chunk (stateless tasks) ---------------------------------


def _read_and_chunk(row: dict[str, Any], corpus_dir: str, settings: Settings
                    ) -> list[dict[str, Any]]:
    """One header row (pickled paragraphs, chunks, skip records) plus one row per chunk text."""
    parsed = parse_file(Path(corpus_dir), row["path"], settings)
    meta = pickle.dumps((parsed.paragraphs, parsed.chunks, parsed.skipped, get_counter()[0]),
                        protocol=pickle.HIGHEST_PROTOCOL)
    file = int(row["file"])
    out = [{"file": file, "seq": -1, "text": "", "meta": meta}]
    out += [{"file": file, "seq": i, "text": c.text, "meta": b""}
            for i, c in enumerate(parsed.chunks)]
    return out


# -- stage 2: embed (an actor pool, one model per actor) ---------------------------------------


class _EmbedActor:
    """Callable class for ``map_batches``: one embedder per actor, loaded once."""

    def __init__(self, model: ModelChoice, device: str, batch_size: int) -> None:
        from rag.embeddings import SentenceTransformerEmbedder

        self.embedder = SentenceTransformerEmbedder(model, device=device, batch_size=batch_size)

    def __call__(self, batch: Any) -> Any:  # a pyarrow.Table in, a pyarrow.Table out
        import pyarrow as pa

        seq = batch.column("seq").to_pylist()
        texts = batch.column("text").to_pylist()
        rows = [i for i, s in enumerate(seq) if s >= 0]  # header rows pass through
        vectors = self.embedder.embed([texts[i] for i in rows])
        encoded: list[bytes] = [b""] * len(seq)
        for row, i in enumerate(rows):
            encoded[i] = vectors[row].tobytes()
        return pa.table({
            "file": batch.column("file"),
            "seq": batch.column("seq"),
            "meta": batch.column("meta"),
            "vector": pa.array(encoded, type=pa.binary()),
            "dim": pa.array([self.embedder.dimension] * len(seq), type=pa.int64()),
        })


def _embed_actors(ray: Any, device: str) -> tuple[int, dict[str, Any]]:
    """Size of the embedding actor pool and each actor's resources.

    On CPU, one actor per node: each uses all of its node's cores through torch's threads (as
    ``SentenceTransformerEmbedder.embed`` sets them), so it asks Ray for one CPU only and leaves
    the rest to the reading tasks. On GPU (``embed_device`` "cuda..."), one actor per GPU.
    """
    if device.startswith("cuda"):
        gpus = int(ray.cluster_resources().get("GPU", 0))
        return max(1, gpus), {"num_cpus": 1, "num_gpus": 1}
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU")]
    return max(1, len(nodes)), {"num_cpus": 1}


# -- driver -------------------------------------------------------------------------------------


def _regroup(paths: list[str], batches: Any, counter: str) -> list[FileResult]:
    headers: dict[int, tuple[list[Paragraph], list[Chunk], list[Skipped]]] = {}
    vectors: dict[int, dict[int, bytes]] = {}
    dim = 0
    for batch in batches:
        files = batch.column("file").to_pylist()
        seqs = batch.column("seq").to_pylist()
        metas = batch.column("meta").to_pylist()
        vecs = batch.column("vector").to_pylist()
        dims = batch.column("dim").to_pylist()
        for file, seq, meta, vec, d in zip(files, seqs, metas, vecs, dims, strict=True):
            dim = d
            if seq < 0:
                paragraphs, chunks, skipped, worker_counter = pickle.loads(meta)
                if worker_counter != counter:
                    raise RuntimeError(
                        f"a Ray worker counts tokens with {worker_counter}, the driver with "
                        f"{counter}: chunks would differ. Give every node the same "
                        "TIKTOKEN_CACHE_DIR contents (or none anywhere)."
                    )
                headers[file] = (paragraphs, chunks, skipped)
            else:
                vectors.setdefault(file, {})[seq] = vec
    results = []
    for i, path in enumerate(paths):
        if i not in headers:
            raise RuntimeError(f"the Ray pipeline returned nothing for {path}")
        paragraphs, chunks, skipped = headers[i]
        got = vectors.get(i, {})
        if len(got) != len(chunks):
            raise RuntimeError(f"the Ray pipeline embedded {len(got)} of the {len(chunks)} "
                               f"chunks of {path}")
        matrix = np.zeros((len(chunks), dim), dtype=np.float32)
        for seq, raw in got.items():
            matrix[seq] = np.frombuffer(raw, dtype=np.float32)
        for s in skipped:  # the worker's warning went to its own log, not the driver's
            log.warning("skipping %s: %s", s.path, s.reason)
        results.append(FileResult(path, paragraphs, chunks, matrix, skipped))
    return results


def process_files_ray(corpus_dir: Path, paths: list[str], settings: Settings, model: ModelChoice,
                      *, num_cpus: int | None = None, embed_batch_size: int | None = None,
                      progress: bool = False) -> list[FileResult]:
    """Read, repair, chunk and embed ``paths`` (relative to ``corpus_dir``) on Ray.

    Returns one ``FileResult`` per path, in the order of ``paths``; a file that yields no chunks
    (skipped, empty) gets empty lists and a ``(0, dim)`` array. ``num_cpus`` sizes a local Ray
    started here (default: the machine's cores) and is ignored when Ray is already running.
    ``embed_batch_size`` is the number of chunk texts per model call (default
    ``DEFAULT_EMBED_BATCH_SIZE``). Raises ``RayUnavailableError`` when Ray is not installed.
    """
    if not paths:
        return []
    ray = _ensure_ray(num_cpus)
    batch_size = embed_batch_size or DEFAULT_EMBED_BATCH_SIZE
    corpus = str(Path(corpus_dir).resolve())
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    # With progress, Ray Data draws bars on a terminal and otherwise logs progress at INFO;
    # without, it warns once that bars are off, which is what progress=False asks for.
    logging.getLogger("ray.data._internal.progress").setLevel(
        logging.INFO if progress else logging.ERROR)
    stage_env = _stage_env(ray)
    actors, actor_resources = _embed_actors(ray, settings.embed_device)

    items = [{"file": i, "path": p} for i, p in enumerate(paths)]
    ds = ray.data.from_items(items, override_num_blocks=min(len(items), 200))
    ds = ds.flat_map(_read_and_chunk, fn_kwargs={"corpus_dir": corpus, "settings": settings},
                     **stage_env)
    ds = ds.map_batches(
        _EmbedActor,
        fn_constructor_kwargs={"model": model, "device": settings.embed_device,
                               "batch_size": batch_size},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        **actor_resources,
        **stage_env,
    )
    results = _regroup(paths, ds.iter_batches(batch_format="pyarrow", batch_size=None),
                       get_counter()[0])
    if log.isEnabledFor(logging.DEBUG):
        log.debug("Ray Data execution:\n%s", ds.stats())
    return results
