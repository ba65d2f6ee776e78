"""Where relative default folders ('seeds', 'index', 'eval') resolve."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def project_path(value: str | Path) -> Path:
    """A relative path resolves against the CWD when it exists there, else the project root.

    So ``rag ask`` run from another folder still finds the project's ``seeds/`` and ``index/``.
    """
    path = Path(value)
    if path.is_absolute() or path.exists() or not (PROJECT_ROOT / path).exists():
        return path
    return PROJECT_ROOT / path
