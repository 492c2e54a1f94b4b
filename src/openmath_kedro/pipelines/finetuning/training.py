"""TRL SFT of the student: the trainer, our provenance in every checkpoint, resume, and weight averaging.

torch, transformers, trl and peft are imported inside the functions: building the pipeline must stay cheap.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openmath_kedro.datasets import ModelDirectory, TrainingCheckpoint
from openmath_kedro.datasets.atomic_write import apply_umask_modes
from openmath_kedro.datasets.model_directory import PROVENANCE_FILE
from openmath_kedro.datasets.training_checkpoints import TRAINER_STATE
from openmath_kedro.params import FinetuningParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingPlan:
    """Everything one training run needs; ``run_key`` names its folder of checkpoints."""

    run_key: str
    student: ModelDirectory
    examples: list[dict[str, str]]  # prompt, completion
    settings: FinetuningParams

    @property
    def steps_per_epoch(self) -> int:
        per_step = self.settings.per_device_batch_size * self.settings.gradient_accumulation_steps
        return max(1, math.ceil(len(self.examples) / per_step))

    @property
    def total_steps(self) -> int:
        if self.settings.max_steps is not None:
            return self.settings.max_steps
        return max(1, math.ceil(self.steps_per_epoch * self.settings.num_epochs))

    @property
    def save_steps(self) -> int:
        return max(1, self.steps_per_epoch // self.settings.checkpoints_per_epoch)


def use_bf16(precision: str) -> bool:
    """bf16 where the hardware has it: CUDA GPUs with bf16 support (CPU bf16 is several times slower here)."""
    import torch

    if precision == "fp32":
        return False
    available = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if precision == "bf16" and not available:
        raise ValueError(
            "finetuning.precision=bf16, but no CUDA device with bf16 is available; use auto or fp32"
        )
    return available


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def sft_config(plan: TrainingPlan, *, output_dir: Path) -> Any:
    from trl import SFTConfig

    settings = plan.settings
    return SFTConfig(
        output_dir=str(output_dir),
        completion_only_loss=True,  # the prompt is context, not a target
        max_length=settings.max_length,
        packing=settings.packing,
        per_device_train_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_ratio,  # a float below 1 is a share of the total steps
        weight_decay=settings.weight_decay,
        num_train_epochs=settings.num_epochs,
        max_steps=plan.total_steps,
        save_strategy="steps",
        save_steps=plan.save_steps,
        logging_steps=settings.logging_steps,
        bf16=use_bf16(settings.precision),
        gradient_checkpointing=settings.gradient_checkpointing,
        seed=settings.seed,
        data_seed=settings.seed,
        report_to=[],
        dataset_num_proc=1,
        dataloader_num_workers=0,
        dataloader_pin_memory=_has_cuda(),  # pinning only helps host-to-GPU copies
    )


def last_checkpoint(run_folder: Path) -> Path | None:
    """The complete checkpoint with the highest step in a run folder."""
    complete = [p.parent for p in run_folder.glob(f"checkpoint-*/{TRAINER_STATE}")]
    return max(complete, key=lambda p: TrainingCheckpoint(p).step, default=None)


def build_trainer(plan: TrainingPlan, *, output_dir: Path, resumed_from_step: int = 0) -> Any:
    """An ``SFTTrainer`` for the plan that writes our provenance into every checkpoint it saves."""
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTTrainer

    from datasets import Dataset

    provenance = {
        "kind": "finetuned",
        "run_key": plan.run_key,
        "student": str(plan.student.path),
        "student_provenance": plan.student.provenance,
        "method": plan.settings.method,
        "training_params": plan.settings.model_dump(),
        "examples": len(plan.examples),
        "resumed_from_step": resumed_from_step,
    }

    class RecordProvenance(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # noqa: ANN001 - the Trainer's callback signature
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            (folder / PROVENANCE_FILE).write_text(
                json.dumps(provenance | {"step": state.global_step}, indent=2)
            )
            _drop_older_optimizer_states(Path(args.output_dir), keep=folder)
            apply_umask_modes(
                folder
            )  # safetensors writes weights 0600; checkpoints are shared like other data
            return control

    tokenizer = plan.student.load_tokenizer()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(plan.student.path, dtype="float32")
    peft_config = None
    if plan.settings.method == "lora":
        from peft import LoraConfig

        lora = plan.settings.lora
        peft_config = LoraConfig(
            r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules,
            task_type="CAUSAL_LM",
        )  # fmt: skip
    return SFTTrainer(
        model=model,
        args=sft_config(plan, output_dir=output_dir),
        train_dataset=Dataset.from_list(plan.examples),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[RecordProvenance()],
    )


def _drop_older_optimizer_states(run_folder: Path, *, keep: Path) -> None:
    """Only the newest checkpoint is resumed from, so older ones keep just their weights (averaging needs
    those); optimizer state is twice the model in size (fp32 Adam moments)."""
    for checkpoint in run_folder.glob("checkpoint-*"):
        if checkpoint == keep:
            continue
        for state in checkpoint.glob("optimizer*"):
            shutil.rmtree(state) if state.is_dir() else state.unlink()


def train(plan: TrainingPlan, *, run_folder: Path) -> None:
    """Train (or resume from its last complete checkpoint) the run of ``plan`` in ``run_folder``."""
    resume = last_checkpoint(run_folder)
    trainer = build_trainer(
        plan, output_dir=run_folder, resumed_from_step=TrainingCheckpoint(resume).step if resume else 0
    )
    if resume:
        logger.info("finetuning: resuming run %s from %s", plan.run_key, resume.name)
    # the Trainer also saves at the last step (save_strategy "steps"), so the final weights are a checkpoint
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)


def checkpoint_state_dict(checkpoint: TrainingCheckpoint, *, student: ModelDirectory) -> dict[str, Any]:
    """The full model weights of a checkpoint (a LoRA adapter merged into the student)."""
    from transformers import AutoModelForCausalLM

    if checkpoint.is_adapter:
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(student.path, dtype="float32")
        return PeftModel.from_pretrained(base, checkpoint.path).merge_and_unload().state_dict()
    return AutoModelForCausalLM.from_pretrained(checkpoint.path, dtype="float32").state_dict()


def average_weights(state_dicts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Elementwise mean of same-shaped state dicts, accumulated in float64 and returned in each tensor's dtype.

    The dicts are consumed one at a time, so only the running sum and one checkpoint are in memory: averaging
    the checkpoints of a 7B model must not hold all of them at once.
    """
    import torch

    totals: dict[str, Any] = {}
    dtypes: dict[str, Any] = {}
    count = 0
    for index, state_dict in enumerate(state_dicts):
        if index == 0:
            # a copy even for float64 tensors (``.double()`` would return them as they are): the in-place
            # sums below must not write into the caller's first state dict
            totals = {key: tensor.to(torch.float64, copy=True) for key, tensor in state_dict.items()}
            dtypes = {key: tensor.dtype for key, tensor in state_dict.items()}
        elif state_dict.keys() != totals.keys():
            raise ValueError(f"checkpoint {index} has different weights than checkpoint 0")
        else:
            for key, tensor in state_dict.items():
                totals[key].add_(tensor.double())
        count += 1
    if count == 0:
        raise ValueError("no checkpoints to average")
    return {key: (total / count).to(dtypes[key]) for key, total in totals.items()}
