"""A keyword (BM25) index on disk, opened memory-mapped: several processes serving one index
share its pages, and opening it reads no more than a small JSON file.

Files of one index folder (written by ``rag.keyword_build``; ``.npy`` arrays):

* ``postings_indptr`` (int64, terms + 1), ``postings_chunks`` (int32), ``postings_weights``
  (float32): term-major (CSC) BM25 weights; the column of term ``t`` is the slice
  ``indptr[t]:indptr[t + 1]``, chunk positions ascending. A query scores the sum of its terms'
  columns.
* ``terms`` (uint8, UTF-8 of every term in id order), ``term_offsets`` (int64, terms + 1),
  ``term_order`` (int32, term ids ordered by the CRC-32 of their term) and ``term_hashes``
  (uint32, those CRC-32s, ascending): the vocabulary, looked up by a binary search over the
  hashes, never loaded into a dict (a dict of millions of terms would take seconds and hundreds
  of MB in every serving process).
* ``forward_indptr`` (int64, chunks + 1), ``forward_terms`` (int32), ``forward_tf`` (int32) and
  ``lengths`` (int32): each chunk's terms (in order of first appearance) with their counts, and
  its BM25 length. An update re-uses these for unchanged files instead of tokenising again.
* ``meta.json``: scheme, sizes and the BM25 parameters.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from rag.keyword import tokenize

# The on-disk format; rag.stores.manifest.KEYWORD_SCHEME names it so that older indexes are
# rebuilt once.
SCHEME = "bm25-lucene-csc/2"
META = "meta.json"
ARRAYS = ("postings_indptr", "postings_chunks", "postings_weights", "terms", "term_offsets",
          "term_order", "term_hashes", "forward_indptr", "forward_terms", "forward_tf", "lengths")


def array_path(directory: Path, name: str) -> Path:
    return directory / f"{name}.npy"


class KeywordIndex:
    """BM25 scores of the chunks of one build, in chunk order; read-only, thread-safe."""

    def __init__(self, directory: Path, meta: dict[str, Any],
                 arrays: dict[str, np.ndarray]) -> None:
        self.directory = directory
        self.meta = meta
        self.size = int(meta["chunks"])
        self.n_terms = int(meta["terms"])
        self._a = arrays

    @classmethod
    def load(cls, directory: Path, size: int | None = None) -> KeywordIndex:
        """Open the index in ``directory`` (memory-mapped); ``size``, when given, must be its
        number of chunks."""
        directory = Path(directory)
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
        if meta.get("scheme") != SCHEME:
            raise ValueError(f"keyword index in {directory} has scheme {meta.get('scheme')!r}, "
                             f"this version reads {SCHEME!r}")
        # plain ndarray views of the read-only maps: a numpy.memmap costs microseconds per
        # operation in its subclass hooks, and a query makes hundreds of small ones
        arrays = {name: np.asarray(np.load(array_path(directory, name), mmap_mode="r"))
                  for name in ARRAYS}
        index = cls(directory, meta, arrays)
        index._check(size)
        return index

    def _check(self, size: int | None) -> None:
        a, n, v = self._a, self.size, self.n_terms
        expected = {"postings_indptr": v + 1, "term_offsets": v + 1, "term_order": v,
                    "term_hashes": v,
                    "forward_indptr": n + 1, "lengths": n,
                    "postings_chunks": int(self.meta["entries"]),
                    "postings_weights": int(self.meta["entries"]),
                    "forward_terms": int(self.meta["entries"]),
                    "forward_tf": int(self.meta["entries"])}
        wrong = [k for k, want in expected.items() if a[k].shape != (want,)]
        if wrong or (size is not None and size != n):
            raise ValueError(f"keyword index in {self.directory} is inconsistent "
                             f"({', '.join(wrong) or f'{n} chunks, expected {size}'})")

    # -- vocabulary -------------------------------------------------------------------------

    def term(self, term_id: int) -> str:
        lo, hi = self._a["term_offsets"][term_id:term_id + 2]
        return bytes(self._a["terms"][lo:hi]).decode("utf-8")

    def term_id(self, term: str) -> int | None:
        """The id of ``term`` (exactly as ``tokenize`` writes it), or None."""
        return self.term_ids([term])[0]

    def term_ids(self, terms: list[str]) -> list[int | None]:
        """``term_id`` of each of ``terms``, with one binary search for all of them."""
        hashes, order, offsets, blob = (self._a["term_hashes"], self._a["term_order"],
                                        self._a["term_offsets"], self._a["terms"])
        encoded = [t.encode("utf-8") for t in terms]
        wanted = np.fromiter(map(zlib.crc32, encoded), dtype=np.uint32, count=len(encoded))
        out: list[int | None] = []
        for raw, h, at in zip(encoded, wanted.tolist(), np.searchsorted(hashes, wanted).tolist(),
                              strict=True):
            found = None
            while at < len(hashes) and int(hashes[at]) == h:  # same CRC-32: compare the bytes
                tid = int(order[at])
                if blob[offsets[tid]:offsets[tid + 1]].tobytes() == raw:
                    found = tid
                    break
                at += 1
            out.append(found)
        return out

    def knows(self, term: str) -> bool:
        return self.term_id(term.lower()) is not None

    def document_frequency(self, term: str) -> int:
        """In how many chunks ``term`` (a token as ``tokenize`` makes them) occurs."""
        tid = self.term_id(term.lower())
        if tid is None:
            return 0
        indptr = self._a["postings_indptr"]
        return int(indptr[tid + 1] - indptr[tid])

    # -- scoring ----------------------------------------------------------------------------

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query``: the sum of its terms' weight columns, a
        term counted as often as the query repeats it (float32, added in query order)."""
        ids = [t for t in self.term_ids(tokenize(query)) if t is not None]
        return self.scores_of_ids(ids)

    def scores_of_ids(self, term_ids: list[int]) -> np.ndarray:
        out = np.zeros(self.size, dtype=np.float32)
        indptr, chunks, weights = (self._a["postings_indptr"], self._a["postings_chunks"],
                                   self._a["postings_weights"])
        for tid in term_ids:
            lo, hi = int(indptr[tid]), int(indptr[tid + 1])
            out[chunks[lo:hi]] += weights[lo:hi]  # a column holds each chunk at most once
        return out

    # -- forward rows (for the next build) --------------------------------------------------

    def forward(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Chunks ``lo:hi``: (terms per chunk, term ids, counts, lengths)."""
        indptr = self._a["forward_indptr"]
        a, b = int(indptr[lo]), int(indptr[hi])
        # plain reads (an update reads every kept chunk once: mapped pages would stay resident)
        rows = []
        for name in ("forward_terms", "forward_tf"):
            with array_path(self.directory, name).open("rb") as fh:
                np.lib.format.read_magic(fh)
                _, _, dtype = np.lib.format.read_array_header_1_0(fh)
                fh.seek(fh.tell() + a * dtype.itemsize)
                rows.append(np.fromfile(fh, dtype=dtype, count=b - a))
        return np.diff(indptr[lo:hi + 1]), rows[0], rows[1], np.array(self._a["lengths"][lo:hi])

    def terms_of(self, term_ids: np.ndarray) -> list[str]:
        return [self.term(int(t)) for t in term_ids]
