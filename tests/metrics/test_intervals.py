"""Wilson intervals against closed forms and published values."""

from __future__ import annotations

import pytest

from openmath_kedro.metrics import accuracy, mean_accuracy, wilson_interval

Z95 = 1.959963984540054


@pytest.mark.parametrize("total", [1, 10, 263])
def test_no_successes_and_all_successes_have_closed_forms(total):
    # at p = 0 the upper bound is z^2 / (n + z^2); at p = 1 the lower bound is n / (n + z^2)
    assert wilson_interval(successes=0, total=total) == (0.0, pytest.approx(Z95**2 / (total + Z95**2)))
    assert wilson_interval(successes=total, total=total) == (pytest.approx(total / (total + Z95**2)), 1.0)


@pytest.mark.parametrize(
    ("successes", "total", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (score, no correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (29, 29, 0.8830, 1.0000),
    ],
)
def test_matches_published_values(successes, total, low, high):
    computed = wilson_interval(successes=successes, total=total)
    assert computed == (pytest.approx(low, abs=5e-5), pytest.approx(high, abs=5e-5))


def test_half_is_symmetric_and_narrows_with_more_problems():
    low, high = wilson_interval(successes=50, total=100)
    assert low == pytest.approx(1 - high)
    wider, narrower = wilson_interval(successes=5, total=10), wilson_interval(successes=500, total=1000)
    assert wider[1] - wider[0] > narrower[1] - narrower[0]


def test_higher_confidence_gives_a_wider_interval():
    low95, high95 = wilson_interval(successes=30, total=100)
    low99, high99 = wilson_interval(successes=30, total=100, confidence=0.99)
    assert low99 < low95 < 0.3 < high95 < high99


@pytest.mark.parametrize(
    ("successes", "total", "confidence"), [(1, 0, 0.95), (-1, 5, 0.95), (6, 5, 0.95), (1, 5, 1.0)]
)
def test_bad_input_is_an_error(successes, total, confidence):
    with pytest.raises(ValueError):
        wilson_interval(successes=successes, total=total, confidence=confidence)


def test_accuracy_and_mean_accuracy_agree_on_booleans():
    scores = [True, False, True, True]
    from_scores = mean_accuracy(scores=scores)
    assert from_scores.value == 0.75
    assert from_scores == accuracy(correct=3, total=4)
    assert from_scores.to_dict(name="maj@4") == {
        "maj@4": 0.75,
        "maj@4_low": from_scores.low,
        "maj@4_high": from_scores.high,
    }
    with pytest.raises(ValueError):
        mean_accuracy(scores=[0.5, 1.5])
