"""select_solutions: code preference, and fair vs naive downsampling (coverage, target size, seeds)."""

from __future__ import annotations

import polars as pl
import pytest

from openmath_kedro.params import FilteringParams
from openmath_kedro.pipelines.filtering.nodes import select_solutions
from openmath_kedro.pipelines.filtering.tables import empty_removed

from .graded_tables import CODE, problems


def filtered(*rows: tuple[int, int, bool]) -> pl.DataFrame:
    """(problem, sample index, uses code) rows in the form filter_solutions writes."""
    return pl.DataFrame(
        {
            "benchmark": "math",
            "problem_id": [f"math/train/{p}" for p, _, _ in rows],
            "sample_index": [s for _, s, _ in rows],
            "solution": [(CODE if code else "Text. ") + f"\\boxed{{{s}}}" for _, s, code in rows],
            "trimmed_chars": 0,
            "uses_code": [code for _, _, code in rows],
            "predicted_answer": "4",
            "model": "teacher",
        }
    )


def select(table: pl.DataFrame, *, count: int, **selection) -> tuple[pl.DataFrame, pl.DataFrame]:
    return select_solutions(table, empty_removed(), problems(count), FilteringParams(selection=selection))


def test_code_preference():
    table = filtered(
        (0, 0, True), (0, 1, False), (0, 2, False),  # one code solution of three
        (1, 0, True), (1, 1, True), (1, 2, False),  # code is the majority
        (2, 0, False), (2, 1, False),  # no code at all
    )  # fmt: skip
    kept, removed = select(table, count=3, code_preference="any_code")
    assert kept.select("problem_id", "sample_index").rows() == [
        ("math/train/0", 0), ("math/train/1", 0), ("math/train/1", 1), ("math/train/2", 0), ("math/train/2", 1),
    ]  # fmt: skip
    assert (
        removed["reason"].to_list()[0] == "text solution; 1 of the problem's 3 solutions use code (any_code)"
    )
    kept, _ = select(table, count=3, code_preference="majority_code")
    assert kept.height == 7  # only problem 1 loses its text solution: code is the majority there alone
    kept, removed = select(table, count=3, code_preference="all")
    assert kept.height == 8 and removed.is_empty()
    assert "problem" in kept.columns  # the problem text travels on, for the SFT prompt


def skewed() -> pl.DataFrame:
    """One easy problem with 400 solutions and 60 hard ones with 2 each (as correct-only data looks)."""
    rows = [(0, s, True) for s in range(400)] + [(p, s, True) for p in range(1, 61) for s in range(2)]
    return filtered(*rows)


def test_fair_downsampling_keeps_coverage_that_naive_loses():
    table = skewed()
    fair, _ = select(table, count=61, downsampling="fair", target_size={"math": 100})
    naive, _ = select(table, count=61, downsampling="naive", target_size={"math": 100})
    assert fair.height == naive.height == 100
    assert fair["problem_id"].n_unique() == 61  # every problem
    assert naive["problem_id"].n_unique() < 50  # most of the 100 rows go to the easy problem
    # round robin: one solution of each of the 61 problems, then a second for 39 of them
    assert sorted(fair.group_by("problem_id").len()["len"].to_list()) == [1] * 22 + [2] * 39


def test_fair_rounds_are_even_when_the_target_is_below_the_problem_count():
    table = filtered(*[(p, s, True) for p in range(10) for s in range(5)])
    kept, _ = select(table, count=10, downsampling="fair", target_size={"math": 25})
    assert sorted(kept.group_by("problem_id").len()["len"].to_list()) == [2] * 5 + [3] * 5


def test_downsampling_is_seeded_and_independent_of_row_order():
    table = skewed()
    first, removed = select(table, count=61, target_size={"math": 100}, seed=3)
    again, _ = select(
        table.sample(fraction=1.0, shuffle=True, seed=1), count=61, target_size={"math": 100}, seed=3
    )
    other, _ = select(table, count=61, target_size={"math": 100}, seed=4)
    assert first.equals(again)
    assert not first.equals(other)
    assert set(removed["reason"]) == {"not chosen by fair downsampling to 100 solutions"}


def test_no_target_or_a_larger_one_keeps_everything():
    table = skewed()
    assert select(table, count=61)[0].height == 520
    assert select(table, count=61, target_size={"math": 10_000})[0].height == 520
    assert select(table, count=61, target_size={"gsm8k": 5})[0].height == 520  # another benchmark's target


@pytest.mark.parametrize("method", ["fair", "naive"])
def test_removed_rows_add_up(method):
    table = skewed()
    kept, removed = select(table, count=61, downsampling=method, target_size={"math": 77})
    assert kept.height == 77 and kept.height + removed.height == table.height
