#!/usr/bin/env python3
"""Validate eval/qa_seeds.jsonl against the seed documents (stdlib only).

Checks:
- every row has exactly the expected schema and a known type;
- ids are unique;
- answerable=false rows have empty answers/evidence and doc null;
- answerable rows have at least one answer and 1-3 evidence strings;
- every answer and evidence string (whitespace removed) occurs in its document
  after normalisation (all whitespace and ``**`` removed); for doc "both" each
  string must occur in at least one of the two documents and the evidence as a
  whole must cover both documents.
Prints counts per type at the end.
"""
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QA_PATH = ROOT / "eval" / "qa_seeds.jsonl"
SEED_DIR = ROOT / "seeds"
DOCS = ["000_714dc78de03cf996.txt", "002_c385dfa94da2c315.txt"]
TYPES = ["fact", "number_date", "person_role", "list", "why_how",
         "multi_doc", "caption", "unanswerable"]
KEYS = ["id", "question", "answers", "evidence", "doc", "answerable", "type"]
MIN_PER_TYPE = {"fact": 8, "number_date": 6, "person_role": 6, "list": 5,
                "why_how": 5, "multi_doc": 4, "caption": 2, "unanswerable": 7}
MIN_TOTAL = 48

_WS = re.compile(r"\s+")


def squeeze(s):
    return _WS.sub("", s)


def normalise(text):
    return squeeze(text).replace("**", "")


def main():
    docs = {name: normalise((SEED_DIR / name).read_text(encoding="utf-8"))
            for name in DOCS}
    errors = []
    seen = set()
    counts = Counter()
    n = 0

    with QA_PATH.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            n += 1
            where = f"line {lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"{where}: bad JSON: {exc}")
                continue
            if sorted(row) != sorted(KEYS):
                errors.append(f"{where}: keys {sorted(row)} != {sorted(KEYS)}")
                continue
            rid = row["id"]
            where = f"{rid} (line {lineno})"
            if rid in seen:
                errors.append(f"{where}: duplicate id")
            seen.add(rid)
            typ = row["type"]
            if typ not in TYPES:
                errors.append(f"{where}: unknown type {typ!r}")
            counts[typ] += 1
            if not isinstance(row["question"], str) or not row["question"].strip():
                errors.append(f"{where}: empty question")
            if not isinstance(row["answers"], list) or not isinstance(row["evidence"], list):
                errors.append(f"{where}: answers/evidence must be lists")
                continue
            if not isinstance(row["answerable"], bool):
                errors.append(f"{where}: answerable must be a bool")

            if row["answerable"] is False:
                if row["answers"]:
                    errors.append(f"{where}: unanswerable row has answers")
                if row["evidence"]:
                    errors.append(f"{where}: unanswerable row has evidence")
                if row["doc"] is not None:
                    errors.append(f"{where}: unanswerable row must have doc null")
                if typ != "unanswerable":
                    errors.append(f"{where}: answerable=false but type {typ!r}")
                continue

            if typ == "unanswerable":
                errors.append(f"{where}: type unanswerable but answerable=true")
            doc = row["doc"]
            if doc == "both":
                targets = DOCS
            elif doc in DOCS:
                targets = [doc]
            else:
                errors.append(f"{where}: bad doc {doc!r}")
                continue
            if typ == "multi_doc" and doc != "both":
                errors.append(f"{where}: multi_doc must have doc 'both'")
            if not row["answers"]:
                errors.append(f"{where}: answerable row without answers")
            if not 1 <= len(row["evidence"]) <= 3:
                errors.append(f"{where}: need 1-3 evidence strings")

            for ans in row["answers"]:
                a = squeeze(ans)
                if not a or not any(a in docs[t] for t in targets):
                    errors.append(f"{where}: answer not found: {ans!r}")
            covered = set()
            for ev in row["evidence"]:
                e = squeeze(ev)
                if not 10 <= len(e) <= 60:
                    errors.append(f"{where}: evidence length {len(e)} not in 10-60: {ev!r}")
                hits = [t for t in targets if e and e in docs[t]]
                if not hits:
                    errors.append(f"{where}: evidence not found: {ev!r}")
                covered.update(hits)
            if doc == "both" and covered != set(DOCS):
                errors.append(f"{where}: doc 'both' but evidence covers only {sorted(covered)}")

    if n < MIN_TOTAL:
        errors.append(f"only {n} questions, need >= {MIN_TOTAL}")
    for typ, k in MIN_PER_TYPE.items():
        if counts[typ] < k:
            errors.append(f"type {typ}: {counts[typ]} < required {k}")

    if errors:
        for e in errors:
            print("FAIL:", e)
        print(f"{len(errors)} problem(s)")
        sys.exit(1)

    print(f"OK: {n} questions, {len(seen)} unique ids")
    for typ in TYPES:
        print(f"  {typ:12s} {counts[typ]}")


if __name__ == "__main__":
    main()
