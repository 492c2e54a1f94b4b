"""The labelled set: every pair, organized by failure class, must get its labelled verdict.

Speed is measured in benchmarks/answers_vs_math_verify.py, not here; the timeout only catches a hang.
"""

from __future__ import annotations

from collections import Counter

import pytest

from openmath_kedro.answers import AnswerConventions, grade, grade_responses
from tests.answers.labelled import load_labelled_pairs

PAIRS = load_labelled_pairs()


def test_the_labelled_set_is_large_and_every_class_has_true_and_false_pairs() -> None:
    assert len(PAIRS) >= 400
    labels = Counter((pair.failure_class, pair.equivalent) for pair in PAIRS)
    for failure_class in {pair.failure_class for pair in PAIRS}:
        assert labels[(failure_class, True)] >= 1, failure_class
        assert labels[(failure_class, False)] >= 1, failure_class


@pytest.mark.timeout(30)
@pytest.mark.parametrize("pair", PAIRS, ids=[pair.test_id for pair in PAIRS])
def test_labelled_pair(pair) -> None:
    conventions = AnswerConventions.from_dict(pair.conventions)
    if pair.is_full_response:
        verdict = grade_responses([pair.prediction], [pair.gold], conventions=conventions)[0].verdict
    else:
        verdict = grade(pair.prediction, pair.gold, conventions=conventions)
    assert verdict.equivalent is pair.equivalent, (pair.prediction[:200], pair.gold[:200], verdict)
