"""The tables of the filtering pipeline: input schemas, conversion to polars, and removal bookkeeping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import polars as pl

KEYS = ["problem_id", "sample_index"]
REMOVED_SCHEMA = {
    "benchmark": pl.String,
    "problem_id": pl.String,
    "sample_index": pl.Int64,
    "step": pl.String,
    "reason": pl.String,
}


class SchemaError(ValueError):
    """An input table lacks a column the filtering needs, or a column has the wrong type."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # "string", "integer" or "boolean"
    required: bool = True


_KIND_CHECKS: dict[str, Callable[[pl.DataType], bool]] = {
    "string": lambda dtype: dtype == pl.String,
    "integer": lambda dtype: dtype.is_integer(),
    "boolean": lambda dtype: dtype == pl.Boolean,
}
_KIND_TYPES = {"string": pl.String, "integer": pl.Int64, "boolean": pl.Boolean}

GRADED_COLUMNS = (
    ColumnSpec("problem_id", "string"),
    ColumnSpec("sample_index", "integer"),
    ColumnSpec("generation", "string"),
    ColumnSpec("is_correct", "boolean"),
    # generation records have them; tables from elsewhere may not (the rules then fall back to the text)
    ColumnSpec("num_code_calls", "integer", required=False),
    ColumnSpec("code_errors", "integer", required=False),
    ColumnSpec("finish_reason", "string", required=False),
    ColumnSpec("predicted_answer", "string", required=False),
    ColumnSpec("model", "string", required=False),
    ColumnSpec("generation_run", "string", required=False),  # the named generation run of a pooled table
)
PROBLEM_COLUMNS = (
    ColumnSpec("id", "string"),
    ColumnSpec("benchmark", "string"),
    ColumnSpec("problem", "string"),
)


def graded_solutions(table: pd.DataFrame | pl.DataFrame, *, benchmark: str) -> pl.DataFrame:
    """The graded generations as polars, checked: every column the rules read, with its type.

    Optional columns that are absent come back as all-null columns, so later steps need not ask.
    Duplicate ``(problem_id, sample_index)`` keys are an error (the audit names rows by them).
    """
    frame = _checked(table, GRADED_COLUMNS, what=f"graded generations ({benchmark})")
    duplicated = frame.select(KEYS).is_duplicated()
    if duplicated.any():
        first = frame.filter(duplicated).row(0, named=True)
        raise SchemaError(
            f"graded generations ({benchmark}): {int(duplicated.sum())} rows share a (problem_id, sample_index) "
            f"key, e.g. ({first['problem_id']!r}, {first['sample_index']})"
        )
    return frame.with_columns(pl.col("sample_index").cast(pl.Int64), pl.lit(benchmark).alias("benchmark"))


def problem_frame(problems: pd.DataFrame | pl.DataFrame, *, what: str) -> pl.DataFrame:
    """``id``, ``benchmark``, ``problem`` and, where ``metadata`` has them, MATH's ``subject`` and ``level``."""
    frame = _checked(problems, PROBLEM_COLUMNS, what=what)
    metadata = _column_values(problems, "metadata") or [None] * frame.height
    return frame.with_columns(
        pl.Series(
            "subject", [_text(_field(entry, "subject", "type")) for entry in metadata], dtype=pl.String
        ),
        pl.Series("level", [_text(_field(entry, "level")) for entry in metadata], dtype=pl.String),
    )


def benchmark_of(problems: pl.DataFrame) -> str:
    """The one benchmark a problems table belongs to."""
    names = problems["benchmark"].unique().to_list()
    if len(names) != 1:
        raise SchemaError(f"expected the problems of one benchmark, got {names or 'an empty table'}")
    return str(names[0])


def remove_rows(
    frame: pl.DataFrame, *, step: str, drop: pl.Expr, reason: pl.Expr
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows kept, removed rows in the audit's form).

    ``reason`` is evaluated on the removed rows only (cheap when few go), so it must not use window
    functions: add what it needs as columns first.
    """
    mask = frame.select(drop.fill_null(False)).to_series()
    if not mask.any():
        return frame, empty_removed()
    removed = (
        frame.with_columns(mask.alias("_removed"))
        .lazy()  # lazily, so only the columns the reason reads are gathered
        .filter(pl.col("_removed"))
        .select("benchmark", *KEYS, pl.lit(step).alias("step"), reason.alias("reason"))
        .collect()
    )
    return frame.filter(~mask), removed.cast(REMOVED_SCHEMA)


def empty_removed() -> pl.DataFrame:
    return pl.DataFrame(schema=REMOVED_SCHEMA)


def _checked(table: pd.DataFrame | pl.DataFrame, specs: tuple[ColumnSpec, ...], *, what: str) -> pl.DataFrame:
    present = set(table.columns)
    columns = []
    for spec in specs:
        if spec.name not in present:
            # a table without rows may lack columns (empty JSON Lines files do)
            if spec.required and len(table):
                raise SchemaError(
                    f"{what}: column '{spec.name}' is missing (has {', '.join(map(str, table.columns)) or 'none'})"
                )
            columns.append(pl.Series(spec.name, [None] * len(table), dtype=_KIND_TYPES[spec.kind]))
            continue
        columns.append(_column(table, spec, what=what))
    return pl.DataFrame(columns)


def _column(table: pd.DataFrame | pl.DataFrame, spec: ColumnSpec, *, what: str) -> pl.Series:
    if isinstance(table, pl.DataFrame):
        series = table[spec.name]
    else:
        try:
            series = pl.from_pandas(table[spec.name])
        except Exception as error:  # pyarrow refuses mixed Python types in an object column
            raise SchemaError(
                f"{what}: column '{spec.name}' should hold {spec.kind} values but mixes types "
                f"({type(error).__name__}: {str(error)[:200]})"
            ) from error
    series = series.rename(spec.name)
    if series.null_count() == series.len():  # all missing: nulls carry no type (pandas makes them strings)
        series = series.cast(_KIND_TYPES[spec.kind])
    if not _KIND_CHECKS[spec.kind](series.dtype):
        first = series.drop_nulls().head(1).to_list()
        example = f", e.g. {first[0]!r}" if first else ""
        raise SchemaError(f"{what}: column '{spec.name}' should be {spec.kind}, got {series.dtype}{example}")
    if spec.required and series.null_count():
        row = int(series.is_null().arg_max() or 0) + 1  # rows count from 1, as lines do in messages
        raise SchemaError(
            f"{what}: column '{spec.name}' has {series.null_count()} missing values (first in row {row})"
        )
    return series


def _column_values(table: pd.DataFrame | pl.DataFrame, name: str) -> list | None:
    if name not in table.columns:
        return None
    return table[name].to_list()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _field(entry: object, *names: str) -> object:
    if not isinstance(entry, dict):
        return None
    for name in names:
        if entry.get(name) is not None:
            return entry[name]
    return None
