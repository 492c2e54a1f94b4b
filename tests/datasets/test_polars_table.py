"""Polars tables: round trip in both formats, atomic saves, cheap shortened previews, clear errors."""

from __future__ import annotations

import polars as pl
import pytest
from kedro.io import DatasetError

from openmath_kedro.datasets.polars_table import PolarsTableDataset

TABLE = pl.DataFrame(
    {
        "problem_id": ["math/train/0", "math/train/1", "math/train/2"],
        "solution": ["x" * 1000, "short é", None],
        "verdict": [{"status": "equivalent"}, {"status": "no_answer"}, None],
        "uses_code": [True, False, True],
    }
)


@pytest.mark.parametrize("file_format", ["parquet", "ndjson"])
def test_round_trip(tmp_path, file_format):
    dataset = PolarsTableDataset(
        filepath=str(tmp_path / "t" / f"table.{file_format}"), file_format=file_format
    )
    dataset.save(TABLE)
    assert dataset.exists()
    assert dataset.load().equals(TABLE)


def test_save_args_reach_the_writer(tmp_path):
    dataset = PolarsTableDataset(
        filepath=str(tmp_path / "t.parquet"), save_args={"compression": "zstd", "compression_level": 1}
    )
    dataset.save(TABLE)
    assert pl.read_parquet_schema(tmp_path / "t.parquet") == TABLE.schema


def test_failed_save_keeps_the_previous_table(tmp_path):
    dataset = PolarsTableDataset(filepath=str(tmp_path / "t.parquet"), save_args={"compression": "no-such"})
    PolarsTableDataset(filepath=str(tmp_path / "t.parquet")).save(TABLE)
    with pytest.raises(DatasetError):
        dataset.save(TABLE.head(1))
    assert dataset.load().height == 3
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]  # no temporary file left


@pytest.mark.parametrize("file_format", ["parquet", "ndjson"])
def test_preview_reads_the_first_rows_and_shortens_texts(tmp_path, file_format):
    dataset = PolarsTableDataset(filepath=str(tmp_path / f"t.{file_format}"), file_format=file_format)
    dataset.save(TABLE)
    preview = dataset.preview(nrows=2)
    assert preview["columns"] == ["problem_id", "solution", "verdict", "uses_code"]
    assert len(preview["data"]) == 2
    assert preview["data"][0][1] == "x" * 299 + "…" and preview["data"][1][1] == "short é"


def test_an_empty_ndjson_table_loads(tmp_path):
    dataset = PolarsTableDataset(filepath=str(tmp_path / "t.jsonl"), file_format="ndjson")
    dataset.save(pl.DataFrame())
    assert dataset.load().is_empty()


def test_wrong_data_and_format_are_errors(tmp_path):
    with pytest.raises(DatasetError, match="file_format must be one of parquet, ndjson, got 'csv'"):
        PolarsTableDataset(filepath=str(tmp_path / "t.csv"), file_format="csv")
    with pytest.raises(DatasetError, match="expected a polars DataFrame, got dict"):
        PolarsTableDataset(filepath=str(tmp_path / "t.parquet")).save({"a": 1})
