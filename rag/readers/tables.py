"""Spreadsheets (.xlsx through openpyxl in read-only mode, .csv through the stdlib): each row is
one paragraph written with its header ("列名: 值；列名: 值"), so a retrieved row says what its
numbers mean. Every sheet starts with its name and is a page ("\\f"), so a citation names the
sheet by number. Formulas give their cached values; old .xls files are not supported."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

from rag.readers.archive import archive_library
from rag.readers.base import (
    DEFAULT_OPTIONS,
    Extracted,
    ReadError,
    ReadOptions,
    paragraph_lines,
)
from rag.readers.text import UNDECODABLE, decode_bytes


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return " ".join(str(value).split())


def table_rows(rows: Iterable[Sequence[object]]) -> list[str]:
    """Rows after the first non-empty one (the header) as "header: value；..." lines."""
    header: list[str] | None = None
    out = []
    for row in rows:
        cells = [cell_text(v) for v in row]
        if not any(cells):
            continue
        if header is None:
            header = cells
            continue
        pairs = []
        for k, value in enumerate(cells):
            if value:
                name = header[k] if k < len(header) and header[k] else f"列{k + 1}"
                pairs.append(f"{name}: {value}")
        out.append("；".join(pairs))
    if header is not None and not out:  # a one-row table: the row is all there is
        out.append("；".join(c for c in header if c))
    return out


def read_xlsx(data: bytes, options: ReadOptions = DEFAULT_OPTIONS) -> Extracted:
    openpyxl = archive_library("openpyxl", "openpyxl", "Excel .xlsx", data, options)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheets = [(ws.title, table_rows(ws.iter_rows(values_only=True)))
                      for ws in book.worksheets]
        finally:
            book.close()
    except Exception as exc:  # a damaged or mislabelled archive fails in many ways
        raise ReadError(f"not a readable Excel .xlsx file ({type(exc).__name__}: {exc}); an "
                        "old .xls file must be saved as .xlsx first") from exc
    if not any(rows for _, rows in sheets):
        raise ReadError("the workbook holds no text (every sheet is empty)")
    text = "\n\f".join(paragraph_lines([title, *rows]) for title, rows in sheets)
    return Extracted(text=text, kind="xlsx", encoding="xlsx")


def read_csv(data: bytes) -> Extracted:
    decoded = decode_bytes(data)
    if decoded is None:
        raise ReadError(UNDECODABLE)
    text, encoding = decoded
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = table_rows(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise ReadError(f"not a readable CSV file ({exc})") from exc
    if not rows:
        raise ReadError("the CSV file holds no text (no rows with values)")
    return Extracted(text=paragraph_lines(rows), kind="csv", encoding=encoding)
