"""Majority vote (tie rule, no-answer samples, k too large) and the unbiased pass@k estimator."""

from __future__ import annotations

import math

import pytest

from openmath_kedro.metrics import majority_vote, pass_at_k


def test_most_votes_win():
    vote = majority_vote(labels=["a", "b", "b", None, "a", "b"], k=6)
    assert (vote.winner, vote.votes, vote.tied, vote.answered) == ("b", 3, 1, 5)


def test_tie_goes_to_the_cluster_voted_first():
    assert majority_vote(labels=["b", "a", "a", "b"], k=4).winner == "b"
    assert majority_vote(labels=[None, "a", "b", "b", "a"], k=5).winner == "a"
    tie = majority_vote(labels=[2, 1, 1, 2, 0], k=4)  # the labels' order does not matter, positions do
    assert (tie.winner, tie.votes, tie.tied) == (2, 2, 2)


def test_only_the_first_k_samples_vote():
    labels = ["a", "b", "b", "a", "a", "a"]
    assert majority_vote(labels=labels, k=3).winner == "b"
    assert majority_vote(labels=labels, k=1).winner == "a"
    assert majority_vote(labels=labels, k=6).winner == "a"


def test_no_answer_samples_do_not_vote():
    assert majority_vote(labels=[None, None, "x", None], k=4).winner == "x"
    nothing = majority_vote(labels=[None, None, None], k=3)
    assert (nothing.winner, nothing.votes, nothing.answered) == (None, 0, 0)


@pytest.mark.parametrize("k", [0, 4])
def test_k_out_of_range_is_an_error(k):
    with pytest.raises(ValueError, match="at least 1|needs 4 samples"):
        majority_vote(labels=["a", "b", "c"], k=k)


def exact_pass_at_k(n: int, c: int, k: int) -> float:
    return 1 - math.comb(n - c, k) / math.comb(n, k)


@pytest.mark.parametrize(
    ("n", "c", "k"), [(5, 2, 2), (10, 3, 1), (10, 3, 5), (50, 1, 8), (50, 49, 50), (200, 7, 100)]
)
def test_pass_at_k_equals_the_binomial_formula(n, c, k):
    assert pass_at_k(n=n, correct=c, k=k) == pytest.approx(exact_pass_at_k(n, c, k), rel=1e-12, abs=1e-15)


def test_pass_at_k_hand_values():
    assert pass_at_k(n=5, correct=2, k=2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(n=4, correct=1, k=1) == 0.25  # pass@1 is the fraction correct
    assert pass_at_k(n=4, correct=0, k=4) == 0.0
    assert pass_at_k(n=4, correct=2, k=3) == 1.0  # every 3 of 4 samples include a correct one


@pytest.mark.parametrize(("n", "c", "k"), [(3, 1, 4), (3, 1, 0), (3, 4, 1)])
def test_pass_at_k_bad_input_is_an_error(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n=n, correct=c, k=k)
