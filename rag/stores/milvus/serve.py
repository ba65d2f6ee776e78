"""Serve a Milvus Lite file over TCP so that several processes can share it.

A Milvus Lite file is opened by one process at a time. To run several app replicas on one
machine without a Milvus server, serve the file and point every replica at it::

    python -m rag.stores.milvus.serve index/milvus.db --port 19530
    RAG_STORE=milvus RAG_MILVUS_URI=http://127.0.0.1:19530 rag chat --port 7861

In production run Milvus standalone or distributed instead (see the README); the replicas
connect the same way.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger("rag.stores.milvus.serve")


def serve(db_file: Path, host: str, port: int) -> None:
    """Run the Milvus Lite server for ``db_file`` on ``host:port`` until SIGINT/SIGTERM."""
    os.environ.setdefault("RUST_LOG", "error")
    try:
        from milvus_lite.server import Server
    except ImportError as exc:
        raise SystemExit("serving a Milvus Lite file needs: pip install 'rag-zh[milvus]'") from exc
    db_file = db_file.absolute()
    db_file.parent.mkdir(parents=True, exist_ok=True)
    server = Server(str(db_file), address=f"{host}:{port}")
    if not server.init() or not server.start():
        raise SystemExit(f"could not serve {db_file} on {host}:{port}; is the port free and the "
                         "file not open in another process?")
    if not _wait_for_port(host, port, server):
        server.stop()
        raise SystemExit(f"Milvus Lite did not start listening on {host}:{port}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"serving {db_file} at http://{host}:{port} (Ctrl-C to stop)", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()


def _wait_for_port(host: str, port: int, server, timeout: float = 60.0) -> bool:
    """Whether the server accepts connections within ``timeout`` (False if it exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process = getattr(server, "_p", None)
        if process is not None and process.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.1)  # polling the port; Milvus Lite offers no readiness signal
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.stores.milvus.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db_file", type=Path, help="Milvus Lite database file (e.g. "
                                                   "index/milvus.db)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19530)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve(args.db_file, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
