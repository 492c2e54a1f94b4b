"""Batch API, verdict types and the worker pool's hard deadline."""

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


def test_batch_keeps_order_and_reuses_repeated_pairs() -> None:
    pairs = [("5", "5"), (None, "5"), ("4", "5"), ("5", "5"), ("", "5"), (r"\frac{10}{2}", "5")]
    verdicts = grade_batch(pairs)
    assert [verdict.equivalent for verdict in verdicts] == [True, False, False, True, False, True]
    assert verdicts[1].status is Status.NO_ANSWER and verdicts[4].status is Status.NO_ANSWER
    assert verdicts[0] is verdicts[3]


def test_grade_responses_reports_the_extracted_answer() -> None:
    graded = grade_responses([r"so $\boxed{0.5}$", "no box here"], [r"\frac12", "3"])
    assert [row.predicted_answer for row in graded] == ["0.5", None]
    assert [row.is_correct for row in graded] == [True, False]
    with pytest.raises(ValueError, match="responses but"):
        grade_responses(["a"], [])


def test_verdict_explains_its_stage() -> None:
    assert grade("1,000", "1000").stage is Stage.EXACT
    assert grade("0.5", r"\frac12").stage is Stage.NUMERIC
    assert grade(r"\sqrt{8}", r"2\sqrt2").stage is Stage.VALUE
    assert grade("(1,2)", "[1,2)").stage is Stage.STRUCTURE
    refused = grade(r"10^{10^{10}}", r"10^{10^{10}}+1")
    assert refused.status is Status.ERROR and refused.failed and not refused.equivalent
    assert grade("x^2", "x*x").to_dict()["status"] == "equivalent"
    assert is_equivalent("7", "7.0") and not is_equivalent(None, "7")


@pytest.mark.timeout(60)
def test_pairs_that_need_sympy_run_in_workers() -> None:
    with DeadlinePool(task=compare_with_sympy, workers=1) as pool:
        verdicts = grade_batch([(r"\frac{1}{0}", "0"), ("2", "2")], pool=pool)
    assert verdicts[0].status is Status.NOT_EQUIVALENT and verdicts[0].stage is Stage.SYMBOLIC
    assert verdicts[1].equivalent


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


@pytest.mark.timeout(60)
def test_timeouts_become_timeout_verdicts() -> None:
    with DeadlinePool(task=time.sleep, workers=1) as pool:
        from openmath_kedro.answers.grading import _verdict_from_worker

        verdict = _verdict_from_worker(pool.map([10], timeout_s=0.5)[0])
    assert verdict.status is Status.TIMEOUT and verdict.timed_out and not verdict.equivalent


def test_conventions_change_the_verdict() -> None:
    assert not is_equivalent("0.3333", r"\frac13")
    assert is_equivalent("0.3333", r"\frac13", conventions=AnswerConventions(rel_tol=1e-3))
    assert not is_equivalent("Yes", "yes", conventions=AnswerConventions(text_answers=False))
    assert not is_equivalent("25", "0.25%", conventions=AnswerConventions(percent_reading=False))


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
