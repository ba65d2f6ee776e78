"""Checking and cleaning a question before anything is searched."""

from __future__ import annotations

import re

from rag.errors import RAGError

MAX_QUESTION_CHARS = 2000


class QuestionError(RAGError, ValueError):
    """The question cannot be asked as given (empty, too long)."""


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
