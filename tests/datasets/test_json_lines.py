"""JSON Lines tables: exact round trip, missing values, atomic saves, preview, line-numbered errors, the
polars face of the same file, versioning and fsspec."""

from __future__ import annotations

import json
import uuid

import pandas as pd
import polars as pl
import pytest
from kedro.io import DataCatalog, DatasetError

from openmath_kedro.datasets import JSONLinesDataset
from openmath_kedro.datasets.polars_table import PolarsTableDataset


def test_round_trip_keeps_nested_values_and_missing_answers(tmp_path):
    table = pd.DataFrame(
        {
            "id": ["math/train/0", "math/train/1"],
            "expected_answer": ["\\frac{1}{2}", None],
            "metadata": [{"level": 5, "subject": "Algebra"}, {"level": None, "subject": "Geometry"}],
        }
    )
    dataset = JSONLinesDataset(filepath=str(tmp_path / "t.jsonl"))
    dataset.save(table)
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert json.loads(lines[1])["expected_answer"] is None  # null, never NaN (not valid JSON)
    loaded = dataset.load()
    assert loaded["metadata"].tolist() == table["metadata"].tolist()
    assert loaded["expected_answer"].iloc[0] == "\\frac{1}{2}"


def test_failed_save_keeps_the_previous_table(tmp_path):
    dataset = JSONLinesDataset(filepath=str(tmp_path / "t.jsonl"))
    dataset.save(pd.DataFrame({"a": [1]}))
    with pytest.raises(DatasetError, match="not JSON serializable: object"):
        dataset.save(pd.DataFrame({"a": [2, object()]}))
    assert dataset.load()["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]


def test_malformed_line_is_named(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DatasetError, match=r"t\.jsonl, line 2: invalid JSON"):
        JSONLinesDataset(filepath=str(tmp_path / "t.jsonl")).load()


def test_preview_shortens_long_text(tmp_path):
    dataset = JSONLinesDataset(filepath=str(tmp_path / "t.jsonl"))
    dataset.save(pd.DataFrame({"problem": ["x" * 1000, "short", "third"]}))
    preview = dataset.preview(nrows=2)
    assert preview["columns"] == ["problem"]
    assert len(preview["data"]) == 2
    assert len(preview["data"][0][0]) == 300 and preview["data"][0][0].endswith("…")


def test_values_of_mixed_types_and_uneven_dicts_come_back_as_saved(tmp_path):
    # what a typed reader (polars) would change: a number beside strings, keys only some dicts have, lists
    table = pd.DataFrame(
        {
            "expected_answer": ["84", 3, 2.5],
            "sampling": [{"temperature": 0.7, "stop": ["\nQuestion:"]}, {"temperature": 0.0}, {}],
        }
    )
    dataset = JSONLinesDataset(filepath=str(tmp_path / "t.jsonl"))
    dataset.save(table)
    loaded = dataset.load()
    assert loaded["expected_answer"].tolist() == ["84", 3, 2.5]
    assert loaded["sampling"].tolist() == table["sampling"].tolist()


def test_texts_are_written_as_they_are(tmp_path):
    JSONLinesDataset(filepath=str(tmp_path / "t.jsonl")).save(pd.DataFrame({"id": ["math/train/0 é"]}))
    # not "math\/train\/0 \u00e9", as to_json would write it
    assert (tmp_path / "t.jsonl").read_text(encoding="utf-8") == '{"id": "math/train/0 é"}\n'


def test_the_polars_face_reads_the_same_file(tmp_path):
    # JSONLinesDataset and PolarsTableDataset(file_format="ndjson") can be transcoded views of one file
    pandas_face = JSONLinesDataset(filepath=str(tmp_path / "t.jsonl"))
    polars_face = PolarsTableDataset(filepath=str(tmp_path / "t.jsonl"), file_format="ndjson")
    pandas_face.save(pd.DataFrame({"id": ["a", "b"], "verdict": [{"status": "ok"}, {"status": None}]}))
    assert polars_face.load().to_dicts() == [
        {"id": "a", "verdict": {"status": "ok"}},
        {"id": "b", "verdict": {"status": None}},
    ]
    polars_face.save(pl.DataFrame({"id": ["c"], "n": [1]}))
    assert pandas_face.load().to_dict(orient="records") == [{"id": "c", "n": 1}]


def test_an_empty_table_round_trips(tmp_path):
    dataset = JSONLinesDataset(filepath=str(tmp_path / "t.jsonl"))
    dataset.save(pd.DataFrame())
    assert dataset.load().empty


def test_preview_shows_nested_values_as_json(tmp_path):
    dataset = JSONLinesDataset(filepath=str(tmp_path / "t.jsonl"))
    dataset.save(pd.DataFrame({"metadata": [{"level": 5}]}))
    assert dataset.preview()["data"] == [['{"level": 5}']]


def test_versioned_and_remote_entries(tmp_path):
    entry = {"type": "openmath_kedro.datasets.JSONLinesDataset", "versioned": True}
    table = pd.DataFrame({"id": ["a"], "metadata": [{"level": 5}]})
    for filepath in (str(tmp_path / "t.jsonl"), f"memory://openmath-test/{uuid.uuid4().hex}/t.jsonl"):
        catalog = DataCatalog.from_config({"table": entry | {"filepath": filepath}})
        catalog.save("table", table)
        assert catalog.load("table").to_dict(orient="records") == table.to_dict(orient="records")
    assert len(list((tmp_path / "t.jsonl").iterdir())) == 1  # a version folder
