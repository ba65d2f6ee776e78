"""Q&A sets: load and validate the JSONL schema, and convert SQuAD-style JSON into one.

A row (one JSON object per line, as in ``eval/qa_seeds.jsonl``)::

    {"id": "q01", "question": "...", "answers": ["..."], "evidence": ["..."],
     "doc": "file.txt" | "both" | null, "answerable": true, "type": "fact"}

SQuAD-style files (CMRC 2018, DRCD: ``data[].paragraphs[].context/qas``) become a corpus folder
with one ``.txt`` per context (or per article) plus a Q&A file in the same schema, whose evidence
is the sentence around each answer's ``answer_start``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answers_analysis import QType, question_type
from rag.errors import RAGError
from rag.evaluation.metrics import squeeze
from rag.sentences import sentence_spans

log = logging.getLogger(__name__)

KEYS = ("id", "question", "answers", "evidence", "doc", "answerable", "type")
UNANSWERABLE = "unanswerable"
SEED_TYPES = ("fact", "number_date", "person_role", "list", "why_how", "multi_doc", "caption",
              UNANSWERABLE)
_TYPE_OF_QTYPE = {QType.PERSON: "person_role", QType.NUMBER: "number_date", QType.LIST: "list",
                  QType.REASON: "why_how", QType.OTHER: "fact"}
MAX_ERRORS = 20
EVIDENCE_CHARS = 60


class DatasetError(RAGError, ValueError):
    """A Q&A file does not follow the schema; the message names the file and line."""


@dataclass(frozen=True)
class QAItem:
    """One evaluation question. ``qtype`` is the row's ``type``; ``doc`` may be "both"."""

    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[str, ...]
    doc: str | None
    answerable: bool
    qtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "question": self.question, "answers": list(self.answers),
                "evidence": list(self.evidence), "doc": self.doc,
                "answerable": self.answerable, "type": self.qtype}


def _strings(row: dict[str, Any], key: str) -> tuple[str, ...]:
    value = row[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{key!r} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def parse_row(row: Any) -> QAItem:
    """Validate one decoded row; raises ValueError saying what is wrong."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    missing = [k for k in KEYS if k not in row]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}; a row needs {', '.join(KEYS)}")
    for key in ("id", "question", "type"):
        if not isinstance(row[key], str) or not row[key].strip():
            raise ValueError(f"{key!r} must be a non-empty string, got {row[key]!r}")
    if not isinstance(row["answerable"], bool):
        raise ValueError(f"'answerable' must be true or false, got {row['answerable']!r}")
    if row["doc"] is not None and not isinstance(row["doc"], str):
        raise ValueError(f"'doc' must be a file name, \"both\" or null, got {row['doc']!r}")
    answers, evidence = _strings(row, "answers"), _strings(row, "evidence")
    if row["answerable"] and not (answers and evidence):
        raise ValueError("an answerable row needs at least one answer and one evidence string")
    if not row["answerable"] and (answers or evidence):
        raise ValueError("an unanswerable row (answerable: false) must have no answers/evidence")
    return QAItem(id=row["id"], question=row["question"], answers=answers, evidence=evidence,
                  doc=row["doc"], answerable=row["answerable"], qtype=row["type"])


def parse_lines(lines: Iterable[str], source: str = "<qa>") -> list[QAItem]:
    """Parse JSONL text; every problem is reported as ``source:line N: ...`` in one error."""
    items: list[QAItem] = []
    errors: list[str] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source}:{lineno}"
        try:
            item = parse_row(json.loads(line))
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except ValueError as exc:
            errors.append(f"{where}: {exc}")
            continue
        if item.id in first_line:
            errors.append(f"{where}: duplicate id {item.id!r} (first on line "
                          f"{first_line[item.id]})")
            continue
        first_line[item.id] = lineno
        items.append(item)
    if errors:
        shown = errors[:MAX_ERRORS]
        more = f"\n... and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
        raise DatasetError(f"{len(errors)} problem(s) in {source}:\n" + "\n".join(shown) + more)
    if not items:
        raise DatasetError(f"{source} holds no questions")
    return items


def load_qa(path: str | Path) -> list[QAItem]:
    """Load and validate a Q&A JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Q&A file {path} does not exist")
    with path.open(encoding="utf-8-sig") as fh:
        return parse_lines(fh, str(path))


def write_qa(items: Iterable[QAItem], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(item.to_dict(), ensure_ascii=False) + "\n" for item in items]
    path.write_text("".join(lines), encoding="utf-8")


# -- SQuAD-style JSON --------------------------------------------------------------------------


def read_squad(path: str | Path) -> dict[str, Any] | None:
    """The decoded file when it is SQuAD-style JSON (``{"data": [...]}``), else None."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not valid JSON: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return data
    raise DatasetError(f"{path} is JSON but not SQuAD-style: expected {{\"data\": [{{"
                       "\"paragraphs\": [{\"context\": ..., \"qas\": [...]}]}]}")


def answer_span(context: str, text: str, start: Any) -> tuple[int, int] | None:
    """Where the answer really is: at ``answer_start`` if it matches there, else the nearest
    occurrence (some CMRC offsets are off by a few characters), else None."""
    if not text:
        return None
    if isinstance(start, int) and context[start : start + len(text)] == text:
        return (start, start + len(text))
    found = [m.start() for m in re.finditer(re.escape(text), context)]
    if not found:
        return None
    near = start if isinstance(start, int) else 0
    best = min(found, key=lambda pos: abs(pos - near))
    return (best, best + len(text))


def evidence_around(context: str, start: int, end: int, max_chars: int = EVIDENCE_CHARS) -> str:
    """The sentence(s) holding ``context[start:end]``, cut to about ``max_chars`` around it.

    Long sentences are cut so the evidence fits inside one retrieved chunk.
    """
    spans = sentence_spans(context) or [(0, len(context))]
    first = next((a for a, b in spans if a <= start < b), 0)
    last = next((b for a, b in spans if a < end <= b), len(context))
    if len(squeeze(context[first:last])) <= max_chars:
        return context[first:last].strip()
    width = max(max_chars, end - start)
    lo = max(first, start - (width - (end - start)) // 2)
    hi = min(last, lo + width)
    lo = max(first, hi - width)
    return context[lo:hi].strip()


def _slug(title: str) -> str:
    return re.sub(r"[^\w-]+", "_", title).strip("_")[:40]


def _squad_item(qa: dict[str, Any], context: str, doc: str) -> QAItem | None:
    question = str(qa.get("question", "")).strip()
    qid = str(qa.get("id", "")).strip()
    if not question or not qid:
        return None
    if qa.get("is_impossible"):
        return QAItem(id=qid, question=question, answers=(), evidence=(), doc=None,
                      answerable=False, qtype=UNANSWERABLE)
    answers: list[str] = []
    evidence: list[str] = []
    for answer in qa.get("answers") or []:
        text = str(answer.get("text", "")).strip()
        span = answer_span(context, text, answer.get("answer_start"))
        if span is None:
            continue
        if text not in answers:
            answers.append(text)
        sentence = evidence_around(context, *span)
        if sentence and sentence not in evidence:
            evidence.append(sentence)
    if not answers:
        return None
    return QAItem(id=qid, question=question, answers=tuple(answers), evidence=tuple(evidence[:3]),
                  doc=doc, answerable=True, qtype=_TYPE_OF_QTYPE[question_type(question)])


def squad_to_corpus(data: dict[str, Any], *, per: str = "context"
                    ) -> tuple[dict[str, str], list[QAItem]]:
    """Documents (file name -> text) and Q&A items from decoded SQuAD-style data.

    ``per="context"`` writes one file per context, ``per="title"`` one per article.
    Questions whose answers cannot be found in their context are skipped with a warning.
    """
    if per not in ("context", "title"):
        raise ValueError(f"per must be 'context' or 'title', not {per!r}")
    docs: dict[str, str] = {}
    items: list[QAItem] = []
    seen: set[str] = set()
    skipped = 0
    for a, article in enumerate(data.get("data") or []):
        slug = _slug(str(article.get("title") or "")) or "article"
        for p, para in enumerate(article.get("paragraphs") or []):
            context = str(para.get("context") or "")
            if not context.strip():
                continue
            name = f"{a:04d}_{slug}.txt" if per == "title" else f"{a:04d}_{p:03d}_{slug}.txt"
            docs[name] = f"{docs[name]}\n\n{context}" if name in docs else context
            for qa in para.get("qas") or []:
                item = _squad_item(qa, context, name)
                if item is None or item.id in seen:
                    skipped += 1
                    continue
                seen.add(item.id)
                items.append(item)
    if skipped:
        log.warning("skipped %d SQuAD question(s) without a usable answer or with a repeated id",
                    skipped)
    return docs, items


def convert_squad(path: str | Path, out_dir: str | Path, *, per: str = "context"
                  ) -> tuple[Path, Path]:
    """Write ``out_dir/squad_corpus/`` and ``out_dir/qa.jsonl`` from a SQuAD-style file.

    Files are rewritten only when their text changed, and files of an earlier conversion that
    are no longer produced are removed, so an index over the folder stays current.
    """
    data = read_squad(path)
    if data is None:
        raise DatasetError(f"{path} is not a SQuAD-style .json file")
    docs, items = squad_to_corpus(data, per=per)
    if not docs or not items:
        raise DatasetError(f"{path} holds no contexts with answerable or impossible questions")
    corpus = Path(out_dir) / "squad_corpus"
    write_corpus(docs, corpus)
    qa_path = Path(out_dir) / "qa.jsonl"
    write_qa(items, qa_path)
    log.info("converted %s: %d documents, %d questions", path, len(docs), len(items))
    return corpus, qa_path


def write_corpus(docs: dict[str, str], folder: Path) -> None:
    """Make ``folder`` hold exactly ``docs`` (name -> text) as .txt files, rewriting only what
    changed, so an index over it stays current when nothing did."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.txt"):
        if old.name not in docs:
            old.unlink()
    for name, text in docs.items():
        target = folder / name
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
