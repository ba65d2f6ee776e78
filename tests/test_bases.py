"""Knowledge bases: two bases from different halves of the seeds, built with two different
embedding models; isolation, cross-base questions, file changes through the one update path,
a failed re-parse, the registry, and the ``rag kb`` commands."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from conftest import SEEDS

from rag.basefiles import FileProblem, corpus_file, list_files, remove_file, reparse_file
from rag.bases import DEFAULT, BaseError, Registry
from rag.config import Settings
from rag.embeddings import bundled_model_path
from rag.multi import Library, MultiRAG
from rag.pipeline import RAG
from ui.cli import main

DOC_A, DOC_B = "000_714dc78de03cf996.txt", "002_c385dfa94da2c315.txt"
Q_A = "兖州区委书记叫什么名字？"  # answered in DOC_A only
Q_B = "山东恒信集团有限公司的总经理是谁？"  # answered in DOC_B only
Q_BOTH = "济宁市和兖州区的绿色低碳高质量发展大会分别是哪天召开的？"  # one fact in each
SMALL = {"a.txt": "青松公司的董事长是王明。青松公司位于济南，主要生产新能源电池。",
         "b.txt": "白云酒店的总经理是李华。白云酒店成立于1998年，位于泰安。",
         "c.txt": "黄河大桥全长三千米，于2010年建成通车。"}


def _copy_model(folder: Path) -> Path:
    """A second embedding model: the bundled model's files under another name (a new path is
    a new model to the index: its manifest records it and a base built with one refuses the
    other)."""
    folder.mkdir()
    for item in Path(bundled_model_path()).iterdir():
        (folder / item.name).symlink_to(item)
    return folder


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> Registry:
    root = tmp_path_factory.mktemp("kb")
    for name, doc in (("a", DOC_A), ("b", DOC_B)):
        (root / f"corpus-{name}").mkdir()
        shutil.copy(SEEDS / doc, root / f"corpus-{name}" / doc)
    registry = Registry(root / "bases")
    registry.create("A", root / "corpus-a", embed_model="bundled")
    registry.create("B", root / "corpus-b", embed_model=str(_copy_model(root / "minilm-copy")),
                    chunk_tokens=150)
    return registry


@pytest.fixture(scope="module")
def library(bases):
    lib = Library(bases)
    yield lib
    lib.close()


def _small_base(registry: Registry, tmp_path: Path, name: str) -> RAG:
    corpus = tmp_path / f"corpus-{name}"
    corpus.mkdir()
    for file, text in SMALL.items():
        (corpus / file).write_text(text, encoding="utf-8")
    registry.create(name, corpus, embed_model="bundled")
    return RAG(kb=name, bases_dir=str(registry.root)).open()


def test_each_base_answers_from_its_own_corpus_only(library):
    a, b = library.get("A"), library.get("B")
    assert library.get("A") is a  # opened once, kept
    for rag, question, doc, kb in ((a, Q_A, DOC_A, "A"), (b, Q_B, DOC_B, "B")):
        answer = rag.ask(question)
        assert not answer.abstained
        assert {(c.kb, c.doc) for c in answer.citations} == {(kb, doc)}
    # Isolation: base A never retrieves from base B, even for B's question.
    assert {(p.kb, p.doc) for p in a.retrieve(Q_B, top_k=20)} == {("A", DOC_A)}
    assert {(p.kb, p.doc) for p in b.retrieve(Q_A, top_k=20)} == {("B", DOC_B)}


def test_two_embedding_models_both_keep_working(library, bases):
    a, b = library.get("A"), library.get("B")
    assert a.manifest["embed_model"] != b.manifest["embed_model"]
    assert b.manifest["embed_model"].endswith("minilm-copy")
    assert b.settings.chunk_tokens == 150 and a.settings.chunk_tokens == Settings().chunk_tokens
    both = library.select(["A", "B"])
    assert isinstance(both, MultiRAG) and library.select(["A", "B"]) is both
    for _ in range(2):  # alternating between the bases' models
        assert a.ask(Q_A).citations[0].doc == DOC_A
        assert b.ask(Q_B).citations[0].doc == DOC_B


def test_cross_base_question_cites_both_bases(library):
    both = library.select(["A", "B"])
    answer = both.ask(Q_BOTH)
    assert {(c.kb, c.doc) for c in answer.citations} == {("A", DOC_A), ("B", DOC_B)}
    assert all(c.quote in c.text for c in answer.citations)
    assert both.document(DOC_A, "A") == library.get("A").document(DOC_A)
    # A question only one base answers is answered from that base first.
    assert (both.ask(Q_A).citations[0].kb, both.ask(Q_B).citations[0].kb) == ("A", "B")
    assert {p.kb for p in both.retrieve(Q_BOTH, top_k=8)} == {"A", "B"}
    rrf = MultiRAG(both.rags, fusion="rrf")
    assert {c.kb for c in rrf.ask(Q_BOTH).citations} == {"A", "B"}
    assert json.loads(json.dumps(answer.to_dict()))["citations"][0]["kb"] in ("A", "B")


def test_deleting_a_file_removes_its_citations(bases, tmp_path):
    rag = _small_base(bases, tmp_path, "small-del")
    question = "白云酒店的总经理是谁？"
    assert rag.ask(question).citations[0].doc == "b.txt"
    before = rag.version
    remove_file(rag, "b.txt")
    assert rag.version != before
    assert not (rag.corpus_dir / "b.txt").exists()
    assert all(c.doc != "b.txt" for c in rag.ask(question).citations)
    assert all(p.doc != "b.txt" for p in rag.retrieve(question, top_k=10))
    assert [f.path for f in list_files(rag)] == ["a.txt", "c.txt"]
    with pytest.raises(FileProblem):
        remove_file(rag, "b.txt")
    rag.close()


def test_failed_reparse_leaves_the_previous_generation_live(bases, tmp_path, monkeypatch):
    rag = _small_base(bases, tmp_path, "small-fail")
    before, files_before = rag.version, list_files(rag)
    assert [f.status for f in files_before] == ["indexed"] * 3

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(rag.store), "commit", broken)
    with pytest.raises(OSError, match="disk full"):
        reparse_file(rag, "a.txt")
    with pytest.raises(OSError, match="disk full"):
        remove_file(rag, "c.txt")
    assert (rag.corpus_dir / "c.txt").is_file()  # put back
    for reader in (rag, RAG(kb="small-fail", bases_dir=str(bases.root))):
        assert reader.version == before
        assert "王明" in reader.ask("青松公司的董事长是谁？").text
        assert list_files(reader) == files_before
    monkeypatch.undo()
    reparse_file(rag, "a.txt")  # the next try publishes a new generation
    assert rag.version != before
    assert "王明" in rag.ask("青松公司的董事长是谁？").text
    rag.close()


def test_download_names_are_checked(bases, tmp_path):
    rag = _small_base(bases, tmp_path, "small-names")
    assert corpus_file(rag, "a.txt") == (rag.corpus_dir / "a.txt").resolve()
    (tmp_path / "secret.txt").write_text("秘密", encoding="utf-8")
    (rag.corpus_dir / "link.txt").symlink_to(tmp_path / "secret.txt")
    for bad in ("../secret.txt", "/etc/passwd", "link.txt", ".hidden.txt", "", "nope.txt",
                "a.txt/../../secret.txt"):
        with pytest.raises(FileProblem):
            corpus_file(rag, bad)
    rag.close()


def test_registry_rules(tmp_path):
    registry = Registry(tmp_path / "bases")
    assert registry.names() == [DEFAULT]
    assert registry.get(DEFAULT).index.name == "index"
    for bad in ("", "a/b", "../x", "a:b", ".x"):
        with pytest.raises(BaseError):
            registry.create(bad)
    with pytest.raises(BaseError, match="cannot be deleted"):
        registry.delete(DEFAULT)
    with pytest.raises(Exception, match="unknown setting"):
        registry.create("x", no_such_setting=1)
    threads = [threading.Thread(target=registry.create, args=(f"kb{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert registry.names() == [DEFAULT, *sorted(f"kb{i}" for i in range(8))]  # none lost
    with pytest.raises(BaseError, match="exists already"):
        registry.create("kb1")
    registry.rename("kb1", "知识库")
    assert registry.get("知识库").corpus.is_dir() and "kb1" not in registry.names()
    registry.create("kb1")  # the old name is free; its folder does not clash
    assert registry.get("kb1").index != registry.get("知识库").index
    folder = registry.get("kb2").index.parent
    registry.delete("kb2")
    assert not folder.exists() and registry.get("kb3").index.is_dir()
    assert not list(registry.root.glob(".registry-*"))  # no temporary file left


def test_cli_commands(bases, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAG_BASES_DIR", str(bases.root))
    corpus = tmp_path / "cli-corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(SMALL["a.txt"], encoding="utf-8")
    assert main(["kb", "create", "cli", str(corpus), "--embed-model", "bundled",
                 "--chunk-tokens", "120"]) == 0
    assert "1 documents" in capsys.readouterr().out
    assert main(["kb", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:6] == ["name", "documents", "chunks", "model", "size", "state"]
    row = next(line.split() for line in table if line.startswith("cli "))
    assert row[1:4] == ["1", "1", "bundled:all-MiniLM-L6-v2"] and row[5] in ("KiB", "MiB")
    assert any(line.startswith("A ") for line in table)
    extra = tmp_path / "b.txt"
    extra.write_text(SMALL["b.txt"], encoding="utf-8")
    assert main(["kb", "add", "cli", str(extra)]) == 0
    assert main(["kb", "files", "cli"]) == 0
    out = capsys.readouterr().out
    assert "added b.txt" in out and out.count(" indexed ") == 2
    assert main(["ask", "白云酒店的总经理是谁？", "--kb", "cli", "--json"]) == 0
    cited = json.loads(capsys.readouterr().out)["citations"][0]
    assert (cited["kb"], cited["doc"]) == ("cli", "b.txt")
    assert main(["kb", "reparse", "cli", "a.txt"]) == 0
    assert main(["kb", "remove", "cli", "b.txt"]) == 0
    assert main(["kb", "remove", "cli", "../x.txt"]) == 2
    assert main(["ask", Q_A, "--kb", "A", "--kb", "cli"]) == 0
    assert "[1] A: " + DOC_A in capsys.readouterr().out
    seen: dict = {}  # `rag chat --kb A,B` serves both, opened through the page's library
    monkeypatch.setattr("ui.serve.run", lambda rag, **kw: seen.update(rag=rag, **kw) or 0)
    assert main(["chat", "--kb", "A,cli"]) == 0
    assert isinstance(seen["rag"], MultiRAG) and seen["rag"].names == ["A", "cli"]
    assert seen["library"].select(["A", "cli"]) is seen["rag"]
    seen["library"].close()
    assert main(["kb", "rename", "cli", "cli2"]) == 0
    index = bases.get("cli2").index
    assert main(["kb", "delete", "cli2"]) == 2  # no --yes and no terminal to ask
    assert "--yes" in capsys.readouterr().err and index.is_dir()
    assert main(["kb", "delete", "cli2", "--yes"]) == 0
    assert not index.exists() and corpus.is_dir()  # the user's corpus is kept
    assert main(["ask", Q_A, "--kb", "cli2"]) == 2
    assert main(["ask", Q_A, "--kb", "A"]) == 0  # the others are untouched
    assert DOC_A in capsys.readouterr().out
