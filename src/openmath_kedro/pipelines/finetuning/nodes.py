"""Nodes of the finetuning pipeline: SFT set + student -> checkpoints, their training curves and their average."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import polars as pl

from openmath_kedro.datasets import LoadedModel, ModelDirectory, TrainingCheckpoint, TrainingRuns
from openmath_kedro.params import FinetuningParams
from openmath_kedro.runs.keys import settings_hash

from .training import TrainingPlan, average_weights, checkpoint_state_dict, train

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("prompt", "completion")


def plan_training(
    training_examples: pl.DataFrame | pd.DataFrame, student: ModelDirectory, settings: FinetuningParams
) -> TrainingPlan:
    """Check the SFT set, the student and the settings before any step runs; name the run by their hash."""
    table = (
        training_examples
        if isinstance(training_examples, pl.DataFrame)
        else pl.from_pandas(training_examples)
    )
    for column in REQUIRED_COLUMNS:
        if column not in table.columns:
            raise ValueError(f"SFT set: column '{column}' missing (has {', '.join(table.columns)})")
        empty = table.with_row_index("row", offset=1).filter(  # rows count from 1, as lines do in messages
            pl.col(column).is_null() | (pl.col(column).cast(pl.String).str.strip_chars() == "")
        )
        if len(empty):
            raise ValueError(
                f"SFT set: {len(empty)} rows have an empty '{column}', e.g. row {empty['row'][0]}"
                + (f" (problem {empty['problem_id'][0]})" if "problem_id" in empty.columns else "")
            )
    if table.is_empty():
        raise ValueError("SFT set: no rows to train on")
    _check_student(student, settings)
    examples = table.select(*REQUIRED_COLUMNS).to_dicts()
    key = settings_hash(
        {
            "student": student.content_hash,  # the weights, not the folder they sit in
            "settings": settings.model_dump(exclude={"logging_steps", "average_last"}),
            "examples": hashlib.sha256(json.dumps(examples, sort_keys=True).encode()).hexdigest(),
        }
    )
    return TrainingPlan(run_key=key, student=student, examples=examples, settings=settings)


def train_student(
    training_examples: pl.DataFrame,
    student: ModelDirectory,
    completed_checkpoints: TrainingRuns,
    settings: FinetuningParams,
) -> tuple[TrainingRuns, dict[str, Any]]:
    """Train the student on the SFT set; the checkpoints it saved and the run's description.

    The Trainer writes each checkpoint into the checkpoints folder as it reaches it, so a run whose last step is
    already saved is not trained again and an interrupted one resumes from its last checkpoint.
    """
    plan = plan_training(training_examples, student, settings)
    steps = [c.step for c in completed_checkpoints.of_run(plan.run_key)]
    run = {"run_key": plan.run_key, "total_steps": plan.total_steps, "save_steps": plan.save_steps,
           "examples": len(plan.examples), "method": plan.settings.method}  # fmt: skip
    if steps and max(steps) >= plan.total_steps:
        logger.info("finetuning: run %s is complete (%d steps); nothing to train", plan.run_key, max(steps))
        return completed_checkpoints, run
    logger.info(
        "finetuning: run %s, %d examples, %d steps (checkpoint every %d), %s",
        plan.run_key, len(plan.examples), plan.total_steps, plan.save_steps,
        f"resuming after step {max(steps)}" if steps else "from the start",
    )  # fmt: skip
    train(plan, run_folder=completed_checkpoints.run_folder(plan.run_key))
    return TrainingRuns(completed_checkpoints.folder), run


def training_curves(checkpoints: TrainingRuns, run: dict[str, Any]) -> tuple[pd.DataFrame, go.Figure]:
    """Loss and learning rate per logged step of the run (from its last checkpoint), as a table and a chart."""
    last = _run_checkpoints(checkpoints, run)[-1]
    history = [row for row in last.trainer_state()["log_history"] if "loss" in row]
    log = pd.DataFrame(
        {
            "step": [row["step"] for row in history],
            "epoch": [row.get("epoch") for row in history],
            "loss": [row["loss"] for row in history],
            "learning_rate": [row.get("learning_rate") for row in history],
        }
    )
    figure = go.Figure()
    figure.add_scatter(x=log["step"], y=log["loss"], name="training loss", mode="lines+markers")
    figure.add_scatter(x=log["step"], y=log["learning_rate"], name="learning rate", yaxis="y2", mode="lines")
    figure.update_layout(
        title=f"finetuning run {run['run_key']}",
        xaxis_title="step",
        yaxis={"title": "loss"},
        yaxis2={"title": "learning rate", "overlaying": "y", "side": "right"},
    )
    return log, figure


def average_checkpoints(
    checkpoints: TrainingRuns,
    run: dict[str, Any],
    student: ModelDirectory,
    settings: FinetuningParams,
) -> LoadedModel:
    """Uniform average of the run's saved checkpoints (the last ``average_last``), LoRA adapters merged first."""
    chosen = _run_checkpoints(checkpoints, run)
    if settings.average_last is not None:
        chosen = chosen[-settings.average_last :]
    logger.info("finetuning: averaging %d checkpoints (steps %s)", len(chosen), [c.step for c in chosen])
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(student.path, dtype="float32")
    model.load_state_dict(average_weights(checkpoint_state_dict(c, student=student) for c in chosen))
    return LoadedModel(
        model=model,
        tokenizer=student.load_tokenizer(),
        source={"kind": "averaged-checkpoints", "run_key": run["run_key"], "steps": [c.step for c in chosen]},
    )


def _run_checkpoints(checkpoints: TrainingRuns, run: dict[str, Any]) -> list[TrainingCheckpoint]:
    mine = checkpoints.of_run(run["run_key"])
    if not mine:
        raise ValueError(f"finetuning run {run['run_key']} has no saved checkpoint; run its train node")
    return mine


def _check_student(student: ModelDirectory, settings: FinetuningParams) -> None:
    from transformers import AutoConfig

    if not (student.path / "config.json").is_file():
        raise ValueError(f"student {student.path}: no checkpoint there (no config.json); run model_setup")
    config = AutoConfig.from_pretrained(student.path)
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and settings.max_length > limit:
        raise ValueError(
            f"finetuning.max_length {settings.max_length} is above the student's limit of {limit} positions"
        )
    if settings.method == "lora":
        import torch
        from transformers import AutoModelForCausalLM

        with torch.device("meta"):  # module names without allocating weights
            names = {
                name.rsplit(".", 1)[-1]
                for name, _ in AutoModelForCausalLM.from_config(config).named_modules()
            }
        if missing := [t for t in settings.lora.target_modules if t not in names]:
            raise ValueError(
                f"finetuning.lora.target_modules: {missing} not in the student ({config.model_type}); "
                f"linear layers it has: {sorted(n for n in names if n.endswith('proj'))}"
            )
