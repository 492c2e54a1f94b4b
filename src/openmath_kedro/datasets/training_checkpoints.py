"""Training checkpoints in the catalog: a folder of runs, each with the checkpoints its trainer saved."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from .atomic_write import apply_umask_modes
from .model_directory import ModelDirectory

TRAINER_STATE = (
    "trainer_state.json"  # written last by the HF Trainer: its presence marks a complete checkpoint
)
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


@dataclass(frozen=True)
class TrainingCheckpoint:
    """One saved training step: model (or LoRA adapter) weights, tokenizer, trainer state, our provenance."""

    path: Path

    @property
    def step(self) -> int:
        return int(_CHECKPOINT.fullmatch(self.path.name).group(1))

    @property
    def is_adapter(self) -> bool:
        return (self.path / "adapter_config.json").is_file()

    def trainer_state(self) -> dict[str, Any]:
        return json.loads((self.path / TRAINER_STATE).read_text())

    def as_model_directory(self) -> ModelDirectory:
        return ModelDirectory(path=self.path)


class TrainingCheckpointsDataset(AbstractDataset[Callable[[Path], None], dict[str, TrainingCheckpoint]]):
    """A folder ``<run key>/checkpoint-<step>/``.

    ``load`` returns ``{"<run key>/checkpoint-<step>": TrainingCheckpoint}`` for every complete checkpoint.
    ``save`` takes a training job (a function of the folder) and runs it: the trainer writes each checkpoint
    as it reaches it, so an interrupted run keeps its checkpoints and the next one resumes from the last.
    ``exists`` is False on purpose: whether training is complete depends on the parameters, which the training
    node checks.
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def _exists(self) -> bool:
        return False

    def _load(self) -> dict[str, TrainingCheckpoint]:
        if not self._path.is_dir():
            return {}
        found = {}
        for state in sorted(self._path.glob(f"*/checkpoint-*/{TRAINER_STATE}")):
            directory = state.parent
            if _CHECKPOINT.fullmatch(directory.name):
                found[f"{directory.parent.name}/{directory.name}"] = TrainingCheckpoint(path=directory)
        return dict(sorted(found.items(), key=lambda item: (item[0].split("/")[0], item[1].step)))

    def _save(self, data: Callable[[Path], None]) -> None:
        if not callable(data):
            raise DatasetError(
                f"{self._path}: expected a training job (a function of the folder), got {data!r}"
            )
        self._path.mkdir(parents=True, exist_ok=True)
        try:
            data(self._path)
        finally:
            apply_umask_modes(self._path)  # the trainer's safetensors files are written 0600
