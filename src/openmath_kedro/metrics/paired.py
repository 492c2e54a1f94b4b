"""Paired comparison of two models on the same problems: bootstrap CI of the difference and McNemar."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from openmath_kedro.metrics.intervals import DEFAULT_CONFIDENCE, Accuracy, accuracy

DEFAULT_RESAMPLES = 10_000

ProblemScores = Mapping[Hashable, bool] | Iterable[tuple[Hashable, bool]]  # problem id -> correct


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """``candidate`` minus ``baseline`` on the problems both were evaluated on."""

    n_problems: int
    baseline: Accuracy
    candidate: Accuracy
    difference: float  # candidate accuracy - baseline accuracy
    low: float  # paired bootstrap percentile interval of the difference
    high: float
    baseline_only_correct: int  # discordant pairs, the only ones McNemar's test looks at
    candidate_only_correct: int
    mcnemar_p: float  # exact two-sided McNemar p-value
    only_in_baseline: int  # problems dropped by on_mismatch="intersect" (0 otherwise)
    only_in_candidate: int
    resamples: int
    seed: int
    confidence: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "n_problems": self.n_problems,
            "baseline_accuracy": self.baseline.value,
            "candidate_accuracy": self.candidate.value,
            "difference": self.difference,
            "difference_low": self.low,
            "difference_high": self.high,
            "baseline_only_correct": self.baseline_only_correct,
            "candidate_only_correct": self.candidate_only_correct,
            "mcnemar_p": self.mcnemar_p,
            "only_in_baseline": self.only_in_baseline,
            "only_in_candidate": self.only_in_candidate,
        }


def mcnemar_exact_p(*, baseline_only_correct: int, candidate_only_correct: int) -> float:
    """Exact two-sided McNemar p-value: under "no difference" each discordant pair goes either way with
    probability 1/2, so ``p = min(1, 2 * P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)``."""
    if baseline_only_correct < 0 or candidate_only_correct < 0:
        raise ValueError("discordant counts cannot be negative")
    discordant = baseline_only_correct + candidate_only_correct
    if discordant == 0:
        return 1.0
    smaller = min(baseline_only_correct, candidate_only_correct)
    tail = sum(_binomial_row(discordant, smaller))
    return min(1.0, 2 * tail / 2**discordant)  # exact integers; one correctly rounded division


def _binomial_row(n: int, up_to: int) -> Iterable[int]:
    term = 1
    for i in range(up_to + 1):
        yield term
        term = term * (n - i) // (i + 1)


def _as_dict(scores: ProblemScores, *, name: str) -> dict[Hashable, bool]:
    items = scores.items() if hasattr(scores, "items") else scores  # a dict or a pandas Series
    table: dict[Hashable, bool] = {}
    for problem, correct in items:
        if problem in table:
            raise ValueError(f"{name}: problem {problem!r} appears more than once")
        table[problem] = bool(correct)
    return table


def compare_paired(
    *,
    baseline: ProblemScores,
    candidate: ProblemScores,
    on_mismatch: Literal["error", "intersect"] = "error",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> PairedComparison:
    """Compare per-problem correctness (problem id -> bool) of two models on the same problems, e.g.
    ``evaluate_benchmark(...).per_problem.set_index("problem_id")["maj@50_correct"]`` of each model.

    Problems present for only one model raise a ``ValueError`` naming them, unless
    ``on_mismatch="intersect"``: then only the shared problems are compared and the dropped counts are
    reported. The interval is the percentile interval of a paired bootstrap (problems resampled with
    replacement, both models' results kept together) with ``resamples`` draws from ``seed``.
    """
    if on_mismatch not in ("error", "intersect"):
        raise ValueError(f"on_mismatch must be 'error' or 'intersect', got {on_mismatch!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    first, second = _as_dict(baseline, name="baseline"), _as_dict(candidate, name="candidate")
    only_first = [problem for problem in first if problem not in second]
    only_second = [problem for problem in second if problem not in first]
    if (only_first or only_second) and on_mismatch == "error":
        raise ValueError(
            f"the two models were not evaluated on the same problems: {len(only_first)} only in baseline "
            f"(e.g. {only_first[:3]}), {len(only_second)} only in candidate (e.g. {only_second[:3]}); "
            "pass on_mismatch='intersect' to compare the shared problems"
        )
    shared = [problem for problem in first if problem in second]
    if not shared:
        raise ValueError("the two models share no problem to compare")
    n = len(shared)
    baseline_correct = sum(first[problem] for problem in shared)
    candidate_correct = sum(second[problem] for problem in shared)
    candidate_only = sum(second[problem] and not first[problem] for problem in shared)
    baseline_only = sum(first[problem] and not second[problem] for problem in shared)

    # Each problem's difference is +1, 0 or -1, so a bootstrap resample of the n problems is fully
    # described by how many of each it draws: a Multinomial(n; shares of +1, 0, -1) draw. Sampling the
    # counts is the paired bootstrap exactly, in O(resamples) instead of O(resamples * n).
    shares = np.array([candidate_only, n - candidate_only - baseline_only, baseline_only], dtype=float) / n
    counts = np.random.default_rng(seed).multinomial(n, shares, size=resamples)
    differences = (counts[:, 0] - counts[:, 2]) / n
    alpha = 1.0 - confidence
    low, high = np.quantile(differences, [alpha / 2, 1 - alpha / 2])
    return PairedComparison(
        n_problems=n,
        baseline=accuracy(correct=baseline_correct, total=n, confidence=confidence),
        candidate=accuracy(correct=candidate_correct, total=n, confidence=confidence),
        difference=(candidate_correct - baseline_correct) / n,
        low=float(low),
        high=float(high),
        baseline_only_correct=baseline_only,
        candidate_only_correct=candidate_only,
        mcnemar_p=mcnemar_exact_p(baseline_only_correct=baseline_only, candidate_only_correct=candidate_only),
        only_in_baseline=len(only_first),
        only_in_candidate=len(only_second),
        resamples=resamples,
        seed=seed,
        confidence=confidence,
    )
