"""Follow-up questions made standalone before retrieval: 它的董事长是谁？ -> X公司的董事长是谁？

With an LLM the conversation and the follow-up go to the model, which returns a standalone
question (checked for sanity; the rule below is used when its output is unusable). Without one,
a rule replaces a leading pronoun (它/他/她/其/该公司/这家公司 …, or an English it/its/he/she/
they) with the main entity of the previous user question: an organisation noun phrase for
它/该公司 (else its first noun phrase), a person for 他/她 (from the previous question, else the
previous answer; unchanged when there is none).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from rag.language import language_of, simplified_form
from rag.segmenter import tagged

log = logging.getLogger(__name__)

Turn = dict[str, str]
Complete = Callable[[Sequence[Turn]], str]

MAX_TURNS = 6
MAX_TURN_CHARS = 600
MAX_QUESTION_CHARS = 2000

_ORG_PRONOUNS = ("这家公司", "该公司", "这个公司", "此公司", "这家企业", "该企业", "该集团",
                 "这家集团", "这个集团", "该单位", "它们", "它")
_PERSON_PRONOUNS = ("他们", "她们", "此人", "这个人", "这位", "他", "她")
_EITHER = ("其",)
_LEADING = re.compile(
    r"^(?P<lead>\s*(?:那么|那|请问|那请问|另外|还有)?[，,\s]*)"
    rf"(?P<pro>{'|'.join(_ORG_PRONOUNS + _PERSON_PRONOUNS + _EITHER)})"
)
_EN_PRONOUN = re.compile(r"\b(its|their|his|her|it|they|them|he|him|she)\b", re.IGNORECASE)
_EN_POSSESSIVE = {"its", "their", "his", "her"}
_EN_ENTITY = re.compile(r"\b[A-Z][\w&.-]*(?:\s+(?:of\s+|the\s+|and\s+)?[A-Z][\w&.-]*)*")
_EN_QUESTION_WORDS = {"what", "who", "which", "when", "where", "why", "how", "does", "did", "is",
                      "are", "was", "were", "do", "can", "the", "tell", "please"}
_ORG_SUFFIX = re.compile(r"(?:有限公司|公司|集团|企业|银行|大学|学院|医院|研究院|研究所|协会|"
                         r"委员会|政府|工厂|厂|中心|纸业)$")
_NOUN_FLAGS = ("n", "j", "eng")
_BRACKETS = set("()（）·")
_MARKERS = re.compile(r"\[\d+\]")

REWRITE_INSTRUCTIONS = (
    "You rewrite a follow-up question from a conversation into a standalone question that can "
    "be understood without the conversation: replace pronouns and references (it, they, 它, "
    "他, 该公司 ...) with the names they refer to. Keep the language and meaning of the "
    "follow-up. If it is already standalone, return it unchanged. Output only the question."
)


def clean_history(history: Sequence[object]) -> tuple[Turn, ...]:
    """Chat turns as ``{"role", "content"}`` dicts; (user, assistant) pairs are accepted too."""
    turns: list[Turn] = []
    for item in history or ():
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            if role in ("user", "assistant") and isinstance(content, str) and content.strip():
                turns.append({"role": role, "content": content})
            else:
                log.debug("skipping history entry %r", item)
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            for role, content in zip(("user", "assistant"), item, strict=True):
                if isinstance(content, str) and content.strip():
                    turns.append({"role": role, "content": content})
    return tuple(turns)


def rewrite_question(question: str, history: Sequence[Turn], *,
                     complete: Complete | None = None) -> str:
    """A standalone version of ``question`` given earlier ``history`` turns.

    ``complete`` (messages -> reply text) asks an LLM; its errors propagate so the caller can
    fall back. Without history the question is returned unchanged.
    """
    if not any(t["role"] == "user" for t in history):
        return question
    if complete is not None:
        reply = complete(rewrite_messages(question, history))
        standalone = _usable(reply, question)
        if standalone:
            return standalone
        log.info("LLM rewrite unusable (%r); using the pronoun rule", reply[:80])
    return rewrite_by_rule(question, history)


def rewrite_messages(question: str, history: Sequence[Turn]) -> list[Turn]:
    lines = []
    for turn in history[-MAX_TURNS:]:
        who = "User" if turn["role"] == "user" else "Assistant"
        text = _MARKERS.sub("", turn["content"]).strip()[:MAX_TURN_CHARS]
        lines.append(f"{who}: {text}")
    user = ("Conversation:\n" + "\n".join(lines) + f"\n\nFollow-up question: {question}\n"
            "Standalone question:")
    return [{"role": "system", "content": REWRITE_INSTRUCTIONS}, {"role": "user", "content": user}]


def _usable(reply: str, question: str) -> str | None:
    lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    text = re.sub(r"^(?:standalone question|question|独立问题|问题)\s*[:：]\s*", "", lines[0],
                  flags=re.IGNORECASE).strip().strip("\"'“”「」")
    if not text or len(text) > min(MAX_QUESTION_CHARS, 3 * len(question) + 200):
        return None
    return text


def rewrite_by_rule(question: str, history: Sequence[Turn]) -> str:
    """Replace a leading pronoun with the main entity of the previous user question."""
    users = [t["content"] for t in history if t["role"] == "user"]
    answers = [t["content"] for t in history if t["role"] == "assistant"]
    if not users:
        return question
    if language_of(question) == "en":
        return _rewrite_english(question, users[-1])
    # the pronoun lists are simplified: a traditional question (該公司) is matched through its
    # simplified form, which has the same length, so the match's positions hold for both
    match = _LEADING.match(simplified_form(question))
    if not match:
        return question
    pronoun = match.group("pro")
    if pronoun in _PERSON_PRONOUNS:
        # "她" may name a person first mentioned in the previous answer (…董事长李娜).
        entity = main_entity(users[-1], prefer="person", strict=True)
        if not entity and answers:
            entity = main_entity(_MARKERS.sub("", answers[-1]), prefer="person", strict=True)
    else:
        entity = main_entity(users[-1], prefer="org" if pronoun in _ORG_PRONOUNS else "any")
    if not entity:
        return question
    # The leading filler (那/请问) goes too: the rewrite is for retrieval.
    return entity + question[match.end("pro") :]


def main_entity(text: str, *, prefer: str = "any", strict: bool = False) -> str | None:
    """The organisation, person or first noun phrase that ``text`` is about.

    ``prefer`` is "org", "person" or "any"; with ``strict`` only the preferred kind is returned.
    """
    runs = _noun_runs(text)
    orgs = [org for run in runs if (org := _org_prefix(run))]
    people = [w for run in runs for w, flag in run if flag.startswith("nr") and len(w) >= 2]
    first = next(("".join(w for w, _ in run) for run in runs
                  if len("".join(w for w, _ in run)) >= 2), None)
    order = {"org": (orgs, people), "person": (people, orgs), "any": (orgs, people)}[prefer]
    if strict:
        return order[0][0] if order[0] else None
    for found in order:
        if found:
            return found[0]
    return first


def _noun_runs(text: str) -> list[list[tuple[str, str]]]:
    """Runs of adjacent noun tokens (jieba POS), brackets inside a name kept."""
    runs: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for word, flag in tagged(text):
        if flag.startswith(_NOUN_FLAGS) or (current and word in _BRACKETS):
            current.append((word, flag))
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    for run in runs:
        while run and run[-1][0] in _BRACKETS:  # a name never ends with an opening bracket
            run.pop()
    return [run for run in runs if run]


def _org_prefix(run: list[tuple[str, str]]) -> str | None:
    """The run up to its last organisation suffix (山东太阳纸业股份有限公司|董事长)."""
    words = [w for w, _ in run]
    for end in range(len(words), 0, -1):
        phrase = "".join(words[:end])
        if _ORG_SUFFIX.search(phrase) and len(phrase) >= 4:
            return phrase
    return None


def _rewrite_english(question: str, previous: str) -> str:
    match = _EN_PRONOUN.search(question)
    if not match:
        return question
    candidates = [m.group(0) for m in _EN_ENTITY.finditer(previous)]
    candidates = [_drop_question_word(c) for c in candidates]
    entity = next((c for c in candidates if c), None)
    if not entity:
        return question
    word = match.group(1).lower()
    replacement = f"{entity}'s" if word in _EN_POSSESSIVE else entity
    return question[: match.start()] + replacement + question[match.end() :]


def _drop_question_word(phrase: str) -> str:
    words = phrase.split()
    while words and words[0].lower() in _EN_QUESTION_WORDS:
        words = words[1:]
    return " ".join(words)
