"""Finetuning checks that run before any training step, and checkpoint averaging on small tensors."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import torch

from openmath_kedro.datasets import ModelDirectory
from openmath_kedro.params import FinetuningParams
from openmath_kedro.pipelines.finetuning.nodes import plan_training
from openmath_kedro.pipelines.finetuning.training import average_weights

pytestmark = pytest.mark.integration  # the student is the real embedded checkpoint


def sft_set(rows: int = 3, **columns) -> pl.DataFrame:
    base = {
        "prompt": [f"Question:\nWhat is {i} + 1?\n\nMy solution:\n" for i in range(rows)],
        "completion": [f"It is \\boxed{{{i + 1}}}." for i in range(rows)],
        "problem_id": [f"gsm8k/train/{i}" for i in range(rows)],
    }
    return pl.DataFrame(base | columns)


def settings(**fields: object) -> FinetuningParams:
    """The finetuning block as the nodes get it: validated into its model."""
    return FinetuningParams.model_validate(fields)


@pytest.fixture(scope="module")
def student(embedded_checkpoint_dir: Path) -> ModelDirectory:
    return ModelDirectory(path=embedded_checkpoint_dir)


def test_a_missing_column_is_named(student):
    with pytest.raises(ValueError, match=r"SFT set: column 'completion' missing \(has prompt, problem_id\)"):
        plan_training(sft_set().drop("completion"), student, settings())


def test_an_empty_field_names_the_row_and_problem(student):
    table = sft_set(completion=["It is \\boxed{1}.", "  ", "It is \\boxed{3}."])
    with pytest.raises(
        ValueError, match=r"1 rows have an empty 'completion', e.g. row 2 \(problem gsm8k/train/1\)"
    ):
        plan_training(table, student, settings())


def test_no_rows_is_an_error(student):
    with pytest.raises(ValueError, match="no rows to train on"):
        plan_training(sft_set(0), student, settings())


def test_a_sequence_length_above_the_students_limit(student):
    with pytest.raises(ValueError, match=r"max_length 100000 is above the student's limit of 8192 positions"):
        plan_training(sft_set(), student, settings(max_length=100000))


def test_an_unknown_lora_target(student):
    params = settings(method="lora", lora={"target_modules": ["q_proj", "query_key_value"]})
    with pytest.raises(
        ValueError, match=r"target_modules: \['query_key_value'\] not in the student \(llama\)"
    ):
        plan_training(sft_set(), student, params)


def test_a_missing_student(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint there"):
        plan_training(sft_set(), ModelDirectory(path=tmp_path / "nothing"), settings())


def test_unknown_settings_are_rejected(student):
    with pytest.raises(ValueError, match="learning_rat"):
        settings(learning_rat=1e-5)  # when the run starts, before the node


def test_the_run_key_follows_data_student_and_settings_but_not_logging(student):
    key = plan_training(sft_set(), student, settings()).run_key
    assert plan_training(sft_set(), student, settings(logging_steps=5, average_last=2)).run_key == key
    assert plan_training(sft_set(), student, settings(learning_rate=1e-4)).run_key != key
    assert plan_training(sft_set(4), student, settings()).run_key != key


def test_steps_and_checkpoint_spacing(student):
    plan = plan_training(
        sft_set(10), student, settings(per_device_batch_size=2, num_epochs=2, checkpoints_per_epoch=2)
    )
    assert (plan.steps_per_epoch, plan.total_steps, plan.save_steps) == (5, 10, 2)


def test_average_is_the_elementwise_mean():
    a = {"w": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "b": torch.tensor([0.5], dtype=torch.bfloat16)}
    b = {"w": torch.tensor([[3.0, 2.0], [1.0, 0.0]]), "b": torch.tensor([1.5], dtype=torch.bfloat16)}
    c = {"w": torch.tensor([[2.0, 5.0], [2.0, 2.0]]), "b": torch.tensor([1.0], dtype=torch.bfloat16)}
    averaged = average_weights([a, b, c])
    assert torch.equal(averaged["w"], torch.tensor([[2.0, 3.0], [2.0, 2.0]]))
    assert averaged["b"].dtype == torch.bfloat16 and averaged["b"].item() == 1.0


def test_averaging_leaves_its_inputs_as_they_were():
    first, second = {"w": torch.tensor([1.0, 2.0], dtype=torch.float64)}, {"w": torch.tensor([3.0, 4.0])}
    averaged = average_weights([first, second])
    assert torch.equal(averaged["w"], torch.tensor([2.0, 3.0], dtype=torch.float64))
    assert torch.equal(first["w"], torch.tensor([1.0, 2.0], dtype=torch.float64))


def test_averaging_different_models_is_an_error():
    with pytest.raises(ValueError, match="checkpoint 1 has different weights than checkpoint 0"):
        average_weights([{"w": torch.zeros(1)}, {"v": torch.zeros(1)}])
