"""Answerer backends by name. Heavy backends are imported only when chosen.

``extractive`` (offline default), ``openai`` (any OpenAI-compatible server), ``transformers``
(a local chat model) and ``fake`` (no model: quotes the top passage's first sentence, for tests
and examples). A llama.cpp backend is not built in: serve the GGUF file with llama.cpp's
OpenAI-compatible ``llama-server`` and use ``openai`` (see docs/llm.md).
"""

from __future__ import annotations

from collections.abc import Callable

from rag.answerers.base import Answerer
from rag.config import ConfigError, Settings


def _extractive(settings: Settings) -> Answerer:
    from rag.answerers.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer(semantic=settings.semantic_check)


def _fake(settings: Settings) -> Answerer:
    from rag.answerers.fake import FakeAnswerer

    return FakeAnswerer()


def _openai(settings: Settings) -> Answerer:
    from rag.answerers.openai_api import OpenAIAnswerer

    return OpenAIAnswerer.from_settings(settings)


def _transformers(settings: Settings) -> Answerer:
    from rag.answerers.hf_local import TransformersAnswerer

    return TransformersAnswerer.from_settings(settings)


FACTORIES: dict[str, Callable[[Settings], Answerer]] = {
    "extractive": _extractive,
    "openai": _openai,
    "transformers": _transformers,
    "fake": _fake,
}


# What a user picks from (the fake answerer is for tests and examples only).
SELECTABLE = tuple(name for name in FACTORIES if name != "fake")


def make_answerer(name: str, settings: Settings) -> Answerer:
    try:
        factory = FACTORIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown answerer {name!r}; choose one of: {', '.join(sorted(FACTORIES))}"
        ) from None
    return factory(settings)
