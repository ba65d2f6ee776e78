"""Rated answers -> a Q&A file in the eval schema, for a person to correct and keep.

``rag eval --export-feedback FILE`` writes one row per rated answer (``rag.conversations``):
the question, the answer's text (markers removed) as the draft gold answer, the cited quotes as
evidence, and a ``feedback`` object (rating, comment, index generation) that ``load_qa`` ignores.
A person fixes ``answers``/``evidence`` (a thumbs-down usually means they are wrong) and adds the
rows to an evaluation set, so the set grows from real use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rag.answers_analysis import question_type
from rag.conversations import ConversationStore, Feedback
from rag.evaluation.dataset import _TYPE_OF_QTYPE, UNANSWERABLE, parse_row

_MARKERS = re.compile(r"\s*\[\d+(?:[,，]\s*\d+)*\]")


def feedback_row(item: Feedback) -> dict[str, Any]:
    """One rated answer as an eval row (valid for ``load_qa``) plus its ``feedback``."""
    answer = item.answer
    docs = list(dict.fromkeys(c.doc for c in answer.citations))
    answerable = not answer.abstained and bool(answer.citations)
    text = _MARKERS.sub("", answer.text).strip()
    row = {
        "id": f"fb-{item.conversation[:8]}-{item.position}",
        "question": item.question,
        "answers": [text] if answerable and text else [],
        "evidence": list(dict.fromkeys(c.quote for c in answer.citations if c.quote.strip()))
        if answerable else [],
        "doc": (docs[0] if len(docs) == 1 else "both") if answerable else None,
        "answerable": answerable,
        "type": _TYPE_OF_QTYPE[question_type(item.question)] if answerable else UNANSWERABLE,
        "feedback": {"rating": "up" if item.rating > 0 else "down", "comment": item.comment,
                     "generation": item.generation, "needs_review": True},
    }
    if answerable and not (row["answers"] and row["evidence"]):
        row.update(answers=[], evidence=[], doc=None, answerable=False, type=UNANSWERABLE)
    parse_row(row)  # the schema holds before anyone edits it
    return row


def export_feedback(store: ConversationStore, out: str | Path, *,
                    rating: int | None = None) -> int:
    """Write every rated answer (or only ``rating`` ones) to ``out``; returns the row count."""
    rows = [feedback_row(item) for item in store.feedback(rating)]
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return len(rows)
