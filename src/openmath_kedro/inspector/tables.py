"""Generations-shaped tables in polars: one canonical frame per dataset, per-problem statistics, filters, pages.

Everything the Analyze page shows is computed here, on the server, from an in-memory polars frame; the browser
only ever receives one page of problems (25 rows) and the solutions of the problem it opened. No Kedro, no Dash:
the functions take and return polars frames, so the benchmark (benchmarks/inspector_latency.py) measures exactly
what the app runs.

A table is *generations-shaped* when its rows are solutions: a ``problem_id`` and a ``sample_index`` column, and
the solution text (``generation``, or ``solution`` for filtering's kept rows) either in the table or in its
*companion*, the graded table of the same solutions (filtering's removed rows hold only problem_id,
sample_index, step and reason: their text and grading come from ``grading.{benchmark}.graded_generations``).

Interaction cost at OpenMathInstruct-1's scale (1.8M solutions, 15K problems): a change of the solution filters
aggregates the filtered rows per problem (one group-by over integer problem codes) and is cached per filter
set, so paging, sorting and the problem filters (subject, level, problem text) work on the 15K-row aggregate.
The solutions of one problem are a slice of the frame, which is sorted by problem at load (binary search).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import polars as pl

OUTCOMES = ("correct", "incorrect", "no answer", "ungraded")
TEXT_COLUMNS = ("generation", "solution")

# The canonical solution frame (one row per solution), whatever the dataset it came from.
SOLUTION_SCHEMA: dict[str, pl.DataType] = {
    "problem_id": pl.String(),
    "sample_index": pl.Int64(),
    "model": pl.String(),
    "benchmark": pl.String(),
    "generation": pl.String(),
    "predicted_answer": pl.String(),
    "is_correct": pl.Boolean(),
    "outcome": pl.String(),
    "finish_reason": pl.String(),
    "num_code_calls": pl.Int64(),
    "code_errors": pl.Int64(),
    "step": pl.String(),
    "reason": pl.String(),
    "tokens_out": pl.Int64(),
}
# Problem information joined to the per-problem table (from data_preparation's problem tables).
PROBLEM_SCHEMA: dict[str, pl.DataType] = {
    "problem_id": pl.String(),
    "problem": pl.String(),
    "expected_answer": pl.String(),
    "subject": pl.String(),
    "level": pl.Int64(),
}
PROBLEM_COLUMNS = [
    "problem_id", "benchmark", "subject", "level", "expected_answer", "samples", "correct", "incorrect",
    "no_answer", "with_code_errors", "majority_answer", "majority_votes", "problem",
]  # fmt: skip
SORTABLE = [
    "problem_id", "samples", "correct", "incorrect", "no_answer", "accuracy", "majority_votes", "with_code_errors",
]  # fmt: skip
LABEL_KEY = ["solution_set", "model", "problem_id", "sample_index"]


class NotGenerationsShaped(ValueError):
    """A dataset whose rows are not solutions (no problem_id / sample_index / solution text)."""


# ---------------------------------------------------------------------------------------------- normalizing


def to_polars(table: Any) -> pl.DataFrame:
    """A polars frame of a pandas or polars table; nested values other than the verdict's status are dropped."""
    if isinstance(table, pl.LazyFrame):
        table = table.collect()
    if isinstance(table, pl.DataFrame):
        if "verdict" in table.columns and isinstance(table.schema["verdict"], pl.Struct):
            fields_ = {f.name for f in table.schema["verdict"].fields}
            status = pl.col("verdict").struct.field("status") if "status" in fields_ else pl.lit(None)
            table = table.with_columns(verdict_status=status.cast(pl.String))
        nested = [name for name, dtype in table.schema.items() if dtype.is_nested()]
        return table.drop(nested)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a project dependency
        pd = None
    if pd is not None and isinstance(table, pd.DataFrame):
        table = table.copy(deep=False)
        if "verdict" in table.columns:
            table["verdict_status"] = [
                v.get("status") if isinstance(v, dict) else None for v in table["verdict"]
            ]
        keep = [name for name in table.columns if not _is_nested_pandas(table[name])]
        return pl.from_pandas(table[keep])
    raise NotGenerationsShaped(f"a {type(table).__name__}, not a table")


def _is_nested_pandas(column: Any) -> bool:
    if column.dtype != object:
        return False
    sample = column.dropna().head(50)
    return any(isinstance(value, (dict, list, tuple)) for value in sample)


def normalize(table: Any, *, companion: Any | None = None, benchmark: str | None = None) -> pl.DataFrame:
    """The canonical solution frame of a generations-shaped table, sorted by problem and sample.

    ``companion``: the graded generations of the same solutions, for the columns the table lacks (filtering's
    kept and removed rows). ``benchmark``: used when neither the table nor the problem id names one.
    """
    frame = to_polars(table)
    missing = [name for name in ("problem_id", "sample_index") if name not in frame.columns]
    if missing:
        raise NotGenerationsShaped(
            f"not generations-shaped: no {' or '.join(missing)} column (its columns: {', '.join(frame.columns)})"
        )
    own_text = next(
        (name for name in TEXT_COLUMNS if name in frame.columns), None
    )  # kept rows: the trimmed text
    if companion is not None:
        extra = to_polars(companion)
        if {"problem_id", "sample_index"} <= set(extra.columns):
            wanted = [
                c for c in extra.columns if c not in frame.columns or c in ("problem_id", "sample_index")
            ]
            extra = extra.select(wanted).with_columns(
                pl.col("problem_id").cast(pl.String), pl.col("sample_index").cast(pl.Int64)
            )
            frame = frame.with_columns(
                pl.col("problem_id").cast(pl.String), pl.col("sample_index").cast(pl.Int64)
            ).join(extra, on=["problem_id", "sample_index"], how="left")
    text = own_text or next((name for name in TEXT_COLUMNS if name in frame.columns), None)
    if text is None:
        raise NotGenerationsShaped(
            "not generations-shaped: no solution text (a generation or solution column) in the table "
            f"or in its graded companion (its columns: {', '.join(frame.columns)})"
        )
    columns = set(frame.columns)

    def column(name: str, dtype: pl.DataType, default: Any = None) -> pl.Expr:
        if name in columns:
            return pl.col(name).cast(dtype, strict=False).alias(name)
        return pl.lit(default, dtype=dtype).alias(name)

    if "benchmark" in columns:
        bench = pl.col("benchmark").cast(pl.String)
    else:
        bench = pl.col("problem_id").cast(pl.String).str.split("/").list.first()
        if benchmark:
            bench = (
                pl.when(pl.col("problem_id").cast(pl.String).str.contains("/"))
                .then(bench)
                .otherwise(pl.lit(benchmark))
            )
    graded = "is_correct" in columns or "verdict_status" in columns
    predicted = column("predicted_answer", pl.String())
    if "is_correct" in columns:
        correct = pl.col("is_correct").cast(pl.Boolean, strict=False)
    elif "verdict_status" in columns:
        correct = pl.col("verdict_status") == "equivalent"
    else:
        correct = pl.lit(None, dtype=pl.Boolean)
    no_answer = predicted.is_null()
    if "verdict_status" in columns:
        no_answer = no_answer | (pl.col("verdict_status") == "no_answer")
    outcome = (
        pl.when(pl.lit(not graded))
        .then(pl.lit("ungraded"))
        .when(correct.fill_null(False))
        .then(pl.lit("correct"))
        .when(no_answer)
        .then(pl.lit("no answer"))
        .otherwise(pl.lit("incorrect"))
    )
    code_calls = (
        column("num_code_calls", pl.Int64())
        if "num_code_calls" in columns
        else pl.col(text).cast(pl.String).str.count_matches("<llm-code>", literal=True).cast(pl.Int64)
    )
    normalized = frame.select(
        pl.col("problem_id").cast(pl.String),
        pl.col("sample_index").cast(pl.Int64),
        column("model", pl.String(), "").fill_null(""),
        bench.alias("benchmark"),
        pl.col(text).cast(pl.String).fill_null("").alias("generation"),
        predicted.alias("predicted_answer"),
        correct.alias("is_correct"),
        outcome.alias("outcome"),
        column("finish_reason", pl.String()),
        code_calls.alias("num_code_calls"),
        column("code_errors", pl.Int64()),
        column("step", pl.String()),
        column("reason", pl.String()),
        column("tokens_out", pl.Int64()),
    )
    # integer problem codes in natural order: group-bys over them are several times cheaper than over strings
    return natural_problem_order(normalized)


def normalize_problems(tables: Iterable[Any]) -> pl.DataFrame:
    """One frame of problem texts, gold answers, MATH subject and level from data_preparation's problem tables."""
    frames = []
    for table in tables:
        frame = table if isinstance(table, pl.DataFrame) else None
        if frame is None:
            import pandas as pd

            if isinstance(table, pd.DataFrame):
                table = table.copy(deep=False)
                metadata = table["metadata"] if "metadata" in table.columns else [None] * len(table)
                table["subject"] = [m.get("subject") if isinstance(m, dict) else None for m in metadata]
                table["level"] = [m.get("level") if isinstance(m, dict) else None for m in metadata]
                keep = [
                    c
                    for c in ("id", "problem_id", "problem", "expected_answer", "subject", "level")
                    if c in table
                ]
                frame = pl.from_pandas(
                    table[keep].astype({"level": "Int64"}) if "level" in keep else table[keep]
                )
            else:
                continue
        elif "metadata" in frame.columns and isinstance(frame.schema["metadata"], pl.Struct):
            names = {f.name for f in frame.schema["metadata"].fields}
            frame = frame.with_columns(
                *(pl.col("metadata").struct.field(n).alias(n) for n in ("subject", "level") if n in names)
            )
        if "id" in frame.columns and "problem_id" not in frame.columns:
            frame = frame.rename({"id": "problem_id"})
        if "problem_id" not in frame.columns:
            continue
        frames.append(
            frame.select(
                pl.col(name).cast(dtype, strict=False)
                if name in frame.columns
                else pl.lit(None, dtype=dtype).alias(name)
                for name, dtype in PROBLEM_SCHEMA.items()
            )
        )
    if not frames:
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    return pl.concat(frames).unique("problem_id", keep="first")


def solution_set(dataset: str) -> str:
    """Which solutions a dataset holds: the same for a run's generations, grades and filtering rows.

    Labels are keyed by it, so a label put on a solution in the graded view shows in the filtering views too.
    """
    training = re.fullmatch(r"(?:generation|grading|filtering)\.([a-z0-9_]+)\.[a-z0-9_]+", dataset)
    if training:
        return f"training.{training.group(1)}"
    evaluation = re.fullmatch(r"evaluation\.([a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)\.[a-z0-9_]+", dataset)
    if evaluation:
        return "evaluation." + ".".join(evaluation.groups())
    return dataset


# ---------------------------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """What the Analyze page's filter controls say. Empty means "no restriction"."""

    benchmarks: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    finish_reasons: tuple[str, ...] = ()
    code_errors: str = "any"  # any | none | some
    steps: tuple[str, ...] = ()
    reason_search: str = ""
    solution_search: str = ""
    labels: tuple[str, ...] = ()
    # problem-level: applied to the per-problem table
    subjects: tuple[str, ...] = ()
    levels: tuple[int, ...] = ()
    problem_search: str = ""

    @classmethod
    def from_values(cls, **values: Any) -> Filters:
        """From the controls' values (None, lists, strings), ignoring unknown keys."""
        kwargs: dict[str, Any] = {}
        for spec in fields(cls):
            value = values.get(spec.name)
            if value is None:
                continue
            if spec.type.startswith("tuple"):
                items = [value] if isinstance(value, (str, int)) else list(value)
                if spec.name == "levels":
                    items = [int(item) for item in items if str(item).lstrip("-").isdigit()]
                kwargs[spec.name] = tuple(sorted(items, key=str))
            else:
                kwargs[spec.name] = str(value).strip() if spec.name != "code_errors" else str(value)
        return cls(**kwargs)

    def row_part(self) -> Filters:
        """Only the solution-level filters (the cache key of the per-problem aggregate)."""
        return Filters(
            benchmarks=self.benchmarks,
            models=self.models,
            outcomes=self.outcomes,
            finish_reasons=self.finish_reasons,
            code_errors=self.code_errors,
            steps=self.steps,
            reason_search=self.reason_search,
            solution_search=self.solution_search,
            labels=self.labels,
        )


def _contains(column: str, text: str) -> pl.Expr:
    """Case-insensitive substring search."""
    return pl.col(column).str.contains("(?i)" + re.escape(text))


def row_mask(filters: Filters) -> list[pl.Expr]:
    """The solution-level filters as polars predicates (label filters are semi-joins, see filter_rows)."""
    predicates: list[pl.Expr] = []
    if filters.benchmarks:
        predicates.append(pl.col("benchmark").is_in(list(filters.benchmarks)))
    if filters.models:
        predicates.append(pl.col("model").is_in(list(filters.models)))
    if filters.outcomes:
        predicates.append(pl.col("outcome").is_in(list(filters.outcomes)))
    if filters.finish_reasons:
        predicates.append(pl.col("finish_reason").fill_null("(none)").is_in(list(filters.finish_reasons)))
    if filters.code_errors == "none":
        predicates.append(pl.col("code_errors").fill_null(0) == 0)
    elif filters.code_errors == "some":
        predicates.append(pl.col("code_errors").fill_null(0) > 0)
    if filters.steps:
        predicates.append(pl.col("step").fill_null("(kept)").is_in(list(filters.steps)))
    if filters.reason_search:
        predicates.append(_contains("reason", filters.reason_search).fill_null(False))
    if filters.solution_search:
        predicates.append(_contains("generation", filters.solution_search))
    return predicates


def filter_rows(
    frame: pl.DataFrame, filters: Filters, *, labels: pl.DataFrame | None = None, solution_set_name: str = ""
) -> pl.DataFrame:
    """The solutions that pass the solution-level filters."""
    predicates = row_mask(filters)
    rows = frame.filter(*predicates) if predicates else frame
    if filters.labels:
        chosen = (labels if labels is not None else empty_labels()).filter(
            pl.col("solution_set") == solution_set_name, pl.col("label").is_in(list(filters.labels))
        )
        rows = rows.join(
            chosen.select("model", "problem_id", "sample_index").unique(),
            on=["model", "problem_id", "sample_index"],
            how="semi",
        )
    return rows


def empty_labels() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "solution_set": pl.String(), "model": pl.String(), "problem_id": pl.String(),
            "sample_index": pl.Int64(), "label": pl.String(), "dataset": pl.String(), "updated_at": pl.String(),
        }
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- per problem


def problem_statistics(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per problem: samples, correct, incorrect, no answer, with code errors, majority answer and votes.

    The majority answer is the most frequent predicted answer string (ties: the smallest string); evaluation's
    maj@k votes over clusters of *equivalent* answers, which this quick view does not recompute.
    """
    counts = rows.group_by("problem_code").agg(
        pl.col("problem_id").first(),
        pl.col("benchmark").first(),
        pl.len().alias("samples"),
        (pl.col("outcome") == "correct").sum().alias("correct"),
        (pl.col("outcome") == "incorrect").sum().alias("incorrect"),
        (pl.col("outcome") == "no answer").sum().alias("no_answer"),
        (pl.col("code_errors").fill_null(0) > 0).sum().alias("with_code_errors"),
    )
    votes = (
        rows.filter(pl.col("predicted_answer").is_not_null())
        .group_by("problem_code", "predicted_answer")
        .agg(pl.len().alias("votes"))
        .sort(["problem_code", "votes", "predicted_answer"], descending=[False, True, False])
        .group_by("problem_code", maintain_order=True)
        .agg(
            pl.col("predicted_answer").first().alias("majority_answer"),
            pl.col("votes").first().alias("majority_votes"),
        )
    )
    return (
        counts.join(votes, on="problem_code", how="left")
        .with_columns(
            pl.col("majority_votes").fill_null(0).cast(pl.UInt32),
            (pl.col("correct") / pl.col("samples")).alias("accuracy"),
        )
        .sort("problem_code")
    )


def with_problem_info(statistics: pl.DataFrame, problems: pl.DataFrame) -> pl.DataFrame:
    info = problems if problems.height else pl.DataFrame(schema=PROBLEM_SCHEMA)
    return statistics.join(info, on="problem_id", how="left")


def filter_problems(table: pl.DataFrame, filters: Filters) -> pl.DataFrame:
    predicates = []
    if filters.subjects:
        predicates.append(pl.col("subject").is_in(list(filters.subjects)))
    if filters.levels:
        predicates.append(pl.col("level").is_in(list(filters.levels)))
    if filters.problem_search:
        predicates.append(_contains("problem", filters.problem_search).fill_null(False))
    return table.filter(*predicates) if predicates else table


def page(
    table: pl.DataFrame,
    *,
    sort_by: str = "problem_id",
    descending: bool = False,
    offset: int = 0,
    limit: int = 25,
) -> pl.DataFrame:
    """One page of the per-problem table. Problem ids sort by benchmark, split, then their number."""
    if sort_by == "problem_id" or sort_by not in table.columns:
        ordered = table.sort("problem_code", descending=descending)  # codes follow the natural id order
    else:
        ordered = table.sort([sort_by, "problem_code"], descending=[descending, False], nulls_last=True)
    return ordered.slice(offset, limit)


def natural_problem_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Re-code problems so that gsm8k/train/2 comes before gsm8k/train/10 (ids are 'benchmark/split/N')."""
    ids = frame.select(pl.col("problem_id").unique())
    parts = pl.col("problem_id").str.split("/")
    order = ids.with_columns(
        parts.list.slice(0, parts.list.len() - 1).list.join("/").alias("_prefix"),
        parts.list.last().cast(pl.Int64, strict=False).alias("_number"),
    ).sort(["_prefix", "_number", "problem_id"], nulls_last=True)
    codes = order.with_row_index("problem_code").select(pl.col("problem_code").cast(pl.UInt32), "problem_id")
    return (
        frame.drop("problem_code", strict=False)
        .join(codes, on="problem_id", how="left")
        .sort(["problem_code", "sample_index"])
    )


def solutions_of(frame: pl.DataFrame, problem_id: str) -> pl.DataFrame:
    """The rows of one problem (a slice: the frame is sorted by problem code)."""
    codes = frame.filter(pl.col("problem_id") == problem_id).get_column("problem_code")
    if codes.is_empty():
        return frame.head(0)
    column = frame.get_column("problem_code")
    start = int(column.search_sorted(codes[0], side="left"))
    end = int(column.search_sorted(codes[0], side="right"))
    return frame.slice(start, end - start)


# ---------------------------------------------------------------------------------------------- the view


@dataclass
class TableView:
    """A dataset's canonical frame with the per-problem aggregates of recent filter sets (LRU cache)."""

    frame: pl.DataFrame
    problems: pl.DataFrame
    solution_set_name: str = ""
    cache_size: int = 16
    _aggregates: OrderedDict[Any, pl.DataFrame] = field(default_factory=OrderedDict)
    _first_rows: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "problem_code" not in self.frame.columns:
            self.frame = natural_problem_order(self.frame)
        self.problems = self.problems.join(
            self.frame.select(pl.col("problem_id").unique()), on="problem_id", how="semi"
        )

    def problem_table(self, filters: Filters, labels: pl.DataFrame | None = None) -> pl.DataFrame:
        key = (filters.row_part(), _labels_key(labels) if filters.labels else None)
        table = self._aggregates.get(key)
        if table is None:
            rows = filter_rows(self.frame, filters, labels=labels, solution_set_name=self.solution_set_name)
            table = with_problem_info(problem_statistics(rows), self.problems)
            self._aggregates[key] = table
            while len(self._aggregates) > self.cache_size:
                self._aggregates.popitem(last=False)
        else:
            self._aggregates.move_to_end(key)
        return filter_problems(table, filters)

    def filtered_rows(self, filters: Filters, labels: pl.DataFrame | None = None) -> pl.DataFrame:
        """Solution rows passing every filter, problem-level ones included (custom statistics use these)."""
        rows = filter_rows(self.frame, filters, labels=labels, solution_set_name=self.solution_set_name)
        if filters.subjects or filters.levels or filters.problem_search:
            kept = filter_problems(
                with_problem_info(rows.select("problem_id").unique(), self.problems), filters
            )
            rows = rows.join(kept.select("problem_id"), on="problem_id", how="semi")
        return rows

    def solutions(
        self, problem_id: str, filters: Filters | None = None, labels: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        rows = solutions_of(self.frame, problem_id)
        if filters is not None:
            rows = filter_rows(rows, filters, labels=labels, solution_set_name=self.solution_set_name)
        return rows

    def choices(self) -> dict[str, list[Any]]:
        """The values each filter control offers."""

        def distinct(frame: pl.DataFrame, name: str, fill: str | None = None) -> list[Any]:
            column = frame.get_column(name)
            if fill is not None:
                column = column.fill_null(fill)
            return sorted(column.drop_nulls().unique().to_list(), key=str)

        return {
            "benchmarks": distinct(self.frame, "benchmark"),
            "models": distinct(self.frame, "model"),
            "outcomes": [
                o for o in OUTCOMES if o in set(self.frame.get_column("outcome").unique().to_list())
            ],
            "finish_reasons": distinct(self.frame, "finish_reason", "(none)"),
            "steps": distinct(self.frame, "step", "(kept)")
            if self.frame.get_column("step").null_count() < self.frame.height
            else [],
            "subjects": distinct(self.problems, "subject"),
            "levels": distinct(self.problems, "level"),
        }


def _labels_key(labels: pl.DataFrame | None) -> int:
    if labels is None or labels.is_empty():
        return 0
    return int(labels.hash_rows().sum())


def rows_as_records(frame: pl.DataFrame, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """JSON-ready records (floats rounded) of a small frame, for the browser."""
    selected = frame.select(columns) if columns else frame
    selected = selected.with_columns(pl.col(pl.Float64, pl.Float32).round(3))
    return selected.to_dicts()
