"""Paired comparison: bootstrap interval of the difference and the exact McNemar p-value."""

from __future__ import annotations

import math
from fractions import Fraction

import pandas as pd
import pytest

from openmath_kedro.metrics import compare_paired, mcnemar_exact_p


def scores(pattern: str, prefix: str = "p") -> dict[str, bool]:
    return {f"{prefix}{index}": mark == "1" for index, mark in enumerate(pattern)}


def test_identical_results_differ_by_exactly_zero():
    same = scores("1101001110")
    result = compare_paired(baseline=same, candidate=same)
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.mcnemar_p == 1.0
    assert result.n_problems == 10


def test_candidate_right_wherever_baseline_is_wrong():
    result = compare_paired(baseline=scores("0000"), candidate=scores("1111"))
    assert (result.difference, result.low, result.high) == (1.0, 1.0, 1.0)
    assert result.mcnemar_p == pytest.approx(2 / 16)  # 4 discordant pairs all one way: 2 * (1/2)^4


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (1, 5, 2 * (1 + 6) / 64),  # 2 * (C(6,0) + C(6,1)) / 2^6 = 0.21875
        (0, 10, 2 / 1024),
        (3, 3, 1.0),  # balanced: 2 * P(X <= 3) > 1, capped
        (0, 0, 1.0),
    ],
)
def test_mcnemar_hand_values(b, c, expected):
    assert mcnemar_exact_p(baseline_only_correct=b, candidate_only_correct=c) == pytest.approx(expected)
    assert mcnemar_exact_p(baseline_only_correct=c, candidate_only_correct=b) == pytest.approx(expected)


def test_mcnemar_equals_the_binomial_tail_for_many_pairs():
    b, c = 430, 530
    n = b + c
    tail = Fraction(sum(math.comb(n, i) for i in range(b + 1)), 2**n)
    assert mcnemar_exact_p(baseline_only_correct=b, candidate_only_correct=c) == pytest.approx(
        float(2 * tail)
    )


def test_counts_and_accuracies():
    result = compare_paired(baseline=scores("110010"), candidate=scores("011011"))
    assert result.baseline.value == pytest.approx(3 / 6)
    assert result.candidate.value == pytest.approx(4 / 6)
    assert result.difference == pytest.approx(1 / 6)
    assert (result.baseline_only_correct, result.candidate_only_correct) == (1, 2)
    assert result.mcnemar_p == pytest.approx(1.0)  # 2 * (1 + 3) / 8 = 1


def test_bootstrap_interval_matches_the_normal_approximation_for_many_problems():
    n, gains, losses = 2000, 200, 100  # difference +0.05
    baseline = {f"p{i}": i >= gains for i in range(n)}  # problems [0, gains): only the candidate is right
    candidate = {f"p{i}": i < gains or i >= gains + losses for i in range(n)}
    result = compare_paired(baseline=baseline, candidate=candidate)
    difference = (gains - losses) / n
    standard_error = math.sqrt(((gains + losses) / n - difference**2) / n)
    assert result.difference == pytest.approx(difference)
    assert result.low == pytest.approx(difference - 1.96 * standard_error, abs=0.003)
    assert result.high == pytest.approx(difference + 1.96 * standard_error, abs=0.003)
    assert result.mcnemar_p < 1e-7


def test_same_seed_same_interval():
    baseline, candidate = scores("1100101011" * 5), scores("1011101001" * 5)
    first = compare_paired(baseline=baseline, candidate=candidate, seed=3)
    assert compare_paired(baseline=baseline, candidate=candidate, seed=3) == first
    assert compare_paired(baseline=pd.Series(baseline), candidate=pd.Series(candidate), seed=3) == first
    assert first.low < first.difference < first.high


def test_problems_of_only_one_model_are_an_error_unless_intersected():
    baseline = scores("1101")
    candidate = {**scores("110"), "extra": True}
    with pytest.raises(ValueError, match="1 only in baseline.*1 only in candidate"):
        compare_paired(baseline=baseline, candidate=candidate)
    result = compare_paired(baseline=baseline, candidate=candidate, on_mismatch="intersect")
    assert (result.n_problems, result.only_in_baseline, result.only_in_candidate) == (3, 1, 1)
    assert result.difference == 0.0
    with pytest.raises(ValueError, match="share no problem"):
        compare_paired(baseline={"a": True}, candidate={"b": True}, on_mismatch="intersect")


def test_repeated_problem_is_an_error():
    with pytest.raises(ValueError, match="more than once"):
        compare_paired(baseline=[("a", True), ("a", False)], candidate={"a": True})
