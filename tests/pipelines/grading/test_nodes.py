"""grade_generations on hand-made generation tables against real problems."""

from __future__ import annotations

import pandas as pd
import pytest

from openmath_kedro.answers import GRADER_VERSION
from openmath_kedro.datasets import JSONLinesDataset
from openmath_kedro.params import GradingParams
from openmath_kedro.pipelines.grading.nodes import grade_generations

PROBLEMS = pd.DataFrame(
    {
        "id": ["math/train/0", "math/train/1", "math/train/2"],
        "benchmark": ["math"] * 3,
        "expected_answer": ["\\frac{1}{2}", "(1, 3]", None],
    }
)


def generations(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"problem_id": [r[0] for r in rows], "generation": [r[1] for r in rows], "seed": 1})


def test_verdicts_and_columns():
    table = generations(
        ("math/train/0", "So it is $\\boxed{0.5}$."),
        (
            "math/train/0",
            "<llm-code>\nprint(1/3)\n</llm-code>\n<llm-code-output>\n0.333\n</llm-code-output>\n$\\boxed{\\frac{1}{3}}$",
        ),
        ("math/train/1", "The interval is $\\boxed{(1,3]}$"),
        ("math/train/1", "The interval is $\\boxed{[1,3]}$"),
        ("math/train/1", "I am not sure."),
        ("math/train/2", "$\\boxed{7}$"),
    )
    graded = grade_generations(table, PROBLEMS, GradingParams())
    assert graded["is_correct"].tolist() == [True, False, True, False, False, False]
    predicted = [p if isinstance(p, str) else None for p in graded["predicted_answer"]]  # pandas: None -> NaN
    assert predicted == ["0.5", "\\frac{1}{3}", "(1,3]", "[1,3]", None, None]
    assert graded["verdict"].iloc[-1] == {"status": "no_gold", "stage": None}
    assert graded["verdict"].iloc[4]["status"] == "no_answer"
    assert (graded["grader_version"] == GRADER_VERSION).all()
    assert graded["seed"].tolist() == [1] * 6  # generation columns are kept


def test_conventions_come_from_parameters():
    table = generations(("math/train/0", "no box, but the answer is 1/2"))
    assert not grade_generations(table, PROBLEMS, GradingParams())["is_correct"].iloc[0]
    lenient = grade_generations(
        table, PROBLEMS, GradingParams(conventions={"math": {"fallbacks": ["answer_is"]}})
    )
    assert lenient["is_correct"].iloc[0]


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="generations table: column 'generation' missing"):
        grade_generations(pd.DataFrame({"problem_id": ["math/train/0"]}), PROBLEMS, GradingParams())


def test_unknown_problem_ids_are_an_error():
    with pytest.raises(ValueError, match="1 problem ids not in the problems table, e.g. math/test/9"):
        grade_generations(generations(("math/test/9", "\\boxed{1}")), PROBLEMS, GradingParams())


def test_unknown_convention_key():
    with pytest.raises(ValueError, match=r"unknown answer convention keys \['tolerance'\]"):
        grade_generations(
            generations(("math/train/0", "\\boxed{1}")),
            PROBLEMS,
            GradingParams(conventions={"math": {"tolerance": 1}}),
        )


def test_a_benchmark_without_generations_grades_to_an_empty_table(tmp_path):
    # a disabled benchmark (max_problems 0) merges to no rows, and an empty JSON Lines file has no columns
    dataset = JSONLinesDataset(filepath=str(tmp_path / "generations.jsonl"))
    dataset.save(pd.DataFrame(columns=["problem_id", "generation", "seed"]))
    graded = grade_generations(dataset.load(), PROBLEMS, GradingParams())
    assert graded.empty and {"problem_id", "generation", "is_correct", "verdict"} <= set(graded.columns)
