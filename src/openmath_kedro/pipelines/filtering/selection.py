"""Choosing among the solutions that pass the rules: code preference, then downsampling to a target size."""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl

from .tables import KEYS

# Whether a code preference keeps only a problem's code solutions (over the counts with_code_preference adds).
PREFER_CODE = {
    "all": pl.lit(False),
    "any_code": pl.col("code_solutions") > 0,
    "majority_code": pl.col("code_solutions") * 2 > pl.col("solutions"),
}
DOWNSAMPLING = ("fair", "naive")


def with_code_preference(frame: pl.DataFrame, *, mode: str) -> pl.DataFrame:
    """``code_solutions`` and ``solutions`` of each row's problem (from ``uses_code``), and ``prefer_code``:
    whether ``mode`` (also a column, ``code_preference``) keeps only the problem's code solutions.

    ``any_code``: a problem with at least one code solution keeps only its code solutions. ``majority_code``:
    only when more than half of its solutions use code. ``all``: every solution stays.
    """
    if mode not in PREFER_CODE:
        raise ValueError(f"unknown code preference {mode!r}; expected one of {', '.join(PREFER_CODE)}")
    return frame.with_columns(
        pl.col("uses_code").cast(pl.UInt32).sum().over("problem_id").alias("code_solutions"),
        pl.len().over("problem_id").alias("solutions"),
    ).with_columns(PREFER_CODE[mode].alias("prefer_code"), pl.lit(mode).alias("code_preference"))


def downsampling_keep(
    frame: pl.DataFrame, *, method: str, target: int, seed: int, benchmark: str
) -> pl.Series:
    """Which rows survive downsampling ``frame`` to ``target`` rows (all of them when it is not larger).

    ``naive``: a uniform sample of the solutions; problems with many solutions keep many, and problems with
    few can lose all of theirs. ``fair`` (OpenMathInstruct-1): round robin over problems, one solution of
    each problem per round in a random order of problems, until ``target`` rows are chosen; so every problem
    keeps min(its solutions, a fair share) and coverage is kept whenever ``target`` allows it.

    Random draws follow the rows sorted by (problem_id, sample_index) from a generator seeded with ``seed``
    and the benchmark name: the same table and seed give the same choice in any input order.
    """
    if method not in DOWNSAMPLING:
        raise ValueError(f"unknown downsampling {method!r}; expected one of {', '.join(DOWNSAMPLING)}")
    rows = frame.height
    if target >= rows:
        return pl.Series("keep", [True] * rows, dtype=pl.Boolean)
    generator = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(benchmark.encode())]))
    canonical = frame.select(KEYS).with_row_index("row").sort(KEYS)["row"].to_numpy()
    draw = np.empty(rows)
    draw[canonical] = generator.random(rows)
    if method == "naive":
        priority = pl.Series("priority", draw)
    else:
        problems = frame["problem_id"].unique().sort()
        problem_order = pl.DataFrame(
            {"problem_id": problems, "problem_draw": generator.random(problems.len())}
        )
        # round r of problem p comes before round r + 1 of every problem; within a round, problem_draw
        # orders the problems (it is < 1, so round + problem_draw sorts by round first)
        priority = (
            frame.select("problem_id", pl.Series("draw", draw))
            .join(problem_order, on="problem_id", how="left", maintain_order="left")
            .select(pl.col("draw").rank("ordinal").over("problem_id") + pl.col("problem_draw"))
            .to_series()
        )
    return (priority.rank("ordinal") <= target).rename("keep")
