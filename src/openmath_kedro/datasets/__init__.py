"""Custom Kedro datasets of the project."""

from .generation_chunks import GenerationChunksDataset
from .json_lines import JSONLinesDataset
from .model_directory import LoadedModel, ModelDirectory, ModelDirectoryDataset, ModelSourceDataset
from .polars_table import PolarsTableDataset
from .training_checkpoints import TrainingCheckpoint, TrainingCheckpointsDataset, TrainingRuns
from .verified_file import RawFile, VerifiedFileDataset

__all__ = [
    "GenerationChunksDataset",
    "JSONLinesDataset",
    "LoadedModel",
    "ModelDirectory",
    "ModelDirectoryDataset",
    "ModelSourceDataset",
    "PolarsTableDataset",
    "RawFile",
    "TrainingCheckpoint",
    "TrainingCheckpointsDataset",
    "TrainingRuns",
    "VerifiedFileDataset",
]
