"""Re-indexing while serving: concurrent requests coalesce, nothing changed means no build, and
a build in a child process leaves this process answering from the live index meanwhile."""

from __future__ import annotations

import shutil
import threading

import pytest
from conftest import SEEDS

from rag.pipeline import RAG

NEW_DOC = "微山湖观鸟节于四月十二日开幕，主办方统计共有一百二十种候鸟在湖区停歇。"
QUESTION = "微山湖观鸟节统计到多少种候鸟？"


@pytest.fixture
def corpus(tmp_path, seed_index):
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    shutil.copytree(seed_index, tmp_path / "index")
    return folder


def _counting_publishes(monkeypatch, served: RAG) -> list[int]:
    published: list[int] = []
    store_class = type(served.store)
    real = store_class.commit

    def counting(self, staged):
        published.append(1)
        return real(self, staged)

    monkeypatch.setattr(store_class, "commit", counting)
    return published


def _concurrently(n: int, call) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def run():
        start.wait()
        try:
            call()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_reindex_with_nothing_changed_builds_nothing(corpus, tmp_path, monkeypatch):
    served = RAG(index_dir=tmp_path / "index", corpus_dir=corpus).open()
    before = served.version
    published = _counting_publishes(monkeypatch, served)
    assert _concurrently(20, served.reindex) == []
    assert published == [] and served.version == before


def test_concurrent_reindex_after_a_change_publishes_once_or_twice(corpus, tmp_path,
                                                                   monkeypatch):
    served = RAG(index_dir=tmp_path / "index", corpus_dir=corpus).open()
    (corpus / "birds.txt").write_text(NEW_DOC, encoding="utf-8")
    published = _counting_publishes(monkeypatch, served)
    assert _concurrently(12, served.reindex) == []
    assert published == [1]  # one build covered every request; the rest found nothing new
    assert served.ask(QUESTION).citations[0].doc == "birds.txt"


def test_a_failed_update_is_reported_to_every_caller_it_covered(corpus, tmp_path, monkeypatch):
    served = RAG(index_dir=tmp_path / "index", corpus_dir=corpus).open()
    (corpus / "birds.txt").write_text(NEW_DOC, encoding="utf-8")

    def broken(self, staged):
        raise OSError("disk full")

    monkeypatch.setattr(type(served.store), "commit", broken)
    errors = _concurrently(6, served.reindex)
    assert len(errors) == 6 and all("disk full" in str(e) for e in errors)


def test_child_process_build_leaves_this_process_answering(corpus, tmp_path, monkeypatch):
    served = RAG(index_dir=tmp_path / "index", corpus_dir=corpus, index_process="child").open()
    before = served.version
    embedded: list[str] = []
    embedder = served.embedder()
    real_embed = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts, **kw: embedded.extend(
        t for t in texts if not kw.get("query")) or real_embed(texts, **kw))
    (corpus / "birds.txt").write_text(NEW_DOC, encoding="utf-8")
    done = threading.Event()
    answers = []

    def reindex():
        try:
            served.reindex()
        finally:
            done.set()

    thread = threading.Thread(target=reindex)
    thread.start()
    # Questions keep being answered from the live index, a few a second (a tight loop would
    # only starve the lower-priority build on a small machine).
    while not done.wait(0.25):
        answers.append(served.ask("兖州区委书记是谁？"))
    thread.join()
    assert answers and all(a.citations for a in answers)
    assert embedded == []  # the new file was embedded by the child, not here
    assert served.version != before
    assert served.ask(QUESTION).citations[0].doc == "birds.txt"
    after = served.version
    served.reindex()  # nothing changed since: no process, no new version
    assert served.version == after


def test_child_process_errors_arrive_as_the_library_error(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(NEW_DOC, encoding="utf-8")
    served = RAG(index_dir=tmp_path / "index", corpus_dir=corpus, index_process="child").open()
    (corpus / "a.txt").unlink()
    from rag.documents import CorpusError

    with pytest.raises(CorpusError, match="no usable documents"):
        served.reindex()
    assert served.ask("微山湖观鸟节何时开幕？").citations  # the previous index still answers
