from __future__ import annotations

import pytest
from kedro.io import DatasetError

from openmath_kedro.datasets import TrainingCheckpointsDataset, TrainingRuns
from openmath_kedro.datasets.training_checkpoints import TRAINER_STATE


def _checkpoint(folder, run: str, step: int, *, complete: bool = True) -> None:
    directory = folder / run / f"checkpoint-{step}"
    directory.mkdir(parents=True)
    if complete:
        (directory / TRAINER_STATE).write_text("{}")


def test_loads_complete_checkpoints_by_run_and_numeric_step(tmp_path):
    for step in (10, 2):
        _checkpoint(tmp_path, "run-b", step)
    _checkpoint(tmp_path, "run-a", 5)
    _checkpoint(tmp_path, "run-a", 6, complete=False)  # a save cut short: no trainer state yet
    (tmp_path / "run-a" / "notes").mkdir()

    runs = TrainingCheckpointsDataset(path=str(tmp_path)).load()

    assert list(runs) == ["run-a/checkpoint-5", "run-b/checkpoint-2", "run-b/checkpoint-10"]
    assert [c.step for c in runs.of_run("run-b")] == [2, 10]
    assert runs.of_run("run-c") == []
    assert runs.run_folder("run-c") == tmp_path / "run-c"


def test_a_missing_folder_loads_as_no_checkpoints(tmp_path):
    runs = TrainingCheckpointsDataset(path=str(tmp_path / "nothing yet")).load()
    assert len(runs) == 0 and runs.folder == tmp_path / "nothing yet"


def test_saving_checkpoints_written_elsewhere_is_an_error(tmp_path):
    _checkpoint(tmp_path / "elsewhere", "run", 1)
    dataset = TrainingCheckpointsDataset(path=str(tmp_path / "checkpoints"))
    with pytest.raises(DatasetError, match="written to .*elsewhere, not here"):
        dataset.save(TrainingRuns(tmp_path / "elsewhere"))
    with pytest.raises(DatasetError, match="expected the TrainingRuns"):
        dataset.save(lambda folder: None)  # the old training-job protocol is gone
