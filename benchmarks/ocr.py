"""OCR figures: character error rate on rendered seed pages (clean, and rotated + noisy), pages
per minute on a newspaper-sized page, the issue's bar check (every question of
eval/qa_seeds.jsonl asked of the text seeds and of an image-only PDF of them: same answer text
and same cited paragraph text), and the time to index an unchanged scanned corpus again (every
page from the OCR cache, no OCR).

    python benchmarks/ocr.py [--pages 3] [--docs N] [--quick]

Pages are rendered from seeds/ with the Noto CJK font (tests/docmaker.py); nothing downloaded.
The image-only PDFs print each seed document's repaired paragraphs (first line indented, 30
characters a line, 40 lines a page, so paragraphs run across pages) at 150 dpi; ``--docs N``
limits the bar check to the first N seed documents (default: all).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

from common import QA_FILE, ROOT, SEEDS, machine, markdown_table, write_results

sys.path.insert(0, str(ROOT / "tests"))


def cer(got: str, want: str) -> float:
    got, want = re.sub(r"\s+", "", got), re.sub(r"\s+", "", want)
    m = difflib.SequenceMatcher(None, want, got, autojunk=False)
    return sum(max(b - a, d - c) for op, a, b, c, d in m.get_opcodes() if op != "equal") / len(want)


def seed_paragraphs(path: Path) -> list[str]:
    """A seed document's paragraphs as the text index sees them (after paragraph repair)."""
    from rag.documents import read_document
    from rag.paragraphs import split_paragraphs

    doc = read_document(path, path.parent)
    return [p.text for p in split_paragraphs(doc.text, doc.path)]


def printed_lines(paragraphs: list[str], width: int) -> list[str]:
    """Paragraphs hard-wrapped at ``width``, each first line indented by two ideographic spaces."""
    lines = []
    for para in paragraphs:
        text = "\u3000\u3000" + re.sub(r"\s+", "", para)
        lines += [text[i:i + width] for i in range(0, len(text), width)]
    return lines


def all_seed_lines(width: int) -> list[str]:
    return [ln for path in sorted(SEEDS.glob("*.txt"))
            for ln in printed_lines(seed_paragraphs(path), width)]


def cer_rows(pages: list[list[str]], extract, render_page, image_bytes):
    rows, out = [], {}
    for kind, opts in [("clean", {}), ("noisy (1° rotation, 2% noise)",
                                       {"rotate": 1.0, "noise": 0.02, "seed": 3})]:
        errors, chars, took = 0.0, 0, 0.0
        for n, page in enumerate(pages):
            data = image_bytes(render_page([page], **opts), "PNG")
            start = time.perf_counter()
            text = extract(data, f"{kind}-{n}.png").text
            took += time.perf_counter() - start
            want = "".join(page)
            errors += cer(text, want) * len(re.sub(r"\s+", "", want))
            chars += len(re.sub(r"\s+", "", want))
        out[kind] = {"cer": errors / chars, "chars": chars, "seconds_per_page": took / len(pages)}
        rows.append([kind, len(pages), chars, f"{100 * errors / chars:.2f}%",
                     round(took / len(pages), 2)])
    return rows, out


def newspaper(extract, render_page, image_bytes) -> dict:
    """6 columns of 90 lines, 13 characters a line, 18 px type; seed lines repeated to fill."""
    lines = list(islice(cycle(all_seed_lines(13)), 6 * 90))
    cols = [lines[i * 90:(i + 1) * 90] for i in range(6)]
    paper = render_page(cols, size=18, gutter=2)
    start = time.perf_counter()
    text = extract(image_bytes(paper, "PNG"), "paper.png").text
    took = time.perf_counter() - start
    return {"pixels": list(paper.size), "seconds": took, "pages_per_minute": 60 / took,
            "chars": sum(len(ln.strip()) for ln in lines),
            "cer": cer(text, "".join(lines))}


def _answer(rag, question: str) -> tuple[str, tuple[str, ...]]:
    answer = rag.ask(question)
    return answer.text, tuple(c.text for c in answer.citations)


def bar_check(work: Path, docs: int | None, render_page, make_image_pdf) -> dict:
    """Ask every qa_seeds question of the text seeds and of image-only PDFs of them."""
    from rag.pipeline import RAG

    texts = sorted(SEEDS.glob("*.txt"))[:docs]
    scans = work / "seeds-scanned"
    scans.mkdir()
    pages = 0
    for path in texts:
        lines = printed_lines(seed_paragraphs(path), 30)
        images = [render_page([lines[i:i + 40]]) for i in range(0, len(lines), 40)]
        make_image_pdf(scans / f"{path.stem}.pdf", images)
        pages += len(images)
    text_corpus = work / "seeds-text"
    text_corpus.mkdir()
    for path in texts:
        (text_corpus / path.name).write_bytes(path.read_bytes())
    start = time.perf_counter()
    scanned = RAG(index_dir=work / "idx-scan", corpus_dir=scans).open()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    RAG(index_dir=work / "idx-scan-again", corpus_dir=scans).open()
    warm = time.perf_counter() - start
    text = RAG(index_dir=work / "idx-text", corpus_dir=text_corpus).open()
    names = {p.name for p in texts}
    qa = [json.loads(ln) for ln in QA_FILE.read_text(encoding="utf-8").splitlines() if ln.strip()]
    qa = [q for q in qa if q.get("doc") in names or not q.get("doc") or docs is None]
    same_answer = same_cited = same_both = 0
    misses = []
    for q in qa:
        a_text, a_cites = _answer(text, q["question"])
        b_text, b_cites = _answer(scanned, q["question"])
        answer_ok, cited_ok = a_text == b_text, a_cites[:1] == b_cites[:1]
        same_answer += answer_ok
        same_cited += cited_ok
        same_both += answer_ok and cited_ok
        if not (answer_ok and cited_ok):
            misses.append({"id": q["id"], "text_answer": a_text, "scan_answer": b_text,
                           "text_cited": a_cites[:1], "scan_cited": b_cites[:1]})
    return {"documents": len(texts), "pages": pages, "questions": len(qa),
            "same_answer": same_answer, "same_first_citation": same_cited,
            "same_both": same_both, "share": same_both / len(qa),
            "first_index_s": cold, "reindex_warm_cache_s": warm,
            "pages_per_minute_indexing": 60 * pages / cold, "misses": misses}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=3, help="rendered seed pages (12 lines each)")
    ap.add_argument("--docs", type=int, default=None, help="seed documents in the bar check")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    os.environ["RAG_OCR_CACHE_DIR"] = tempfile.mkdtemp(prefix="rag-ocr-bench-")
    os.environ["RAG_OCR_PROGRESS"] = "0"
    from docmaker import image_bytes, make_image_pdf, render_page

    from rag.config import load_settings
    from rag.readers import ReadOptions, extract

    options = ReadOptions.from_settings(load_settings())

    def read(data: bytes, name: str):
        return extract(data, name, options)

    lines = all_seed_lines(30)
    pages = [lines[i * 12:(i + 1) * 12] for i in range(args.pages)]
    rows, out = cer_rows(pages, read, render_page, image_bytes)
    out["newspaper"] = paper = newspaper(read, render_page, image_bytes)
    work = Path(tempfile.mkdtemp(prefix="rag-ocr-corpus-"))
    out["bar"] = bar = bar_check(work, args.docs, render_page, make_image_pdf)
    md = "# OCR (rapidocr PP-OCRv6 small, CPU)\n\n" + markdown_table(
        ["pages", "n", "characters", "CER", "s/page"], rows)
    md += (f"\n\nNewspaper-sized page ({paper['pixels'][0]}x{paper['pixels'][1]} px, 6 columns "
           f"x 90 lines of 13 characters, 18 px type, {paper['chars']} characters): "
           f"{paper['seconds']:.1f} s = {paper['pages_per_minute']:.2f} pages/minute, CER "
           f"{100 * paper['cer']:.2f}%.\n\n"
           f"Bar check: {bar['documents']} seed document(s) printed into image-only PDFs "
           f"({bar['pages']} pages, 30 characters x 40 lines, 150 dpi); {bar['questions']} "
           f"questions of eval/qa_seeds.jsonl asked of the text seeds and of the scans: same "
           f"answer text {bar['same_answer']}, same first cited paragraph "
           f"{bar['same_first_citation']}, both {bar['same_both']} = "
           f"**{100 * bar['share']:.1f}%** (bar: >= 90%).\n\n"
           f"Indexing the scans: first index {bar['first_index_s']:.1f} s (OCR, "
           f"{bar['pages_per_minute_indexing']:.1f} pages/minute including embedding); a fresh "
           f"index of the unchanged files {bar['reindex_warm_cache_s']:.1f} s (every page from "
           f"the OCR cache, no OCR).\n")
    write_results("ocr", {"machine": machine(), **out}, md, quick=args.quick)


if __name__ == "__main__":
    main()
