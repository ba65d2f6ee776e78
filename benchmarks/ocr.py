"""OCR figures: character error rate on rendered seed pages (clean, and rotated + noisy), pages
per minute on a newspaper-sized page, and the time to index an unchanged scanned corpus again
(every page from the OCR cache, no OCR).

    python benchmarks/ocr.py [--pages 3] [--quick]

Pages are rendered from seeds/ with the Noto CJK font (tests/docmaker.py); nothing downloaded.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SEEDS, machine, markdown_table, write_results

sys.path.insert(0, str(ROOT / "tests"))


def cer(got: str, want: str) -> float:
    got, want = re.sub(r"\s+", "", got), re.sub(r"\s+", "", want)
    m = difflib.SequenceMatcher(None, want, got, autojunk=False)
    return sum(max(b - a, d - c) for op, a, b, c, d in m.get_opcodes() if op != "equal") / len(want)


def seed_lines(width: int) -> list[str]:
    lines = []
    for path in sorted(SEEDS.glob("*.txt")):
        for para in path.read_text(encoding="utf-8").split():
            lines += [para[i:i + width] for i in range(0, len(para), width)]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=3, help="rendered seed pages (12 lines each)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="rag-ocr-bench-")
    os.environ["RAG_OCR_CACHE_DIR"] = cache
    os.environ["RAG_OCR_PROGRESS"] = "0"
    from docmaker import image_bytes, make_image_pdf, render_page

    from rag.readers import extract

    lines = seed_lines(30)
    pages = [lines[i * 12:(i + 1) * 12] for i in range(args.pages)]
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
            errors += cer(text, want) * len(want)
            chars += len(want)
        out[kind] = {"cer": errors / chars, "chars": chars, "seconds_per_page": took / len(pages)}
        rows.append([kind, len(pages), chars, f"{100 * errors / chars:.2f}%",
                     round(took / len(pages), 2)])
    # A newspaper-sized page: 6 columns of 90 lines, 13 characters a line, 18 px type.
    cols = [lines[i * 90:(i + 1) * 90] for i in range(6)]
    paper = render_page([[ln[:13] for ln in c] for c in cols], size=18, gutter=2)
    start = time.perf_counter()
    text = extract(image_bytes(paper, "PNG"), "paper.png").text
    paper_s = time.perf_counter() - start
    out["newspaper"] = {"pixels": list(paper.size), "seconds": paper_s,
                        "pages_per_minute": 60 / paper_s,
                        "cer": cer(text, "".join(ln[:13] for c in cols for ln in c))}
    # Re-index of an unchanged scanned corpus: cold (OCR) vs a fresh index over the same files.
    from rag.pipeline import RAG

    work = Path(tempfile.mkdtemp(prefix="rag-ocr-corpus-"))
    corpus = work / "corpus"
    corpus.mkdir()
    make_image_pdf(corpus / "scan.pdf", [render_page([p]) for p in pages])
    times = []
    for name in ("index-cold", "index-again"):
        start = time.perf_counter()
        RAG(index_dir=work / name, corpus_dir=corpus).open()
        times.append(time.perf_counter() - start)
    out["reindex"] = {"pages": len(pages), "first_index_s": times[0], "reindex_s": times[1]}
    md = "# OCR (rapidocr PP-OCRv6 small, CPU)\n\n" + markdown_table(
        ["pages", "n", "characters", "CER", "s/page"], rows)
    md += (f"\n\nNewspaper-sized page ({paper.size[0]}x{paper.size[1]} px, 6 columns): "
           f"{paper_s:.1f} s = {60 / paper_s:.1f} pages/minute, CER "
           f"{100 * out['newspaper']['cer']:.2f}%.\n\nScanned corpus of {len(pages)} pages: "
           f"first index {times[0]:.1f} s (OCR), a fresh index of the unchanged files "
           f"{times[1]:.1f} s (all pages from the OCR cache, no OCR).\n")
    write_results("ocr", {"machine": machine(), **out}, md, quick=args.quick)


if __name__ == "__main__":
    main()
