"""Generated samples stored as small JSON Lines chunks, so an interrupted run loses at most one chunk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from openmath_kedro.code_interpreter import ENGINE_ERROR

from .json_lines import JSONLinesDataset

ChunkData = pd.DataFrame | Callable[[], pd.DataFrame]

UNFINISHED = ".unfinished"  # file name suffix of a chunk that holds samples the engine failed


@dataclass(frozen=True)
class SavedChunk:
    """Loads one saved chunk. ``unfinished``: some of its samples failed in the engine (``finish_reason``
    ``error``), so the generation node generates those again; the chunk still loads, error rows included."""

    dataset: JSONLinesDataset
    unfinished: bool = False

    def __call__(self) -> pd.DataFrame:
        return self.dataset.load()


class GenerationChunksDataset(AbstractDataset[dict[str, ChunkData], dict[str, SavedChunk]]):
    """A folder of ``<chunk id>.jsonl`` files (chunk ids may contain ``/``).

    ``load`` returns ``{chunk id: SavedChunk}`` (a function that loads it; empty when nothing was generated
    yet). ``save`` takes ``{chunk id: table or function that computes it}`` and writes each chunk atomically
    as soon as it is computed, one after another, leaving every other chunk alone: a run killed at any moment
    keeps every chunk it finished and no partial one. A chunk with rows the engine failed is written as
    ``<chunk id>.unfinished.jsonl`` and loads as ``unfinished``; once generated in full it is written under its
    plain name and the unfinished file removed (were both left by a kill in between, the plain one counts).
    When the saved mapping has an ``after_save()`` method (the generation node's check of engine failures),
    it runs once every chunk is on disk. ``exists`` is False on purpose: whether the chunks are complete
    depends on the parameters, which the generation node checks.
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

    def _file(self, chunk_id: str, *, unfinished: bool) -> Path:
        if chunk_id.startswith("/") or ".." in Path(chunk_id).parts or chunk_id.endswith(UNFINISHED):
            raise DatasetError(f"{self._path}: invalid chunk id {chunk_id!r}")
        return self._path / f"{chunk_id}{UNFINISHED if unfinished else ''}.jsonl"

    def _load(self) -> dict[str, SavedChunk]:
        if not self._path.is_dir():
            return {}
        chunks: dict[str, SavedChunk] = {}
        for file in self._path.rglob("*.jsonl"):
            if file.name.startswith("."):
                continue
            name = file.relative_to(self._path).with_suffix("").as_posix()
            unfinished = name.endswith(UNFINISHED)
            chunk_id = name.removesuffix(UNFINISHED)
            if unfinished and chunk_id in chunks:
                continue  # the chunk was generated in full since: the plain file counts
            chunks[chunk_id] = SavedChunk(JSONLinesDataset(filepath=str(file)), unfinished=unfinished)
        return dict(sorted(chunks.items()))

    def _save(self, data: dict[str, ChunkData]) -> None:
        for chunk_id, chunk in data.items():
            table = chunk() if callable(chunk) else chunk
            unfinished = _has_engine_errors(table)
            JSONLinesDataset(filepath=str(self._file(chunk_id, unfinished=unfinished))).save(table)
            self._file(chunk_id, unfinished=not unfinished).unlink(missing_ok=True)
        if callable(after_save := getattr(data, "after_save", None)):
            after_save()


def _has_engine_errors(table: pd.DataFrame) -> bool:
    return "finish_reason" in table.columns and bool((table["finish_reason"] == ENGINE_ERROR).any())
