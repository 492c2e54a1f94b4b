"""Public grading API: one pair, a batch of pairs, or a table of full responses."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openmath_kedro.answers.conventions import MODEL_OUTPUT, AnswerConventions
from openmath_kedro.answers.equivalence import fast_verdict
from openmath_kedro.answers.extraction import extract_answer
from openmath_kedro.answers.verdict import NO_ANSWER, Stage, Status, Verdict, refused
from openmath_kedro.answers.worker_pool import DeadlinePool, TaskResult

# Recorded with graded generations; bump when verdicts can change. answers-2 (issue 12): letters after a
# number are no unit, labelled/chained answers, more notations, the final_answer/last_math fallbacks.
# answers-3: a choice letter followed by arithmetic ("(E) + 1") is an expression, not the choice; a decimal
# literal equals a value only as its rounding or truncation (12441601.0 is not 12441600); an equality between
# numbers that differ (90-90=10) states no value; a quoted answer ("18") is its content.
# answers-4: an answer past 2,000 characters equals only the exact same string (a key cut at 2,000 made longer
# answers that differ after it equal); named functions (\gcd(12, 18), \operatorname{lcm}(4,6), lcm(4, 6),
# \max\{3, 5\}, floor/ceil/abs/sgn) are evaluated; gcd/lcm of variables are no longer sympy's polynomial gcd.
GRADER_VERSION = "answers-4"

_pool_lock = threading.Lock()
_shared_pool: DeadlinePool | None = None


def shared_symbolic_pool() -> DeadlinePool:
    """The process-wide pool for the sympy stage: one worker per core, started on first need."""
    global _shared_pool
    with _pool_lock:
        if _shared_pool is None:
            from openmath_kedro.answers.symbolic import compare_with_sympy

            _shared_pool = DeadlinePool(task=compare_with_sympy)
            atexit.register(_shared_pool.close)
        return _shared_pool


def _verdict_from_worker(result: TaskResult) -> Verdict:
    if result.timed_out:
        return Verdict(False, Status.TIMEOUT, Stage.NONE, "hard time limit reached")
    if result.error:
        return refused(Stage.SYMBOLIC, result.error)
    payload = result.value
    return Verdict(
        bool(payload["equivalent"]),
        Status(payload["status"]),
        Stage(payload["stage"]),
        str(payload["detail"]),
    )


def grade_batch(
    pairs: Iterable[tuple[str | None, str | None]],
    *,
    conventions: AnswerConventions = MODEL_OUTPUT,
    pool: DeadlinePool | None = None,
) -> list[Verdict]:
    """Verdicts for (prediction, gold) pairs, in order.

    Repeated pairs are graded once; the pure-Python stages run here, and only pairs that need sympy go to
    the worker pool (all cores, hard ``conventions.timeout_s`` per pair).
    """
    pair_list = list(pairs)
    verdicts: dict[tuple[str | None, str | None], Verdict] = {}
    hard: list[tuple[str, str]] = []
    for pair in dict.fromkeys(pair_list):
        prediction, gold = pair
        if prediction is None or not prediction.strip():
            verdicts[pair] = NO_ANSWER
        elif gold is None or not gold.strip():
            verdicts[pair] = refused(Stage.GUARD, "empty gold answer")
        else:
            verdict = fast_verdict(prediction, gold, conventions)
            if verdict is None:
                hard.append((prediction, gold))
            else:
                verdicts[pair] = verdict
    if hard:
        worker_pool = pool or shared_symbolic_pool()
        settings = conventions.to_dict()
        results = worker_pool.map([(p, g, settings) for p, g in hard], timeout_s=conventions.timeout_s)
        for pair, result in zip(hard, results, strict=True):
            verdicts[pair] = _verdict_from_worker(result)
    return [verdicts[pair] for pair in pair_list]


def grade(
    prediction: str | None,
    gold: str,
    *,
    conventions: AnswerConventions = MODEL_OUTPUT,
    pool: DeadlinePool | None = None,
) -> Verdict:
    """The verdict for one extracted answer against the gold answer."""
    return grade_batch([(prediction, gold)], conventions=conventions, pool=pool)[0]


def is_equivalent(
    prediction: str | None, gold: str, *, conventions: AnswerConventions = MODEL_OUTPUT
) -> bool:
    """True only for a positive verdict: no answer, timeouts and errors are all "not correct"."""
    return grade(prediction, gold, conventions=conventions).equivalent


@dataclass(frozen=True, slots=True)
class GradedResponse:
    predicted_answer: str | None
    verdict: Verdict

    @property
    def is_correct(self) -> bool:
        return self.verdict.equivalent


def grade_responses(
    responses: Sequence[str | None],
    golds: Sequence[str],
    *,
    conventions: AnswerConventions = MODEL_OUTPUT,
    pool: DeadlinePool | None = None,
) -> list[GradedResponse]:
    """Extract the answer of each full response and grade it against its gold answer."""
    if len(responses) != len(golds):
        raise ValueError(f"{len(responses)} responses but {len(golds)} gold answers")
    predicted = [extract_answer(response, conventions=conventions) for response in responses]
    verdicts = grade_batch(zip(predicted, golds, strict=True), conventions=conventions, pool=pool)
    return [GradedResponse(answer, verdict) for answer, verdict in zip(predicted, verdicts, strict=True)]
