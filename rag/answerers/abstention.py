"""One calibrated abstention decision: a logistic regression over the answerer's signals.

Hand rules (a coverage floor, a missing-terms share, an anchor word) were each fitted to the
question set they were measured on; a reader's paraphrase tripped them. Here every signal the
extractive answerer computes votes with a weight fitted on the *fit* data only
(``python -m rag.evaluation.calibrate``), and the threshold is the one that keeps wrong
abstentions on answerable fit questions at or below ``MAX_WRONG_ABSTENTIONS``.

The coefficients live in ``calibration.json`` beside this module (data, not code), so a refit
is a reviewed diff of numbers. The abstention notice names the signal that pulled the
probability down the most, in words.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.linear import MAX_WRONG_ABSTENTIONS, LinearModel, fit_model

log = logging.getLogger(__name__)

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
# The same model with the meaning signals of ``rag.answerers.semantic`` (used when they exist).
SEMANTIC_CALIBRATION_FILE = Path(__file__).with_name("calibration_semantic.json")
# The sentence ranker is the same kind of model (its threshold unused): p(sentence holds the
# gold answer) from the sentence's features, fitted on the same fit data.
RANKING_FILE = Path(__file__).with_name("ranking.json")

# Signal name -> what it means when it argues for abstaining (shown in the notice).
FEATURES: dict[str, str] = {
    "coverage": "the best sentence matches few of the question's words",
    "char_coverage": "the best sentence shares few characters with the question",
    "para_coverage": "the best paragraph matches few of the question's words",
    "keyword_strength": "the keyword match of the top passage is weak",
    "margin": "no passage stands out from the others",
    "type_missing": "the expected answer (a name, a number or date) is not in the best passages",
    "type_weak": "no answer of the expected type sits next to the question's words",
    "anchor_missing": "the passage does not mention what the question is about",
    "best_in_top": "the best sentence is not in the top-ranked passage",
    "unit_missing": "no number in the answer carries the unit asked for",
    "terms_missing": "the best paragraph lacks the question's key terms",
    "bigrams_missing": "the best paragraph lacks the question's rare character pairs",
    "rarest_missing": "the best paragraph lacks the question's most specific term",
}
# The meaning signals (``rag.answerers.semantic.MEANING``), in words.
MEANING_FEATURES: dict[str, str] = {
    "e5_sentence": "the best sentence is far in meaning from the question",
    "e5_passage": "the top passage is far in meaning from the question",
}


@dataclass(frozen=True)
class Calibration(LinearModel):
    """The abstention model: p(answerable) from the answerer's signals, and its notice."""

    def strongest_against(self, signals: Mapping[str, float]) -> str:
        """The feature whose term lowers the probability the most."""
        contributions = self.vector(signals) * np.array(self.weights)
        return self.features[int(np.argmin(contributions))]

    def decide(self, signals: Mapping[str, float]) -> tuple[bool, float, str]:
        """(abstain?, p(answerable), reason in words)."""
        p = self.probability(signals)
        worst = self.strongest_against(signals)
        words = FEATURES.get(worst) or MEANING_FEATURES.get(worst, worst)
        reason = (f"{words} ({worst} {signals.get(worst, 0.0):.2f}); "
                  f"p(answer) {p:.2f} < {self.threshold:.2f}")
        return p < self.threshold, p, reason


@lru_cache(maxsize=4)
def load_calibration(path: str | None = None) -> Calibration:
    return Calibration.from_file(path or CALIBRATION_FILE)


def shipped_model(signals: Mapping[str, float]) -> Calibration:
    """The shipped abstention model for the signals there are: with the meaning signals, the
    model fitted with them; else the words-only one."""
    meaning = all(k in signals for k in MEANING_FEATURES)
    return load_calibration(str(SEMANTIC_CALIBRATION_FILE) if meaning else None)


def fit_calibration(rows: Sequence[Mapping[str, float]], labels: Sequence[bool], *,
                    features: Sequence[str] = tuple(FEATURES), l2: float = 1.0,
                    max_wrong: float = MAX_WRONG_ABSTENTIONS,
                    groups: Sequence[int] | None = None,
                    weights: Sequence[float] | None = None,
                    fitted_on: Mapping[str, object] | None = None) -> Calibration:
    """Fit the abstention model (or, with ``groups``, the sentence ranker): see
    ``rag.linear.fit_model``."""
    return fit_model(Calibration, rows, labels, features=features, l2=l2, max_wrong=max_wrong,
                     groups=groups, weights=weights, fitted_on=fitted_on)
