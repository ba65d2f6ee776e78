"""The one place that loads jieba (word segmentation) and its part-of-speech tagger.

Everything that segments Chinese goes through ``jieba()`` and ``posseg()`` so that how the
dictionaries are loaded (and cached) is decided here once.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def jieba() -> Any:
    """The ``jieba`` module, quiet (its own logger set to WARNING once)."""
    import jieba as module

    # Once: jieba.setLogLevel clears the logging caches, which cost more than the cutting.
    module.setLogLevel(logging.WARNING)
    return module


@lru_cache(maxsize=1)
def posseg() -> Any:
    """``jieba.posseg`` (word, part-of-speech flag) on the same dictionary."""
    jieba()
    import jieba.posseg as module

    return module
