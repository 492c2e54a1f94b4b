"""Nodes of the grading pipeline: generations -> graded generations."""

from __future__ import annotations

import pandas as pd

from openmath_kedro.answers import conventions_for
from openmath_kedro.code_solutions import grade_solutions
from openmath_kedro.params import GradingParams


def grade_generations(
    generations: pd.DataFrame, problems: pd.DataFrame, settings: GradingParams
) -> pd.DataFrame:
    """Grade with the ``answers`` defaults for the benchmark and ``grading.conventions`` on top."""
    benchmarks = problems["benchmark"].unique().tolist()
    if len(benchmarks) != 1:
        raise ValueError(f"expected the problems of one benchmark, got {benchmarks}")
    conventions = conventions_for(benchmarks[0], settings.conventions.get(benchmarks[0]))
    return grade_solutions(generations, problems, conventions=conventions, label=benchmarks[0])
