"""``rag.fast_cut`` cuts text into the very words ``jieba.lcut`` does (the keyword index's
terms depend on it), over real newspaper and encyclopedia text and over random mixtures of
scripts, digits, punctuation and white space."""

from __future__ import annotations

import json
import random

import pytest
from conftest import ROOT, SEEDS

from rag.fast_cut import Cutter
from rag.segmenter import jieba

CMRC = ROOT.parent / "shared" / "data" / "cmrc2018_trial.json"


@pytest.fixture(scope="module")
def cutter() -> Cutter:
    return Cutter()


def _cmrc_contexts() -> list[str]:
    if not CMRC.is_file():
        pytest.fail(f"{CMRC} is missing; run the suite from a clone with ../shared beside it")
    data = json.loads(CMRC.read_text(encoding="utf-8"))["data"]
    return [p["context"] for article in data for p in article["paragraphs"]]


def _lines(texts: list[str]) -> list[str]:
    return [line for text in texts for line in text.splitlines(keepends=True)]


def test_real_text_is_cut_as_jieba_cuts_it(cutter):
    seeds = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    texts = _lines(seeds) + _cmrc_contexts()
    lcut = jieba().lcut
    for text in texts + [t.lower() for t in texts]:
        assert cutter.lcut(text) == lcut(text), text[:60]


def test_random_mixtures_are_cut_as_jieba_cuts_them(cutter):
    rnd = random.Random(7)
    alphabet = ("的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会"
                "长江大桥市长北京南京鲢鱼鳙鱼龘abcXYZ019 \t\r\n\u3000,.%#&-_+《》，。！？、é😀")
    lcut = jieba().lcut
    for _ in range(2000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 120)))
        assert cutter.lcut(text) == lcut(text), repr(text)


def test_edges(cutter):
    lcut = jieba().lcut
    for text in ("", " ", "\r\n", "a", "的", "南京市长江大桥", "１２３ＡＢＣ", "x\r\ny", "😀😀",
                 "研究生命起源" * 50, "他来到了网易杭研大厦"):
        assert cutter.lcut(text) == lcut(text), repr(text)
