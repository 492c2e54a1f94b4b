"""Wiring of the modular pipeline: problems -> masked reference solutions -> chunks -> merged generations."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import generate_solutions, mask_reference_solutions, merge_generations


def code_solutions_pipeline(
    *, namespace: str | None, problems: str, checkpoint: str, settings: str
) -> Pipeline:
    """The three nodes under ``namespace`` (None: the caller's), reading generation-shaped ``settings``.

    ``settings`` is a parameters block (``params:generation``, kept under its global name) or a dataset
    that the caller computes (evaluation derives one per model, benchmark and run). Inside the namespace
    the datasets are ``masked_solutions``, ``chunks`` (saved as they are generated), ``completed_chunks``
    (the same folder, read to skip finished chunks) and ``generations``.
    """
    inputs = {"problems": problems, "checkpoint": checkpoint}
    if settings.startswith("params:"):
        settings_input, parameters = settings, {settings}
    else:
        settings_input, parameters = "settings", None
        inputs["settings"] = settings
    return pipeline(
        [
            node(
                mask_reference_solutions,
                inputs=["problems", "checkpoint", settings_input],
                outputs="masked_solutions",
                name="mask",
            ),
            node(
                generate_solutions,
                inputs=["problems", "masked_solutions", "checkpoint", "completed_chunks", settings_input],
                outputs="chunks",
                name="generate",
            ),
            node(
                merge_generations,
                inputs=["chunks", "problems", "masked_solutions", "checkpoint", settings_input],
                outputs="generations",
                name="merge",
            ),
        ],
        namespace=namespace,
        inputs=inputs,
        parameters=parameters,
    )
