"""evaluate_benchmark and breakdown on a hand-made graded table with known results."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from openmath_kedro.metrics import VOTE_COLUMNS, breakdown, evaluate_benchmark, wilson_interval

# problem: (gold, subject, level, [(sample_index, predicted_answer, is_correct), ...])
HAND_MADE = {
    "A": (
        "1/2",
        "Algebra",
        2,
        [(0, "0.5", True), (1, "3", False), (2, "\\frac12", True), (3, "3.0", False), (4, "3", False)],
    ),
    # listed out of order: metrics must sort by sample_index
    "B": (
        "7",
        "Geometry",
        5,
        [(4, None, False), (1, "8", False), (0, None, False), (3, "8", False), (2, "7", True)],
    ),
    "C": ("2", "Algebra", 5, [(index, None, False) for index in range(5)]),
}


def tables(data=HAND_MADE, *, metadata_as_json: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    generations = pd.DataFrame(
        [
            {"problem_id": problem, "sample_index": index, "predicted_answer": answer, "is_correct": correct}
            for problem, (_, _, _, samples) in data.items()
            for index, answer, correct in samples
        ]
    )
    problems = pd.DataFrame(
        [
            {
                "id": problem,
                "expected_answer": gold,
                "metadata": json.dumps(meta) if metadata_as_json else meta,
            }
            for problem, (gold, subject, level, _) in data.items()
            for meta in [{"subject": subject, "level": level}]
        ]
    )
    return generations, problems


@pytest.fixture(scope="module")
def evaluation():
    generations, problems = tables()
    return evaluate_benchmark(
        generations=generations, problems=problems, majority_ks=[1, 2, 3, 4, 5], pass_ks=[1, 5]
    )


def test_per_problem_majority_follows_votes_and_the_tie_rule(evaluation):
    table = evaluation.per_problem.set_index("problem_id")
    # A: correct samples 0 and 2, "3"/"3.0" at 1, 3, 4; ties at k=2 and k=4 go to the earlier first vote
    assert [table.loc["A", f"maj@{k}_correct"] for k in range(1, 6)] == [True, True, True, True, False]
    assert [table.loc["A", f"maj@{k}_tied"] for k in range(1, 6)] == [False, True, False, True, False]
    assert table.loc["A", "maj@5_answer"] == "3" and table.loc["A", "maj@5_votes"] == 3
    # B in sample order: None, "8", "7", "8", None; at k=3 "8" and "7" tie and "8" was voted first
    assert [table.loc["B", f"maj@{k}_correct"] for k in range(1, 6)] == [False] * 5
    assert pd.isna(table.loc["B", "maj@1_answer"]) and table.loc["B", "maj@1_votes"] == 0
    assert table.loc["B", "maj@3_answer"] == "8" and bool(table.loc["B", "maj@3_tied"])
    # C never answers
    assert table.loc["C", "n_answered"] == 0 and pd.isna(table.loc["C", "maj@5_answer"])
    assert list(table["first_sample_correct"]) == [True, False, False]
    assert list(table["pass@1"]) == pytest.approx([2 / 5, 1 / 5, 0.0])
    assert list(table["pass@5"]) == [1.0, 1.0, 0.0]
    assert list(table["subject"]) == ["Algebra", "Geometry", "Algebra"]


def test_vote_table_counts_all_samples_per_cluster(evaluation):
    votes = evaluation.votes
    assert tuple(votes.columns) == VOTE_COLUMNS
    rows = votes[
        ["problem_id", "cluster", "answer", "votes", "first_sample_index", "is_correct"]
    ].values.tolist()
    assert rows == [
        ["A", 0, "0.5", 2, 0, True],
        ["A", 1, "3", 3, 1, False],  # "3.0" votes with "3"
        ["B", 0, "8", 2, 1, False],
        ["B", 1, "7", 1, 2, True],
    ]


def test_benchmark_metrics(evaluation):
    metrics = evaluation.metrics
    assert (metrics.n_problems, metrics.samples_per_problem) == (3, 5)
    assert metrics.first_sample.value == pytest.approx(1 / 3)
    assert {k: value.value for k, value in metrics.majority.items()} == pytest.approx(
        {1: 1 / 3, 2: 1 / 3, 3: 1 / 3, 4: 1 / 3, 5: 0.0}
    )
    assert metrics.pass_at[1].value == pytest.approx((0.4 + 0.2 + 0.0) / 3)
    assert metrics.pass_at[5].value == pytest.approx(2 / 3)
    assert metrics.no_answer_rate == pytest.approx(7 / 15)
    assert (metrics.majority[5].low, metrics.majority[5].high) == wilson_interval(successes=0, total=3)
    record = metrics.to_record()
    assert record["maj@2"] == pytest.approx(1 / 3)
    assert record["maj@2_low"] < record["maj@2"] < record["maj@2_high"]
    assert {"first_sample", "pass@5_high", "no_answer_rate", "n_problems"} <= set(record)


def test_all_no_answer_benchmark_scores_zero():
    data = {"X": ("1", "Algebra", 1, [(0, None, False), (1, None, False)])}
    generations, problems = tables(data)
    metrics = evaluate_benchmark(
        generations=generations, problems=problems, majority_ks=[2], pass_ks=[2]
    ).metrics
    assert (metrics.majority[2].value, metrics.pass_at[2].value, metrics.no_answer_rate) == (0.0, 0.0, 1.0)


def test_breakdown_by_subject_and_level(evaluation):
    by_subject = breakdown(per_problem=evaluation.per_problem, by="subject").set_index("subject")
    assert by_subject["n_problems"].to_dict() == {"Algebra": 2, "Geometry": 1}
    assert by_subject["first_sample"].to_dict() == pytest.approx({"Algebra": 0.5, "Geometry": 0.0})
    assert by_subject["maj@4"].to_dict() == pytest.approx({"Algebra": 0.5, "Geometry": 0.0})
    assert by_subject.loc["Algebra", "pass@1"] == pytest.approx(0.2)
    assert (
        by_subject.loc["Geometry", "maj@1_low"],
        by_subject.loc["Geometry", "maj@1_high"],
    ) == wilson_interval(successes=0, total=1)
    by_level = breakdown(per_problem=evaluation.per_problem, by="level").set_index("level")
    assert by_level["n_problems"].to_dict() == {2: 1, 5: 2}


def test_metadata_written_as_json_text_is_read():
    generations, problems = tables(metadata_as_json=True)
    per_problem = evaluate_benchmark(generations=generations, problems=problems).per_problem
    assert list(per_problem["level"]) == [2, 5, 5]


def test_k_larger_than_the_samples_is_an_error():
    generations, problems = tables()
    with pytest.raises(ValueError, match="maj@6 needs 6 samples per problem"):
        evaluate_benchmark(generations=generations, problems=problems, majority_ks=[6])
    with pytest.raises(ValueError, match="pass@6"):
        evaluate_benchmark(generations=generations, problems=problems, pass_ks=[6])
    fewer = generations[~((generations["problem_id"] == "B") & (generations["sample_index"] == 4))]
    with pytest.raises(ValueError, match="'B' has only 4"):
        evaluate_benchmark(generations=fewer, problems=problems, majority_ks=[5])


def test_inconsistent_tables_are_errors():
    generations, problems = tables()
    with pytest.raises(ValueError, match="1 problems have no generations"):
        evaluate_benchmark(generations=generations[generations["problem_id"] != "C"], problems=problems)
    with pytest.raises(ValueError, match="not in the problems table"):
        evaluate_benchmark(generations=generations, problems=problems[problems["id"] != "C"])
    with pytest.raises(ValueError, match="repeated"):
        evaluate_benchmark(generations=pd.concat([generations, generations.head(1)]), problems=problems)
    with pytest.raises(ValueError, match="missing"):
        evaluate_benchmark(generations=generations.drop(columns="is_correct"), problems=problems)
    marked = generations.copy()
    marked.loc[marked["problem_id"] == "C", "is_correct"] = True
    with pytest.raises(ValueError, match="marked correct but have no answer"):
        evaluate_benchmark(generations=marked, problems=problems)


def test_missing_verdicts_count_as_not_correct():
    generations, problems = tables()
    generations["is_correct"] = generations["is_correct"].astype("boolean")
    generations.loc[(generations["problem_id"] == "A") & (generations["sample_index"] == 0), "is_correct"] = (
        pd.NA
    )
    per_problem = evaluate_benchmark(generations=generations, problems=problems).per_problem
    assert list(per_problem["first_sample_correct"]) == [False, False, False]
