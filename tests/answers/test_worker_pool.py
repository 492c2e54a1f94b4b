"""The worker pool's guarantees that a pool built on SIGTERM or on exit codes would not keep (see its docstring).

The rest of its behaviour (deadline, replacement, per-map give-up counter, errors, threads) is tested through
the grader in ``test_grading.py``.
"""

from __future__ import annotations

import math
import os
import time

import pytest

from openmath_kedro.answers.worker_pool import DeadlinePool

# math.factorial of this runs for minutes inside one C call: no Python signal handler runs until it returns
STUCK_IN_C = 10**8


@pytest.mark.timeout(90)
def test_a_task_stuck_in_c_code_ends_at_its_deadline_and_only_its_worker_is_replaced() -> None:
    with DeadlinePool(task=math.factorial, workers=2) as pool:
        pool.map([1, 1], timeout_s=30.0)  # both workers started, so start-up does not blur the timing
        started = time.monotonic()
        results = pool.map([STUCK_IN_C, *[5] * 20], timeout_s=2.0)
        elapsed = time.monotonic() - started
        assert results[0].timed_out
        assert [result.value for result in results[1:]] == [120] * 20
        assert pool.replaced == 1
        assert (
            elapsed < 2.0 + 10
        )  # SIGKILL at the deadline, no grace period for a signal handler that never runs
        assert [result.value for result in pool.map([3, 4], timeout_s=30.0)] == [6, 24]


@pytest.mark.timeout(60)
def test_a_worker_that_exits_cleanly_mid_task_is_an_error_at_once_not_at_the_deadline() -> None:
    # os._exit(0) is what a C library calling exit() does: status 0, yet the task never answered
    with DeadlinePool(task=os._exit, workers=1) as pool:
        started = time.monotonic()
        results = pool.map([0], timeout_s=40.0)
        assert time.monotonic() - started < 30
    assert [result.error for result in results] == ["worker process died"]
    assert pool.replaced == 1
