"""Masked reference solutions: the leak check and the heuristic masker, also on real GSM8K/MATH solutions."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from openmath_kedro.answers import find_boxed_answers
from openmath_kedro.prompts import answer_value, mask_numbers_heuristically, masked_solution_leaks_answer

MATH_SUBJECTS = ["algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                 "prealgebra", "precalculus"]  # fmt: skip


@pytest.fixture(scope="module")
def gsm8k_rows(shared_datasets: Path) -> list[dict]:
    with (shared_datasets / "gsm8k" / "train.jsonl").open() as lines:
        return [json.loads(next(lines)) for _ in range(300)]


@pytest.fixture(scope="module")
def math_rows(shared_datasets: Path) -> list[dict]:
    rows = []
    for subject in MATH_SUBJECTS:
        with (shared_datasets / "math" / "train" / f"hendrycks_math_{subject}_train.json").open() as lines:
            rows += [json.loads(next(lines)) for _ in range(60)]
    return rows


@pytest.mark.parametrize(
    ("answer", "value"),
    [("42", 42), ("-3.5", Fraction(-7, 2)), ("1,000", 1000), ("\\$1{,}000", 1000), (r"\frac{1}{2}", Fraction(1, 2)),
     (r"-\dfrac{8}{3}", Fraction(-8, 3)), ("3/4", Fraction(3, 4)), (r"25\%", 25), (r"10\text{ inches}", 10),
     ("x = 5", 5), (r"30^\circ", 30), (r"\sqrt{2}", None), ("(1, 2)", None), ("x^2+1", None)],
)  # fmt: skip
def test_answer_value(answer, value):
    assert answer_value(answer) == value


@pytest.mark.parametrize(
    ("masked", "answer", "leaks"),
    [
        ("so she earns $12 + $5 = $M", "17", False),
        ("so she earns $12 + $5 = $17.", "17", True),
        ("she has 1,000 apples", "1000", True),
        (r"is $4.5\cdot30,\!000=135,\!000$ dollars", "135000", True),
        ("the total is 170 and 71", "17", False),  # a digit inside a longer number is not the answer
        (r"half of it, $\frac{1}{2}$", "0.5", True),
        ("half of it, 1/2", r"\frac{1}{2}", True),
        ("it is 0.5 of the whole", r"\dfrac{1}{2}", True),
        (r"$\frac{2}{4}$ of it", "1/2", True),
        (r"$\frac{1}{3}$ of it", "1/2", False),
        ("x = -3 works", "-3", True),
        ("x = 5 - 3 works", "-3", False),  # a subtraction is not the negative answer
        ("we get 3 and then q", "-3", False),
        (r"the area is $4\sqrt{3}$ each, so $6 T$", r"24\sqrt{3}", False),
        (r"the area is $24 \sqrt{3}$", r"24\sqrt{3}", True),
        (r"is $\left( 4, \frac{2\pi}{3} \right)$", r"(4,\frac{2\pi}{3})", True),
        ("the answer is $A$ and then", "B", False),
        ("the answer is $B$.", "B", True),
    ],
)
def test_leak_check(masked, answer, leaks):
    assert masked_solution_leaks_answer(masked, answer) is leaks


def test_heuristic_masking_of_a_gsm8k_solution(gsm8k_rows):
    row = gsm8k_rows[0]  # Natalia's clips: 48 in April, half as many in May
    reasoning, _, answer = row["answer"].rpartition("####")
    masked = mask_numbers_heuristically(reasoning.strip(), answer.strip(), problem=row["question"])
    assert (
        masked
        == "Natalia sold 48/2 = A clips in May.\nNatalia sold 48+A = B clips altogether in April and May."
    )


def test_heuristic_masking_keeps_stated_numbers_and_is_deterministic():
    problem = r"What is $\frac{3}{4}$ of 80, plus 7?"
    solution = r"First $\frac{3}{4} \cdot 80 = 60$, then $60 + 7 = \boxed{67}$. Note 60 is even."
    masked = mask_numbers_heuristically(solution, "67", problem=problem)
    # the answer gets the first letter (its box is replaced first), then values in order of appearance
    assert masked == r"First $\frac{3}{4} \cdot 80 = B$, then $B + 7 = A$. Note B is even."
    assert mask_numbers_heuristically(solution, "67", problem=problem) == masked
    # without the problem every number but 0, 1 and 2 is hidden
    assert (
        mask_numbers_heuristically("So 2 x 21 = 42, and 1 more is 43.", "43")
        == "So 2 x A = B, and 1 more is C."
    )


def test_heuristic_masking_avoids_letters_in_use():
    masked = mask_numbers_heuristically(r"Let $A = 5$ and $B = 6$, so $A + B = \boxed{11}$.", "11")
    assert masked == r"Let $A = D$ and $B = E$, so $A + B = C$."


def test_heuristic_masking_of_a_non_numeric_answer():
    solution = r"The side is $2\sqrt{3}$, so the diagonal is $2\sqrt{3} \cdot \sqrt{2} = \boxed{2\sqrt{6}}$."
    masked = mask_numbers_heuristically(solution, r"2\sqrt{6}", problem="A square has side $2\\sqrt{3}$.")
    assert not masked_solution_leaks_answer(masked, r"2\sqrt{6}")
    assert "\\boxed" not in masked and r"2\sqrt{3}" in masked


def test_real_gsm8k_solutions_are_masked_without_leaks(gsm8k_rows):
    leaking = 0
    for row in gsm8k_rows:
        reasoning, _, answer = row["answer"].rpartition("####")
        answer = answer.strip().replace(",", "")
        leaking += masked_solution_leaks_answer(reasoning, answer)
        masked = mask_numbers_heuristically(reasoning.strip(), answer, problem=row["question"])
        assert not masked_solution_leaks_answer(masked, answer), masked
        assert "<<" not in masked
    assert leaking > 0.9 * len(gsm8k_rows)  # the unmasked references do give the answer away


def test_real_math_solutions_are_masked_without_leaks(math_rows):
    checked = 0
    for row in math_rows:
        boxes = find_boxed_answers(row["solution"])
        if not boxes or not boxes[-1]:
            continue
        answer = boxes[-1]
        assert masked_solution_leaks_answer(row["solution"], answer)
        masked = mask_numbers_heuristically(row["solution"], answer, problem=row["problem"])
        assert not masked_solution_leaks_answer(masked, answer), (answer, masked)
        assert "\\boxed" not in masked
        checked += 1
    assert checked > 400
