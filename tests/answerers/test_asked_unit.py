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
    # no unit named, but one kind of quantity asked for
    ("软枝黄蝉是哪一年被引进中国的？", "年"),
    ("库克船长第一次在新西兰上岸是哪天？", "日"),
    ("帕特纳赫峡谷的门票一张多少钱？", "元"),
    ("那个人工湖有多深？", "米"),
    ("这台机器有多重？", "千克"),
    ("他在哪个月的比赛中受伤？", "月"),
    # not quantities: 多重要, 多长时间 (a duration takes many units)
    ("这件事多重要？", None),
    ("修好要多长时间？", None),
])
def test_asked_unit(question, unit):
    assert asked_unit(question) == unit


def test_a_list_question_never_misses_a_unit():
    assert not unit_missing("兖州想在哪几个领域早日取得突破？", "第三代半导体、新型储能等领域")
    assert unit_missing("王庆今年多大年龄？", "兖州区委书记王庆表示，五个倍增是责任")
    assert not unit_missing("他今年多大年龄？", "他今年52岁。")


@pytest.mark.parametrize(("question", "answered", "unanswered"), [
    ("软枝黄蝉是哪一年被引进中国的？", "1980年代从巴西引进", "藤本可长达5-10米"),
    ("库克第一次上岸是哪天？", "1769年10月8日首次登陆", "库克曾首次登陆此地"),
    ("门票一张多少钱？", "门票售价20美元", "需要买门票"),
    ("门票一张多少钱？", "tickets cost $5", "需要买门票，春季关闭"),
    ("那个湖有多深？", "湖深约3.5公尺", "许多桥梁跨越湖泊，共有3座"),
    ("这台机器有多重？", "重约2吨", "有2台"),
])
def test_a_kind_of_quantity_needs_its_unit(question, answered, unanswered):
    assert not unit_missing(question, answered)
    assert unit_missing(question, unanswered)


def test_chinese_numerals_before_a_measure_word_are_numbers():
    from rag.answers_analysis import numbers

    assert numbers("写成于二十世纪初期") == {"二十"}
    assert numbers("三人死亡，年仅五岁") == {"三", "五"}
    assert not numbers("一些人十分担心万一")
