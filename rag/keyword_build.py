"""Build a keyword index in a stream: chunks are tokenised batch by batch (in worker processes
when asked), every term gets an integer id in order of first appearance, and each chunk's
(term id, count) pairs go straight to files on disk. Memory holds the vocabulary, the document
frequencies and a few batches; never a list of every token. ``rag.keyword_postings`` then turns
the per-chunk (forward) files into the term-major BM25 columns that ``rag.keyword_index`` reads.

An update passes the unchanged files' chunks as ``Reuse`` segments: their forward rows are read
from the previous index and their term ids mapped to the new vocabulary, so only changed files
are tokenised. Ids are assigned in the order terms first appear over the chunks, whatever the
batch boundaries, the number of processes or which chunks were re-used: the same chunks always
give the same bytes.
"""

from __future__ import annotations

import functools
import gc
import itertools
import logging
import multiprocessing
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag import keyword_batch
from rag.keyword_batch import Batch, Term, term_key, tokenize_batch
from rag.keyword_index import KeywordIndex, array_path
from rag.keyword_postings import NpyAppender, write_postings

log = logging.getLogger(__name__)

BATCH = 1024  # chunks per task sent to a worker (~400 KB of text; results a few arrays)


@dataclass(frozen=True)
class Reuse:
    """Chunks of a previous index, by position, to copy into the new one untokenised."""

    index: KeywordIndex
    positions: Sequence[int]


Segment = Sequence[str] | Reuse


def _merged(segments: Sequence[Segment]) -> list[Segment]:
    """Consecutive text segments joined (so that batches stay full however small the files),
    consecutive re-used chunks of one index joined."""
    out: list[Segment] = []
    for seg in segments:
        last = out[-1] if out else None
        if isinstance(seg, Reuse):
            if isinstance(last, Reuse) and last.index is seg.index:
                assert isinstance(last.positions, list)
                last.positions.extend(seg.positions)
            else:
                out.append(Reuse(seg.index, list(seg.positions)))
        elif isinstance(last, list):
            last.extend(seg)
        else:
            out.append(list(seg))
    return out


def _batches(segments: Sequence[Segment], size: int) -> Iterator[Sequence[str]]:
    for seg in segments:
        if not isinstance(seg, Reuse):
            for lo in range(0, len(seg), size):
                yield seg[lo:lo + size]


def resolve_processes(processes: int) -> int:
    """0 means one process per CPU this process may run on."""
    if processes < 0:
        raise ValueError(f"keyword_processes must be 0 (one per CPU) or more, not {processes}")
    if processes == 0:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    return processes


class _Table:
    """Index ids by a tokenising process's term numbers (-1: not known yet), growing."""

    def __init__(self) -> None:
        self.ids = np.empty(0, dtype=np.int32)
        self.size = 0

    def extend(self, ids: np.ndarray) -> None:
        if self.size + len(ids) > len(self.ids):
            grown = np.empty(max(self.size + len(ids), 2 * len(self.ids)), dtype=np.int32)
            grown[:self.size] = self.ids[:self.size]
            self.ids = grown
        self.ids[self.size:self.size + len(ids)] = ids
        self.size += len(ids)


class _Forward:
    """The forward rows written so far, the vocabulary and the document frequencies."""

    def __init__(self, directory: Path) -> None:
        self.vocab: dict[Term, int] = {}  # words as str, bigrams as int (rag.keyword_batch)
        self.df = np.zeros(1024, dtype=np.int64)
        self.n_chunks = 0
        self.files = {name: NpyAppender(array_path(directory, name), dtype)
                      for name, dtype in (("forward_terms", np.int32), ("forward_tf", np.int32),
                                          ("lengths", np.int32), ("n_terms", np.int32))}
        self._maps: dict[int, np.ndarray] = {}
        self._tables: dict[int, _Table] = {}  # per tokenising process: its numbers' ids

    def add_batch(self, batch: Batch) -> None:
        """A tokenised batch: its process's term numbers mapped to ids (an array per process);
        terms new to the index get the next ids, in order of first appearance."""
        table = self._tables.get(batch.process)
        if table is None or batch.first == 0:  # the process (re)started its numbering
            table = self._tables[batch.process] = _Table()
        if table.size != batch.first:
            raise RuntimeError(f"keyword build: process {batch.process} sent term {batch.first}"
                               f" after {table.size}")
        vocab = self.vocab
        table.extend(np.fromiter(map(vocab.get, batch.new_terms, itertools.repeat(-1)),
                                 dtype=np.int32, count=len(batch.new_terms)))
        ids = table.ids[batch.ids]
        missing = ids < 0
        if missing.any():
            numbers, first = np.unique(batch.ids[missing], return_index=True)
            numbers = numbers[np.argsort(first, kind="stable")]  # in order of first appearance
            new = np.arange(len(vocab), len(vocab) + len(numbers), dtype=np.int32)
            terms = batch.new_terms
            vocab.update(zip([terms[i] for i in (numbers - batch.first).tolist()], new.tolist(),
                             strict=True))
            table.ids[numbers] = new
            ids = table.ids[batch.ids]
        self._append(batch.n_terms, ids, batch.counts, batch.lengths)

    def add_reused(self, old: KeywordIndex, lo: int, hi: int) -> None:
        """Chunks ``lo:hi`` of ``old``, with their term ids mapped to this vocabulary."""
        n_terms, old_ids, counts, lengths = old.forward(lo, hi)
        mapping = self._maps.get(id(old))
        if mapping is None:
            mapping = self._maps[id(old)] = np.full(old.n_terms, -1, dtype=np.int32)
        missing = old_ids[mapping[old_ids] < 0]
        if len(missing):
            uniq, first = np.unique(missing, return_index=True)
            uniq = uniq[np.argsort(first, kind="stable")]  # in order of first appearance
            vocab = self.vocab
            for tid, term in zip(uniq.tolist(), old.terms_of(uniq), strict=True):
                mapping[tid] = vocab.setdefault(term_key(term), len(vocab))
        self._append(np.asarray(n_terms, dtype=np.int32), mapping[old_ids], counts, lengths)

    def _append(self, n_terms: np.ndarray, ids: np.ndarray, counts: np.ndarray,
                lengths: np.ndarray) -> None:
        if len(self.vocab) > len(self.df):
            grown = np.zeros(max(len(self.vocab), 2 * len(self.df)), dtype=np.int64)
            grown[:len(self.df)] = self.df
            self.df = grown
        np.add.at(self.df, ids, 1)  # a term id appears once per chunk
        for name, values in (("forward_terms", ids), ("forward_tf", counts),
                             ("lengths", lengths), ("n_terms", n_terms)):
            self.files[name].append(values)
        self.n_chunks += len(lengths)

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def build_keyword_index(directory: Path, segments: Sequence[Segment], *, processes: int = 0,
                        memory_mb: int = 512, batch_size: int = BATCH) -> KeywordIndex:
    """Write the keyword index of the chunks of ``segments`` (texts, or chunks re-used from a
    previous index) into ``directory`` and open it. ``processes``: tokenising processes (0: one
    per CPU); ``memory_mb`` bounds the arrays of the term-major pass."""
    if memory_mb < 16:
        raise ValueError(f"keyword_memory_mb must be at least 16, not {memory_mb}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    segments = _merged(segments)
    total = sum(len(s.positions) if isinstance(s, Reuse) else len(s) for s in segments)
    n_texts = sum(len(s) for s in segments if not isinstance(s, Reuse))
    workers = min(resolve_processes(processes), max(1, -(-n_texts // batch_size)))
    forward = _Forward(directory)
    pool = None
    # Objects alive now (the caller's whole heap: chunks, models) stay out of garbage collections
    # until the tokenising ends, here and in the forked workers: collecting them again and again
    # costs time, and in a worker it would touch, and so copy, every page of the heap.
    gc.freeze()
    try:
        keyword_batch.prepare()  # the dictionary in memory once, before forking: workers share it
        tokenize = functools.partial(tokenize_batch, build=uuid.uuid4().hex)
        if workers > 1:
            pool = multiprocessing.get_context("fork").Pool(workers)
            results = pool.imap(tokenize, _batches(segments, batch_size))
        else:
            results = map(tokenize, _batches(segments, batch_size))
        with tqdm(total=total, unit="chunk", desc="keyword index", leave=False,
                  disable=total < 20_000) as bar:
            for seg in segments:
                if isinstance(seg, Reuse):
                    for lo, hi in _runs(seg.positions, batch_size):
                        forward.add_reused(seg.index, lo, hi)
                        bar.update(hi - lo)
                    continue
                for lo in range(0, len(seg), batch_size):
                    forward.add_batch(next(results))
                    bar.update(min(batch_size, len(seg) - lo))
    finally:
        if pool is not None:
            pool.terminate()
        gc.unfreeze()
        keyword_batch.forget()
        forward.close()
    log.info("keyword index: %d chunks (%d tokenised, %d processes), %d terms", total, n_texts,
             workers, len(forward.vocab))
    write_postings(directory, forward.vocab, forward.df[:len(forward.vocab)], forward.n_chunks,
                   memory_mb)
    return KeywordIndex.load(directory, total)


def _runs(positions: Sequence[int], limit: int) -> Iterator[tuple[int, int]]:
    """Consecutive ranges ``lo:hi`` covering ``positions`` in order, at most ``limit`` long."""
    pos = np.asarray(positions, dtype=np.int64)
    if not len(pos):
        return
    breaks = np.flatnonzero(np.diff(pos) != 1) + 1
    for part in np.split(pos, breaks):
        for lo in range(int(part[0]), int(part[-1]) + 1, limit):
            yield lo, min(lo + limit, int(part[-1]) + 1)
