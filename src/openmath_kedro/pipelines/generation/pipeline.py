"""Training problems -> sampled code-interpreter solutions (resumable chunks, then one merged table)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, pipeline

from openmath_kedro.benchmark_sets import TRAINING_SETS
from openmath_kedro.code_solutions import code_solutions_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            code_solutions_pipeline(
                namespace=f"generation.{benchmark}",
                problems=f"data_preparation.{benchmark}.{split}_problems",
                checkpoint="model_setup.teacher.checkpoint",
                settings="params:generation",
            )
            for benchmark, split in TRAINING_SETS.items()
        ]
    )
