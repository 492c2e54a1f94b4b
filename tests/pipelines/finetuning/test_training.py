"""Real TRL training of the embedded student on CPU, through the nodes and the checkpoints dataset."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import torch
from safetensors.torch import load_file

from openmath_kedro.datasets import ModelDirectory, ModelDirectoryDataset, TrainingCheckpointsDataset
from openmath_kedro.datasets.model_directory import PROVENANCE_FILE
from openmath_kedro.params import FinetuningParams
from openmath_kedro.pipelines.finetuning.nodes import (
    average_checkpoints,
    plan_training,
    train_student,
    training_curves,
)
from openmath_kedro.pipelines.finetuning.training import build_trainer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

EXAMPLES = [(3, 4), (5, 8), (12, 7), (6, 9), (21, 13), (8, 30), (14, 14), (40, 2)]
SFT_SET = pl.DataFrame(
    {
        "prompt": [f"Question:\nWhat is {a} + {b}?\n\nMy solution:\n" for a, b in EXAMPLES],
        "completion": [
            f"<llm-code>\nprint({a} + {b})\n</llm-code>\n<llm-code-output>\n{a + b}\n</llm-code-output>\n"
            f"The answer is \\boxed{{{a + b}}}."
            for a, b in EXAMPLES
        ],
    }
)
# one example per step, a checkpoint per epoch (8 steps): checkpoints at steps 8 and 16
PARAMS = FinetuningParams.model_validate(
    {
        "per_device_batch_size": 1,
        "learning_rate": 1e-4,
        "lr_scheduler": "constant",
        "num_epochs": 2,
        "max_steps": None,
        "checkpoints_per_epoch": 1,
        "max_length": 256,
    }
)


@pytest.fixture(scope="module")
def student(embedded_checkpoint_dir: Path) -> ModelDirectory:
    return ModelDirectory(path=embedded_checkpoint_dir)


def run_train_node(folder: Path, student: ModelDirectory, params: FinetuningParams) -> dict:
    checkpoints = TrainingCheckpointsDataset(path=str(folder))
    trained, run = train_student(SFT_SET, student, checkpoints.load(), params)
    checkpoints.save(trained)
    assert trained.of_run(run["run_key"]) == checkpoints.load().of_run(run["run_key"])
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory, student) -> dict:
    folder = tmp_path_factory.mktemp("finetuning") / "checkpoints"
    run = run_train_node(folder, student, PARAMS)
    return {"folder": folder, "run": run, "checkpoints": TrainingCheckpointsDataset(path=str(folder)).load()}


def test_loss_is_on_the_completion_only(student, tmp_path):
    plan = plan_training(SFT_SET, student, PARAMS)
    trainer = build_trainer(plan, output_dir=tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    tokenizer = student.load_tokenizer()
    labels, ids = batch["labels"][0], batch["input_ids"][0]
    scored = tokenizer.decode(ids[labels != -100])
    prompt_ids = tokenizer(SFT_SET["prompt"][0])["input_ids"]
    assert (labels[: len(prompt_ids)] == -100).all()  # no prompt token is a target
    assert scored.startswith("<llm-code>") and "\\boxed{" in scored  # every completion token is
    assert "Question" not in scored


def test_training_drives_the_loss_well_down(trained):
    log, chart = training_curves(trained["checkpoints"], trained["run"])
    assert log["step"].tolist() == list(range(1, 17))
    first, last = log["loss"].iloc[:2].mean(), log["loss"].iloc[-2:].mean()
    assert last < 0.3 * first, log["loss"].tolist()
    assert {trace.name for trace in chart.data} == {"training loss", "learning rate"}


def test_checkpoints_are_saved_per_epoch_with_provenance(trained):
    checkpoints = list(trained["checkpoints"].values())
    assert [c.step for c in checkpoints] == [8, 16]
    provenance = json.loads((checkpoints[-1].path / PROVENANCE_FILE).read_text())
    assert provenance["run_key"] == trained["run"]["run_key"] and provenance["step"] == 16
    assert provenance["training_params"]["learning_rate"] == 1e-4
    assert (checkpoints[-1].path / "tokenizer.json").is_file()


def test_a_complete_run_trains_nothing(trained, student):
    before = {p: p.stat().st_mtime for p in trained["folder"].rglob("model.safetensors")}
    run = run_train_node(trained["folder"], student, PARAMS)
    assert run == trained["run"]
    assert {p: p.stat().st_mtime for p in trained["folder"].rglob("model.safetensors")} == before


def test_averaging_gives_the_elementwise_mean(trained, student, tmp_path):
    averaged = average_checkpoints(trained["checkpoints"], trained["run"], student, FinetuningParams())
    ModelDirectoryDataset(path=str(tmp_path / "averaged")).save(averaged)
    weights = [load_file(c.path / "model.safetensors") for c in trained["checkpoints"].values()]
    mean = load_file(tmp_path / "averaged" / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(weights[0][name], weights[1][name])
    expected = (weights[0][name].double() + weights[1][name].double()) / 2
    torch.testing.assert_close(mean[name].double(), expected.to(mean[name].dtype).double())


def test_resume_continues_from_the_saved_step(student, tmp_path, monkeypatch):
    from transformers import TrainerCallback

    from openmath_kedro.pipelines.finetuning import training

    class CrashAfterFirstCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 8:
                raise RuntimeError("the machine went away")

    def crashing_trainer(*args, **kwargs):
        trainer = build_trainer(*args, **kwargs)
        trainer.add_callback(CrashAfterFirstCheckpoint())
        return trainer

    folder = tmp_path / "checkpoints"
    monkeypatch.setattr(training, "build_trainer", crashing_trainer)
    with pytest.raises(RuntimeError, match="the machine went away"):  # in the node, where training happens
        run_train_node(folder, student, PARAMS)
    monkeypatch.undo()
    [run_folder] = folder.iterdir()
    assert sorted(p.name for p in run_folder.glob("checkpoint-*")) == ["checkpoint-8"]
    assert (run_folder / "checkpoint-8" / "optimizer.pt").is_file()  # what the resume needs

    run_train_node(folder, student, PARAMS)
    resumed = json.loads((run_folder / "checkpoint-16" / PROVENANCE_FILE).read_text())
    assert resumed["resumed_from_step"] == 8
    state = json.loads((run_folder / "checkpoint-16" / "trainer_state.json").read_text())
    assert state["global_step"] == 16
    assert [row["step"] for row in state["log_history"] if "loss" in row] == list(range(1, 17))
    # older checkpoints keep their weights for averaging, only the newest its optimizer state
    assert not list((run_folder / "checkpoint-8").glob("optimizer*"))
    assert (run_folder / "checkpoint-8" / "model.safetensors").is_file()


def test_lora_adapters_are_merged_into_a_standalone_model(student, tmp_path):
    params = FinetuningParams.model_validate(
        PARAMS.model_dump()
        | {"method": "lora", "max_steps": 2, "checkpoints_per_epoch": 8, "learning_rate": 1e-3}
    )
    folder = tmp_path / "checkpoints"
    run = run_train_node(folder, student, params)
    checkpoints = TrainingCheckpointsDataset(path=str(folder)).load()
    assert [c.is_adapter for c in checkpoints.values()] == [True, True]
    merged = average_checkpoints(checkpoints, run, student, params)
    ModelDirectoryDataset(path=str(tmp_path / "merged")).save(merged)
    weights = load_file(tmp_path / "merged" / "model.safetensors")
    original = load_file(student.path / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert weights[name].shape == original[name].shape and not any("lora" in key for key in weights)
    assert not torch.equal(weights[name].float(), original[name].float())  # the adapters changed the weights


def test_the_averaged_checkpoint_generates_in_vllm(trained, student, tmp_path):
    from openmath_kedro.engines import GenerationRequest, SamplingParams, create_engine

    folder = tmp_path / "finetuned_student"
    ModelDirectoryDataset(path=str(folder)).save(
        average_checkpoints(trained["checkpoints"], trained["run"], student, FinetuningParams())
    )
    engine = create_engine(kind="vllm", model=str(folder), dtype="float32", max_model_len=1024)
    try:
        [completion] = engine.generate(
            [GenerationRequest(SFT_SET["prompt"][0], SamplingParams(temperature=0.0, max_tokens=24))]
        )
    finally:
        engine.close()
    assert completion.error is None and completion.tokens_out > 0
    assert completion.text.startswith("<llm-code>")  # it learned the solution format it was trained on
