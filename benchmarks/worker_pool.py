"""The grader's worker pool (``DeadlinePool``) against one built on ``pebble.ProcessPool``, same run; prints JSON.

Issue "a codebase Kedro maintainers would show" asks to adopt a maintained pool with per-task timeouts
(pebble) unless a benchmark shows ours is needed. Both pools run with the same workers, memory limit and
deadline (the grader's ``timeout_s``) on:
  overhead     1,000 tasks of about a millisecond each: what the pool itself costs per task
  grade_batch  the sympy-stage pairs of tests/answers (the few the fast stages leave) plus generated ones
               (sums, products: about 15 ms of sympy each), graded through ``grade_batch(..., pool=...)``;
               verdicts must agree between the two pools
  with_hangs   the same items plus tasks that never finish: a Python loop and big-integer arithmetic
               (``pow(10, 10**8)``, sympy's own kind of runaway), spread over the map
  worker_exit  tasks whose worker exits with status 0 mid-task (``os._exit(0)``, what a C library calling
               ``exit()`` does): each must come back as an error at once, not at its deadline
Reported per pool and phase: wall time, the parent's CPU time, tasks, timed out, errors, workers replaced;
per pool and round the CPU time of the parent and its workers together. Rounds alternate the
pools (the machine is shared); the best round counts.

    .venv/bin/python benchmarks/worker_pool.py [--processes 2] [--pairs 2000] [--hangs 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

try:
    import pebble
except ImportError:  # not a project dependency: the pool stayed ours (see DECISION)
    sys.exit("this benchmark needs pebble: .venv/bin/pip install pebble==5.2.3")
from tests.answers.labelled import load_labelled_pairs, load_split  # noqa: E402

from openmath_kedro.answers import MODEL_OUTPUT, DeadlinePool, extract_answer, grade_batch  # noqa: E402
from openmath_kedro.answers.equivalence import fast_verdict  # noqa: E402
from openmath_kedro.answers.symbolic import compare_with_sympy  # noqa: E402
from openmath_kedro.answers.worker_pool import DEFAULT_MEMORY_LIMIT_BYTES, TaskResult  # noqa: E402

DECISION = (
    "kept DeadlinePool: pebble's speed is comparable (see grade_batch, overhead), but a worker exiting with "
    "status 0 mid-task is noticed only at its deadline (worker_exit), its workers fork or re-import the "
    "caller's __main__ (spawn), a worker hanging at start-up holds a map forever, and a stuck worker gets "
    "SIGTERM and a 3 s grace before SIGKILL (see the docstring of openmath_kedro/answers/worker_pool.py)"
)
HANG_PYTHON = "hang: python loop"
HANG_C = "hang: big integer in C"
EXIT_0 = "exit 0 mid-task"


def graded_or_stuck(item: Any) -> Any:
    """The sympy stage, or a task that never finishes (or ends its worker) when the item asks for one."""
    if item == HANG_PYTHON:
        while True:
            pass
    if item == HANG_C:
        return pow(10, 10**8).bit_length()
    if item == EXIT_0:
        os._exit(0)
    return compare_with_sympy(item)


def _limit_memory(memory_limit_bytes: int, task_module: str) -> None:
    """pebble's worker initializer: the same address-space limit as ours, and the task's imports paid once."""
    if memory_limit_bytes:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    importlib.import_module(task_module)


class PebblePool:
    """``DeadlinePool``'s interface on ``pebble.ProcessPool`` (spawned workers: safe with threads)."""

    def __init__(
        self,
        *,
        task: Callable[[Any], Any],
        workers: int | None = None,
        memory_limit_bytes: int | None = DEFAULT_MEMORY_LIMIT_BYTES,
    ) -> None:
        self.task = task
        self.size = max(1, workers or os.cpu_count() or 1)
        self.memory_limit_bytes = memory_limit_bytes or 0
        self.replaced = 0
        self._pool: pebble.ProcessPool | None = None

    def __enter__(self) -> PebblePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def map(self, items: Sequence[Any], *, timeout_s: float) -> list[TaskResult]:
        if self._pool is None or not self._pool.active:
            self._pool = pebble.ProcessPool(
                max_workers=self.size,
                initializer=_limit_memory,
                initargs=(self.memory_limit_bytes, self.task.__module__),
                context=multiprocessing.get_context("spawn"),
            )
        futures = [self._pool.schedule(self.task, args=(item,), timeout=timeout_s) for item in items]
        results = []
        for future in futures:
            try:
                results.append(TaskResult(value=future.result()))
            except FutureTimeout:
                self.replaced += 1
                results.append(TaskResult(timed_out=True))
            except pebble.ProcessExpired:
                self.replaced += 1
                results.append(TaskResult(error="worker process died"))
            except BrokenProcessPool:
                results.append(TaskResult(error="worker processes keep failing to start"))
            except Exception as error:  # noqa: BLE001 - a task's exception is its result
                results.append(TaskResult(error=f"{type(error).__name__}: {error}"[:500]))
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None


POOLS: dict[str, type[DeadlinePool] | type[PebblePool]] = {
    "deadline_pool": DeadlinePool,
    "pebble": PebblePool,
}


def sympy_pairs(count: int) -> list[tuple[str, str]]:
    """The labelled pairs only sympy decides, then generated ones (right and wrong) up to ``count``."""
    pairs: list[tuple[str, str]] = []
    for pair in load_labelled_pairs() + load_split("dev") + load_split("test"):
        if pair.conventions:
            continue
        prediction = extract_answer(pair.prediction) if pair.is_full_response else pair.prediction
        if prediction and pair.gold.strip() and fast_verdict(prediction, pair.gold, MODEL_OUTPUT) is None:
            pairs.append((prediction, pair.gold))
    n = 3
    while len(pairs) < count:
        triangular, squares, factorial = n * (n + 1) // 2, n * (n + 1) * (2 * n + 1) // 6, 1
        for k in range(2, min(n, 12) + 1):
            factorial *= k
        pairs.append((rf"\sum_{{k=1}}^{{{n}}} k", str(triangular + n % 2)))
        pairs.append((rf"\sum_{{k=1}}^{{{n}}} k^2", str(squares)))
        pairs.append((rf"\prod_{{k=1}}^{{{min(n, 12)}}} k + {n}", str(factorial + n)))
        n += 1
    return pairs[:count]


def run_phase(
    pool: Any, phase: str, pairs: list[tuple[str, str]], hangs: int, timeout_s: float
) -> dict[str, Any]:
    replaced_before = pool.replaced
    started, cpu_started = time.perf_counter(), time.process_time()
    if phase == "grade_batch":
        verdicts = grade_batch(pairs, pool=pool)
        outcome: dict[str, Any] = {
            "tasks": len(pairs),
            "verdicts": [verdict.status.value for verdict in verdicts],
            "timed_out": sum(verdict.timed_out for verdict in verdicts),
        }
    else:
        settings = MODEL_OUTPUT.to_dict()
        items: list[Any] = [(prediction, gold, settings) for prediction, gold in pairs]
        stuck: list[str] = []
        if phase == "overhead":
            items = [items[0]] * len(items)  # about a millisecond of work each: what the pool itself costs
        elif phase == "with_hangs":
            stuck = [HANG_PYTHON if index % 2 == 0 else HANG_C for index in range(hangs)]
        else:
            stuck = [EXIT_0] * hangs
        for index, item in enumerate(stuck):
            items.insert((index + 1) * len(items) // (len(stuck) + 1), item)
        results = pool.map(items, timeout_s=timeout_s)
        outcome = {
            "tasks": len(items),
            "stuck_tasks": len(stuck),
            "timed_out": sum(result.timed_out for result in results),
            "errors": sum(bool(result.error) for result in results),
            "stuck_results": sorted(
                {
                    "timed_out" if r.timed_out else r.error
                    for r, i in zip(results, items, strict=True)
                    if i in stuck
                }
            ),
        }
    outcome["wall_s"] = round(time.perf_counter() - started, 2)
    outcome["parent_cpu_s"] = round(time.process_time() - cpu_started, 2)
    outcome["workers_replaced"] = pool.replaced - replaced_before
    return outcome


def _cpu_with_children() -> float:
    """CPU seconds of this process (all threads) and of its reaped children (the pools' workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--hangs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    # the task must be importable by name in the workers, so it is taken from this file as a module
    task = importlib.import_module("benchmarks.worker_pool").graded_or_stuck
    pairs = sympy_pairs(options.pairs)
    timeout_s = MODEL_OUTPUT.timeout_s
    phases = {
        "overhead": (pairs, 0),
        "grade_batch": (pairs, 0),
        "with_hangs": (pairs[: len(pairs) // 4], options.hangs),
        "worker_exit": (pairs[:40], 2),
    }
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {phase: [] for phase in phases} for name in POOLS
    }
    startup: dict[str, list[float]] = {name: [] for name in POOLS}
    total_cpu: dict[str, list[float]] = {name: [] for name in POOLS}
    for _ in range(options.rounds):
        for name, pool_type in POOLS.items():
            cpu_before = _cpu_with_children()
            with pool_type(task=task, workers=options.processes) as pool:
                started = time.perf_counter()
                pool.map([pairs[0] + (MODEL_OUTPUT.to_dict(),)] * options.processes, timeout_s=60.0)
                startup[name].append(round(time.perf_counter() - started, 2))
                for phase, (phase_pairs, stuck) in phases.items():
                    rounds[name][phase].append(run_phase(pool, phase, phase_pairs, stuck, timeout_s))
            total_cpu[name].append(round(_cpu_with_children() - cpu_before, 1))
    report: dict[str, Any] = {
        "processes": options.processes,
        "timeout_s": timeout_s,
        "rounds": options.rounds,
        "pebble_version": importlib.metadata.version("pebble"),
        "decision": DECISION,
    }
    for name in POOLS:
        best = {phase: min(runs, key=lambda run: run["wall_s"]) for phase, runs in rounds[name].items()}
        report[name] = {
            "startup_s": min(startup[name]),
            "cpu_s_all_phases_parent_and_workers": total_cpu[name],
            **{phase: {k: v for k, v in run.items() if k != "verdicts"} for phase, run in best.items()},
            "all_wall_s": {phase: [run["wall_s"] for run in runs] for phase, runs in rounds[name].items()},
        }
    verdicts = {name: rounds[name]["grade_batch"][0]["verdicts"] for name in POOLS}
    report["same_verdicts"] = verdicts["deadline_pool"] == verdicts["pebble"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
