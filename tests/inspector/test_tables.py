"""The inspector's polars views: normalizing each generations-shaped table, statistics, filters, pages."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest
from tests.inspector.project_data import MATH_PROBLEMS, _problems, graded_math

from openmath_kedro.inspector.tables import (
    Filters,
    NotGenerationsShaped,
    TableView,
    normalize,
    normalize_problems,
    page,
    solution_set,
)


@pytest.fixture
def view() -> TableView:
    return TableView(
        frame=normalize(graded_math()),
        problems=normalize_problems([_problems(MATH_PROBLEMS, "math", "train")]),
        solution_set_name="training.math",
    )


def test_graded_generations_become_the_canonical_frame(view):
    frame = view.frame
    assert frame.height == 12
    assert frame.get_column("outcome").value_counts(sort=True).rows() == [
        ("no answer", 6),
        ("correct", 3),
        ("incorrect", 3),
    ]
    assert frame.get_column("benchmark").unique().to_list() == ["math"]
    assert view.problems.get_column("subject").sort().to_list() == ["Algebra", "Geometry", "Prealgebra"]


def test_per_problem_statistics_and_majority_answer(view):
    table = view.problem_table(Filters())
    first = table.filter(pl.col("problem_id") == "math/train/0").row(0, named=True)
    assert (first["samples"], first["correct"], first["incorrect"], first["no_answer"]) == (4, 1, 1, 2)
    assert first["with_code_errors"] == 1
    assert first["majority_votes"] == 1 and first["majority_answer"] in ("\\frac{5}{6}", "wrong")
    assert first["problem"].startswith("Compute") and first["level"] == 2


def test_filters_restrict_solutions_then_problems(view):
    assert view.problem_table(Filters(outcomes=("correct",))).get_column("samples").to_list() == [1, 1, 1]
    assert view.problem_table(Filters(subjects=("Geometry",))).get_column("problem_id").to_list() == [
        "math/train/2"
    ]
    assert view.problem_table(Filters(levels=(1, 2))).height == 2
    assert view.problem_table(Filters(problem_search="HYPOTENUSE")).height == 1  # case-insensitive
    assert view.problem_table(Filters(solution_search="zerodivision")).get_column("samples").sum() == 3
    assert view.problem_table(Filters(code_errors="some")).get_column("samples").sum() == 3
    assert view.problem_table(Filters(finish_reasons=("length",))).get_column("samples").sum() == 3
    rows = view.filtered_rows(Filters(subjects=("Algebra",), outcomes=("correct",)))
    assert rows.select("problem_id", "sample_index").rows() == [("math/train/0", 0)]


def test_label_filter_uses_the_solution_set(view):
    labels = pl.DataFrame(
        {
            "solution_set": ["training.math", "evaluation.base.math.greedy"],
            "model": ["/models/teacher"] * 2,
            "problem_id": ["math/train/1", "math/train/2"],
            "sample_index": [3, 0],
            "label": ["bad code"] * 2,
            "dataset": ["x"] * 2,
            "updated_at": ["t"] * 2,
        }
    )
    table = view.problem_table(Filters(labels=("bad code",)), labels)
    assert table.get_column("problem_id").to_list() == ["math/train/1"]


def test_pages_sort_and_slice_on_the_server(view):
    table = view.problem_table(Filters())
    assert page(table, limit=2).get_column("problem_id").to_list() == ["math/train/0", "math/train/1"]
    assert page(table, offset=2, limit=2).get_column("problem_id").to_list() == ["math/train/2"]
    assert page(table, sort_by="problem_id", descending=True, limit=1).get_column("problem_id").to_list() == [
        "math/train/2"
    ]


def test_problem_ids_sort_by_their_number():
    frame = normalize(
        pd.DataFrame(
            {
                "problem_id": ["gsm8k/test/10", "gsm8k/test/2"],
                "sample_index": [0, 0],
                "generation": ["a", "b"],
            }
        )
    )
    assert frame.get_column("problem_id").to_list() == ["gsm8k/test/2", "gsm8k/test/10"]
    assert frame.get_column("outcome").to_list() == ["ungraded", "ungraded"]


def test_filtering_rows_take_text_and_grades_from_their_graded_companion():
    removed = pl.DataFrame(
        {"benchmark": ["math"], "problem_id": ["math/train/0"], "sample_index": [1], "step": ["correct_answer"],
         "reason": ["answer 'wrong' is not correct"]}
    )  # fmt: skip
    frame = normalize(removed, companion=graded_math())
    row = frame.row(0, named=True)
    assert (
        row["step"] == "correct_answer" and row["outcome"] == "incorrect" and "answer is" in row["generation"]
    )
    kept = pl.DataFrame(
        {
            "problem_id": ["math/train/0"],
            "sample_index": [0],
            "solution": ["trimmed \\boxed{1}"],
            "model": ["m"],
        }
    )
    assert normalize(kept, companion=graded_math()).row(0, named=True)["generation"] == "trimmed \\boxed{1}"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"id": ["a"], "problem": ["x"]}), "no problem_id or sample_index column"),
        (pl.DataFrame({"problem_id": ["a"], "sample_index": [0]}), "no solution text"),
        ({"not": "a table"}, "not a table"),
    ],
)
def test_tables_that_are_not_generations_shaped_are_named(table, message):
    with pytest.raises(NotGenerationsShaped, match=message):
        normalize(table)


def test_solution_sets_follow_a_run_across_its_datasets():
    assert solution_set("grading.math.graded_generations") == "training.math"
    assert solution_set("filtering.math.removed_solutions") == "training.math"
    assert solution_set("evaluation.base.gsm8k.greedy.graded_generations") == "evaluation.base.gsm8k.greedy"
