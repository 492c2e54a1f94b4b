"""Every evaluated model on every benchmark: greedy and sampled code-interpreter solutions, grades, metrics.

Namespaces are ``evaluation.<model>.<benchmark>`` (metrics, per-problem results) with one
``code_solutions`` modular pipeline per run inside (``evaluation.<model>.<benchmark>.<run>``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Pipeline, node, pipeline

from openmath_kedro.benchmark_sets import EVALUATED_MODELS, EVALUATION_RUNS, EVALUATION_SETS
from openmath_kedro.code_solutions import code_solutions_pipeline

from .nodes import grade_evaluation, solution_settings, summarize_benchmark

PARAMS = "params:evaluation"


def _bound(function: Callable[..., Any], **names: str) -> Callable[..., Any]:
    """``function`` with its model / benchmark / run names bound, keeping its name for logs and kedro-viz."""
    return update_wrapper(partial(function, **names), function)


def _run(model: str, benchmark: str, run: str) -> Pipeline:
    """Settings -> code_solutions -> grades, under the relative namespace ``<run>``."""
    return pipeline(
        [
            node(
                _bound(solution_settings, model=model, run=run, benchmark=benchmark),
                inputs=PARAMS,
                outputs="settings",
                name="settings",
            ),
            code_solutions_pipeline(
                namespace=None, problems="problems", checkpoint="checkpoint", settings="settings"
            ),
            node(
                _bound(grade_evaluation, model=model, benchmark=benchmark),
                inputs=["generations", "problems", PARAMS],
                outputs="graded_generations",
                name="grade",
            ),
        ],
        namespace=run,
        inputs={"problems", "checkpoint"},
        parameters={PARAMS},
    )


def _benchmark(model: str, benchmark: str) -> Pipeline:
    return pipeline(
        [
            *(_run(model, benchmark, run) for run in EVALUATION_RUNS),
            node(
                _bound(summarize_benchmark, model=model, benchmark=benchmark),
                inputs=["greedy.graded_generations", "sampled.graded_generations", "problems", PARAMS],
                outputs=["metrics", "problem_results", "votes"],
                name="metrics",
            ),
        ],
        namespace=f"evaluation.{model}.{benchmark}",
        inputs={
            "problems": f"data_preparation.{benchmark}.test_problems",
            "checkpoint": EVALUATED_MODELS[model],
        },
        parameters={PARAMS},
    )


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [_benchmark(model, benchmark) for model in EVALUATED_MODELS for benchmark in EVALUATION_SETS]
    )
