"""What the filtering did: the funnel (rows and problems after each step) and coverage of the training set."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from .rules import SELECTION_STEPS

START = "graded"
FUNNEL_SCHEMA = {
    "benchmark": pl.String,
    "position": pl.Int64,
    "step": pl.String,
    "enabled": pl.Boolean,
    "rows": pl.Int64,
    "problems": pl.Int64,
    "removed": pl.Int64,
}
COVERAGE_SCHEMA = {
    "benchmark": pl.String,
    "group": pl.String,  # all, subject or level
    "value": pl.String,
    "problems": pl.Int64,
    "with_generations": pl.Int64,  # problems with at least one graded generation
    "covered_before_selection": pl.Int64,
    "covered": pl.Int64,
    "coverage": pl.Float64,  # covered / problems
    "solutions": pl.Int64,
}


def funnel_table(
    *, benchmark: str, steps: list[tuple[str, bool]], kept: pl.DataFrame, removed: pl.DataFrame
) -> pl.DataFrame:
    """Rows and problems left after each of ``steps`` (``rules.removal_steps``; position 0: the graded input),
    and rows each step removed.

    Every input row is either kept or removed by exactly one step, so the funnel follows from the two tables.
    """
    position = {step: index for index, (step, _) in enumerate(steps, start=1)}
    unknown = set(removed["step"].unique()) - set(position)
    if unknown:
        raise ValueError(f"removed rows name unknown steps {sorted(unknown)}")
    exits = pl.concat(
        [
            removed.select("problem_id", pl.col("step").replace_strict(position, return_dtype=pl.Int64)),
            kept.select("problem_id", pl.lit(len(steps) + 1, dtype=pl.Int64).alias("step")),
        ]
    )
    last_exit = exits.group_by("problem_id").agg(pl.col("step").max())["step"]
    removed_by_step = dict(removed.group_by("step").len().iter_rows())
    rows = exits.height
    records = [
        {
            "benchmark": benchmark,
            "position": 0,
            "step": START,
            "enabled": True,
            "rows": rows,
            "problems": last_exit.len(),
            "removed": 0,
        }
    ]
    for index, (step, enabled) in enumerate(steps, start=1):
        rows -= removed_by_step.get(step, 0)
        records.append(
            {
                "benchmark": benchmark,
                "position": index,
                "step": step,
                "enabled": enabled,
                "rows": rows,
                "problems": int((last_exit > index).sum()),
                "removed": removed_by_step.get(step, 0),
            }
        )
    return pl.DataFrame(records, schema=FUNNEL_SCHEMA)


def coverage_table(*, problems: pl.DataFrame, kept: pl.DataFrame, removed: pl.DataFrame) -> pl.DataFrame:
    """Share of training problems with at least one kept solution: overall, and per subject and level
    where the problems have them (MATH), as in OpenMathInstruct-1's coverage tables.

    ``with_generations`` counts problems that were generated for at all (runs may cover a subset), and
    ``covered_before_selection`` problems that still had a solution after the rules, before code preference
    and downsampling, which shows what the selection cost.
    """
    kept_counts = kept.group_by("problem_id").len("solutions")
    generated = pl.concat([kept.select("problem_id"), removed.select("problem_id")]).unique()
    before_selection = pl.concat(
        [
            kept.select("problem_id"),
            removed.filter(pl.col("step").is_in(SELECTION_STEPS)).select("problem_id"),
        ]
    ).unique()
    flagged = (
        problems.select(pl.col("id").alias("problem_id"), "benchmark", "subject", "level")
        .join(kept_counts, on="problem_id", how="left")
        .with_columns(
            pl.col("solutions").fill_null(0).cast(pl.Int64),
            pl.col("problem_id").is_in(before_selection["problem_id"].implode()).alias("covered_before"),
            pl.col("problem_id").is_in(generated["problem_id"].implode()).alias("generated"),
        )
    )
    groups = [("all", pl.lit("all"))]
    groups += [
        (name, pl.col(name)) for name in ("subject", "level") if flagged[name].null_count() < flagged.height
    ]
    tables = [
        flagged.filter(value.is_not_null())
        .group_by(value.alias("value"))
        .agg(
            pl.col("benchmark").first(),
            pl.len().alias("problems"),
            pl.col("generated").sum().alias("with_generations"),
            pl.col("covered_before").sum().alias("covered_before_selection"),
            (pl.col("solutions") > 0).sum().alias("covered"),
            pl.col("solutions").sum(),
        )
        .with_columns(
            pl.lit(group).alias("group"), (pl.col("covered") / pl.col("problems")).alias("coverage")
        )
        .sort("value")
        for group, value in groups
    ]
    return pl.concat([table.select(list(COVERAGE_SCHEMA)).cast(COVERAGE_SCHEMA) for table in tables])


def funnel_figure(funnel: pl.DataFrame) -> go.Figure:
    """A plotly funnel per benchmark: solutions left after each step (switched-off steps marked)."""
    figure = go.Figure()
    for benchmark in funnel["benchmark"].unique(maintain_order=True):
        rows = funnel.filter(pl.col("benchmark") == benchmark).sort("position")
        labels = [
            step if enabled else f"{step} (off)" for step, enabled in rows.select("step", "enabled").rows()
        ]
        figure.add_trace(
            go.Funnel(name=benchmark, y=labels, x=rows["rows"].to_list(), textinfo="value+percent initial")
        )
    figure.update_layout(
        title="Filtering funnel: solutions left after each step", funnelmode="group", legend_title="benchmark"
    )
    return figure


def funnel_text(funnel: pl.DataFrame) -> str:
    """The funnel as a plain table (steps down, benchmarks across), for error messages and logs."""
    if funnel.is_empty():
        return "(no funnel: no benchmark was filtered)"
    wide = funnel.pivot(on="benchmark", index=["position", "step"], values="rows").sort("position")
    benchmarks = [column for column in wide.columns if column not in ("position", "step")]
    width = max(len(step) for step in wide["step"])
    lines = ["  " + "step".ljust(width) + "".join(name.rjust(12) for name in benchmarks)]
    for row in wide.iter_rows(named=True):
        lines.append("  " + row["step"].ljust(width) + "".join(f"{row[name]:>12}" for name in benchmarks))
    return "\n".join(lines)
