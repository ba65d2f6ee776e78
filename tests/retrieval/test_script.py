"""Questions in one Chinese script over a corpus in the other, on the real seed files and a
traditional-script copy of them (converted by OpenCC, indexed for real)."""

from __future__ import annotations

import re

import opencc
import pytest
from conftest import SEEDS

from rag.language import NOT_FOUND
from rag.pipeline import RAG
from rag.script import in_corpus_script, variants

DOC0 = "000_714dc78de03cf996.txt"


@pytest.fixture(scope="module")
def traditional_rag(tmp_path_factory) -> RAG:
    """The seeds written in Taiwan's traditional script, as a user's corpus would be."""
    corpus = tmp_path_factory.mktemp("traditional-corpus")
    to_tw = opencc.OpenCC("s2twp")
    for path in SEEDS.glob("*.txt"):
        (corpus / path.name).write_text(to_tw.convert(path.read_text(encoding="utf-8")),
                                        encoding="utf-8")
    return RAG(index_dir=tmp_path_factory.mktemp("traditional-index"), corpus_dir=corpus).open()


def _lines(rag: RAG, doc: str, lines: tuple[int, int]) -> str:
    """The cited line range of the corpus file, as the page shows it."""
    text = (rag.corpus_dir / doc).read_text(encoding="utf-8").split("\n")
    return re.sub(r"\s+", "", "".join(text[lines[0] - 1 : lines[1]]).replace("**", ""))


def test_simplified_question_over_traditional_corpus(traditional_rag):
    answer = traditional_rag.ask("兖州区委书记是谁？")
    assert not answer.abstained, answer.notice
    assert "王慶" in answer.text
    assert answer.question == "兖州区委书记是谁？"  # the user's words are kept
    assert answer.rewritten_question == "兗州區委書記是誰？"  # what was searched
    cite = answer.citations[0]
    assert cite.doc == DOC0
    assert re.sub(r"\s+", "", cite.quote) in _lines(traditional_rag, cite.doc, cite.lines)


def test_traditional_question_over_simplified_corpus(seed_rag):
    answer = seed_rag.ask("兗州區委書記是誰？")
    assert not answer.abstained, answer.notice
    assert "王庆" in answer.text and answer.citations[0].doc == DOC0
    assert answer.rewritten_question == "兖州区委书记是谁？"


def test_not_found_is_said_in_the_script_the_question_was_typed_in(seed_rag):
    answer = seed_rag.ask("火星上的兗州區有幾座火山？")
    assert answer.abstained and answer.rewritten_question == "火星上的兖州区有几座火山？"
    assert answer.text == NOT_FOUND["zh-Hant"]  # not in the corpus's script, searched instead
    streamed = list(seed_rag.ask("火星上的兗州區有幾座火山？", stream=True))
    assert "".join(p for p in streamed if isinstance(p, str)) == NOT_FOUND["zh-Hant"]


def test_retrieve_searches_the_corpus_script(traditional_rag):
    passages = traditional_rag.retrieve("太阳纸业的董事长是谁？", 3)
    assert passages and "太陽紙業" in passages[0].text


def test_question_in_the_corpus_script_is_kept(seed_rag):
    answer = seed_rag.ask("兖州区委书记是谁？")
    assert answer.rewritten_question is None
    assert in_corpus_script("兖州区委书记是谁？", seed_rag._live().terms) == "兖州区委书记是谁？"


def test_variants_of_a_question():
    assert variants("Who chairs Sun Paper?") == ["Who chairs Sun Paper?"]
    forms = variants("软件的数量是多少？")
    assert forms[0] == "软件的数量是多少？"
    assert "軟體的數量是多少？" in forms  # Taiwan phrasing: 软件 -> 軟體
    assert len(forms) == len(set(forms))


def test_match_script_off_searches_as_typed(traditional_rag):
    rag = RAG(index_dir=traditional_rag.index_dir, corpus_dir=traditional_rag.corpus_dir,
              match_script=False)
    answer = rag.ask("兖州区委书记是谁？")
    assert answer.rewritten_question is None
    assert "王慶" not in answer.text  # the simplified words find no traditional passage


def test_traditional_tables_are_read_only_for_a_traditional_corpus(seed_rag, traditional_rag):
    question = "兖州区的新能源产业搞得咋样了？"  # reader's words: not every pair is in the seeds
    assert variants(question, traditional=False) == [question]  # nothing to simplify
    assert len(variants(question)) > 1
    assert in_corpus_script(question, seed_rag._live().terms) == question
    assert in_corpus_script(question, traditional_rag._live().terms).startswith("兗州區")
