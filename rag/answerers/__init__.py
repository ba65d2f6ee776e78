"""Answerer backends by name. Heavy backends are imported only when chosen."""

from __future__ import annotations

from collections.abc import Callable

from rag.answerers.base import Answerer
from rag.config import ConfigError, Settings


def _extractive(settings: Settings) -> Answerer:
    from rag.answerers.extractive import ExtractiveAnswerer

    return ExtractiveAnswerer()


FACTORIES: dict[str, Callable[[Settings], Answerer]] = {"extractive": _extractive}


def make_answerer(name: str, settings: Settings) -> Answerer:
    try:
        factory = FACTORIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown answerer {name!r}; choose one of: {', '.join(sorted(FACTORIES))}"
        ) from None
    return factory(settings)
