"""Model references (embedded GGUF or local HF directories) -> checkpoint directories, per role."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import build_plain_checkpoint

ROLES = ("student", "teacher")


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            pipeline(
                [
                    node(
                        build_plain_checkpoint,
                        ["source", "params:model_setup"],
                        "checkpoint",
                        name="build_checkpoint",
                    )
                ],
                namespace=f"model_setup.{role}",
                parameters={"params:model_setup"},
            )
            for role in ROLES
        ]
    )
