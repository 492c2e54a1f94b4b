"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from .pipelines import filtering, generation, grading


def register_pipelines() -> dict[str, Pipeline]:
    """Every pipeline under ``pipelines/`` by its folder name, the composites, and ``__default__``: the whole recipe.

    ``sdg`` (synthetic data generation) = generation + grading + filtering. Kedro 1.7 finds only
    the pipelines a run asks for, so composites are built from their parts directly.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (p for name, p in pipelines.items() if name != "__default__"), Pipeline([])
    )
    pipelines["sdg"] = generation.create_pipeline() + grading.create_pipeline() + filtering.create_pipeline()
    return pipelines
