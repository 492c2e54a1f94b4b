"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Every pipeline under ``pipelines/`` by its folder name, the composites, and ``__default__``: the whole recipe.

    ``sdg`` (synthetic data generation) = generation + grading (+ filtering when it exists).
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["sdg"] = pipelines["generation"] + pipelines["grading"]
    pipelines["__default__"] = sum((p for name, p in pipelines.items() if name != "sdg"), Pipeline([]))
    return pipelines
