"""Generated samples stored as small JSON Lines chunks, so an interrupted run loses at most one chunk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from kedro.io import DatasetError
from kedro_datasets.partitions import PartitionedDataset

from openmath_kedro.code_interpreter import ENGINE_ERROR

from .json_lines import JSONLinesDataset

ChunkData = pd.DataFrame | Callable[[], pd.DataFrame]

SUFFIX = ".jsonl"
UNFINISHED = ".unfinished"  # before SUFFIX: the file of a chunk that holds samples the engine failed


@dataclass(frozen=True)
class SavedChunk:
    """Loads one saved chunk (as a partition's load function does). ``unfinished``: some of its samples failed
    in the engine (``finish_reason`` ``error``), so the generation node generates those again; the chunk
    still loads, error rows included."""

    load: Callable[[], pd.DataFrame]
    unfinished: bool = False

    def __call__(self) -> pd.DataFrame:
        return self.load()


class GenerationChunksDataset(PartitionedDataset):
    """A ``PartitionedDataset`` of ``<chunk id>.jsonl`` JSON Lines partitions (chunk ids may contain ``/``),
    saved lazily: the one place where the project saves while a node computes (docs/runs.md).

    What it adds to the partitioned dataset: ``save`` takes ``{chunk id: table or function that computes it}``
    and writes each chunk atomically as soon as it is computed, one after another, leaving every other chunk
    alone, so a run killed at any moment keeps every chunk it finished and no partial one. A chunk with
    rows the engine failed is written as ``<chunk id>.unfinished.jsonl`` and loads as a
    :class:`SavedChunk` marked ``unfinished``; once generated in full it is written under its plain name and
    the unfinished file removed (were both left by a kill in between, the plain one counts). When the saved
    mapping has an ``after_save()`` method (the generation node's check of engine failures), it runs once
    every chunk is on disk. ``load`` of an empty or missing folder is ``{}`` (nothing generated yet), not an
    error. ``exists`` is False on purpose: whether the chunks are complete depends on the parameters, which
    the generation node checks.
    """

    def __init__(
        self,
        *,
        path: str,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            path=path,
            dataset=JSONLinesDataset,
            filename_suffix=SUFFIX,
            credentials=credentials,
            fs_args=fs_args,
            metadata=metadata,
        )

    def _exists(self) -> bool:
        return False

    def _load(self) -> dict[str, SavedChunk]:
        self._invalidate_caches()
        if not self._list_partitions():  # nothing generated yet: the parent would call that an error
            return {}
        partitions = super().load.__wrapped__(self)  # the parent's load without its error wrapper, as below
        chunks: dict[str, SavedChunk] = {}
        for partition_id, load in sorted(partitions.items()):
            if partition_id.split("/")[-1].startswith("."):
                continue
            chunk_id = partition_id.removesuffix(UNFINISHED)
            unfinished = chunk_id != partition_id
            if unfinished and chunk_id in chunks:
                continue  # the chunk was generated in full since: the plain file counts
            chunks[chunk_id] = SavedChunk(load, unfinished=unfinished)
        return dict(sorted(chunks.items()))

    def _save(self, data: dict[str, ChunkData]) -> None:
        for chunk_id, chunk in data.items():
            if chunk_id.endswith(UNFINISHED) or chunk_id.startswith("/") or ".." in chunk_id.split("/"):
                raise DatasetError(f"{self._path}: invalid chunk id {chunk_id!r}")
            table = chunk() if callable(chunk) else chunk
            unfinished = _has_engine_errors(table)
            super().save.__wrapped__(self, {chunk_id + (UNFINISHED if unfinished else ""): table})
            other = self._partition_to_path(chunk_id + ("" if unfinished else UNFINISHED))
            if self._filesystem.exists(other):
                self._filesystem.rm_file(other)
        self._invalidate_caches()
        if callable(after_save := getattr(data, "after_save", None)):
            after_save()


def _has_engine_errors(table: pd.DataFrame) -> bool:
    return "finish_reason" in table.columns and bool((table["finish_reason"] == ENGINE_ERROR).any())
