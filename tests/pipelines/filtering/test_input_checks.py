"""Bad input: a missing column or a wrong type in the graded table is an error naming the column."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from openmath_kedro.params import FilteringParams, ParameterError, validate_parameters
from openmath_kedro.pipelines.filtering.decontamination import CONTAMINATION_SCHEMA
from openmath_kedro.pipelines.filtering.nodes import filter_solutions
from openmath_kedro.pipelines.filtering.tables import SchemaError

from .graded_tables import graded, problems

NO_CONTAMINATION = pl.DataFrame(schema=CONTAMINATION_SCHEMA)


def run(table):
    return filter_solutions(table, problems(2), NO_CONTAMINATION, FilteringParams())


def test_missing_column_is_named():
    with pytest.raises(
        SchemaError, match=r"graded generations \(math\): column 'is_correct' is missing \(has "
    ):
        run(graded((0, "\\boxed{4}")).drop(columns="is_correct"))


def test_a_graded_table_without_rows_needs_no_columns():
    # what an empty JSON Lines file loads as: a benchmark that generated nothing (max_problems 0)
    kept, removed = run(pd.DataFrame())
    assert kept.is_empty() and removed.is_empty()


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("is_correct", ["yes"], r"column 'is_correct' should be boolean, got String, e.g. 'yes'"),
        ("sample_index", [0.5], r"column 'sample_index' should be integer, got Float64, e.g. 0.5"),
        ("generation", [42], r"column 'generation' should be string, got Int64, e.g. 42"),
        ("code_errors", ["many"], r"column 'code_errors' should be integer, got String"),
        ("is_correct", [None], r"column 'is_correct' has 1 missing values \(first in row 1\)"),
        ("is_correct", [True, None], r"column 'is_correct' has 1 missing values \(first in row 2\)"),
        ("generation", [["a", 1]], r"column 'generation' should hold string values but mixes types"),
    ],
)
def test_wrong_types_are_named(column, values, message):
    table = graded((0, "\\boxed{4}"), (1, "\\boxed{4}")).head(len(values))
    table[column] = pd.Series(values, dtype=object)
    with pytest.raises(SchemaError, match=message):
        run(table)


def test_polars_input_is_checked_the_same_way():
    table = pl.from_pandas(graded((0, "\\boxed{4}")).drop(columns=["sampling", "verdict"]))
    with pytest.raises(SchemaError, match=r"column 'sample_index' should be integer, got String"):
        run(table.with_columns(pl.col("sample_index").cast(pl.String)))
    kept, _ = run(table)
    assert kept.height == 1


def test_optional_columns_may_be_absent():
    table = graded((0, "\\boxed{4}")).drop(
        columns=["code_errors", "finish_reason", "predicted_answer", "model"]
    )
    kept, _ = run(table)
    assert kept.height == 1 and kept["model"].to_list() == [None]


def test_duplicate_keys_are_an_error():
    table = graded((0, "\\boxed{4}"), (0, "other \\boxed{4}"))
    table["sample_index"] = 0
    with pytest.raises(
        SchemaError, match=r"2 rows share a \(problem_id, sample_index\) key, e.g. \('math/train/0', 0\)"
    ):
        run(table)


def test_problems_table_is_checked():
    with pytest.raises(SchemaError, match=r"training problems: column 'problem' is missing"):
        filter_solutions(
            graded((0, "\\boxed{4}")),
            problems(2).drop(columns="problem"),
            NO_CONTAMINATION,
            FilteringParams(),
        )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"filtering": {"filters": {"correct": True}}},
            r"'filtering\.filters\.correct': Extra inputs are not permitted",
        ),
        (
            {"filtering": {"selection": {"downsampling": "random"}}},
            r"'filtering\.selection\.downsampling': Input should be 'fair' or 'naive'",
        ),
        ({"filtering": {"decontamination": {"threshold": 0}}}, r"'filtering\.decontamination\.threshold'"),
        (
            {"filtering": {"filters": {"min_chars": 10, "max_chars": 5}}},
            r"min_chars 10 is above filters\.max_chars 5",
        ),
        ({"filtering": {"selection": {"target_size": {"math": 0}}}}, r"target_size\.math must be at least 1"),
    ],
)
def test_invalid_parameters_are_named(params, message):
    with pytest.raises(ParameterError, match=message):
        validate_parameters(params)
