"""``rag kb ...``: create, list, rename and delete knowledge bases, and manage their files.

Every file change (add, remove, reparse) publishes a new index state through the one update
path; a failure leaves the previous state live. The registry is ``rag.bases``.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from typing import Any

from rag.errors import RAGError


def _registry():
    from rag.bases import Registry

    return Registry()


def _rag(name: str):
    from rag.pipeline import RAG

    return RAG(kb=name, progress=True)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(rows: list[list[str]]) -> str:
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True))
                     .rstrip() for r in rows)


def cmd_create(args: argparse.Namespace) -> int:
    from rag.documents import CorpusError

    settings: dict[str, Any] = {"embed_model": args.embed_model, "chunk_tokens": args.chunk_tokens,
                                "chunk_overlap": args.chunk_overlap, "store": args.store}
    for item in args.set or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise RAGError(f"--set takes KEY=VALUE, not {item!r}")
        settings[key.strip()] = value
    registry = _registry()
    base = registry.create(args.name, args.corpus_dir, **settings)
    try:
        rag = _rag(base.name).open()
    except CorpusError as exc:
        print(f"knowledge base {base.name}: created, nothing indexed yet ({exc})")
        return 0
    except BaseException:
        registry.delete(base.name)
        raise
    m = rag.manifest
    print(f"knowledge base {base.name}: {m['documents']} documents, {m['chunks']} chunks, "
          f"model {m['embed_model']}, index {base.index}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rag.bases import summary

    registry = _registry()
    rows = [["name", "documents", "chunks", "model", "size", "state", "corpus"]]
    for name in registry.names():
        s = summary(registry.get(name), registry.defaults)
        rows.append([name, str(s["documents"]), str(s["chunks"]), str(s["model"]),
                     _size(s["size"]), s["state"], s["corpus"]])
    print(_table(rows))
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    _registry().rename(args.old, args.new)
    print(f"renamed {args.old} -> {args.new}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    registry = _registry()
    base = registry.get(args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise RAGError(f"deleting {args.name} removes its index {base.index}; "
                           "confirm with --yes")
        reply = input(f"delete knowledge base {args.name} and its index {base.index}? [y/N] ")
        if reply.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    base = registry.delete(args.name)
    kept = "" if base.owns_corpus else f"; its corpus {base.corpus} is kept"
    print(f"deleted {args.name} (index {base.index}){kept}")
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    from rag.basefiles import list_files

    rows = [["file", "status", "paragraphs", "chunks", "size", "last indexed"]]
    for f in list_files(_rag(args.name)):
        status = f"{f.status}: {f.reason}" if f.reason else f.status
        rows.append([f.path, status, str(f.paragraphs), str(f.chunks), _size(f.size),
                     f.indexed or "-"])
    print(_table(rows))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from rag.basefiles import add_documents

    report = add_documents(_rag(args.name).open(), args.files)
    for f in report.files:
        reason = f": {f.reason}" if f.reason else ""
        stored = f" as {f.stored_as}" if f.stored_as and f.stored_as != f.name else ""
        print(f"{f.status} {f.name}{stored}{reason}")
    if report.error:
        raise RAGError(report.error)
    return 0 if report.ok else 1


def cmd_remove(args: argparse.Namespace) -> int:
    from rag.basefiles import remove_file

    rag = _rag(args.name).open()
    remove_file(rag, args.file)
    print(f"removed {args.file} from {args.name}; index {rag.version}")
    return 0


def cmd_reparse(args: argparse.Namespace) -> int:
    from rag.basefiles import reparse_file

    rag = _rag(args.name).open()
    reparse_file(rag, args.file)
    print(f"re-parsed {args.file} in {args.name}; index {rag.version}")
    return 0


def add_parser(sub: Any) -> None:
    """Add ``rag kb`` and its subcommands to the ``rag`` parser's subparsers."""
    kb = sub.add_parser("kb", help="knowledge bases: create, list, rename, delete, files")
    kbs = kb.add_subparsers(dest="kb_command", required=True)

    p = kbs.add_parser("create", help="make a knowledge base over a corpus folder and index it")
    p.add_argument("name")
    p.add_argument("corpus_dir", nargs="?", default=None,
                   help="its corpus folder (default: a new empty one under the bases folder)")
    p.add_argument("--embed-model", default=None, help="embedding model (default: auto)")
    p.add_argument("--chunk-tokens", type=int, default=None)
    p.add_argument("--chunk-overlap", type=int, default=None)
    p.add_argument("--store", choices=("faiss", "milvus"), default=None)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other setting of this base (e.g. faiss_index=Flat); repeatable")
    p.set_defaults(func=cmd_create)

    p = kbs.add_parser("list", help="bases with documents, chunks, model and size on disk")
    p.set_defaults(func=cmd_list)
    p = kbs.add_parser("rename", help="rename a base (its folders stay)")
    p.add_argument("old")
    p.add_argument("new")
    p.set_defaults(func=cmd_rename)
    p = kbs.add_parser("delete", help="delete a base and its index (other bases untouched)")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_delete)
    p = kbs.add_parser("files", help="a base's files: indexed, skipped and why, counts")
    p.add_argument("name")
    p.set_defaults(func=cmd_files)
    p = kbs.add_parser("add", help="copy files into a base's corpus and index them")
    p.add_argument("name")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_add)
    for verb, func, text in (("remove", cmd_remove, "delete one file and re-index"),
                             ("reparse", cmd_reparse, "read and index one file again")):
        p = kbs.add_parser(verb, help=text)
        p.add_argument("name")
        p.add_argument("file", help="its path inside the corpus, as `rag kb files` shows it")
        p.set_defaults(func=func)
