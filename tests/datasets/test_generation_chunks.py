"""Chunked generation storage: lazy saves, one chunk at a time, nothing partial after a failure."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from openmath_kedro.datasets import GenerationChunksDataset


def test_empty_folder_loads_as_no_chunks(tmp_path):
    assert GenerationChunksDataset(path=str(tmp_path / "missing")).load() == {}


def test_chunks_are_saved_lazily_and_kept_across_saves(tmp_path):
    dataset = GenerationChunksDataset(path=str(tmp_path))
    dataset.save({"key1/00000-aa": pd.DataFrame({"x": [1]})})
    computed = []

    def second() -> pd.DataFrame:
        computed.append("second")
        return pd.DataFrame({"x": [2, 3]})

    dataset.save({"key1/00001-bb": second})
    assert computed == ["second"]
    chunks = dataset.load()
    assert sorted(chunks) == ["key1/00000-aa", "key1/00001-bb"]
    assert chunks["key1/00001-bb"]()["x"].tolist() == [2, 3]


def test_a_failing_chunk_keeps_the_chunks_before_it(tmp_path):
    dataset = GenerationChunksDataset(path=str(tmp_path))

    def broken() -> pd.DataFrame:
        raise RuntimeError("engine died")

    with pytest.raises(DatasetError, match="engine died"):
        dataset.save(
            {
                "k/00000-a": pd.DataFrame({"x": [1]}),
                "k/00001-b": broken,
                "k/00002-c": pd.DataFrame({"x": [3]}),
            }
        )
    assert sorted(dataset.load()) == ["k/00000-a"]
    assert [p.name for p in (tmp_path / "k").iterdir()] == ["00000-a.jsonl"]  # no temporary file left


def test_chunk_ids_cannot_escape_the_folder(tmp_path):
    with pytest.raises(DatasetError, match="invalid chunk id"):
        GenerationChunksDataset(path=str(tmp_path)).save({"../outside": pd.DataFrame({"x": [1]})})
