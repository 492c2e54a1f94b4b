"""JSON Lines tables: round trip, missing values, atomic saves, preview, line-numbered errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from kedro.io import DatasetError

from openmath_kedro.datasets import JSONLinesDataset


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
