"""Question analysis for the extractive answerer: expected answer type and matching checks.

Thresholds on retrieval scores cannot tell an on-topic question whose answer is missing from
one whose answer is present; the expected answer type can. A who-question needs a person name
that the question does not already contain, a when/how-many question a number or date.

The patterns and word lists are written in simplified Chinese; traditional-script questions and
texts are matched through their simplified form (``to_simplified``: 誰 -> 谁, 幾個 -> 几个).
"""

from __future__ import annotations

import logging
import re
from enum import StrEnum
from functools import lru_cache

from rag.language import to_simplified
from rag.segmenter import posseg, tagged

log = logging.getLogger(__name__)


class QType(StrEnum):
    PERSON = "person"
    NUMBER = "number"
    REASON = "reason"
    LIST = "list"
    OTHER = "other"


_PERSON_Q = re.compile(r"谁|哪位|哪一位|什么人|何人|\bwho\b|\bwhom\b|\bwhose\b", re.I)
_NAME_Q = re.compile(r"姓名|名字|叫什么")
_NUMBER_Q = re.compile(
    # "哪几个领域" asks which ones (a list), not how many.
    r"多少|(?<!哪)几[个家项年月日天次位条种名所大]|(?<!哪)几|何时|什么时候|哪天|哪一天|哪年|哪一年|"
    r"哪月|"
    r"日期|时间|数量|比例|百分|\bhow (many|much|long)\b|\bwhen\b|\bwhat (date|year|time)\b",
    re.I,
)
_REASON_Q = re.compile(r"为什么|为何|原因|怎么|怎样|如何|why\b|\bhow\b", re.I)
_LIST_Q = re.compile(r"哪些|哪几|有什么|有哪|包括|包含|\bwhich\b.*\b(are|were)\b", re.I)
_TITLES = (
    "书记|副书记|市长|副市长|区长|县长|省长|董事长|总经理|经理|主任|主席|部长|局长|厅长|"
    "负责人|总裁|院长|校长|记者|通讯员"
)
_TITLE_WORD = re.compile(rf"(?:{_TITLES})")
_TITLE_NAME = re.compile(rf"(?:{_TITLES})([\u4e00-\u9fff]{{2,3}})")
# A number in digits, or in Chinese numerals before a unit or measure word (二十世纪, 五岁, 三人:
# not 一些, 十分 or 万一, which are no quantities).
_CN_NUMERALS = "零〇一二两三四五六七八九十百千万"
_NUMBER = re.compile(
    rf"\d+(?:[.,]\d+)?|[{_CN_NUMERALS}亿]+(?=[个家项年月日天次位条种名所倍级%％世岁人米秒元周届])"
)


def question_type(question: str) -> QType:
    question = to_simplified(question)
    # "叫什么名字" asks for a person only when the question names a post (书记叫什么名字);
    # a park or a project has a name too.
    if _PERSON_Q.search(question) or (_NAME_Q.search(question) and _TITLE_WORD.search(question)):
        return QType.PERSON
    if _NUMBER_Q.search(question):
        return QType.NUMBER
    if _LIST_Q.search(question):
        return QType.LIST
    if _REASON_Q.search(question):
        return QType.REASON
    return QType.OTHER


def title_modifier(question: str) -> str:
    """The words just before the first post in the question: 联诚公司的董事长 -> 联诚公司."""
    folded = to_simplified(question)
    match = _TITLE_WORD.search(folded)
    if not match:
        return ""
    if len(folded) != len(question):  # a rare phrase conversion: stay in the folded form
        question = folded
    head = re.split(r"[，,。？?！!；;：:\s]", question[: match.start()])[-1]
    return head[-24:].rstrip("的之")


def is_title(word: str) -> bool:
    return bool(_TITLE_WORD.fullmatch(to_simplified(word)))


# jieba's person tags: nr, and nrt / nrfg, which it gives transliterated names (约翰, 麦克唐纳)
_PERSON_FLAGS = frozenset(("nr", "nrt", "nrfg"))


def person_names(text: str) -> set[str]:
    """Person names: jieba's person tags plus names right after a title (市长张海波)."""
    return set(_person_names(text))


# POS tagging is the answerer's slowest step (a who-question tags every candidate sentence);
# the same sentences come back question after question, so their names are cached.
@lru_cache(maxsize=32768)
def _person_names(text: str) -> frozenset[str]:
    names = {w for w, flag in posseg().lcut(text) if flag in _PERSON_FLAGS and len(w) >= 2}
    names.update(m.group(1) for m in _TITLE_NAME.finditer(text))
    return frozenset(names)


def numbers(text: str) -> set[str]:
    return {m.group(0) for m in _NUMBER.finditer(text)}


def satisfies_type(qtype: QType, question: str, text: str) -> bool:
    """Whether ``text`` holds an answer of the expected type that the question lacks.

    A who-question that names a post (董事长, 市长) needs a name next to that post in the text.
    """
    question, text = to_simplified(question), to_simplified(text)
    if qtype is QType.PERSON:
        names = person_names(text) - person_names(question) - set(_words(question))
        titles = _TITLE_WORD.findall(question)
        if names and titles:
            return any(_near(text, name, titles) for name in names)
        return bool(names)
    if qtype is QType.NUMBER:
        return bool(numbers(text) - numbers(question))
    return True


# Nouns that frame a question rather than name its subject ("what is his *post*"); their
# absence from the corpus says nothing about whether the answer is there.
FRAMING = frozenset(
    """名字 姓名 名称 称呼 称号 职务 职位 头衔 身份 角色 措施 办法 方法 方式 途径 角度 方面 时段
    时间 多长时间 日期 年份 指标 内容 含义 意思 意义 目的 作用 原因 理由 特点 要求 形象 比作 说法
    末尾 开头 文中 文章 报道 标题 图片 配图 照片""".split()
)
_KEY_FLAGS = ("n", "nr", "ns", "nt", "nz", "vn", "eng", "j")


def key_terms(question: str) -> list[str]:
    """Nouns and names of the question: the words an answer passage must mention."""
    return list(_key_terms(question))


@lru_cache(maxsize=4096)
def _key_terms(question: str) -> tuple[str, ...]:
    from rag.keyword import STOPWORDS

    return tuple(
        w.lower() for w, flag in tagged(question)
        if flag in _KEY_FLAGS and w.strip() and w.lower() not in STOPWORDS
    )


def _words(question: str) -> list[str]:
    return re.findall(r"[\u4e00-\u9fff]{2,4}", question)


def type_evidence(qtype: QType, question: str, text: str) -> float:
    """0..1: how clearly ``text`` holds the expected answer type next to a question term.

    1.0 when a new name/number sits within a few characters after a term of the question
    (市长张海波 for "市长是谁"), 0.5 when it is merely present, 0 otherwise.
    """
    question, text = to_simplified(question), to_simplified(text)
    if qtype is QType.PERSON:
        found = person_names(text) - person_names(question) - set(_words(question))
    elif qtype is QType.NUMBER:
        found = numbers(text) - numbers(question)
    else:
        return 0.0
    if not found:
        return 0.0
    terms = _question_terms(question)
    best = 0.5
    for item in found:
        pos = text.find(item)
        before = text[max(0, pos - 6) : pos]
        after = text[pos + len(item) : pos + len(item) + 8]
        # "多少个千亿级产业" is answered by "3个千亿级产业": the noun follows a number;
        # "由谁主持" by "张海波主持": the verb follows a name.
        if any(t in after for t in terms):
            return 1.0
        if any(t in before for t in terms):
            best = 1.0 if qtype is QType.PERSON else 0.75
    return best


@lru_cache(maxsize=4096)
def _question_terms(question: str) -> tuple[str, ...]:
    from rag.keyword import content_terms

    return tuple(t for t in content_terms(question) if len(t) >= 2)


def _near(text: str, name: str, titles: list[str], span: int = 3) -> bool:
    for match in re.finditer(re.escape(name), text):
        before = text[max(0, match.start() - span - 3) : match.start()]
        after = text[match.end() : match.end() + span + 3]
        if any(t in before or t in after for t in titles):
            return True
    return False


# -- units and counts: "多少亿元" wants a number followed by 亿元, "哪三个" a count of 3 --------

# 哪几个 asks which ones (a list), not how many: no unit is asked for.
_UNITS = "个家项年月日天次位条种名所倍级岁吨元亿万千百米人户"
_UNIT_Q = re.compile(rf"(?:多少|(?<!哪)几)([{_UNITS}]{{1,2}})")
_AGE_Q = re.compile(r"多大年[龄纪]|多少岁|几岁|年龄")
_COUNT_Q = re.compile(r"[哪这]([一二两三四五六七八九十]|\d+)([个种项家类大条位名点])")
_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
           "九": 9, "十": 10}


# Questions that name no unit but ask for one kind of quantity: a year (哪一年), a day (哪天),
# a month, a price (多少钱) or a length (多深, 多远); the answer states it with such a unit.
_KIND_Q = (
    (re.compile(r"哪一?年|何年|哪个年份|什么年份|年份"), "年"),
    (re.compile(r"哪一?天|哪一日|几号|几月几日|日期"), "日"),
    (re.compile(r"哪一?个?月|几月"), "月"),
    (re.compile(r"多少钱|价格|票价|售价|价钱"), "元"),
    (re.compile(r"多深|多高|多长(?!时间)|多远|多宽|多厚|海拔"), "米"),
    (re.compile(r"多重(?!要)"), "千克"),
)
# What counts as the unit asked for: a day is 5日 or 5号, a price in any currency, a length or
# a weight in any of the units newspapers and encyclopedias use.
_UNIT_FORMS = {
    "日": ("日", "号"),
    "元": ("元", "美元", "欧元", "英镑", "镑", "日元", "円", "港元", "港币", "法郎", "卢布", "块"),
    "米": ("米", "公里", "千米", "厘米", "毫米", "公尺", "英尺", "尺", "呎", "英寸", "英里", "哩",
          "里", "丈"),
    "千克": ("千克", "公斤", "克", "吨", "磅", "斤"),
}
# A price may also be written with its currency's sign first ($5).
_UNIT_BEFORE = {"元": r"[$€£¥￥]\s?\d"}


@lru_cache(maxsize=256)
def _stated(unit: str) -> re.Pattern[str]:
    """A number carrying ``unit`` (or one of its forms): 50亿元, 3个, 1769年, 5.3公里, $5."""
    forms = "|".join(map(re.escape, _UNIT_FORMS.get(unit, (unit,))))
    before = _UNIT_BEFORE.get(unit)
    return re.compile(rf"(?:\d|[{_CN_NUMERALS}])[多余]?(?:{forms})"
                      + (f"|{before}" if before else ""))


def asked_unit(question: str) -> str | None:
    """The unit a how-many question asks for (多少亿元 -> 亿元, 多大年龄 -> 岁, 哪一年 -> 年,
    多深 -> 米), if any."""
    question = to_simplified(question)
    if _AGE_Q.search(question):
        return "岁"
    match = _UNIT_Q.search(question)
    if match:
        return match.group(1)
    return next((unit for pattern, unit in _KIND_Q if pattern.search(question)), None)


def unit_missing(question: str, text: str) -> bool:
    """Whether a unit is asked for and no number in ``text`` carries it (50亿元, 3个, 1769年,
    5.3公里; a price may also be written $5)."""
    unit = asked_unit(question)
    return bool(unit) and not _stated(unit).search(to_simplified(text))


def count_match(question: str, text: str) -> float:
    """1.0 when the question names a count (哪三个千亿级产业) and ``text`` states it before the
    same noun (3个千亿级产业). 哪一项 means "which one", and 五个字 is not 五个倍增."""
    question, text = to_simplified(question), to_simplified(text)
    match = _COUNT_Q.search(question)
    if not match:
        return 0.0
    word, classifier = match.groups()
    value = int(word) if word.isdigit() else _DIGITS[word]
    noun = question[match.end() : match.end() + 1]
    if value < 2 or not noun.strip("？?，。 "):
        return 0.0
    forms = {f"{value}{classifier}{noun}", f"{word}{classifier}{noun}"}
    return float(any(f in text for f in forms))
