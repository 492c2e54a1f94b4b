"""Verdicts of the grading API by failure class, the extracted answer, and the worker pool's hard deadline.

Every case is a real (prediction, gold) pair with its mathematically right verdict. Which internal stage
decided is not asserted: stages move as the grader grows. Only what answers/README.md promises is: the
verdict, its ``status``, the extracted answer, and ``stage=guard`` for input refused before heavy work.
The large regression set is tests/answers/labelled_pairs.yml; these cases are the API's contract.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from openmath_kedro.answers import (
    AnswerConventions,
    DeadlinePool,
    Stage,
    Status,
    grade,
    grade_batch,
    grade_responses,
    is_equivalent,
)
from openmath_kedro.answers.symbolic import compare_with_sympy
from openmath_kedro.answers.worker_pool import MAX_REPLACEMENTS_PER_MAP

PAIR = ("prediction", "gold", "equivalent")
PMATRIX = r"\begin{pmatrix}1\\2\end{pmatrix}"


def assert_verdict(prediction: str, gold: str, expected: bool, **options) -> None:
    """The verdict both ways round: equivalence is symmetric, and a decided pair is never an error."""
    for first, second in ((prediction, gold), (gold, prediction)):
        verdict = grade(first, second, **options)
        assert verdict.equivalent is expected, (first, second, verdict)
        assert verdict.status is (Status.EQUIVALENT if expected else Status.NOT_EQUIVALENT), verdict
        assert not verdict.failed


@pytest.mark.parametrize(
    PAIR,
    [
        ("1,000", "1000", True),
        (r"1\,000", "1000", True),
        ("042", "42", True),
        (r"1.5\times10^3", "1500", True),
        ("1.5e3", "1500", True),
        ("12441600.0", "12441600", True),
        ("10,000", "1000", False),
        ("12441601.0", "12441600", False),  # a decimal is its own rounding: no tolerance across whole units
        ("-7", "7", False),
    ],
)
def test_number_formats(prediction: str, gold: str, equivalent: bool) -> None:
    assert_verdict(prediction, gold, equivalent)


@pytest.mark.parametrize(
    PAIR,
    [
        ("0.5", r"\frac12", True),
        (r"\frac{10}{2}", "5", True),
        (r"2\frac12", r"\frac52", True),
        ("0.3333333333", r"\frac13", True),
        (r"25\%", "0.25", True),
        ("0.333", r"\frac13", False),
        ("0.76", r"\frac34", False),
        ("25", r"0.25\%", False),
    ],
)
def test_fractions_decimals_and_percents(prediction: str, gold: str, equivalent: bool) -> None:
    assert_verdict(prediction, gold, equivalent)


@pytest.mark.parametrize(
    PAIR,
    [
        (r"\sqrt{8}", r"2\sqrt2", True),
        (r"\frac{\sqrt2}{2}", r"\frac{1}{\sqrt2}", True),
        ("2.8284271247", r"\sqrt8", True),
        ("3.14159", r"\pi", True),
        (r"\log_2 8", "3", True),
        (r"\sqrt8", "3", False),
        ("2.83", r"\sqrt8", False),
        ("3.14", r"\pi", False),
        (r"\sqrt{2}+\sqrt{3}", r"\sqrt{5}", False),
    ],
)
def test_constants(prediction: str, gold: str, equivalent: bool) -> None:
    assert_verdict(prediction, gold, equivalent)


@pytest.mark.parametrize(
    PAIR,
    [
        ("(1,2)", "(1, 2)", True),
        (r"\{1,2\}", r"\{2,1\}", True),
        ("1, 2", "2, 1", True),
        (PMATRIX, "(1,2)", True),
        ("(1,2)", "[1,2)", False),
        ("(1,2)", "(2,1)", False),
        (r"(-\infty,1)\cup(2,\infty)", r"(-\infty,1)\cup[2,\infty)", False),
        (PMATRIX, "(2,1)", False),
    ],
)
def test_tuples_intervals_sets_and_matrices(prediction: str, gold: str, equivalent: bool) -> None:
    assert_verdict(prediction, gold, equivalent)


@pytest.mark.parametrize(
    PAIR,
    [
        ("x^2", "x*x", True),
        ("x^2-1", "(x-1)(x+1)", True),
        ("|x|", r"\sqrt{x^2}", True),
        (r"\sin^2 x + \cos^2 x", "1", True),
        (r"\frac{x^2-1}{x-1}", "x+1", True),
        ("x^2+1", "(x-1)(x+1)", False),
        (r"\sqrt{x^2}", "x", False),
        ("2y", "2x", False),
    ],
)
def test_expressions_with_variables(prediction: str, gold: str, equivalent: bool) -> None:
    assert_verdict(prediction, gold, equivalent)


@pytest.mark.parametrize(
    PAIR,
    [
        (r"\operatorname{lcm}(4,6)", "12", True),
        (r"\operatorname{gcd}(12,18)", "6", True),
        (r"\gcd(12, 18)", "6", True),
        ("lcm(4, 6)", "12", True),  # as Python writes it
        (r"\operatorname{lcm}(4, 6, 10)", "60", True),
        (r"\gcd(12, 18)", r"\operatorname{gcd}(18,12)", True),
        (r"\operatorname{lcm}(4,6) + 1", "13", True),
        (r"\max(3, 5)", "5", True),
        (r"\min\{3, 5\}", "3", True),
        (r"\max(\sqrt2, 1.4)", r"\sqrt 2", True),
        (r"\max(x, 2)", r"\max(2, x)", True),
        (r"\operatorname{floor}(2.5)", r"\lfloor 2.5 \rfloor", True),
        (r"\operatorname{ceil}(2.1)", "3", True),
        (r"\operatorname{sgn}(-3)", "-1", True),
        (r"\operatorname{abs}(-3)", "3", True),
        (r"\operatorname{lcm}(4,6)", "24", False),
        (r"\operatorname{gcd}(12,18)", "3", False),
        (r"\gcd(12, 18)", "36", False),
        (r"\operatorname{lcm}(4,6)", r"\operatorname{gcd}(4,6)", False),
        (r"\max(3, 5)", "3", False),
        (r"\min(x, 2)", r"\max(x, 2)", False),
        (r"\operatorname{floor}(2.5)", "3", False),
        (r"\operatorname{sgn}(-3)", "3", False),
        ("2 min 30 s", "60 s", False),  # a name without its bracket is no function: "min" here is minutes
    ],
)
def test_named_functions_are_evaluated(prediction: str, gold: str, equivalent: bool) -> None:
    """``\\operatorname{lcm}(4,6)``, ``\\gcd(12, 18)`` and ``lcm(4, 6)`` have a value like any expression
    (``\\operatorname{lcm}(4,6)`` was compared as the text "lcm (4,6)", so it never equalled 12)."""
    assert_verdict(prediction, gold, equivalent)


@pytest.mark.parametrize(
    PAIR,
    [
        ("y = 2x+3", "2x - y + 3 = 0", True),
        ("x > 3", "3 < x", True),
        ("x = 5", "5", True),
        ("x > 3", r"x \ge 3", False),
        ("y=2x+3", "y=3x+2", False),
    ],
)
def test_equations_and_inequalities(prediction: str, gold: str, equivalent: bool) -> None:
    assert_verdict(prediction, gold, equivalent)


@pytest.mark.parametrize(
    PAIR,
    [
        ("Yes", "yes", True),
        ("no", "yes", False),
        ("(C)", "C", True),
        (r"\text{(E)}", "E", True),
        ("B", "(B) 12", True),
        ("C", "(B) 12", False),
    ],
)
def test_words_and_choice_letters(prediction: str, gold: str, equivalent: bool) -> None:
    assert_verdict(prediction, gold, equivalent)


@pytest.mark.parametrize(
    ("prediction", "gold"),
    [("1" * 2500, "1" * 2500), ("x" * 2001, "x" * 2001), ("the answer is apples " * 150,) * 2],
)
def test_answers_past_the_length_guard_equal_as_the_same_full_string(prediction: str, gold: str) -> None:
    assert_verdict(prediction, gold, True)


@pytest.mark.parametrize(
    ("prediction", "gold"),
    [
        ("x" * 2001, "x" * 2000 + "y"),  # differ after the first 2,000 characters
        ("x" * 2001, "x" * 2000),  # one side within the limit, the other one character past it
        ("x" * 2001, "X" * 2001),  # exact strings only: no case folding past the guard
        ("yes " * 600 + "no", "yes " * 600 + "yes"),
        ("1" * 2500, "1" * 2499 + "2"),
    ],
    ids=["differ after the cut", "one side at the limit", "case only", "words", "digits"],
)
def test_answers_past_the_length_guard_that_differ_are_refused(prediction: str, gold: str) -> None:
    """An over-long answer is compared as its exact full string: one that differs anywhere is never
    equivalent (a key cut at 2,000 characters made these equal), and the README's guard contract holds."""
    for first, second in ((prediction, gold), (gold, prediction)):
        verdict = grade(first, second)
        assert (verdict.equivalent, verdict.status, verdict.stage) == (False, Status.ERROR, Stage.GUARD)


@pytest.fixture(scope="module")
def sympy_pool():
    with DeadlinePool(task=compare_with_sympy, workers=1) as pool:
        yield pool


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    PAIR,
    [
        (r"\sum_{k=1}^{3} k", "6", True),
        (r"\sum_{k=1}^{3} k", "7", False),
        (r"\sum_{k=1}^{3} k^2", "14", True),
        (r"\sum_{k=1}^{3} k^2", "13", False),
        (r"\prod_{k=1}^{4} k", "4!", True),
        (r"\frac{1}{0}", "0", False),
        # gcd and lcm of variables stay functions there: sympy's polynomial gcd(n, 6) is 1
        (r"\gcd(n, 6)", "1", False),
        (r"\operatorname{lcm}(a, b)", "ab", False),
    ],
)
def test_notation_only_sympy_reads(sympy_pool, prediction: str, gold: str, equivalent: bool) -> None:
    """Sums, products, division by zero, gcd of variables: decided in the caller's worker pool."""
    assert_verdict(prediction, gold, equivalent, pool=sympy_pool)


@pytest.mark.parametrize(
    ("prediction", "gold"),
    [
        (r"10^{10^{10}}", r"10^{10^{10}}+1"),
        ("2^{2^{2^{2^{2^{2}}}}}", "3"),
        ("100000!", "5"),
        ("(" * 50 + "1" + ")" * 50, "1"),
        ("the answer is apples " * 150, "the answer is pears " * 150),
    ],
    ids=["power tower", "tower of twos", "huge factorial", "deep nesting", "too long"],
)
def test_input_too_large_is_refused_before_heavy_work(prediction: str, gold: str) -> None:
    """The README promises ``status=error``, ``stage=guard`` for these, and no hang."""
    verdict = grade(prediction, gold)
    assert (verdict.equivalent, verdict.status, verdict.stage) == (False, Status.ERROR, Stage.GUARD)
    assert verdict.failed and not verdict.timed_out


@pytest.mark.parametrize("prediction", [None, "", "   "])
def test_no_answer_is_a_result_not_an_error(prediction: str | None) -> None:
    verdict = grade(prediction, "5")
    assert (verdict.equivalent, verdict.status, verdict.failed) == (False, Status.NO_ANSWER, False)


@pytest.mark.parametrize("gold", [None, "", "   "])
def test_an_empty_gold_answer_is_refused(gold: str | None) -> None:
    verdict = grade("5", gold)  # type: ignore[arg-type]
    assert (verdict.equivalent, verdict.status, verdict.failed) == (False, Status.ERROR, True)


def test_batch_keeps_order_and_grades_repeated_pairs_once() -> None:
    pairs = [("5", "5"), (None, "5"), ("4", "5"), ("5", "5"), ("", "5"), (r"\frac{10}{2}", "5")]
    verdicts = grade_batch(pairs)
    assert [verdict.equivalent for verdict in verdicts] == [True, False, False, True, False, True]
    assert [verdict.status for verdict in verdicts] == [
        Status.EQUIVALENT,
        Status.NO_ANSWER,
        Status.NOT_EQUIVALENT,
        Status.EQUIVALENT,
        Status.NO_ANSWER,
        Status.EQUIVALENT,
    ]
    assert verdicts[0] is verdicts[3]


def test_verdict_row_for_tables() -> None:
    row = grade("x^2", "x*x").to_dict()
    assert set(row) == {"equivalent", "status", "stage", "detail"}
    assert row["equivalent"] is True and row["status"] == "equivalent"
    assert row["stage"] in {str(stage) for stage in Stage}  # plain strings, as JSON Lines stores them


@pytest.mark.parametrize(
    ("response", "gold", "predicted_answer", "is_correct"),
    [
        (r"so $\boxed{0.5}$", r"\frac12", "0.5", True),
        ("no box here", "3", None, False),
        (r"\boxed{}", "3", None, False),
        (r"\boxed{\frac{3}{4}}", "0.75", r"\frac{3}{4}", True),
        (r"\boxed{\frac{1}{\sqrt{2}}}", r"\frac{\sqrt2}{2}", r"\frac{1}{\sqrt{2}}", True),
        (r"first \boxed{1}, finally \boxed{2}", "2", "2", True),
        (r"first \boxed{1}, finally \boxed{2}", "1", "2", False),
        (r"\fbox{7}", "7", "7", True),
        (r"\boxed{41}", "42", "41", False),
        (r"The answer is \boxed{x = 5}.", "5", "x = 5", True),
        (r"\boxed{12 \text{ cm}}", "12", r"12 \text{ cm}", True),
    ],
)
def test_grade_responses_reports_the_extracted_answer(
    response: str, gold: str, predicted_answer: str | None, is_correct: bool
) -> None:
    (graded,) = grade_responses([response], [gold])
    assert (graded.predicted_answer, graded.is_correct) == (predicted_answer, is_correct)
    assert graded.verdict.status is not Status.ERROR


def test_grade_responses_needs_one_gold_per_response() -> None:
    with pytest.raises(ValueError, match="2 responses but 1 gold"):
        grade_responses(["a", "b"], ["1"])


@pytest.mark.parametrize(
    ("prediction", "gold", "conventions", "by_default", "with_conventions"),
    [
        ("0.3333", r"\frac13", {"rel_tol": 1e-3}, False, True),
        ("3.14", r"\pi", {"rel_tol": 1e-3}, False, True),
        ("Yes", "yes", {"text_answers": False}, True, False),
        ("Paris", "paris", {"text_answers": False}, True, False),
        ("0.25", r"25\%", {"percent_reading": False}, True, False),
        ("b", "B", {"choice_letters": "ABCDE"}, False, True),
    ],
)
def test_conventions_change_the_verdict(
    prediction: str, gold: str, conventions: dict, by_default: bool, with_conventions: bool
) -> None:
    assert is_equivalent(prediction, gold) is by_default
    assert is_equivalent(prediction, gold, conventions=AnswerConventions(**conventions)) is with_conventions


@pytest.mark.parametrize(
    ("response", "gold", "conventions", "by_default", "with_conventions"),
    [
        (r"first \boxed{1}, finally \boxed{2}", "1", {"box_policy": "first"}, "2", "1"),
        (r"first \boxed{1}, finally \boxed{2}", "2", {"box_policy": "unique"}, "2", None),
        ("The answer is 7.", "7", {"fallbacks": ("answer_is",)}, None, "7"),
        ("so 3+4=7\n#### 7", "7", {"fallbacks": ("gsm8k_hash",)}, None, "7"),
        ("Final answer: 7", "7", {"fallbacks": ("final_answer",)}, None, "7"),
    ],
)
def test_extraction_conventions_change_the_extracted_answer(
    response: str, gold: str, conventions: dict, by_default: str | None, with_conventions: str | None
) -> None:
    for options, expected in (
        (AnswerConventions(), by_default),
        (AnswerConventions(**conventions), with_conventions),
    ):
        (graded,) = grade_responses([response], [gold], conventions=options)
        assert graded.predicted_answer == expected, options
        assert graded.is_correct is (expected == gold), options


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [("7", "7.0", True), (None, "7", False), (r"10^{10^{10}}", r"10^{10^{10}}+1", False)],
)
def test_is_equivalent_is_true_only_for_a_positive_verdict(
    prediction: str | None, gold: str, expected: bool
) -> None:
    assert is_equivalent(prediction, gold) is expected


# Worker tasks standing in for the sympy stage; module-level so that a worker process can import them.
def never_answers(task: object) -> None:
    time.sleep(60)


def raises(task: object) -> None:
    raise RuntimeError("the sympy stage failed")


def dies(task: object) -> None:
    os._exit(1)


@pytest.mark.timeout(60)
def test_a_pair_past_its_time_limit_gets_a_timeout_verdict() -> None:
    with DeadlinePool(task=never_answers, workers=1) as pool:
        started = time.monotonic()
        verdict = grade(r"\sum_{k=1}^{3} k", "6", conventions=AnswerConventions(timeout_s=0.5), pool=pool)
        elapsed = time.monotonic() - started
    assert (verdict.equivalent, verdict.status) == (False, Status.TIMEOUT)
    assert verdict.timed_out and verdict.failed
    assert elapsed < 30  # killed at its limit, not waited out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("task", [raises, dies])
def test_a_worker_that_fails_gives_an_error_verdict(task) -> None:
    with DeadlinePool(task=task, workers=1) as pool:
        verdict = grade(r"\sum_{k=1}^{3} k", "6", pool=pool)
    assert (verdict.equivalent, verdict.status) == (False, Status.ERROR)
    assert verdict.failed and not verdict.timed_out


@pytest.mark.timeout(60)
def test_a_task_past_its_deadline_is_killed_and_its_worker_replaced() -> None:
    with DeadlinePool(task=time.sleep, workers=2) as pool:
        started = time.monotonic()
        results = pool.map([30, 0, 30, 0], timeout_s=1.0)
        elapsed = time.monotonic() - started
        assert [result.timed_out for result in results] == [True, False, True, False]
        assert elapsed < 20
        assert pool.replaced == 2
        assert all(result.ok for result in pool.map([0, 0], timeout_s=5.0))  # replacements work


@pytest.mark.timeout(120)
def test_workers_replaced_in_earlier_maps_do_not_make_a_later_map_give_up() -> None:
    # os._exit ends the worker on every task: each one is replaced. More replacements than the per-map
    # allowance in an earlier map must not make the next map give its tasks up unrun.
    with DeadlinePool(task=os._exit, workers=1) as pool:
        assert all(not r.ok for r in pool.map([0] * (MAX_REPLACEMENTS_PER_MAP + 2), timeout_s=30.0))
        later = pool.map([0, 0], timeout_s=30.0)
    assert [result.error for result in later] == ["worker process died"] * 2


@pytest.mark.timeout(60)
def test_task_errors_are_results_and_pool_works_from_threads() -> None:
    outcome: list[object] = []

    def run() -> None:
        with DeadlinePool(task=int, workers=1) as pool:
            outcome.extend(pool.map(["12", "not a number"], timeout_s=10.0))

    thread = threading.Thread(target=run)  # signal.alarm would fail here; worker processes do not
    thread.start()
    thread.join(timeout=50)
    assert outcome[0].value == 12  # type: ignore[union-attr]
    assert "ValueError" in outcome[1].error  # type: ignore[union-attr]


FIRST_TERMS = [
    "(E)",
    r"\text{(E)}",
    r"\textbf{(B)}",
    "C)",
    "12",
    "12441600",
    "12441600.0",
    "5 cm",
    r"3\text{ m}",
]
EXTRA_TERMS = ["+1", " + 1", " - 2", r" \cdot 2", r" \times 3", " = 3", "/2", "^2"]


@pytest.mark.parametrize(
    ("first", "extra"),
    # "5 cm^2" squares the unit, not the value: that pair is no extra term
    [(f, e) for f in FIRST_TERMS for e in EXTRA_TERMS if not (e == "^2" and f in ("5 cm", r"3\text{ m}"))],
)
def test_an_expression_with_extra_terms_never_equals_its_first_term(first: str, extra: str) -> None:
    """Normalization (choice letters, units) must not cut what follows the first term: ``\\text{(E)}+1``
    equalled ``(E)``."""
    for conventions in (AnswerConventions(), AnswerConventions(choice_letters="ABCDE")):
        assert not grade(first + extra, first, conventions=conventions).equivalent, (first + extra, first)
