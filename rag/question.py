"""Checking and cleaning a question before anything is searched."""

from __future__ import annotations

import re

from rag.errors import RAGError

MAX_QUESTION_CHARS = 2000


class QuestionError(RAGError, ValueError):
    """The question cannot be asked as given (empty, too long)."""


class QuestionTimeout(RAGError, TimeoutError):
    """A question ran past its deadline (``request_timeout``)."""


def clean_question(question: str) -> str:
    """The question with control characters turned into spaces and runs of spaces collapsed."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    if len(question) > 50 * MAX_QUESTION_CHARS:  # do not even scan a pasted book
        raise QuestionError(f"the question is {len(question)} characters long; keep it to at "
                            f"most {MAX_QUESTION_CHARS}")
    cleaned = "".join(c if c.isprintable() or c in "\n\t" else " " for c in question)
    cleaned = re.sub(r"[ \t\u3000]+", " ", cleaned).strip()
    if not cleaned:
        raise QuestionError("the question is empty; type a question")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(cleaned)} characters long; keep it to at most "
            f"{MAX_QUESTION_CHARS}"
        )
    return cleaned


def check_top_k(top_k: object, *, default: int, maximum: int) -> int:
    """How many passages to retrieve: ``default`` for None, at most ``maximum`` (larger values
    are clamped: the work per question stays bounded). Not a positive whole number: an error."""
    if top_k is None:
        top_k = default
    if isinstance(top_k, bool):
        raise QuestionError(f"top_k must be a whole number from 1 to {maximum}, not {top_k!r}")
    if not isinstance(top_k, int):
        try:
            as_float = float(top_k)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise QuestionError(f"top_k must be a whole number from 1 to {maximum}, "
                                f"not {top_k!r}") from None
        if not as_float.is_integer():
            raise QuestionError(f"top_k must be a whole number from 1 to {maximum}, "
                                f"not {top_k!r}")
        top_k = int(as_float)
    if top_k < 1:
        raise QuestionError(f"top_k must be a whole number from 1 to {maximum}, not {top_k}")
    return min(top_k, maximum)
