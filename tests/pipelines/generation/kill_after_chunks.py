"""A chunk dataset that kill -9s its own run once a given number of chunks is saved, for the resume test.

Killing a run from outside when a chunk file appears races with the run (on a loaded machine it may have
saved one chunk or all of them by then). This kills from inside instead, at a point fixed by the chunk
dataset's contract: ``save`` computes each chunk just before writing it, one after another, so when chunk
``kill_after + 1`` is about to be computed exactly ``kill_after`` chunks are on disk and the next one is not
started. The whole process group goes (the run, its engine core and sandbox workers), as with ``kill -9``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import pandas as pd

from openmath_kedro.datasets import GenerationChunksDataset

ChunkData = pd.DataFrame | Callable[[], pd.DataFrame]  # what the generation node hands the dataset per chunk


class KillAfterChunksDataset(GenerationChunksDataset):
    """``GenerationChunksDataset`` whose run dies before it computes chunk ``kill_after + 1``."""

    def __init__(self, *, path: str, kill_after: int, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(path=path, metadata=metadata)
        self._kill_after = kill_after
        self._computed = 0

    def _save(self, data: dict[str, ChunkData]) -> None:
        for chunk_id, chunk in list(data.items()):
            data[chunk_id] = self._killing_before(chunk)  # in place: the mapping keeps its after_save check
        super()._save(data)

    def _killing_before(self, chunk: ChunkData) -> Callable[[], pd.DataFrame]:
        def compute() -> pd.DataFrame:
            if self._computed == self._kill_after:
                _kill_own_process_group()
            self._computed += 1
            return chunk() if callable(chunk) else chunk

        return compute


def _kill_own_process_group() -> None:
    if os.getpgrp() != os.getpid():  # never take down a group this run did not start (pytest's, a shell's)
        raise RuntimeError("KillAfterChunksDataset kills its process group: start the run in a new session")
    os.killpg(os.getpgrp(), signal.SIGKILL)
