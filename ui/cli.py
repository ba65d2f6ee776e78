"""The ``rag`` command: index | ask | chat | eval | kb. Parses, calls the library, prints.

An edge like the chat page: the library never imports it. Every error the library means for the
user is a ``RAGError`` and prints as one ``error:`` line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from rag.errors import RAGError
from rag.schema import Answer
from ui import kb_cli

log = logging.getLogger("rag")


def _kb_names(args: argparse.Namespace) -> list[str]:
    """The bases ``--kb`` names (repeated or comma-separated), in order."""
    kbs = [n.strip() for v in getattr(args, "kb", None) or () for n in v.split(",") if n.strip()]
    if kbs and (args.index or getattr(args, "corpus", None)):
        raise RAGError("--kb names a knowledge base with its own folders; drop --index/--corpus")
    return list(dict.fromkeys(kbs))


def _open_rag(args: argparse.Namespace, *, progress: bool = False, **extra: str | None):
    """RAG for the CLI: --kb opens bases; --index alone loads; a corpus (given or default)
    builds when stale."""
    from rag.pipeline import RAG

    corpus = getattr(args, "corpus", None)
    overrides = {"top_k": getattr(args, "top_k", None), "llm": getattr(args, "llm", None),
                 **_store_overrides(args), **extra}
    kbs = _kb_names(args)
    if len(kbs) > 1:
        return RAG.multi(kbs, progress=progress, **overrides)
    if kbs:
        return RAG(kb=kbs[0], progress=progress, **overrides)
    if args.index and not corpus:
        return RAG(index_dir=args.index, progress=progress, **overrides)
    return RAG(index_dir=args.index, corpus_dir=corpus, progress=progress, **overrides)


def format_answer(answer: Answer) -> str:
    """Plain-text rendering: the answer, then one block per citation."""
    lines = [answer.text]
    if answer.notice:
        lines.append(f"({answer.notice})")
    for c in answer.citations:
        where = f"{c.kb}: {c.doc}" if c.kb else c.doc
        lines.append(f"[{c.n}] {where} · paragraph {c.paragraph} · lines {c.lines[0]}-{c.lines[1]}")
        lines.append(f"    “{c.quote}”")
    if answer.abstained and answer.related:
        lines.append("related passages:")
        for p in answer.related:
            lines.append(f"  - {p.doc} · paragraph {p.paragraph} · lines {p.lines[0]}-{p.lines[1]}"
                         f": {p.text[:60]}…")
    return "\n".join(lines)


def _store_overrides(args: argparse.Namespace) -> dict[str, str | None]:
    return {"store": getattr(args, "store", None), "milvus_uri": getattr(args, "milvus_uri", None),
            "ingest_engine": getattr(args, "engine", None)}


def cmd_index(args: argparse.Namespace) -> int:
    from rag.config import load_settings
    from rag.pipeline import RAG

    settings = load_settings()
    rag = RAG(index_dir=args.index or settings.index_dir,
              corpus_dir=args.corpus_dir or settings.corpus_dir,
              rebuild=args.rebuild, progress=True, **_store_overrides(args)).open()
    m = rag.manifest
    print(f"index {rag.location}: {m['documents']} documents, {m['paragraphs']} paragraphs, "
          f"{m['chunks']} chunks, model {m['embed_model']} (dim {m['dimension']})")
    skipped = m.get("skipped") or []
    if skipped:
        print(f"skipped {len(skipped)} file(s):")
        for item in skipped:
            print(f"  {item['path']}: {item['reason']}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.question import clean_question

    question = clean_question(args.question)
    rag = _open_rag(args)
    answer = rag.ask(question, args.top_k)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from rag.multi import Library
    from ui.auth import SignIn
    from ui.serve import check_exposure, run

    check_exposure(args.host, SignIn(), args.insecure_no_auth)  # before the slow index load
    for name in ("rag.access", "rag.api"):  # one line per request; questions only if enabled
        logging.getLogger(name).setLevel(logging.INFO)
    # A server re-indexes (uploads, /reindex) in a child process unless told otherwise, so
    # questions keep their latency meanwhile.
    background = None if os.environ.get("RAG_INDEX_PROCESS") else "child"
    kbs = _kb_names(args)
    if kbs:  # the page's library opens the bases, so the page and the selector share them
        library = Library(progress=True, top_k=args.top_k, llm=args.llm,
                          index_process=background, workers=args.workers,
                          **_store_overrides(args))
        rag = library.select(kbs).open()
    else:
        rag = _open_rag(args, progress=True, index_process=background,
                        workers=args.workers).open()
        library = Library(default=rag)
    return run(rag, host=args.host, port=args.port, library=library,
               insecure=args.insecure_no_auth)

def cmd_user(args: argparse.Namespace) -> int:
    """Print (or append to a users file) ``name:HASH[:admin]`` for a page account."""
    import getpass

    from ui.auth import hash_password

    password = os.environ.get("RAG_NEW_PASSWORD") or getpass.getpass(f"password for {args.name}: ")
    if len(password) < 8:
        raise RAGError("a password needs at least 8 characters")
    line = f"{args.name}:{hash_password(password)}{':admin' if args.admin else ''}\n"
    if not args.file:
        print(line, end="")
        return 0
    fd = os.open(args.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(line)
    print(f"added {args.name}{' (admin)' if args.admin else ''} to {args.file}")
    return 0


def cmd_key(args: argparse.Namespace) -> int:
    from ui.auth import new_key

    print(new_key() + (":admin" if args.admin else ""))
    return 0


def _export_feedback(args: argparse.Namespace) -> int:
    from rag.conversations import FILE_NAME, ConversationStore
    from rag.evaluation.feedback import export_feedback

    folder = os.environ.get("RAG_DATA_DIR") or args.index or "index"
    path = os.path.join(folder, FILE_NAME)
    if not os.path.isfile(path):
        raise RAGError(f"no saved feedback at {path}; give --index or set RAG_DATA_DIR")
    rating = {"up": 1, "down": -1, "all": None}[args.rating]
    store = ConversationStore(path)
    try:
        count = export_feedback(store, args.export_feedback, rating=rating)
    finally:
        store.close()
    print(f"wrote {count} rated question(s) to {args.export_feedback}; correct 'answers' and "
          "'evidence' by hand, then add the rows to a Q&A file")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.evaluation.command import compare, run

    if args.export_feedback:
        return _export_feedback(args)
    if args.compare:
        return compare(args.compare)
    overrides = {"top_k": args.top_k, "llm": args.llm, **_store_overrides(args)}
    return run(args.qa_file, out=args.out, index=args.index, corpus=args.corpus,
               overrides=overrides, split=args.split, seed=args.seed, holdout=args.holdout,
               default_rag=lambda: _open_rag(args, progress=True))


def _store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", choices=("faiss", "milvus"), default=None,
                   help="where the index lives (default: faiss, or RAG_STORE)")
    p.add_argument("--milvus-uri", default=None,
                   help="Milvus Lite file or http://host:19530 (default: INDEX/milvus.db)")


def _common(p: argparse.ArgumentParser, *, corpus: bool = True) -> None:
    p.add_argument("--index", help="index folder (default: ./index)")
    _store_options(p)
    if corpus:
        p.add_argument("--corpus", help="corpus folder to (re)build from when stale "
                                        "(default: ./seeds unless --index is given)")
    p.add_argument("--kb", action="append", metavar="NAME", help="knowledge base(s) to ask "
                   "(repeat or comma-separate for several; see `rag kb list`)")
    p.add_argument("--top-k", type=int, default=None, help="passages to retrieve (default 5)")
    p.add_argument("--llm", default=None, help="answerer: extractive (default), openai, "
                                               "transformers")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or refresh the index of a corpus folder")
    p.add_argument("corpus_dir", nargs="?", help="folder of .txt/.md files (default: ./seeds)")
    p.add_argument("--index", help="index folder (default: ./index)")
    p.add_argument("--rebuild", action="store_true", help="rebuild even if nothing changed")
    _store_options(p)
    p.add_argument("--engine", choices=("local", "ray"), default=None,
                   help="ingestion engine: local (default) or ray (pip install 'rag-zh[ray]')")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer one question with citations")
    p.add_argument("question")
    _common(p)
    p.add_argument("--json", action="store_true", help="print Answer.to_dict() as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="open the chat UI in the browser")
    _common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("RAG_PORT", "7860")))
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes answering questions (default 1: this one; RAG_WORKERS)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="serve a non-loopback host without sign-in (anyone may upload)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("user", help="make a page account line (name:scrypt-hash[:admin])")
    p.add_argument("name")
    p.add_argument("--admin", action="store_true", help="may upload and re-index")
    p.add_argument("--file", help="append to this users file (created 0600), e.g. users.txt")
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("key", help="print a new random API key (for RAG_API_KEYS_FILE)")
    p.add_argument("--admin", action="store_true")
    p.set_defaults(func=cmd_key)

    p = sub.add_parser("eval", help="score retrieval, answers, citations and abstention")
    p.add_argument("qa_file", nargs="?", default=None, help="Q&A JSONL (default: "
                                                            "eval/qa_seeds.jsonl)")
    _common(p)
    p.add_argument("--out", default=None, help="report folder (default: eval/out)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="diff two report.json files")
    p.add_argument("--export-feedback", metavar="FILE", help="write the answers rated on the "
                   "page as a Q&A JSONL to correct by hand (from INDEX/conversations.sqlite)")
    p.add_argument("--rating", choices=("all", "up", "down"), default="all",
                   help="with --export-feedback: which ratings (default all)")
    p.add_argument("--split", choices=("fit", "report"), default=None,
                   help="split a SQuAD-style QA_FILE by article and ask this half's questions "
                        "(fit: choose settings on it; report: measure only)")
    p.add_argument("--seed", type=int, default=13, help="seed of the --split (default 13)")
    p.add_argument("--holdout", type=float, default=0.15,
                   help="share of each half's articles left out of the corpus (unanswerable)")
    p.set_defaults(func=cmd_eval)
    kb_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "index" else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("sentence_transformers", "faiss", "httpx", "jieba", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `rag eval --compare A B | head`
        sys.stderr.close()
        return 0
    except (RAGError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
