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


def test_unboxed_fallbacks_in_their_documented_order() -> None:
    unboxed = AnswerConventions(fallbacks=("final_answer", "last_math", "last_number"))
    # an answer statement wins over later math and later numbers
    assert extract_answer("Final answer: 9\n\nWe added 4 and 5, then $3$ checks.", conventions=unboxed) == "9"
    assert (
        extract_answer(
            "So $x = \\frac{1}{2}$.\nFinal Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.",
            conventions=unboxed,
        )
        == "\\frac{1}{2}"
    )
    assert extract_answer("**Answer:** 45", conventions=unboxed) == "45"
    assert extract_answer("**Final Answer**\n\nThe value is $\\sqrt{3}$", conventions=unboxed) == "\\sqrt{3}"
    assert extract_answer("The final answer is 15. Check: 15 - 3 = 12.", conventions=unboxed) == "15"
    assert extract_answer("so the result is 0.25", conventions=unboxed) == "0.25"
    # then the last display or inline math, then the last number
    assert extract_answer("we get\n\\[ x = 3 \\]\nand $4$ is not it", conventions=unboxed) == "4"
    assert extract_answer("we get $$y = 2$$", conventions=unboxed) == "y = 2"
    assert extract_answer("5 red and 3 blue, so 8 in total.", conventions=unboxed) == "8"
    assert extract_answer("no number at all", conventions=unboxed) is None
    # a box still comes first
    assert extract_answer("Final answer: 9, so \\boxed{10}", conventions=unboxed) == "10"


def test_the_recipe_default_stays_box_only() -> None:
    # the training-data filter must not read an answer out of prose
    assert extract_answer("Final answer: 7") is None
    assert extract_answer("we get $x = 3$") is None
