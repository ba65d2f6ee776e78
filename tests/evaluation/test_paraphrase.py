"""Paraphrased copies of answerable fit questions (the abstention model's augmentation)."""

from __future__ import annotations

from rag.evaluation.dataset import QAItem
from rag.evaluation.paraphrase import paraphrases

DOC = ("兖州区召开全区绿色低碳高质量发展大会，会议强调要坚定不移推进产业转型升级，"
       "深化营商环境改革，鼓励企业开展技术改造。")
OTHER = "济宁市举行新能源产业推进会，市长出席会议并讲话，要求加快项目建设进度。"


def _item(n: int, question: str, answerable: bool = True) -> QAItem:
    return QAItem(f"q{n}", question, ("技术改造",) if answerable else (),
                  (DOC[:20],) if answerable else (), "a.txt" if answerable else None,
                  answerable, "fact" if answerable else "unanswerable")


def _corpus(tmp_path):
    (tmp_path / "a.txt").write_text(DOC, encoding="utf-8")
    (tmp_path / "b.txt").write_text(OTHER, encoding="utf-8")
    return tmp_path


def _idf(term: str) -> float:
    return 5.0 if term == "兖州区" else 1.0


ITEMS = [
    _item(1, "兖州区鼓励企业开展哪种技术改造？"),
    _item(2, "兖州区在大会上强调推进什么产业转型升级？"),
    _item(3, "兖州区深化哪方面的营商环境改革？"),
    _item(4, "青岛市的港口吞吐量是多少？", answerable=False),
]


def test_copies_are_answerable_seeded_and_change_a_word_the_document_lacks(tmp_path):
    corpus = _corpus(tmp_path)
    copies = paraphrases(ITEMS, corpus, _idf, seed=13)
    assert copies == paraphrases(ITEMS, corpus, _idf, seed=13)  # deterministic
    assert copies and len(copies) <= 3
    originals = {i.id: i for i in ITEMS}
    for copy in copies:
        original = originals[copy.id.removesuffix("~p")]
        assert copy.answerable and copy.answers == original.answers
        assert copy.question != original.question
        # The question's most specific word (highest IDF) is kept.
        assert "兖州区" in copy.question


def test_unanswerable_questions_get_no_copy(tmp_path):
    assert paraphrases(ITEMS[3:], _corpus(tmp_path), _idf) == []


def test_dropping_words_only_removes_them(tmp_path):
    for copy in paraphrases(ITEMS, _corpus(tmp_path), _idf, modes=("drop",)):
        original = next(i for i in ITEMS if i.id == copy.id.removesuffix("~p")).question
        assert len(copy.question) < len(original)
