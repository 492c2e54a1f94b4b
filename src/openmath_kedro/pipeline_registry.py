"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

COMPOSITES = ("sdg",)  # pipeline folders that join others (pipelines/sdg); not part of __default__'s sum


def register_pipelines() -> dict[str, Pipeline]:
    """Every pipeline under ``pipelines/`` by its folder name, and ``__default__``: the whole recipe.

    ``sdg`` (synthetic data generation) = generation + grading + filtering. Kedro 1.7 imports only the
    pipelines a run asks for (``--pipelines``), so a composite needs a folder of its own to be found.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (p for name, p in pipelines.items() if name not in ("__default__", *COMPOSITES)), Pipeline([])
    )
    return pipelines
