"""Accuracies with their confidence intervals (Wilson score interval for a proportion)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

DEFAULT_CONFIDENCE = 0.95


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile for ``confidence`` (1.959964 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(
    *, successes: float, total: int, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """The Wilson score interval for ``successes`` out of ``total`` (Wilson 1927).

    Unlike the normal approximation it stays inside [0, 1] and is not degenerate at 0 or ``total``
    successes. ``successes`` may be fractional (a sum of per-problem pass@k estimates): the interval then
    treats the mean as a proportion, which is conservative because a score in [0, 1] with mean p has
    variance at most p(1 - p).
    """
    if total <= 0:
        raise ValueError(f"an interval needs at least one trial, got total={total}")
    if not 0 <= successes <= total:
        raise ValueError(f"successes must lie in [0, total={total}], got {successes}")
    z = z_value(confidence)
    p = successes / total
    z2_over_n = z * z / total
    center = (p + z2_over_n / 2) / (1 + z2_over_n)
    half_width = z / (1 + z2_over_n) * math.sqrt(p * (1 - p) / total + z2_over_n / (4 * total))
    # clamp the rounding error at the ends (0 successes must give exactly 0 as the lower bound)
    low = 0.0 if successes == 0 else max(0.0, center - half_width)
    high = 1.0 if successes == total else min(1.0, center + half_width)
    return low, high


@dataclass(frozen=True, slots=True)
class Accuracy:
    """A mean of per-problem scores in [0, 1] over ``total`` problems, with its Wilson interval."""

    correct: float  # sum of the scores: a count for plain accuracy, a sum of estimates for pass@k
    total: int
    low: float
    high: float
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def value(self) -> float:
        return self.correct / self.total

    def to_dict(self, *, name: str) -> dict[str, float | int]:
        """Flat columns for tables: ``{name}``, ``{name}_low``, ``{name}_high``."""
        return {name: self.value, f"{name}_low": self.low, f"{name}_high": self.high}


def accuracy(*, correct: float, total: int, confidence: float = DEFAULT_CONFIDENCE) -> Accuracy:
    """``correct`` out of ``total`` with its Wilson interval."""
    low, high = wilson_interval(successes=correct, total=total, confidence=confidence)
    return Accuracy(correct=correct, total=total, low=low, high=high, confidence=confidence)


def mean_accuracy(*, scores: Iterable[float], confidence: float = DEFAULT_CONFIDENCE) -> Accuracy:
    """The mean of per-problem scores (booleans or pass@k estimates in [0, 1]) with its interval."""
    values = [float(score) for score in scores]
    if any(not 0.0 <= value <= 1.0 for value in values):
        raise ValueError("per-problem scores must lie in [0, 1]")
    # math.fsum: a sum of 5,000 estimates that are all 1.0 must stay exactly 5,000 (the interval's end case)
    return accuracy(correct=math.fsum(values), total=len(values), confidence=confidence)
