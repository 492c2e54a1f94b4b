"""evaluation + reporting on the real vLLM engine and sandbox, as parts of the whole recipe.

The session's ``recipe_project`` (tests/conftest.py) runs ``__default__`` once on a tiny configuration: the
embedded model as base, the student it finetunes as "finetuned" (so the engine is switched between them),
every benchmark's first test problems, greedy and sampled runs, then the reporting pipeline's table,
comparison and charts. tests/test_recipe.py checks the same run from end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from openmath_kedro.benchmark_sets import EVALUATED_MODELS, EVALUATION_SETS
from tests.notebooks.test_results_notebook import NOTEBOOK, execute_notebook

# the first test here runs the whole recipe (recipe_project): longer than pytest's default limit
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

SAMPLES = 2  # evaluation.runs.sampled.num_samples of TINY_RECIPE_PARAMETERS


@pytest.fixture(scope="module")
def project(recipe_project: Path) -> Path:
    return recipe_project


def read_jsonl(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True)


def test_every_model_and_benchmark_has_graded_greedy_and_sampled_solutions(project: Path):
    for model in EVALUATED_MODELS:
        for benchmark in EVALUATION_SETS:
            folder = project / "data" / "07_model_output" / "evaluation" / model / benchmark
            greedy = read_jsonl(folder / "greedy" / "graded_generations.jsonl")
            sampled = read_jsonl(folder / "sampled" / "graded_generations.jsonl")
            assert len(greedy) == (2 if benchmark == "gsm8k" else 1), (model, benchmark)
            assert len(sampled) == SAMPLES and sampled["problem_id"].nunique() == 1
            assert greedy["problem_id"].str.startswith(f"{benchmark}/test/").all()
            assert {"predicted_answer", "is_correct", "verdict", "grader_version"} <= set(greedy.columns)
            assert greedy["sampling"].iloc[0]["temperature"] == 0.0
            assert sampled["sampling"].iloc[0]["temperature"] > 0


def test_metrics_carry_intervals_and_agree_with_the_graded_rows(project: Path):
    for model in EVALUATED_MODELS:
        for benchmark in EVALUATION_SETS:
            folder = project / "data" / "08_reporting" / "evaluation" / model / benchmark
            metrics = json.loads((folder / "metrics.json").read_text())
            greedy = read_jsonl(
                project
                / "data"
                / "07_model_output"
                / "evaluation"
                / model
                / benchmark
                / "greedy"
                / "graded_generations.jsonl"
            )
            assert metrics["greedy"] == pytest.approx(greedy["is_correct"].mean())
            assert metrics["greedy_low"] <= metrics["greedy"] <= metrics["greedy_high"]
            for k in (1, SAMPLES):
                assert 0 <= metrics[f"maj@{k}"] <= 1 and metrics[f"maj@{k}_n"] == 1
                assert metrics[f"pass@{k}_low"] <= metrics[f"pass@{k}"] <= metrics[f"pass@{k}_high"]
            results = read_jsonl(folder / "problem_results.jsonl")
            assert set(results["problem_id"]) == set(greedy["problem_id"])


def test_reporting_writes_the_table_the_comparison_and_the_charts(project: Path):
    results = project / "data" / "08_reporting" / "results"
    markdown = (results / "results.md").read_text()
    lines = markdown.splitlines()
    assert lines[0] == "| model | " + " | ".join(EVALUATION_SETS) + " |"
    assert any(line.startswith("| base | ") for line in lines)
    assert any(line.startswith("| finetuned | ") for line in lines)
    assert any(line.startswith("| finetuned − base (greedy, paired)") for line in lines)
    comparison = pd.read_csv(results / "paired_comparison.csv")
    pooled = comparison[(comparison["benchmark"] == "all") & (comparison["metric"] == "greedy")]
    assert pooled["n_problems"].tolist() == [len(EVALUATION_SETS) + 1]
    table = pd.read_csv(results / "metrics_table.csv")
    assert set(table["benchmark"]) == set(EVALUATION_SETS) and set(table["model"]) == set(EVALUATED_MODELS)
    for chart in ("accuracy", "majority_at_k"):
        figure = json.loads((results / f"{chart}_chart.json").read_text())
        assert figure["data"], chart


def test_the_results_notebook_runs_on_the_evaluated_project(project: Path):
    executed = execute_notebook(project, NOTEBOOK)
    outputs = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/markdown", ""))
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "| base | " in outputs and "| finetuned | " in outputs
