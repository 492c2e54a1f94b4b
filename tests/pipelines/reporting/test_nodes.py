"""The reporting nodes on hand-made metrics and per-problem results with known answers."""

from __future__ import annotations

import pandas as pd
import pytest

from openmath_kedro.params import ReportingParams
from openmath_kedro.pipelines.reporting.nodes import (
    accuracy_chart,
    compare_models,
    majority_chart,
    results_table,
)

PARAMS = ReportingParams(compare=["base", "finetuned"], bootstrap_samples=2000, seed=0)


def problem_results(
    model: str, benchmark: str, greedy: list[bool], majority: list[bool] | None = None
) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "problem_id": [f"{benchmark}/test/{i}" for i in range(len(greedy))],
            "greedy_correct": greedy,
            "model": model,
            "benchmark": benchmark,
        }
    )
    if majority is not None:
        table["maj@4_correct"] = majority
    return table


def metrics(model: str, benchmark: str, greedy: float, maj: dict[int, float], n: int = 10) -> dict:
    record = {"model": model, "label": model, "benchmark": benchmark, "n_problems": n}
    record |= {
        "greedy": greedy,
        "greedy_low": greedy / 2,
        "greedy_high": min(1.0, greedy + 0.2),
        "greedy_n": n,
    }
    for k, value in maj.items():
        record |= {f"maj@{k}": value, f"maj@{k}_low": value / 2, f"maj@{k}_high": 1.0, f"maj@{k}_n": n}
    return record


def test_paired_comparison_per_benchmark_and_pooled():
    # gsm8k: finetuned fixes 3 problems and breaks 1 of 10; svamp: both identical
    base_gsm8k = [False, False, False, True, True, False, False, False, False, False]
    tuned_gsm8k = [True, True, True, False, True, False, False, False, False, False]
    table = compare_models(
        PARAMS,
        problem_results("base", "gsm8k", base_gsm8k),
        problem_results("finetuned", "gsm8k", tuned_gsm8k),
        problem_results("base", "svamp", [True, False]),
        problem_results("finetuned", "svamp", [True, False]),
    )
    rows = table.set_index(["benchmark", "metric"])
    gsm8k = rows.loc[("gsm8k", "greedy")]
    assert gsm8k["difference"] == pytest.approx(0.2)
    assert gsm8k["candidate_only_correct"] == 3 and gsm8k["reference_only_correct"] == 1
    assert gsm8k["mcnemar_p"] == pytest.approx(0.625)  # 2 * P(X <= 1), X ~ Bin(4, 1/2) = 2 * 5/16
    assert gsm8k["difference_low"] <= 0.2 <= gsm8k["difference_high"]
    svamp = rows.loc[("svamp", "greedy")]
    assert (svamp["difference"], svamp["difference_low"], svamp["difference_high"]) == (0, 0, 0)
    pooled = rows.loc[("all", "greedy")]
    assert pooled["n_problems"] == 12 and pooled["difference"] == pytest.approx(2 / 12)


def test_majority_columns_are_compared_when_present_on_shared_problems_only():
    table = compare_models(
        PARAMS,
        problem_results("base", "gsm8k", [True, False, False], majority=[True, False, None]),
        problem_results("finetuned", "gsm8k", [True, True, False], majority=[True, True, None]),
    )
    majority = table[(table["metric"] == "maj@4") & (table["benchmark"] == "gsm8k")].iloc[0]
    assert majority["n_problems"] == 2 and majority["difference"] == pytest.approx(0.5)


def test_results_table_has_a_row_per_model_and_the_paired_difference():
    comparison = compare_models(
        PARAMS,
        problem_results("base", "gsm8k", [True, False, False, False]),
        problem_results("finetuned", "gsm8k", [True, True, True, False]),
    )
    long_table, markdown = results_table(
        comparison,
        metrics("base", "gsm8k", 0.25, {1: 0.25, 4: 0.5}, n=4),
        metrics("finetuned", "gsm8k", 0.75, {1: 0.75, 4: 1.0}, n=4),
        metrics("base", "math", 0.0, {}, n=4),
    )
    assert set(long_table["metric"]) == {"greedy", "maj"}
    assert len(long_table[(long_table["model"] == "base") & (long_table["benchmark"] == "gsm8k")]) == 3
    lines = markdown.splitlines()
    assert lines[0] == "| model | gsm8k | math |"
    assert "| base | 25.0 (50.0) n=4 | 0.0 (–) n=4 |" in lines
    assert "| finetuned | 75.0 (100.0) n=4 | – (–) |" in lines
    difference = next(line for line in lines if line.startswith("| finetuned − base (greedy, paired)"))
    assert "+50.0 [" in difference
    assert "All benchmarks pooled (greedy, 4 problems)" in markdown


def test_charts_have_one_trace_per_model_and_per_model_benchmark():
    _, markdown = results_table(pd.DataFrame(columns=["benchmark", "metric"]))
    assert markdown == "No evaluation results.\n"
    long_table, _ = results_table(
        pd.DataFrame(columns=["benchmark", "metric"]),
        metrics("base", "gsm8k", 0.25, {1: 0.25, 4: 0.5}),
        metrics("finetuned", "gsm8k", 0.5, {1: 0.5, 4: 0.75}),
    )
    bars = accuracy_chart(long_table)
    assert [trace.name for trace in bars.data] == ["base", "finetuned"]
    assert list(bars.data[1].y) == [50.0]
    curves = majority_chart(long_table)
    assert [list(trace.x) for trace in curves.data] == [[1, 4], [1, 4]]
    assert list(curves.data[0].y) == [25.0, 50.0]


def test_no_evaluated_problem_gives_an_empty_comparison():
    empty = pd.DataFrame(columns=["problem_id", "greedy_correct", "model", "benchmark"])
    table = compare_models(PARAMS, empty, empty)
    assert table.empty and "difference_low" in table.columns
