"""The second half of a keyword build: from the per-chunk (forward) files and the document
frequencies to BM25 weights in term-major (CSC) order, plus the vocabulary files, in passes over
term ranges whose arrays fit ``memory_mb`` (see ``rag.keyword_index`` for the layout).

Weights are computed exactly as the bm25s "lucene" index this replaces computed them (idf in
double precision rounded to float32, the length norm in double precision, the product rounded
to float32), so scores and rankings are unchanged bit for bit.
"""

from __future__ import annotations

import json
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rag.keyword import K1, B, bm25_idf
from rag.keyword_batch import Term, term_text
from rag.keyword_index import META, SCHEME, array_path

# Bytes of memory one posting of a pass costs (its chunk and weight), and one forward entry of
# a block (ids, counts, rows, weights, the transposed copy and its slots); half the budget each.
_ENTRY_BYTES = 8
_BLOCK_ENTRY_BYTES = 64


class NpyAppender:
    """A 1-D ``.npy`` file written by appending arrays; the header is rewritten on close (numpy
    pads headers so that the length of the shape may grow without moving the data)."""

    def __init__(self, path: Path, dtype: type) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.count = 0
        self._fh: BinaryIO | None = path.open("wb")
        self._header_len = self._write_header()

    def _write_header(self) -> int:
        assert self._fh is not None
        self._fh.seek(0)
        np.lib.format.write_array_header_1_0(
            self._fh, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                       "fortran_order": False, "shape": (self.count,)})
        return self._fh.tell()

    def append(self, values: np.ndarray) -> None:
        assert self._fh is not None
        data = np.ascontiguousarray(values, dtype=self.dtype)
        self._fh.write(memoryview(data).cast("B"))
        self.count += len(data)

    def close(self) -> None:
        if self._fh is None:
            return
        try:
            if self._write_header() != self._header_len:
                raise RuntimeError(f"the header of {self.path} changed length")
        finally:
            self._fh.close()
            self._fh = None


class NpyReader:
    """Slices of a 1-D ``.npy`` file read with plain file reads."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("rb")
        if np.lib.format.read_magic(self._fh) != (1, 0):  # as NpyAppender writes them
            raise ValueError(f"{path} is not a version 1.0 .npy file")
        shape, _, dtype = np.lib.format.read_array_header_1_0(self._fh)
        self.dtype = dtype
        self.size = shape[0]
        self._data = self._fh.tell()

    def read(self, lo: int, hi: int) -> np.ndarray:
        self._fh.seek(self._data + lo * self.dtype.itemsize)
        return np.fromfile(self._fh, dtype=self.dtype, count=hi - lo)

    def close(self) -> None:
        self._fh.close()


def bm25_weights(idf: np.ndarray, tf: np.ndarray, lengths: np.ndarray,
                 avg_length: float) -> np.ndarray:
    """float32 BM25 (Lucene) weights: ``idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))``,
    evaluated in the order bm25s evaluates it."""
    norm = K1 * ((1 - B) + (B * lengths.astype(np.float64)) / avg_length)
    tfc = tf / (norm + tf)
    return (idf.astype(np.float64) * tfc).astype(np.float32)


def write_postings(directory: Path, vocab: dict[Term, int], df: np.ndarray, n_chunks: int,
                   memory_mb: int) -> None:
    """Write the term-major arrays, the vocabulary and ``meta.json`` of the index whose forward
    files (``forward_terms``, ``forward_tf``, ``lengths``, ``n_terms``) are in ``directory``.
    The vocabulary is written by a second thread meanwhile (Python code, while the passes spend
    most of their time in numpy, which lets the other thread run)."""
    with ThreadPoolExecutor(1, thread_name_prefix="keyword-vocabulary") as pool:
        vocabulary = pool.submit(_write_vocabulary, directory, vocab)
        try:
            meta = _write_columns(directory, df, n_chunks, memory_mb)
        finally:
            vocabulary.result()
    (directory / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")  # last


def _write_columns(directory: Path, df: np.ndarray, n_chunks: int,
                   memory_mb: int) -> dict[str, Any]:
    """The term-major arrays; returns the index's ``meta.json`` content."""
    n_terms_path = array_path(directory, "n_terms")
    fwd_indptr = np.zeros(n_chunks + 1, dtype=np.int64)
    np.cumsum(np.load(n_terms_path), out=fwd_indptr[1:])
    np.save(array_path(directory, "forward_indptr"), fwd_indptr)
    n_terms_path.unlink()
    lengths = np.load(array_path(directory, "lengths"))  # 4 bytes a chunk
    avg_length = np.float64(lengths.sum(dtype=np.int64)) / n_chunks if n_chunks else 1.0
    # idf by the library's formula (math.log, as bm25s computed it), once per distinct df
    distinct, which = np.unique(df, return_inverse=True)
    idf = np.array([bm25_idf(n_chunks, int(d)) for d in distinct], dtype=np.float32)[which]
    indptr = np.zeros(len(df) + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    np.save(array_path(directory, "postings_indptr"), indptr)
    entries = int(indptr[-1])
    if entries != int(fwd_indptr[-1]):
        raise RuntimeError(f"keyword build: {entries} postings but {fwd_indptr[-1]} forward rows")

    # Plain reads and appends, no memory maps: pages of a mapped file count in this process's
    # resident memory, and here they would grow with the corpus.
    terms = NpyReader(array_path(directory, "forward_terms"))
    tf = NpyReader(array_path(directory, "forward_tf"))
    chunks_out = NpyAppender(array_path(directory, "postings_chunks"), np.int32)
    weights_out = NpyAppender(array_path(directory, "postings_weights"), np.float32)
    cap = max(1, memory_mb * 2**19 // _ENTRY_BYTES)
    block = max(1, memory_mb * 2**19 // _BLOCK_ENTRY_BYTES)
    t0 = 0
    while t0 < len(df):
        # the largest term range whose postings fit in ``cap`` entries (at least one term)
        t1 = max(t0 + 1, int(np.searchsorted(indptr, indptr[t0] + cap, side="right")) - 1)
        t1 = min(t1, len(df))
        seg_chunks, seg_weights = _pass(t0, t1, indptr, fwd_indptr, terms, tf, lengths, idf,
                                        avg_length, block)
        chunks_out.append(seg_chunks)  # term ranges in order: the file is written front to back
        weights_out.append(seg_weights)
        t0 = t1
    for f in (chunks_out, weights_out, terms, tf):
        f.close()
    return {"scheme": SCHEME, "chunks": n_chunks, "terms": len(df), "entries": entries,
            "avg_length": float(avg_length), "k1": K1, "b": B}


def _pass(t0: int, t1: int, indptr: np.ndarray, fwd_indptr: np.ndarray, terms: NpyReader,
          tf: NpyReader, lengths: np.ndarray, idf: np.ndarray, avg_length: float,
          block: int) -> tuple[np.ndarray, np.ndarray]:
    """The postings of terms ``t0:t1`` (chunk positions ascending within each term), read from
    the forward files in blocks of at most ``block`` entries. Each block is transposed by
    scipy's CSR-to-CSC conversion (a counting sort, linear in the block) and its columns are
    appended to the pass's columns."""
    from scipy.sparse import csr_matrix

    base = int(indptr[t0])
    out_chunks = np.empty(int(indptr[t1]) - base, dtype=np.int32)
    out_weights = np.empty(len(out_chunks), dtype=np.float32)
    fill = (indptr[t0:t1] - base).astype(np.int64)  # next free slot of each term's column
    whole = t0 == 0 and t1 == len(indptr) - 1
    n_chunks = len(fwd_indptr) - 1
    c0 = 0
    while c0 < n_chunks:
        c1 = int(np.searchsorted(fwd_indptr, fwd_indptr[c0] + block, side="right")) - 1
        c1 = min(max(c1, c0 + 1), n_chunks)
        a, b = int(fwd_indptr[c0]), int(fwd_indptr[c1])
        ids = terms.read(a, b)
        counts = tf.read(a, b)
        row = np.repeat(np.arange(c1 - c0, dtype=np.int32), np.diff(fwd_indptr[c0:c1 + 1]))
        if not whole:
            keep = (ids >= t0) & (ids < t1)
            ids, counts, row = ids[keep], counts[keep], row[keep]
        weights = bm25_weights(idf[ids], counts, lengths[c0:c1][row], avg_length)
        row_ptr = np.zeros(c1 - c0 + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=c1 - c0), out=row_ptr[1:])
        cols = csr_matrix((weights, ids - t0, row_ptr), shape=(c1 - c0, t1 - t0)).tocsc()
        per_term = np.diff(cols.indptr)
        slots = np.repeat(fill - cols.indptr[:-1], per_term) + np.arange(len(cols.data))
        out_chunks[slots] = cols.indices + c0
        out_weights[slots] = cols.data
        fill += per_term
        c0 = c1
    return out_chunks, out_weights


def _write_vocabulary(directory: Path, vocab: dict[Term, int]) -> None:
    """Terms as one UTF-8 blob with offsets (in id order: the dict's insertion order), and the
    ids ordered by the CRC-32 of their term with those CRC-32s, for lookups by binary search
    over fixed-size integers (``KeywordIndex.term_id``)."""
    encoded = [term_text(t).encode() for t in vocab]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)),
              out=offsets[1:])
    hashes = np.fromiter(map(zlib.crc32, encoded), dtype=np.uint32, count=len(encoded))
    np.save(array_path(directory, "terms"), np.frombuffer(b"".join(encoded), dtype=np.uint8))
    del encoded
    np.save(array_path(directory, "term_offsets"), offsets)
    order = np.argsort(hashes, kind="stable")
    np.save(array_path(directory, "term_order"), order.astype(np.int32))
    np.save(array_path(directory, "term_hashes"), hashes[order])
