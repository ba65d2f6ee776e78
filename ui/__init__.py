"""The edges: the browser chat UI (``ui.app.build_app(rag)``, served by ``ui.serve.run(rag)``)
and the ``rag`` command (``ui.cli``).

Importing ``ui`` is cheap; Gradio loads with ``ui.app``. Rendering lives in ``ui.render``.
"""
