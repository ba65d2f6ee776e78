"""The contract every answerer keeps, checked for all of them on the same evidence.

To add an answerer, add one file under rag/answerers/ and one line to ``FACTORIES`` in
rag/answerers/__init__.py, then a maker for it in ``MAKERS`` below (a test fails until you do);
this test then runs it through the same cases as every other backend.

The evidence is built by hand from the real seed files (read, paragraph repair, chunking), not
through an index, so these cases hold whatever retrieval does: what is checked is only what an
answerer makes of the passages it is given. LLM backends run for real: ``openai`` against a
chat-completions server on 127.0.0.1 (fakeserver.py), ``transformers`` with a tiny random
model (tinylm.py), whose gibberish must still come out as a well-formed ``Answer``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakeserver import KEY, ChatServer
from tinylm import make_tiny_model

from rag.answerers import FACTORIES, make_answerer
from rag.answerers.base import Answerer, Evidence, not_found_message
from rag.answerers.fake import FakeAnswerer
from rag.chunking import chunk_paragraphs
from rag.config import Settings
from rag.documents import read_document
from rag.paragraphs import split_paragraphs
from rag.schema import Answer, Chunk, Paragraph, Passage
from rag.sentences import sentence_spans

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
QUESTION = "山东太阳纸业股份有限公司董事长是谁？"
_MARKER = re.compile(r"\[(\d+)\]")


# -- evidence from the seed files ------------------------------------------------------------

class SeedCorpus:
    """The seed files as paragraphs and chunks, with document frequencies for idf look-ups."""

    def __init__(self, paragraphs: dict[tuple[str, int], Paragraph],
                 chunks: tuple[Chunk, ...]) -> None:
        self.paragraphs = paragraphs
        self.chunks = chunks
        self._df: dict[str, int] = {}  # terms repeat across cases and answerers

    def passage(self, chunk: Chunk, *, rank: int, score: float, about: str) -> Passage:
        """A ``Passage`` for ``chunk``, cited at its first paragraph mentioning ``about``."""
        paras = [self.paragraphs[(chunk.doc, i)] for i in chunk.paragraphs]
        main = next((p for p in paras if about in p.text), paras[0])
        return Passage(chunk_id=chunk.id, doc=chunk.doc, paragraph=main.index,
                       paragraphs=chunk.paragraphs, text=chunk.text, score=score,
                       lines=(paras[0].line_start, paras[-1].line_end), rank=rank)

    def document_frequency(self, term: str) -> int:
        """Paragraphs containing ``term``; "§" marks a character bigram, as in rag.keyword."""
        if term not in self._df:
            needle = term.removeprefix("§").lower()
            self._df[term] = sum(needle in p.text.lower() for p in self.paragraphs.values())
        return self._df[term]

    def idf(self, term: str) -> float:
        n = len(self.paragraphs)
        return math.log((n + 1) / (self.document_frequency(term) + 1)) + 1.0

    def in_corpus(self, term: str) -> bool:
        return self.document_frequency(term) > 0

    def evidence(self, question: str, passages: tuple[Passage, ...]) -> Evidence:
        return Evidence(question=question, passages=passages,
                        paragraph=lambda doc, i: self.paragraphs[(doc, i)],
                        idf=self.idf, in_corpus=self.in_corpus)


@functools.cache
def seed_corpus() -> SeedCorpus:
    paragraphs: dict[tuple[str, int], Paragraph] = {}
    chunks: list[Chunk] = []
    for path in sorted(SEEDS.glob("*.txt")):
        doc = read_document(path, SEEDS)
        assert doc is not None, path
        paras = split_paragraphs(doc.text, doc.path)
        paragraphs.update(((p.doc, p.index), p) for p in paras)
        chunks.extend(chunk_paragraphs(paras))
    return SeedCorpus(paragraphs, tuple(chunks))


def _answering() -> Evidence:
    """Three passages as retrieval would rank them: the answer, a near miss, an unrelated one.

    The third spans several paragraphs, so citations must pick the right one of a chunk's.
    """
    corpus = seed_corpus()
    answer = next(c for c in corpus.chunks if "李娜" in c.text)
    near = next(c for c in corpus.chunks if "太阳纸业" in c.text and c is not answer)
    other = next(c for c in corpus.chunks
                 if len(c.paragraphs) > 1 and c.doc != answer.doc and c is not near)
    passages = (corpus.passage(answer, rank=0, score=0.9, about="李娜"),
                corpus.passage(near, rank=1, score=0.6, about="太阳纸业"),
                corpus.passage(other, rank=2, score=0.3, about=""))
    return corpus.evidence(QUESTION, passages)


# Each case: evidence, and whether a backend that can answer must answer it with citations.
CASES: dict[str, tuple[Callable[[], Evidence], bool]] = {
    "answering": (_answering, True),
    "nothing-zh": (lambda: seed_corpus().evidence(QUESTION, ()), False),
    "nothing-en": (lambda: seed_corpus().evidence("Who chairs Sun Paper?", ()), False),
}


# -- the answerers ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Backend:
    """An answerer under contract and what it can promise on good evidence."""

    answerer: Answerer
    # Whether it must cite on the answering case (a random-weight model cannot).
    cites: bool


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("contract-tiny-llama"))


def _extractive(request: pytest.FixtureRequest) -> Backend:
    return Backend(make_answerer("extractive", Settings()), cites=True)


def _fake(request: pytest.FixtureRequest) -> Backend:
    return Backend(make_answerer("fake", Settings()), cites=True)


def _openai(request: pytest.FixtureRequest) -> Backend:
    from rag.answerers.openai_api import OpenAIAnswerer

    server: ChatServer = request.getfixturevalue("chat_server")
    # "both" cites source 2, then sources 1 and 2: markers are renumbered and merged.
    return Backend(OpenAIAnswerer("both", base_url=server.url, api_key=KEY, timeout=5.0,
                                  max_retries=0), cites=True)


def _transformers(request: pytest.FixtureRequest) -> Backend:
    from rag.answerers.hf_local import TransformersAnswerer

    folder: Path = request.getfixturevalue("tiny_model_dir")
    # Few answer tokens: the contract needs a reply, not a good one, and CPU time is scarce.
    llm = TransformersAnswerer(str(folder), device="cpu", context_tokens=1500, answer_tokens=12)
    return Backend(llm, cites=False)


MAKERS: dict[str, Callable[[pytest.FixtureRequest], Backend]] = {
    "extractive": _extractive,
    "fake": _fake,
    "openai": _openai,
    "transformers": _transformers,
}


@dataclass
class Outcome:
    """One run of an answerer on one case: the stream's items and the whole answer."""

    evidence: Evidence
    items: list[str | Answer]
    whole: Answer

    @property
    def final(self) -> Answer:
        answer = self.items[-1]
        assert isinstance(answer, Answer)
        return answer

    @property
    def pieces(self) -> list[str | Answer]:
        return self.items[:-1]


class Runner:
    """Runs each case once per answerer (the transformers backend is the slow one)."""

    def __init__(self, name: str, backend: Backend) -> None:
        self.name = name
        self.backend = backend
        self._outcomes: dict[str, Outcome] = {}

    def run(self, case: str) -> Outcome:
        if case not in self._outcomes:
            evidence = CASES[case][0]()
            llm = self.backend.answerer
            self._outcomes[case] = Outcome(evidence, list(llm.stream(evidence)),
                                           llm.answer(evidence))
        return self._outcomes[case]


@pytest.fixture(scope="module", params=sorted(MAKERS))
def runner(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param, MAKERS[request.param](request))


def test_every_registered_answerer_is_under_contract() -> None:
    assert set(MAKERS) == set(FACTORIES), "add a maker to MAKERS for each answerer in FACTORIES"


# -- the contract ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_stream_yields_text_pieces_then_one_final_answer(runner: Runner, case: str) -> None:
    out = runner.run(case)
    assert out.items, "the stream yielded nothing"
    assert isinstance(out.items[-1], Answer)
    assert all(isinstance(piece, str) for piece in out.pieces)
    if out.pieces:  # what was shown while streaming is what the answer says
        assert "".join(out.pieces).strip() == out.final.text  # type: ignore[arg-type]


@pytest.mark.parametrize("case", CASES)
def test_whole_answer_equals_the_streams_final_answer(runner: Runner, case: str) -> None:
    out = runner.run(case)
    assert out.whole == out.final


@pytest.mark.parametrize("case", CASES)
def test_answer_names_its_backend_and_question(runner: Runner, case: str) -> None:
    out = runner.run(case)
    assert runner.backend.answerer.name == runner.name
    assert out.final.backend == runner.name
    assert out.final.question == out.evidence.question
    assert out.final.text.strip()
    assert all(p in out.evidence.passages for p in out.final.related)


@pytest.mark.parametrize("case", CASES)
def test_markers_and_citations_match_one_to_one(runner: Runner, case: str) -> None:
    final = runner.run(case).final
    used = [int(n) for n in _MARKER.findall(final.text)]
    numbers = {c.n for c in final.citations}
    assert set(used) == numbers, "a marker without a citation, or a citation never marked"
    # Numbered 1..k in order of first use, as a reader of the answer expects.
    assert list(dict.fromkeys(used)) == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("case", CASES)
def test_citations_quote_given_paragraphs_at_their_lines(runner: Runner, case: str) -> None:
    out = runner.run(case)
    given = {(p.doc, i) for p in out.evidence.passages for i in p.paragraphs}
    for citation in out.final.citations:
        assert (citation.doc, citation.paragraph) in given, citation
        para = out.evidence.paragraph(citation.doc, citation.paragraph)
        assert citation.text == para.text and citation.page == para.page
        assert citation.quote.strip() and citation.quote in para.text
        first, last = citation.lines
        assert para.line_start <= first <= last <= para.line_end, citation
        # The line range is that of the quote itself (at one of its places in the paragraph).
        starts = [m.start() for m in re.finditer(re.escape(citation.quote), para.text)]
        ranges = {para.lines_of(s, s + len(citation.quote)) for s in starts}
        assert citation.lines in ranges, (citation.lines, ranges)


@pytest.mark.parametrize("case", CASES)
def test_answer_is_json_serialisable(runner: Runner, case: str) -> None:
    data = runner.run(case).final.to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["backend"] == runner.name


def test_good_evidence_is_answered_with_citations(runner: Runner) -> None:
    final = runner.run("answering").final
    if runner.backend.cites:
        assert not final.abstained and final.citations and final.grounded, final
    else:  # a random-weight model: whatever it says must be flagged as unsupported
        assert final.abstained or (final.grounded is False and final.notice), final


@pytest.mark.parametrize("case", CASES)
def test_grounded_means_cited_or_abstained(runner: Runner, case: str) -> None:
    final = runner.run(case).final
    assert final.grounded == (bool(final.citations) or final.abstained)
    if final.abstained:
        assert not final.citations


@pytest.mark.parametrize("case", ["nothing-zh", "nothing-en"])
def test_no_passages_abstains_in_the_questions_language(runner: Runner, case: str) -> None:
    out = runner.run(case)
    final = out.final
    assert final.abstained and not final.citations and final.grounded
    assert final.text == not_found_message(out.evidence.question)
    assert final.notice and "nothing retrieved" in final.notice


# -- the fake answerer's own promise (what makes it useful in other tests) -------------------

def test_fake_quotes_the_first_sentence_of_the_top_passages_paragraph() -> None:
    evidence = _answering()
    top = evidence.passages[0]
    para = evidence.paragraph(top.doc, top.paragraph)
    start, end = sentence_spans(para.text)[0]
    sentence = para.text[start:end].strip()
    items = list(FakeAnswerer().stream(evidence))
    final = items[-1]
    assert isinstance(final, Answer)
    assert final.text == sentence + "[1]" and len(items) == 3
    [citation] = final.citations
    assert (citation.doc, citation.paragraph, citation.quote) == (top.doc, top.paragraph,
                                                                   sentence)
    assert citation.score == round(top.score, 4) and not final.abstained


def test_fake_takes_the_best_ranked_passage_not_the_first_listed() -> None:
    evidence = _answering()
    shuffled = seed_corpus().evidence(QUESTION, tuple(reversed(evidence.passages)))
    ordered, reversed_ = FakeAnswerer().answer(evidence), FakeAnswerer().answer(shuffled)
    assert (reversed_.text, reversed_.citations) == (ordered.text, ordered.citations)


def test_document_markers_never_become_citation_links():
    """A quoted "[2]" (or 【2】/［2］) from a document is made inert by every quoting answerer:
    the only markers left in the text are the answerer's own, each naming a citation."""
    import re

    from rag.answerers.extractive import ExtractiveAnswerer
    from rag.answerers.fake import FakeAnswerer
    from rag.schema import Paragraph, Passage

    text = "青松公司的董事长是王明，详见附件[2]与【3】。青松公司位于济南。"
    para = Paragraph("forged.txt", 0, text, 1, 1)
    passage = Passage("c1", "forged.txt", 0, (0,), text, 1.0, (1, 1),
                      channel_scores={"keyword": 5.0})
    evidence = Evidence(question="青松公司的董事长是谁？", passages=(passage,),
                        paragraph=lambda doc, i: para, idf=lambda t: 2.0,
                        in_corpus=lambda t: t in text.lower() or t.lstrip("§") in text)
    for answerer in (ExtractiveAnswerer(), FakeAnswerer()):
        answer = answerer.answer(evidence)
        assert not answer.abstained, (answerer.name, answer.notice)
        markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
        assert markers == {c.n for c in answer.citations}, (answerer.name, answer.text)
        assert "〔2〕" in answer.text and "[2]" not in answer.text.replace("[1]", "")
