"""AnswerConventions: typed and closed like the parameters, frozen and hashable for the grader's memo."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from openmath_kedro.answers import (
    BENCHMARK_CONVENTIONS,
    MODEL_OUTPUT,
    REFERENCE_SOLUTIONS,
    AnswerConventions,
    conventions_for,
)


def test_presets_and_overrides():
    assert conventions_for("math") == MODEL_OUTPUT == AnswerConventions()
    assert conventions_for("aqua", {"rel_tol": 1e-3}) == AnswerConventions(
        choice_letters="ABCDE", rel_tol=1e-3
    )
    assert conventions_for("unknown benchmark") == MODEL_OUTPUT
    assert REFERENCE_SOLUTIONS["gsm8k"].fallbacks == ("gsm8k_hash",)
    assert set(BENCHMARK_CONVENTIONS) == {"gsm8k", "math", "tabmwp", "aqua"}


def test_a_parameters_block_round_trips():
    conventions = AnswerConventions.from_dict(
        {"fallbacks": ["answer_is", "last_number"]}, box_policy="unique"
    )
    assert conventions.fallbacks == ("answer_is", "last_number")  # a YAML list becomes the tuple
    assert AnswerConventions.from_dict(conventions.to_dict()) == conventions
    assert pickle.loads(pickle.dumps(conventions)) == conventions  # sent to the grading workers


def test_frozen_and_hashable():
    conventions = AnswerConventions(rel_tol=1e-3)
    with pytest.raises(ValidationError, match="frozen"):
        conventions.rel_tol = 0.5
    assert hash(conventions) == hash(AnswerConventions(rel_tol=1e-3)) != hash(MODEL_OUTPUT)
    assert {conventions: 1}[AnswerConventions(rel_tol=1e-3)] == 1
    assert conventions.with_changes(text_answers=False) == AnswerConventions(rel_tol=1e-3, text_answers=False)
    with pytest.raises(ValueError, match="rel_tol: Input should be less than 1"):
        conventions.with_changes(rel_tol=1.5)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tolerance": 1}, r"^unknown answer convention keys \['tolerance'\]; known: \['box_policy', "),
        ({"box_policy": "middle"}, r"^box_policy: Input should be 'last', 'first', 'join' or 'unique'$"),
        (
            {"fallbacks": ["hash"]},
            r"^fallbacks: unknown extraction fallbacks \['hash'\]; known: \['gsm8k_hash', ",
        ),
        ({"fallbacks": "gsm8k_hash"}, r"^fallbacks: Input should be a valid tuple$"),
        ({"rel_tol": -0.1}, r"^rel_tol: Input should be greater than or equal to 0$"),
        ({"timeout_s": 0}, r"^timeout_s: Input should be greater than 0$"),
        (
            {"timeout_s": 0, "x": 1},
            r"^unknown answer convention keys \['x'\]; .*; timeout_s: Input should be",
        ),
    ],
)
def test_every_problem_names_its_field_in_one_line(values, message):
    with pytest.raises(ValueError, match=message) as error:
        AnswerConventions.from_dict(values)
    assert "\n" not in str(error.value)  # it goes into the one-line-per-problem parameter report
