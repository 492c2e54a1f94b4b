"""Generations -> graded generations (predicted answer, correctness, grader version), per benchmark."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from openmath_kedro.benchmark_sets import TRAINING_SETS

from .nodes import grade_generations

PARAMS = "params:grading"


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            pipeline(
                [
                    node(
                        grade_generations,
                        ["generations", "problems", PARAMS],
                        "graded_generations",
                        name="grade",
                    )
                ],
                namespace=f"grading.{benchmark}",
                inputs={
                    "generations": f"generation.{benchmark}.generations",
                    "problems": f"data_preparation.{benchmark}.{split}_problems",
                },
                parameters={PARAMS},
            )
            for benchmark, split in TRAINING_SETS.items()
        ]
    )
