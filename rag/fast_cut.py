"""jieba's precise-mode cut (``jieba.lcut(text)``, HMM on), word for word the same, in about
two thirds of the time: for bulk tokenising (the keyword build), where jieba's own Python loop
is most of the cost.

jieba builds a dictionary of every word's end positions (``get_DAG``) and then, in a second
loop, takes a ``max`` over a generator of tuples, calling ``math.log`` on each word's frequency
(``calc``). Here both happen in one backward pass over the text, with ``log(freq) - log(total)``
looked up from a table made once per dictionary. The arithmetic is jieba's, in jieba's order
(``(log(freq) - log(total)) + best_after``), ties go to the longer word as ``max`` over
``(score, end)`` sends them, and runs of single characters go to jieba's own HMM
(``jieba.finalseg``) exactly as jieba passes them. Written here because no maintained package
does this: ``jieba_fast`` (a C port) has had no release since 2018. Tests compare the cuts with
``jieba.lcut`` over the seeds, the public reading-comprehension corpus and generated text.

The table is a snapshot of the dictionary when ``Cutter`` is made: a word added to jieba later
(``jieba.add_word``) is not seen. The keyword build makes one per build.
"""

from __future__ import annotations

import math

from rag.segmenter import jieba, load_whole

_ABSENT = object()
_NEG = float("-inf")


class Cutter:
    """``lcut(text)`` equal to ``jieba.lcut(text)`` for jieba's default tokenizer."""

    def __init__(self) -> None:
        module = jieba()
        load_whole()  # a plain dict of the whole dictionary (not the word-by-word view)
        tokenizer = module.dt
        tokenizer.check_initialized()
        logtotal = math.log(tokenizer.total)
        # log(freq) - log(total) of every word (jieba recomputes it at every use); None for a
        # prefix of words that is no word itself (frequency 0 in jieba's table)
        self._table: dict[str, float | None] = {
            w: math.log(f) - logtotal if f else None for w, f in tokenizer.FREQ.items()}
        self._single = math.log(1) - logtotal  # a character that is no word of its own
        self._re_han = module.re_han_default
        self._re_skip = module.re_skip_default
        import jieba.finalseg as finalseg

        self._hmm = finalseg.cut

    def lcut(self, text: str) -> list[str]:
        out: list[str] = []
        re_han, re_skip = self._re_han, self._re_skip
        for block in re_han.split(text):
            if not block:
                continue
            if re_han.match(block):
                self._cut_block(block, out)
                continue
            for piece in re_skip.split(block):
                if re_skip.match(piece):
                    out.append(piece)
                else:
                    out.extend(piece)  # one character at a time, as jieba yields them
        return out

    def _ends(self, block: str) -> list[int]:
        """Where the best path's word starting at each position ends (jieba's ``route``)."""
        n = len(block)
        get = self._table.get
        best = [0.0] * (n + 1)  # route[n] is jieba's (0, 0)
        ends = [0] * n
        single = self._single
        for k in range(n - 1, -1, -1):
            top = _NEG
            end = -1
            i = k + 1
            frag = block[k]
            while True:
                s = get(frag, _ABSENT)
                if s is _ABSENT:  # no word starts with ``frag``
                    break
                if s is not None:  # ``frag`` is a word
                    s = s + best[i]
                    if s >= top:  # max() over (score, end): ties go to the later end
                        top, end = s, i - 1
                if i >= n:
                    break
                i += 1
                frag = block[k:i]
            if end < 0:
                top, end = single + best[k + 1], k
            best[k] = top
            ends[k] = end
        return ends

    def _cut_block(self, block: str, out: list[str]) -> None:
        """jieba's ``__cut_DAG``: the best path's words, runs of single characters given to the
        HMM when the run is no dictionary word."""
        ends = self._ends(block)
        n = len(block)
        x = 0
        buf = ""
        while x < n:
            y = ends[x] + 1
            if y - x == 1:
                buf += block[x]
            else:
                if buf:
                    self._flush(buf, out)
                    buf = ""
                out.append(block[x:y])
            x = y
        if buf:
            self._flush(buf, out)

    def _flush(self, buf: str, out: list[str]) -> None:
        if len(buf) == 1:
            out.append(buf)
        elif self._table.get(buf) is None:  # no dictionary word (jieba: not FREQ.get(buf))
            out.extend(self._hmm(buf))
        else:
            out.extend(buf)
