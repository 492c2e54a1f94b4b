"""kedro-viz builds the project's graph with layers, namespaces and dataset previews."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kedro_datasets.plotly import JSONDataset as PlotlyJSONDataset

from openmath_kedro.datasets import JSONLinesDataset
from openmath_kedro.pipelines.reporting.nodes import accuracy_chart
from tests.conftest import make_project_copy

pytestmark = pytest.mark.integration

# the data flow: raw files (benchmarks, model sources) -> models and problem tables -> features and model
# inputs -> model outputs -> the finetuned student -> its evaluation -> reports
LAYER_ORDER = ["raw", "models", "primary", "feature", "model_input", "model_output", "finetuned_models",
               "evaluation_output", "reporting"]  # fmt: skip


def test_viz_build(tmp_path: Path, shared_datasets: Path):
    root = make_project_copy(
        tmp_path / "project", local_globals=f"raw_data_mirrors:\n  - {shared_datasets}\n"
    )
    problems = root / "data" / "03_primary" / "problems" / "svamp" / "test.jsonl"
    JSONLinesDataset(filepath=str(problems)).save(
        pd.DataFrame(
            {
                "id": ["svamp/test/0"],
                "problem": ["Each pack of dvds costs 76 dollars."],
                "expected_answer": ["51"],
            }
        )
    )
    # an accuracy chart as the reporting pipeline writes it, so that its plotly preview is built
    table = pd.DataFrame(
        {"model": ["base"], "label": ["base"], "benchmark": ["gsm8k"], "metric": ["greedy"], "k": [1],
         "value": [0.25], "low": [0.05], "high": [0.7], "n_problems": [4]}
    )  # fmt: skip
    PlotlyJSONDataset(filepath=str(root / "data" / "08_reporting" / "results" / "accuracy_chart.json")).save(
        accuracy_chart(table)
    )
    result = subprocess.run(
        [str(Path(sys.executable).with_name("kedro")), "viz", "build", "--include-previews"],
        cwd=root,
        capture_output=True,
        text=True,
        env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    graph = json.loads((root / "build" / "api" / "main").read_text())
    assert {p["id"] for p in graph["pipelines"]} >= {"__default__", "data_preparation", "model_setup"}
    # kedro-viz orders layers by the data flow and drops them all when layers form a cycle: the whole order
    assert graph["layers"] == LAYER_ORDER, graph["layers"]
    namespaces = set(graph["modular_pipelines"])
    assert {"data_preparation.gsm8k", "data_preparation.tabmwp", "model_setup.student"} <= namespaces
    data_nodes = {n["name"]: n for n in graph["nodes"] if n["type"] == "data"}
    assert data_nodes["data_preparation.math.train_problems"]["layer"] == "primary"
    assert data_nodes["model_setup.teacher.checkpoint"]["layer"] == "models"

    assert {"evaluation.base.gsm8k", "evaluation.finetuned.tabmwp.sampled", "reporting"} <= namespaces
    assert data_nodes["evaluation.finetuned.math.greedy.graded_generations"]["layer"] == "evaluation_output"
    assert data_nodes["reporting.results.markdown"]["layer"] == "reporting"
    chart = json.loads(
        (root / "build" / "api" / "nodes" / data_nodes["reporting.charts.accuracy"]["id"]).read_text()
    )
    assert chart["preview_type"] == "PlotlyPreview"
    assert chart["preview"]["data"][0]["name"] == "base"

    svamp = data_nodes["data_preparation.svamp.test_problems"]
    details = json.loads((root / "build" / "api" / "nodes" / svamp["id"]).read_text())
    assert details["preview_type"] == "TablePreview"
    assert details["preview"]["data"] == [["svamp/test/0", "Each pack of dvds costs 76 dollars.", "51"]]
