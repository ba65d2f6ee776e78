"""Property-based tests (hypothesis) for paragraph repair and chunking.

Paragraphs: nothing raises on arbitrary text; every non-blank source line lands in exactly one
paragraph, in order, at the offset its ``line_starts`` records; a paragraph's text (whitespace
removed) occurs in its source line range; pages count the form feeds before it.
Chunks: every chunk is an exact slice of its paragraphs (``start``/``end`` offsets) within the
token budget; together they cover all text; consecutive chunks overlap only inside one paragraph
and by at most ``overlap_tokens`` (with a one-token-per-character counter, so the bound is exact).

``PROPERTY_EXAMPLES=2000`` runs a longer search than the default.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_paragraphs
from rag.paragraphs import clean_line, split_paragraphs
from rag.schema import Paragraph
from rag.tokens import count_tokens

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "60"))
fast = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# Text shaped like extracted newspaper pages: Chinese runs, punctuation, ASCII, markup, indents,
# blank lines and page breaks, so the repair rules (wrapping, captions, markdown) all fire.
_PIECES = st.sampled_from([
    "兖州区培育新能源", "企业兴则经济兴", "。", "，", "！", "？", "”", "…", "；", "、", "：",
    "Green growth", ". ", "a", "1", "2024", " ", "\u3000", "\t", "**", "#", "# ", "> ", "- ",
    "[链接](http://x.cn)", "__", "|", "*", "中", "\f", "\r", "\xa0", "\u200b",
])
_LINE = st.lists(_PIECES, max_size=12).map("".join)
SHAPED = st.lists(_LINE, max_size=30).map("\n".join)
TEXT = st.one_of(SHAPED, st.text(max_size=300))


def _raw_lines(text: str) -> list[str]:
    """Source lines as paragraph repair numbers them (1-based index = position + 1)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [ln.replace("\f", "").rstrip() for ln in lines]


def _no_space(text: str) -> str:
    return "".join(c for c in text if not c.isspace())


@fast
@given(text=TEXT, markdown=st.booleans())
def test_paragraphs_account_for_every_line_in_order(text, markdown):
    paragraphs = split_paragraphs(text, "d.txt", markdown=markdown)
    raw = _raw_lines(text)
    cleaned = [clean_line(line, markdown=markdown) for line in raw]
    assert [p.index for p in paragraphs] == list(range(len(paragraphs)))
    seen: list[int] = []
    for p in paragraphs:
        assert p.doc == "d.txt" and p.text and p.text == p.text.strip()
        offsets = [offset for offset, _ in p.line_starts]
        numbers = [no for _, no in p.line_starts]
        assert offsets[0] == 0 and offsets == sorted(set(offsets))
        assert numbers == sorted(set(numbers))
        assert (p.line_start, p.line_end) == (numbers[0], numbers[-1])
        for offset, no in p.line_starts:
            assert p.text[offset : offset + len(cleaned[no - 1])] == cleaned[no - 1]
        seen.extend(numbers)
    assert seen == sorted(seen)  # paragraphs follow the source, each line used once
    assert seen == [no for no, c in enumerate(cleaned, start=1) if c]  # no line lost


@fast
@given(text=TEXT)
def test_paragraph_text_lies_in_its_source_lines(text):
    raw = _raw_lines(text)
    pages = _pages_of_lines(text)
    for p in split_paragraphs(text, "d.txt", markdown=False):
        source = "".join(line.replace("**", "") for line in raw[p.line_start - 1 : p.line_end])
        assert _no_space(p.text) in _no_space(source)
        assert p.page == (pages[p.line_start - 1] if "\f" in text else None)


def _pages_of_lines(text: str) -> list[int]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out, page = [], 1
    for line in lines:
        page += line.count("\f")
        out.append(page)
    return out


def _char_count(text: str) -> int:
    return len(text)


PARAGRAPHS = st.one_of(
    SHAPED.map(lambda t: split_paragraphs(t, "d.txt")),
    st.lists(st.text(max_size=120), max_size=6).map(
        lambda texts: [Paragraph("d.txt", i, t, i + 1, i + 1) for i, t in enumerate(texts)]),
)
BUDGETS = st.integers(8, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1)))


def _spans(chunk, by_index: dict[int, Paragraph]) -> list[tuple[int, int, int]]:
    """(paragraph, start, end) pieces of paragraph text that the chunk holds."""
    paras = chunk.paragraphs
    if len(paras) == 1:
        return [(paras[0], chunk.start, chunk.end)]
    first, last = paras[0], paras[-1]
    middle = [(i, 0, len(by_index[i].text)) for i in paras[1:-1]]
    return [(first, chunk.start, len(by_index[first].text)), *middle, (last, 0, chunk.end)]


@fast
@given(paragraphs=PARAGRAPHS, budget=BUDGETS, real_tokens=st.booleans())
def test_chunks_are_exact_slices_covering_all_text(paragraphs, budget, real_tokens):
    chunk_tokens, overlap = budget
    count = count_tokens if real_tokens else _char_count
    chunks = chunk_paragraphs(paragraphs, chunk_tokens=chunk_tokens, overlap_tokens=overlap,
                              count=count)
    by_index = {p.index: p for p in paragraphs}
    covered: dict[int, set[int]] = {i: set() for i in by_index}
    for chunk in chunks:
        assert chunk.doc == "d.txt" and chunk.text.strip()
        assert list(chunk.paragraphs) == sorted(set(chunk.paragraphs))
        spans = _spans(chunk, by_index)
        assert chunk.text == "\n".join(by_index[i].text[s:e] for i, s, e in spans)
        for i, s, e in spans:
            assert 0 <= s < e <= len(by_index[i].text)
            covered[i].update(range(s, e))
        assert chunk.n_tokens <= chunk_tokens
    for i, p in by_index.items():  # no text lost
        missing = [k for k, c in enumerate(p.text) if not c.isspace() and k not in covered[i]]
        assert not missing, (p.text, missing)


@fast
@given(paragraphs=PARAGRAPHS, budget=BUDGETS)
def test_consecutive_chunks_overlap_only_within_the_budget(paragraphs, budget):
    chunk_tokens, overlap = budget
    chunks = chunk_paragraphs(paragraphs, chunk_tokens=chunk_tokens, overlap_tokens=overlap,
                              count=_char_count)
    by_index = {p.index: p for p in paragraphs}
    positions = [{(i, k) for i, s, e in _spans(c, by_index) for k in range(s, e)}
                 for c in chunks]
    for n in range(1, len(chunks)):
        prev, cur = chunks[n - 1], chunks[n]
        assert (cur.paragraphs[0], cur.start) > (prev.paragraphs[0], prev.start)  # progress
        assert (cur.paragraphs[-1], cur.end) > (prev.paragraphs[-1], prev.end)
        shared = positions[n - 1] & positions[n]
        assert len(shared) <= overlap  # duplicated text never exceeds the overlap
        assert {i for i, _ in shared} <= {cur.paragraphs[0]}  # ... nor crosses a paragraph
        earlier = set().union(*positions[: n - 1]) if n > 1 else set()
        # No older text comes back (a sentence may sit in three chunks in a row when the
        # overlap is most of the budget; each pair still shares at most ``overlap``).
        assert not positions[n] & (earlier - positions[n - 1])
