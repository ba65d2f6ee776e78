"""The unit a how-many question asks for, which the abstention model weighs (unit_missing)."""

import pytest

from rag.answers_analysis import asked_unit, unit_missing


@pytest.mark.parametrize(("question", "unit"), [
    ("宁德时代项目总投资是多少亿元？", "亿元"),
    ("济宁大会上有多少家企业发言？", "家"),
    ("兖州区委书记王庆今年多大年龄？", "岁"),
    ("他几岁开始学琴？", "岁"),
    ("兖州要逐个研究的生产性服务业一共有几个？", "个"),
    # "which ones" is a list, not a count
    ("兖州想在哪几个领域早日取得突破？", None),
    ("百老汇剧院有哪几种戏剧？", None),
    ("兖州区的区委书记是谁？", None),
])
def test_asked_unit(question, unit):
    assert asked_unit(question) == unit


def test_a_list_question_never_misses_a_unit():
    assert not unit_missing("兖州想在哪几个领域早日取得突破？", "第三代半导体、新型储能等领域")
    assert unit_missing("王庆今年多大年龄？", "兖州区委书记王庆表示，五个倍增是责任")
    assert not unit_missing("他今年多大年龄？", "他今年52岁。")
