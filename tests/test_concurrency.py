"""Questions asked from many threads while the index is updated; memory under a soak."""

from __future__ import annotations

import shutil
import threading

from conftest import SEEDS

from rag.pipeline import RAG

OLD_QUESTION = "兖州区委书记是谁？"
# About something the seeds never mention: the old index abstains, the new one answers.
NEW_QUESTION = "青岛港新开的邮轮码头叫什么名字？"
NEW_FACT = "青岛港新开的邮轮码头名为蓝海邮轮港，2025年投入运营。\n"


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def test_answers_come_from_old_or_new_index_during_reindex(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    rag = RAG(index_dir=tmp_path / "idx", corpus_dir=corpus).open()
    assert rag.ask(NEW_QUESTION).abstained

    results: list[tuple[str, object]] = []
    errors: list[BaseException] = []
    started = threading.Barrier(5)

    def worker() -> None:
        started.wait()  # all workers and the reindexing thread start together
        try:
            for _ in range(3):
                for q in (OLD_QUESTION, NEW_QUESTION):
                    results.append((q, rag.ask(q)))
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    (corpus / "new.txt").write_text(NEW_FACT, encoding="utf-8")
    started.wait()
    rag.reindex()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(results) == 24
    for question, answer in results:
        if question == OLD_QUESTION:
            assert "王庆" in answer.text
        else:  # either the old index (abstains) or the new one (answers), never a mix
            assert answer.abstained or "蓝海邮轮港" in answer.text
    assert "蓝海邮轮港" in rag.ask(NEW_QUESTION).text


def test_soak_memory_stays_flat(seed_rag):
    questions = ["兖州区委书记是谁？", "太阳纸业的董事长是谁？", "企业为什么重要？",
                 "兖州区正在培育哪三个千亿级产业？", "联诚公司的董事长是谁？"]
    for q in questions * 5:  # warm caches
        seed_rag.ask(q)
    before = _rss_kb()
    for q in questions * 40:
        seed_rag.ask(q)
    grown_mb = (_rss_kb() - before) / 1024
    assert grown_mb < 30, f"RSS grew {grown_mb:.1f} MB over 200 asks"
