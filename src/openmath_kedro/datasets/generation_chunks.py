"""Generated samples stored as small JSON Lines chunks, so an interrupted run loses at most one chunk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from .json_lines import JSONLinesDataset

ChunkData = pd.DataFrame | Callable[[], pd.DataFrame]


class GenerationChunksDataset(AbstractDataset[dict[str, ChunkData], dict[str, Callable[[], pd.DataFrame]]]):
    """A folder of ``<chunk id>.jsonl`` files (chunk ids may contain ``/``).

    ``load`` returns ``{chunk id: function that loads it}`` (empty when nothing was generated yet).
    ``save`` takes ``{chunk id: table or function that computes it}`` and writes each chunk atomically as soon
    as it is computed, one after another, leaving every other chunk alone: a run killed at any moment keeps
    every chunk it finished and no partial one. ``exists`` is False on purpose: whether the chunks are
    complete depends on the parameters, which the generation node checks.
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    @property
    def path(self) -> Path:
        return self._path

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def _exists(self) -> bool:
        return False

    def _chunk(self, chunk_id: str) -> JSONLinesDataset:
        if chunk_id.startswith("/") or ".." in Path(chunk_id).parts:
            raise DatasetError(f"{self._path}: invalid chunk id {chunk_id!r}")
        return JSONLinesDataset(filepath=str(self._path / f"{chunk_id}.jsonl"))

    def _load(self) -> dict[str, Callable[[], pd.DataFrame]]:
        if not self._path.is_dir():
            return {}
        chunk_ids = sorted(
            file.relative_to(self._path).with_suffix("").as_posix()
            for file in self._path.rglob("*.jsonl")
            if not file.name.startswith(".")
        )
        return {chunk_id: self._chunk(chunk_id).load for chunk_id in chunk_ids}

    def _save(self, data: dict[str, ChunkData]) -> None:
        for chunk_id, chunk in data.items():
            self._chunk(chunk_id).save(chunk() if callable(chunk) else chunk)
