"""Training checkpoints in the catalog: a folder of runs, each with the checkpoints its trainer saved."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
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


class TrainingRuns(Mapping[str, TrainingCheckpoint]):
    """The complete checkpoints of a folder ``<run key>/checkpoint-<step>/``, keyed ``"<run key>/checkpoint-<step>"``
    in (run key, step) order, and the folder itself: the train node's trainer writes a run's checkpoints there
    (``folder / run key``) as it reaches them, so an interrupted run keeps them and the next one resumes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        found = {}
        for state in sorted(folder.glob(f"*/checkpoint-*/{TRAINER_STATE}")) if folder.is_dir() else ():
            directory = state.parent
            if _CHECKPOINT.fullmatch(directory.name):
                found[f"{directory.parent.name}/{directory.name}"] = TrainingCheckpoint(path=directory)
        self._checkpoints = dict(
            sorted(found.items(), key=lambda item: (item[0].split("/")[0], item[1].step))
        )

    def run_folder(self, run_key: str) -> Path:
        return self.folder / run_key

    def of_run(self, run_key: str) -> list[TrainingCheckpoint]:
        """The run's complete checkpoints, by step."""
        return [c for key, c in self._checkpoints.items() if key.startswith(f"{run_key}/")]

    def __getitem__(self, key: str) -> TrainingCheckpoint:
        return self._checkpoints[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._checkpoints)

    def __len__(self) -> int:
        return len(self._checkpoints)

    def __repr__(self) -> str:
        return f"TrainingRuns({str(self.folder)!r}, {len(self)} checkpoints)"


class TrainingCheckpointsDataset(AbstractDataset[TrainingRuns, TrainingRuns]):
    """A folder ``<run key>/checkpoint-<step>/`` of training checkpoints.

    ``load`` returns the folder's :class:`TrainingRuns` (every complete checkpoint, and the folder the train node
    trains into). The training itself is the train node's work: the Trainer must write checkpoints as it
    reaches them (that is what makes an interrupted run resumable), so the node trains into the loaded
    folder and returns what is there; ``save`` checks that what it is given lies in this folder and is
    complete, and gives the files the project's permissions (the Trainer writes safetensors 0600). ``exists``
    is False on purpose: whether training is complete depends on the parameters, which the train node checks.
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def _exists(self) -> bool:
        return False

    def _load(self) -> TrainingRuns:
        return TrainingRuns(self._path)

    def _save(self, data: TrainingRuns) -> None:
        if not isinstance(data, TrainingRuns):
            raise DatasetError(
                f"{self._path}: expected the TrainingRuns the train node returns, got {data!r}"
            )
        if data.folder.resolve() != self._path.resolve():
            raise DatasetError(
                f"{self._path}: the checkpoints were written to {data.folder}, not here; the train node "
                "trains into the folder it loads from this dataset's path"
            )
        self._path.mkdir(parents=True, exist_ok=True)
        apply_umask_modes(self._path)
