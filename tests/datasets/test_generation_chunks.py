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


def test_a_chunk_with_engine_failures_is_saved_unfinished_until_generated_in_full(tmp_path):
    dataset = GenerationChunksDataset(path=str(tmp_path))
    failed = pd.DataFrame({"finish_reason": ["stop", "error"]})
    dataset.save({"k/00000-a": failed})
    assert [p.name for p in (tmp_path / "k").iterdir()] == ["00000-a.unfinished.jsonl"]
    assert dataset.load()["k/00000-a"].unfinished

    dataset.save({"k/00000-a": pd.DataFrame({"finish_reason": ["stop", "stop"]})})
    assert [p.name for p in (tmp_path / "k").iterdir()] == ["00000-a.jsonl"]
    chunk = dataset.load()["k/00000-a"]
    assert not chunk.unfinished and chunk()["finish_reason"].tolist() == ["stop", "stop"]


def test_the_plain_file_counts_when_a_kill_left_both(tmp_path):
    dataset = GenerationChunksDataset(path=str(tmp_path))
    dataset.save({"k/00000-a": pd.DataFrame({"finish_reason": ["error"]})})
    (tmp_path / "k" / "00000-a.jsonl").write_text('{"finish_reason": "stop"}\n')
    chunks = dataset.load()
    assert list(chunks) == ["k/00000-a"] and not chunks["k/00000-a"].unfinished


def test_the_after_save_check_runs_once_every_chunk_is_on_disk(tmp_path):
    dataset = GenerationChunksDataset(path=str(tmp_path))
    seen = []

    class Jobs(dict):
        def after_save(self) -> None:
            seen.append(sorted(dataset.load()))

    dataset.save(Jobs({"k/00000-a": pd.DataFrame({"x": [1]}), "k/00001-b": lambda: pd.DataFrame({"x": [2]})}))
    assert seen == [["k/00000-a", "k/00001-b"]]
