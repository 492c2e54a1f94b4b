"""Polars tables: round trip in both formats, atomic direct saves, cheap shortened previews, clear errors, and
what the Kedro parent brings (load_args, versioning, fsspec)."""

from __future__ import annotations

import uuid

import polars as pl
import pytest
from kedro.io import DataCatalog, DatasetError

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


def test_a_local_save_writes_the_file_directly(tmp_path, monkeypatch):
    # the parent's save builds the whole file in a BytesIO first: a local save must not go that way
    from kedro_datasets.polars import eager_polars_dataset

    monkeypatch.setattr(eager_polars_dataset, "BytesIO", None)
    dataset = PolarsTableDataset(filepath=str(tmp_path / "t.parquet"))
    dataset.save(TABLE)
    assert dataset.load().equals(TABLE)


def test_load_args_reach_the_reader(tmp_path):
    PolarsTableDataset(filepath=str(tmp_path / "t.parquet")).save(TABLE)
    dataset = PolarsTableDataset(filepath=str(tmp_path / "t.parquet"), load_args={"columns": ["problem_id"]})
    assert dataset.load().columns == ["problem_id"]


def test_versioned_entries_keep_every_save(tmp_path):
    entry = {
        "type": "openmath_kedro.datasets.polars_table.PolarsTableDataset",
        "filepath": str(tmp_path / "t.parquet"),
        "versioned": True,
    }
    for save_version, table in (
        ("2026-01-01T00.00.00.000Z", TABLE),
        ("2026-01-02T00.00.00.000Z", TABLE.head(1)),
    ):
        DataCatalog.from_config({"table": entry}, save_version=save_version).save("table", table)
    assert sorted(p.name for p in (tmp_path / "t.parquet").iterdir()) == [
        "2026-01-01T00.00.00.000Z",
        "2026-01-02T00.00.00.000Z",
    ]
    assert DataCatalog.from_config({"table": entry}).load("table").height == 1  # the latest
    first = DataCatalog.from_config({"table": entry}, load_versions={"table": "2026-01-01T00.00.00.000Z"})
    assert first.load("table").height == 3


@pytest.mark.parametrize("file_format", ["parquet", "ndjson"])
def test_a_remote_filesystem_goes_through_fsspec(file_format):
    filepath = f"memory://openmath-test/{uuid.uuid4().hex}/t.{file_format}"
    dataset = PolarsTableDataset(filepath=filepath, file_format=file_format)
    dataset.save(TABLE)
    assert dataset.exists()
    assert dataset.load().equals(TABLE)
    assert dataset.preview(nrows=1)["data"][0][1] == "x" * 299 + "…"
    if file_format == "ndjson":
        dataset.save(pl.DataFrame())
        assert dataset.load().is_empty()
