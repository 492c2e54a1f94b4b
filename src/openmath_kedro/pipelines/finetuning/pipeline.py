"""SFT set + student checkpoint -> training checkpoints, training curves, and the averaged finetuned model."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import average_checkpoints, train_student, training_curves

PARAMS = "params:finetuning"


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                train_student,
                inputs=["training_examples", "student", "completed_checkpoints", PARAMS],
                outputs=["checkpoints", "run"],
                name="train",
            ),
            node(
                training_curves,
                inputs=["checkpoints", "run"],
                outputs=["training_log", "loss_chart"],
                name="curves",
            ),
            node(
                average_checkpoints,
                inputs=["checkpoints", "run", "student", PARAMS],
                outputs="averaged_checkpoint",
                name="average",
            ),
        ],
        namespace="finetuning.student",
        inputs={
            "training_examples": "filtering.sft.training_examples",
            "student": "model_setup.student.checkpoint",
        },
        parameters={PARAMS},
    )
