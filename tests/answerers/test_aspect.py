"""The sentence ranker weighs what a question asks *about* its subject: in an article named after
its subject, the sentence holding the asked-for aspect wins over the opening sentence that only
names the subject (the extractive answerer's most common miss before)."""

from __future__ import annotations

import pytest

from rag.answerers.base import Evidence
from rag.answerers.sentence_scoring import Scorer
from rag.coverage import AspectWeights, doc_title

ARTICLE = (
    "蓝鳍花鱼，又称花鳍鲷，俗名红尾，为辐鳍鱼纲鲈形目笛鲷科的其中一个种。"
    "本鱼分布于西太平洋区，包括菲律宾、印尼、台湾等海域。"
    "体呈淡蓝红色，头部有网状斑点，尾鳍外缘金黄色。"
    "栖息在较深的水域，独游或小群活动，以小型鱼类及甲壳类为食。"
    "体长可达40公分，为高经济价值的食用鱼。"
)
OTHER = ("棕背山鼠是一种生活在高山草甸的啮齿动物，毛色棕黄，夜间出没，"
         "以草籽和昆虫为食，冬季并不冬眠。")


@pytest.mark.parametrize(("doc", "title"), [
    ("0003_乍都节公园.txt", "乍都节公园"),
    ("sub/报告.docx", "报告"),
    ("12-北京.md", "北京"),
    ("2023 年报.pdf", "2023 年报"),
    ("000_714dc78de03cf996.txt", "714dc78de03cf996"),
])
def test_a_documents_title_is_its_file_name_without_a_number(doc, title):
    assert doc_title(doc) == title


def test_the_aspect_sentence_outscores_the_one_naming_the_subject():
    question = "蓝鳍花鱼的身体是什么颜色的？"
    evidence = Evidence(question=question, passages=(), paragraph=lambda d, i: None)
    sentences = [s + "。" for s in ARTICLE.split("。") if s]
    weights = AspectWeights(Scorer(evidence), sentences)
    opening, colour = sentences[0], sentences[2]
    assert weights.coverage(colour, "蓝鳍花鱼") > weights.coverage(opening, "蓝鳍花鱼")
    # Without a telling title every unit counts: the opening sentence holds the name.
    assert weights.coverage(opening, "")[0] > weights.coverage(opening, "蓝鳍花鱼")[0]


@pytest.fixture(scope="module")
def fish_rag(tmp_path_factory):
    from rag.pipeline import RAG

    corpus = tmp_path_factory.mktemp("aspect-corpus")
    (corpus / "0007_蓝鳍花鱼.txt").write_text(ARTICLE + "\n", encoding="utf-8")
    (corpus / "0008_棕背山鼠.txt").write_text(OTHER + "\n", encoding="utf-8")
    return RAG(index_dir=tmp_path_factory.mktemp("aspect-index"), corpus_dir=corpus).open()


@pytest.mark.parametrize(("question", "gold"), [
    ("蓝鳍花鱼的身体是什么颜色的？", "淡蓝红色"),
    ("蓝鳍花鱼主要以什么为食？", "小型鱼类"),
    ("蓝鳍花鱼的体长是多少？", "40公分"),
])
def test_questions_about_an_articles_subject_are_answered_with_the_aspect(fish_rag, question,
                                                                          gold):
    answer = fish_rag.ask(question)
    assert not answer.abstained, answer.notice
    assert gold in answer.text
    assert all(c.doc == "0007_蓝鳍花鱼.txt" for c in answer.citations)
