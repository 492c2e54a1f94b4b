from __future__ import annotations

import pytest

from openmath_kedro.answers import AnswerConventions, extract_answer, extract_boxed_answer, find_boxed_answers

RESPONSE = r"Try $\boxed{4}$ first. Then $x=\boxed{\frac{1}{2}}$ and finally \boxed{\left\{ 1, 2 \right\}}."


def test_finds_every_box_with_nested_braces() -> None:
    assert find_boxed_answers(RESPONSE) == ["4", r"\frac{1}{2}", r"\left\{ 1, 2 \right\}"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("last", r"\left\{ 1, 2 \right\}"),
        ("first", "4"),
        ("unique", None),
        ("join", r"4, \frac{1}{2}, \left\{ 1, 2 \right\}"),
    ],
)
def test_box_policies(policy, expected) -> None:
    assert extract_boxed_answer(RESPONSE, policy=policy) == expected


def test_unique_policy_accepts_repeated_identical_boxes() -> None:
    assert extract_boxed_answer(r"\boxed{3} so \boxed{3}", policy="unique") == "3"


def test_unbraced_box_and_fbox() -> None:
    assert extract_answer(r"so $\boxed 12$") == "12"
    assert extract_answer(r"\fbox{x+1}") == "x+1"


def test_fallbacks_are_off_by_default_and_tried_in_order() -> None:
    text = "Total 5 + 7 = 12.\n#### 12\nThe answer is 13."
    assert extract_answer(text) is None
    assert extract_answer(text, conventions=AnswerConventions(fallbacks=("gsm8k_hash", "answer_is"))) == "12"
    assert extract_answer(text, conventions=AnswerConventions(fallbacks=("answer_is",))) == "13"
    assert (
        extract_answer("We get 3, then 41.", conventions=AnswerConventions(fallbacks=("last_number",)))
        == "41"
    )


def test_no_answer_is_none_not_an_exception() -> None:
    assert extract_answer(None) is None
    assert extract_answer("") is None
    assert extract_answer(r"unfinished \boxed{\frac{1}{2") is None


def test_conventions_from_dict_rejects_typos() -> None:
    assert AnswerConventions.from_dict({"fallbacks": ["gsm8k_hash"], "rel_tol": 1e-4}).fallbacks == (
        "gsm8k_hash",
    )
    with pytest.raises(ValueError, match="unknown answer convention keys"):
        AnswerConventions.from_dict({"fallback": ["gsm8k_hash"]})
    with pytest.raises(ValueError, match="unknown extraction fallbacks"):
        AnswerConventions(fallbacks=("hash",))
