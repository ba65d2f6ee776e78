"""Adding uploaded files to a corpus: validation, safe names, and undo on failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.uploads import add_documents, name_problem, safe_name

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
NEW_DOC = ("微山湖湿地观鸟节\n\n"
           "第三届微山湖湿地观鸟节于四月十二日开幕，主办方统计共有一百二十种候鸟在湖区停歇。\n")


@pytest.fixture
def corpus_rag(tmp_path, seed_index):
    """A RAG over a private copy of the seeds and of the seed index (never the real seeds/)."""
    from rag.pipeline import RAG

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    shutil.copytree(seed_index, index)
    for path in corpus.iterdir():
        path.chmod(0o644)
    return RAG(index_dir=index, corpus_dir=corpus).open()


def _write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _state(rag) -> tuple[list[str], dict]:
    files = sorted(p.name for p in rag.corpus_dir.iterdir())
    from rag.pipeline import RAG

    return files, RAG(index_dir=rag.index_dir).store.open().manifest


def test_good_file_is_copied_indexed_and_answerable(corpus_rag, tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    path = _write(upload, "观鸟 节(2024).md", NEW_DOC)
    seen: list[tuple[float, str]] = []
    report = add_documents(corpus_rag, [path], progress=lambda f, m: seen.append((f, m)))
    assert report.ok and [f.stored_as for f in report.added] == ["观鸟_节(2024).md"]
    assert (corpus_rag.corpus_dir / "观鸟_节(2024).md").read_text(encoding="utf-8") == NEW_DOC
    assert "观鸟_节(2024).md" in corpus_rag.manifest["files"]
    assert corpus_rag.manifest["documents"] == 3
    assert [p.text for p in corpus_rag.document("观鸟_节(2024).md")][0] == "微山湖湿地观鸟节"
    answer = corpus_rag.ask("微山湖湿地观鸟节统计到多少种候鸟？")
    assert answer.citations and answer.citations[0].doc == "观鸟_节(2024).md"
    assert seen[-1][0] == 1.0 and all(0 <= f <= 1 for f, _ in seen)


def test_bad_files_are_refused_by_name_with_the_reason(corpus_rag, tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    cases = {
        "binary.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20, "binary or undecodable"),
        "legacy.txt": (bytes([0x81, 0xFF]) * 300, "binary or undecodable"),
        "empty.md": (b"", "empty"),
        "blank.txt": (b" \n\t\n", "no text"),
        "photo.heic": (b"\x00\x00\x00\x18ftypheic", "unsupported file type (.heic)"),
        "damaged.pdf": (b"%PDF-1.4\n1 0 obj\n", "not a readable PDF"),
        "README": (b"plain text", "unsupported file type (no extension)"),
        ".hidden.md": (b"text", "hidden files"),
    }
    paths = [_write(upload, name, data) for name, (data, _) in cases.items()]
    before = _state(corpus_rag)
    report = add_documents(corpus_rag, paths)
    assert not report.ok and not report.added and report.error is None
    assert {f.name: f.status for f in report.files} == {n: "refused" for n in cases}
    for outcome in report.files:
        assert cases[outcome.name][1] in outcome.reason, outcome
    assert _state(corpus_rag) == before  # nothing copied, no rebuild


def test_files_over_the_size_limit_are_refused_before_reading(corpus_rag, tmp_path,
                                                               monkeypatch):
    monkeypatch.setattr(corpus_rag, "settings", corpus_rag.settings.with_overrides(max_file_mb=1))
    big = _write(tmp_path, "big.txt", "很长的文字。" * 70_000)
    report = add_documents(corpus_rag, [big])
    assert report.files[0].status == "refused"
    assert "too large (1.2 MB; the limit is 1 MB" in report.files[0].reason


def test_path_like_names_are_refused(corpus_rag, tmp_path):
    path = _write(tmp_path, "ok.txt", NEW_DOC)
    names = ["../evil.txt", "sub/evil.txt", "..\\evil.txt", ".."]
    report = add_documents(corpus_rag, [path] * len(names), names=names)
    assert [f.status for f in report.files] == ["refused"] * 4
    assert all("path" in f.reason for f in report.files[:3])
    assert not (corpus_rag.corpus_dir.parent / "evil.txt").exists()
    assert "evil.txt" not in {p.name for p in corpus_rag.corpus_dir.iterdir()}


def test_good_and_bad_together_adds_only_the_good(corpus_rag, tmp_path):
    good = _write(tmp_path, "good.txt", NEW_DOC)
    bad = _write(tmp_path, "bad.txt", b"\x00\x01\x02" * 50)
    report = add_documents(corpus_rag, [good, bad])
    assert [(f.name, f.status) for f in report.files] == [("good.txt", "added"),
                                                          ("bad.txt", "refused")]
    assert "good.txt" in corpus_rag.manifest["files"]
    assert "bad.txt" not in corpus_rag.manifest["files"]


def test_same_name_identical_is_skipped_and_different_is_refused(corpus_rag, tmp_path):
    seed = sorted(SEEDS.iterdir())[0]
    same = tmp_path / seed.name
    shutil.copyfile(seed, same)
    other = tmp_path / "other"
    other.mkdir()
    different = _write(other, seed.name, NEW_DOC)
    before = _state(corpus_rag)
    report = add_documents(corpus_rag, [same, different])
    assert [f.status for f in report.files] == ["skipped", "refused"]
    assert "already in the corpus" in report.files[1].reason
    assert _state(corpus_rag) == before
    assert (corpus_rag.corpus_dir / seed.name).read_bytes() == seed.read_bytes()


def test_failed_rebuild_removes_the_copies_and_keeps_the_index(corpus_rag, tmp_path,
                                                               monkeypatch):
    before = _state(corpus_rag)
    answer_before = corpus_rag.ask("太阳纸业的董事长是谁？").to_dict()

    def broken(**kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(corpus_rag, "reindex", broken)
    report = add_documents(corpus_rag, [_write(tmp_path, "new.txt", NEW_DOC)])
    assert report.error and "No space left on device" in report.error
    assert [f.status for f in report.files] == ["failed"]
    assert _state(corpus_rag) == before
    after = corpus_rag.ask("太阳纸业的董事长是谁？").to_dict()
    assert {k: v for k, v in after.items() if k != "timings"} == {
        k: v for k, v in answer_before.items() if k != "timings"}


def test_failure_after_the_new_index_was_published_restores_it(corpus_rag, tmp_path,
                                                               monkeypatch):
    before_files, before_manifest = _state(corpus_rag)
    real = corpus_rag.reindex
    calls = []

    def publish_then_fail(**kwargs):
        real(**kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("crashed after publishing")

    monkeypatch.setattr(corpus_rag, "reindex", publish_then_fail)
    report = add_documents(corpus_rag, [_write(tmp_path, "new.txt", NEW_DOC)])
    assert report.error and "crashed after publishing" in report.error
    files, manifest = _state(corpus_rag)
    assert files == before_files and len(calls) == 2
    assert manifest["files"] == before_manifest["files"]
    assert corpus_rag.manifest["files"] == before_manifest["files"]
    assert corpus_rag.document("new.txt") == []


def test_no_corpus_folder_is_reported(seed_index, tmp_path):
    from rag.pipeline import RAG

    rag = RAG(index_dir=seed_index).open()  # loaded from the index alone
    report = add_documents(rag, [_write(tmp_path, "a.txt", NEW_DOC)])
    assert report.error and "no corpus folder" in report.error
    assert [f.status for f in report.files] == ["failed"]


@pytest.mark.parametrize("name, expected", [
    ("report.TXT", "report.txt"),
    ("my report (1).md", "my_report_(1).md"),
    ("报告 一.md", "报告_一.md"),
    ("a<b>|c.txt", "a_b_c.txt"),
    ("___.txt", "upload.txt"),
    ("x" * 300 + ".md", "x" * 117 + ".md"),
])
def test_safe_name(name, expected):
    assert safe_name(name) == expected


@pytest.mark.parametrize("name, problem", [
    ("a.txt", None),
    ("笔记.markdown", None),
    ("../a.txt", "path"),
    ("a\x00.txt", "control"),
    ("", "no name"),
    ("a.exe", "unsupported"),
])
def test_name_problem(name, problem):
    found = name_problem(name)
    assert (found is None) if problem is None else (problem in found)
