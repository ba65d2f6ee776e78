"""The browser chat UI (``rag chat``): ``ui.app.build_app(rag)`` and ``ui.app.run(args, rag)``.

Importing ``ui`` is cheap; Gradio loads with ``ui.app``. Rendering lives in ``ui.render``.
"""
