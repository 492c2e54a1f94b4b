"""Generations -> graded generations (predicted answer, correctness, grader version), per benchmark."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import grade_generations

GRADED_SETS = {"gsm8k": "train", "math": "train"}
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
            for benchmark, split in GRADED_SETS.items()
        ]
    )
