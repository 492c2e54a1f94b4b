"""Training problems -> sampled code-interpreter solutions (resumable chunks, then one merged table)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from openmath_kedro.benchmark_sets import TRAINING_SETS

from .nodes import generate_solutions, mask_reference_solutions, merge_generations

PARAMS = "params:generation"


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            pipeline(
                [
                    node(
                        mask_reference_solutions,
                        inputs=["problems", "checkpoint", PARAMS],
                        outputs="masked_solutions",
                        name="mask",
                    ),
                    node(
                        generate_solutions,
                        inputs=["problems", "masked_solutions", "checkpoint", "completed_chunks", PARAMS],
                        outputs="chunks",
                        name="generate",
                    ),
                    node(
                        merge_generations,
                        inputs=["chunks", "problems", "masked_solutions", "checkpoint", PARAMS],
                        outputs="generations",
                        name="merge",
                    ),
                ],
                namespace=f"generation.{benchmark}",
                inputs={
                    "problems": f"data_preparation.{benchmark}.{split}_problems",
                    "checkpoint": "model_setup.teacher.checkpoint",
                },
                parameters={PARAMS},
            )
            for benchmark, split in TRAINING_SETS.items()
        ]
    )
