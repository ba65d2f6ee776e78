"""The edges: the browser chat UI (``ui.app.build_app(rag)``, served by ``ui.serve.run(rag)``)
and the ``rag`` command (``ui.cli``).

Importing ``ui`` is cheap; Gradio loads with ``ui.app``. Rendering lives in ``ui.render``.
"""

import os


def _offline_env() -> None:
    """Settings Gradio and huggingface_hub read on import (shared/docs/browser-testing.md)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.pop("GRADIO_SHARE", None)
    # launch() requests its own URL; through a proxy that never answers it hangs.
    for key in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(key, "").split(",") if h.strip()]
        missing = [h for h in ("127.0.0.1", "localhost") if h not in hosts]
        os.environ[key] = ",".join(hosts + missing)




# Before any Gradio import: every ui module reads these through this package.
_offline_env()
