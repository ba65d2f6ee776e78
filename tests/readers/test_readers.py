"""Format readers: PDF (pages, scans), DOCX (paragraphs, tables), HTML (main text), registry."""

from __future__ import annotations

import logging

import pytest
from docmaker import make_docx, make_pdf, read_options, wrap

from rag.documents import SUPPORTED_SUFFIXES, Skipped, load_documents
from rag.paragraphs import split_paragraphs
from rag.readers import ReadError, extract, reader_for
from rag.readers.pdf import read_pdf

HEADLINE = "实干兴区，绿色发展铸未来"
P1 = ("兖州区培育新能源、造纸包装、橡胶化工三个千亿级产业，"
      "企业是经济的基本细胞，企业兴则经济兴，企业强则经济强。")
P2 = ("二月五日下午，济宁市绿色低碳高质量发展大会召开，"
      "市长张海波主持会议并讲话，强调要坚定不移走生态优先、绿色发展之路。")
# Runs from the foot of page 1 onto page 2.
P3 = ("宁德时代新能源电池项目落户兖州经济技术开发区，"
      "总投资120亿元，达产后年产值可达300亿元，带动上下游企业集聚发展。")


def _news_pdf(path):
    p3 = wrap(P3)
    return make_pdf(path, [[HEADLINE, *wrap(P1), *p3[:2]], [*p3[2:], *wrap(P2)]], footer=True)


def _read_one(root, **kwargs):
    docs = list(load_documents(root, **kwargs))
    assert len(docs) == 1
    return docs[0], split_paragraphs(docs[0].text, docs[0].path)


def test_pdf_wrapped_lines_become_whole_paragraphs_with_pages(tmp_path):
    _news_pdf(tmp_path / "news.pdf")
    doc, paragraphs = _read_one(tmp_path)
    assert doc.kind == "pdf" and doc.path == "news.pdf"
    assert [p.text for p in paragraphs] == [HEADLINE, P1, P3, P2]  # footers "- 1 -" dropped
    assert [p.page for p in paragraphs] == [1, 1, 1, 2]  # P3 starts on page 1


def test_image_only_pdf_is_reported_not_indexed_empty(tmp_path, caplog):
    # OCR off (OCR on: tests/readers/test_ocr.py)
    make_pdf(tmp_path / "scan.pdf", [[], []])
    (tmp_path / "good.txt").write_text(P1, encoding="utf-8")
    skipped: list[Skipped] = []
    with caplog.at_level(logging.WARNING):
        docs = list(load_documents(tmp_path, skipped=skipped, options=read_options(ocr=False)))
    assert [d.path for d in docs] == ["good.txt"]
    assert [s.path for s in skipped] == ["scan.pdf"]
    assert "no text layer on any of its 2 page(s)" in skipped[0].reason
    assert "scanned" in skipped[0].reason and "OCR" in skipped[0].reason
    assert "scan.pdf" in caplog.text and "scanned" in caplog.text


def test_partly_scanned_pdf_keeps_text_pages_and_names_the_others(tmp_path, caplog):
    make_pdf(tmp_path / "mixed.pdf", [["第一页有文字。"], [], ["第三页也有文字。"]])
    with caplog.at_level(logging.WARNING):
        doc, paragraphs = _read_one(tmp_path, options=read_options(ocr=False))
    assert [(p.text, p.page) for p in paragraphs] == [
        ("第一页有文字。", 1), ("第三页也有文字。", 3)]
    assert "mixed.pdf" in caplog.text and "page(s) 2 have no text layer" in caplog.text


def test_password_protected_pdf_is_reported(tmp_path):
    path = make_pdf(tmp_path / "locked.pdf", [["机密文件内容。"]], password="secret")
    with pytest.raises(ReadError, match="password-protected"):
        read_pdf(path.read_bytes())


def test_pdf_encrypted_without_user_password_is_read(tmp_path):
    path = make_pdf(tmp_path / "restricted.pdf", [["只限制编辑的公开文件。"]], password="")
    assert read_pdf(path.read_bytes()).text == "只限制编辑的公开文件。"


def test_damaged_pdf_is_reported(tmp_path):
    with pytest.raises(ReadError, match="not a readable PDF"):
        extract(b"%PDF-1.7\n" + bytes(range(256)) * 4, "broken.pdf")


def test_docx_paragraphs_and_tables_in_document_order(tmp_path):
    long_line = "这一段很长但是没有句号结尾" * 3
    make_docx(tmp_path / "report.docx", [
        HEADLINE, long_line, P1, [["产业", "产值"], ["新能源", "一千亿元"]], P2,
    ])
    doc, paragraphs = _read_one(tmp_path)
    assert doc.kind == "docx"
    assert [p.text for p in paragraphs] == [
        HEADLINE, long_line, P1, "产业 | 产值", "新能源 | 一千亿元", P2,
    ]
    assert all(p.page is None for p in paragraphs)


def test_merged_table_cell_appears_once(tmp_path):
    import docx
    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    table.cell(0, 0).text = "项目"
    merged = table.cell(0, 1).merge(table.cell(0, 2))
    merged.text = "合并单元格"
    document.save(str(tmp_path / "t.docx"))
    _, paragraphs = _read_one(tmp_path)
    assert [p.text for p in paragraphs] == ["项目 | 合并单元格"]


def test_damaged_docx_is_reported():
    with pytest.raises(ReadError, match=r"not a readable Word \.docx file"):
        extract(b"PK\x03\x04 this is no zip", "x.docx")


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>济宁新闻网</title>
<style>p {color: red}</style><script>var secret = "脚本内容";</script></head>
<body><header><a href="/">首页</a></header>
<nav><a href="/news">新闻</a> | <a href="/about">关于我们</a></nav>
<div class="side-bar ads">热点推荐</div><div hidden>隐藏文字</div>
<article><h1>兖州区培育三个千亿级产业</h1>
<p>兖州区培育新能源、造纸包装、橡胶化工<b>三个</b>千亿级产业。
企业是经济的基本细胞。</p><!-- 注释 -->
<p>二月五日下午，济宁市绿色低碳高质量发展大会召开，市长张海波主持。</p>
<table><tr><th>产业</th><th>产值</th></tr><tr><td>新能源</td><td>一千亿元</td></tr></table>
<div class="share-buttons">分享到微博</div>
</article>
<footer>版权所有 © 2024 济宁日报</footer></body></html>"""


def test_html_main_text_without_boilerplate(tmp_path):
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    doc, paragraphs = _read_one(tmp_path)
    assert doc.kind == "html" and doc.encoding == "utf-8"
    assert [p.text for p in paragraphs] == [
        "兖州区培育三个千亿级产业",
        "兖州区培育新能源、造纸包装、橡胶化工三个千亿级产业。企业是经济的基本细胞。",
        "二月五日下午，济宁市绿色低碳高质量发展大会召开，市长张海波主持。",
        "产业 | 产值",
        "新能源 | 一千亿元",
    ]
    junk_words = ("首页", "关于我们", "热点推荐", "隐藏文字", "脚本内容", "注释", "分享", "版权")
    for junk in junk_words:
        assert junk not in doc.text, junk


def test_html_body_title_line_breaks_and_declared_charset():
    page = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
            '<title>兖州新闻</title></head><body><div id="nav">导航</div>'
            "<div>第一段第一行<br>第一段第二行<br><br>第二段。</div>"
            '<div class="footer">版权</div></body></html>')
    extracted = extract(page.encode("gb18030"), "old.htm")
    assert extracted.encoding == "gb18030"
    texts = [p.text for p in split_paragraphs(extracted.text, "old.htm")]
    assert texts == ["兖州新闻", "第一段第一行", "第一段第二行", "第二段。"]


def test_markup_inside_html_text_stays_plain_text():
    page = "<p>输入 &lt;script&gt;alert(1)&lt;/script&gt; 不会执行。</p>"
    text = extract(page.encode(), "x.html").text
    assert "<script>alert(1)</script>" in text


def test_registry_and_suffixes():
    assert set(SUPPORTED_SUFFIXES) == {".txt", ".md", ".markdown", ".pdf", ".docx", ".html",
                                       ".htm", ".pptx", ".xlsx", ".csv", ".png", ".jpg",
                                       ".jpeg", ".tif", ".tiff", ".bmp"}
    assert reader_for("REPORT.PDF") is read_pdf
    assert reader_for("old.doc") is None and reader_for(".pdf") is None
    with pytest.raises(ReadError, match="unsupported file type"):
        extract(b"x", "a.xls")


def test_markdown_is_cleaned_by_paragraph_repair(tmp_path):
    (tmp_path / "notes.md").write_text("# 标题\n\n正文里有[链接](http://x.cn)和**加粗**。\n",
                                       encoding="utf-8")
    doc, paragraphs = _read_one(tmp_path)
    assert doc.kind == "markdown"
    assert [p.text for p in paragraphs] == ["标题", "正文里有链接和加粗。"]


@pytest.fixture(scope="module")
def mixed_rag(tmp_path_factory):
    from rag.pipeline import RAG

    corpus = tmp_path_factory.mktemp("mixed-corpus")
    _news_pdf(corpus / "news.pdf")
    make_docx(corpus / "report.docx", [
        "华勤橡胶工业集团", "华勤橡胶工业集团有限公司总经理牛飞介绍，公司今年出口增长30%。",
    ])
    (corpus / "page.html").write_text(PAGE.replace("二月五日下午", "二月六日上午")
                                      .replace("济宁市绿色低碳高质量发展大会", "网页专题会")
                                      .replace("张海波", "李明"), encoding="utf-8")
    return RAG(index_dir=tmp_path_factory.mktemp("mixed-index"), corpus_dir=corpus).open()


@pytest.mark.parametrize(("question", "doc", "page"), [
    ("张海波主持了什么会议？", "news.pdf", 2),
    ("宁德时代项目总投资多少？", "news.pdf", 1),
    ("牛飞说公司出口增长多少？", "report.docx", None),
    ("李明主持了什么会？", "page.html", None),
])
def test_citations_from_ask_carry_doc_and_page(mixed_rag, question, doc, page):
    answer = mixed_rag.ask(question)
    assert not answer.abstained, answer.text
    first = answer.citations[0]
    assert (first.doc, first.page) == (doc, page)
    assert mixed_rag.manifest["documents"] == 3


def test_docx_zip_bomb_is_refused_without_inflating_it(tmp_path):
    """A .docx whose word/document.xml inflates to 600 MB: refused from the zip directory, with
    the limit and how to raise it; the child process reading it stays far below that."""
    import subprocess
    import sys
    import zipfile

    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as fh:
            block = b"<w:t>" + b"0" * (1 << 20)
            for _ in range(600):
                fh.write(block)
    assert bomb.stat().st_size < 5 * 2**20
    # Peak memory from VmHWM: ru_maxrss would include the forking test process's own peak.
    code = ("import re, sys\nfrom pathlib import Path\n"
            "from rag.documents import Skipped, read_document\n"
            "skipped = []\np = Path(sys.argv[1])\n"
            "assert read_document(p, p.parent, skipped=skipped) is None\n"
            "print(skipped[0].reason)\n"
            "status = Path('/proc/self/status').read_text()\n"
            "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    reason, peak_kb = proc.stdout.strip().splitlines()[-2:]
    assert "unpacks to 600 MB, over the 500 MB limit" in reason
    assert "RAG_MAX_UNPACKED_MB=601" in reason
    assert int(peak_kb) < 400 * 1024  # nothing close to the unpacked size was ever held


def test_text_over_the_limit_is_refused_before_decoding(tmp_path):
    from rag.readers import ReadError, ReadOptions, extract

    small = ReadOptions(max_text_mb=1)
    big = ("兖州区培育新能源产业。" * 40_000).encode("utf-8")  # about 1.3 MB
    with pytest.raises(ReadError, match=r"1\.3 MB of text, over the 1 MB limit.*RAG_MAX_TEXT_MB=2"):
        extract(big, "big.txt", small)
    assert extract(big, "big.txt").text.startswith("兖州区")  # the default 20 MB takes it
