"""The results notebook executes on a partly evaluated project, and is committed without outputs.

``execute_notebook`` is reusable: the evaluation integration test runs the notebook on a real tiny run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT, make_project_copy

NOTEBOOK = PROJECT_ROOT / "notebooks" / "evaluation_results.ipynb"
KERNEL_NAME = "openmath-kedro-test"
CELL_TIMEOUT_S = 180  # the first cell builds the project's pipelines (about 15 s on 2 cores)


def execute_notebook(project_path: Path, notebook: Path) -> nbformat.NotebookNode:
    """Run every cell of ``notebook`` in a fresh kernel whose working directory is ``project_path``.

    The kernel is this interpreter (``sys.executable``, so the project's venv), whatever ``python3`` kernel
    specs the machine has. Raises ``nbclient.exceptions.CellExecutionError`` on the first cell that fails;
    returns the executed notebook (outputs included) otherwise. ``notebook`` itself is not modified.
    """
    executed = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory(prefix="kernels-") as kernel_dirs:
        spec_dir = Path(kernel_dirs) / KERNEL_NAME
        spec_dir.mkdir()
        (spec_dir / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "openmath-kedro (tests)",
                    "language": "python",
                    "env": {"KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "MPLBACKEND": "agg"},
                }
            )
        )
        specs = KernelSpecManager(kernel_dirs=[kernel_dirs], ensure_native_kernel=False)
        manager = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
        client = NotebookClient(
            executed,
            km=manager,
            kernel_name=KERNEL_NAME,
            timeout=CELL_TIMEOUT_S,
            allow_errors=False,
            resources={"metadata": {"path": str(project_path)}},
        )
        client.execute(cwd=str(project_path))
    return executed


def outputs_of(notebook: nbformat.NotebookNode) -> list[dict]:
    return [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    ]


def text_of(notebook: nbformat.NotebookNode) -> str:
    """Everything the cells printed or displayed as text (stream, plain, markdown and HTML outputs)."""
    parts = []
    for output in outputs_of(notebook):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        for mime in ("text/plain", "text/markdown", "text/html"):
            parts.append(output.get("data", {}).get(mime, ""))
    return "\n".join(parts)


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    stored = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not stored, f"{NOTEBOOK.name}: cells {stored} keep outputs; clear them before committing"
    assert any("%load_ext kedro.ipython" in cell.source for cell in notebook.cells)


# --- a partly evaluated project: base on gsm8k and math, finetuned on gsm8k only, no reporting outputs ---

GSM8K_PROBLEMS = [
    ("Janet has 3 apples and buys 4 more. How many apples does she have?", "7"),
    ("A book costs $12. How much do 3 books cost?", "36"),
    ("Tom runs 5 km a day. How far does he run in a week?", "35"),
]
MATH_PROBLEMS = [
    ("What is $\\frac{1}{2} + \\frac{1}{4}$?", "\\frac{3}{4}", "Prealgebra", 1),
    ("Solve $2x + 3 = 11$.", "4", "Algebra", 2),
    ("How many vertical asymptotes does $y=\\frac{2}{x^2+x-6}$ have?", "2", "Algebra", 3),
]
# What each model answers, per benchmark: greedy answers, then the sampled answers of each problem
# (None: the solution ends without a boxed answer).
ANSWERS = {
    ("base", "gsm8k"): (["7", "35", None], [["7", "7", "8", None], ["36", "12", "36", "36"], ["35"] * 4]),
    ("base", "math"): (["0.75", "5", None], [["3/4", "0.75", "1", None], ["4"] * 4, [None, "2", "3", "2"]]),
    ("finetuned", "gsm8k"): (
        ["7", "36", "35"],
        [["7"] * 4, ["36", "36", "36", "3"], ["35", "35", None, "5"]],
    ),
}


def _problems(benchmark: str) -> pd.DataFrame:
    rows = []
    if benchmark == "gsm8k":
        for index, (problem, answer) in enumerate(GSM8K_PROBLEMS):
            rows.append((index, problem, answer, {}))
    else:
        for index, (problem, answer, subject, level) in enumerate(MATH_PROBLEMS):
            rows.append((index, problem, answer, {"subject": subject, "level": level}))
    return pd.DataFrame(
        [
            {
                "id": f"{benchmark}/test/{index}",
                "benchmark": benchmark,
                "split": "test",
                "problem": problem,
                "expected_answer": answer,
                "reference_solution": f"... so the answer is $\\boxed{{{answer}}}$.",
                "metadata": metadata,
            }
            for index, problem, answer, metadata in rows
        ]
    )


def _generations(problems: pd.DataFrame, answers: list[list[str | None]], *, model: str) -> pd.DataFrame:
    """Generation rows in the code_solutions schema, one solution per answer."""
    from openmath_kedro.code_solutions.nodes import GENERATION_COLUMNS

    rows = []
    for problem_id, samples in zip(problems["id"], answers, strict=True):
        for sample_index, answer in enumerate(samples):
            text = "Let's compute it.\n<llm-code>\nresult = 1 + 1\nprint(result)\n</llm-code>\n<llm-code-output>\n2\n</llm-code-output>\n"
            text += f"So the answer is $\\boxed{{{answer}}}$." if answer is not None else "I am not sure."
            rows.append(
                {
                    "problem_id": problem_id,
                    "sample_index": sample_index,
                    "seed": sample_index,
                    "model": model,
                    "engine": "vllm",
                    "prompt_name": "code_fewshot",
                    "prompt_hash": "0" * 16,
                    "sampling": {"temperature": 0.7, "top_p": 0.95, "max_tokens": 256},
                    "generation": text,
                    "num_code_calls": 1,
                    "code_errors": 0,
                    "finish_reason": "stop",
                    "error": None,
                    "tokens_in": 100,
                    "tokens_out": 40,
                    "seconds": 0.5,
                }
            )
    return pd.DataFrame(rows, columns=GENERATION_COLUMNS)


@contextlib.contextmanager
def project_catalog(root: Path):
    """The catalog and parameters of a project copy, with the project root as working directory.

    They come from the project's config loader rather than a KedroSession's context: a context imports every
    pipeline to validate parameters (torch, transformers: 15-30 s), which the notebook does anyway.
    """
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project
    from kedro.io import DataCatalog

    previous = Path.cwd()
    os.chdir(root)  # the catalog's file paths are relative to the project root
    try:
        bootstrap_project(root)
        config = settings.CONFIG_LOADER_CLASS(
            conf_source=str(root / settings.CONF_SOURCE), **settings.CONFIG_LOADER_ARGS
        )
        yield DataCatalog.from_config(config["catalog"]), config["parameters"]
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def partial_project(tmp_path_factory) -> Path:
    """A project copy with fabricated evaluation outputs (base on gsm8k and math, finetuned on gsm8k), made by
    the project's own grading and metrics nodes (so they have the real schema), saved through its catalog."""
    from openmath_kedro.params import EvaluationParams
    from openmath_kedro.pipelines.evaluation.nodes import grade_evaluation, summarize_benchmark

    root = make_project_copy(
        tmp_path_factory.mktemp("notebook") / "project",
        local_globals="raw_data_mirrors: []\n",  # nothing is downloaded: the problems are saved below
    )
    with project_catalog(root) as (catalog, parameters):
        params = EvaluationParams.model_validate(parameters["evaluation"])
        for (model, benchmark), (greedy_answers, sampled_answers) in ANSWERS.items():
            problems = _problems(benchmark)
            catalog.save(f"data_preparation.{benchmark}.test_problems", problems)
            graded = {}
            for run, answers in (("greedy", [[a] for a in greedy_answers]), ("sampled", sampled_answers)):
                generations = _generations(problems, answers, model=model)
                graded[run] = grade_evaluation(
                    generations, problems, params, model=model, benchmark=benchmark
                )
                catalog.save(f"evaluation.{model}.{benchmark}.{run}.graded_generations", graded[run])
            record, problem_results, votes = summarize_benchmark(
                graded["greedy"], graded["sampled"], problems, params, model=model, benchmark=benchmark
            )
            catalog.save(f"evaluation.{model}.{benchmark}.metrics", record)
            catalog.save(f"evaluation.{model}.{benchmark}.problem_results", problem_results)
            catalog.save(f"evaluation.{model}.{benchmark}.votes", votes)
    return root


def plotly_outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [
        output["data"]["application/vnd.plotly.v1+json"]
        for output in outputs_of(notebook)
        if "application/vnd.plotly.v1+json" in output.get("data", {})
    ]


def test_notebook_runs_on_a_partly_evaluated_project(partial_project):
    executed = execute_notebook(partial_project, NOTEBOOK)
    text = text_of(executed)

    # what is missing is said, not an error
    assert "3 of 18 (model, benchmark) pairs evaluated." in text
    assert "finetuned/math" in text and "base/tabmwp" in text
    assert "The reporting pipeline has not run" in text
    # the results table, one row per model, with the paired difference on the shared benchmark
    markdown = next(
        output["data"]["text/markdown"]
        for output in outputs_of(executed)
        if output.get("data", {}).get("text/markdown", "").startswith("| model |")
    )
    rows = markdown.splitlines()
    assert rows[0] == "| model | gsm8k | math |"
    assert any(row.startswith("| base |") for row in rows)
    assert any(row.startswith("| finetuned |") for row in rows)
    assert "finetuned − base (greedy, paired)" in markdown
    # a plotly chart: greedy accuracy, one bar series per model
    charts = plotly_outputs(executed)
    assert len(charts) == 1, "expected the accuracy chart only (no reporting.charts.majority_at_k yet)"
    assert {trace["name"] for trace in charts[0]["data"]} == {"base", "finetuned"}
    # the MATH breakdown and a graded solution next to its problem
    assert "math, by subject" in text and "Prealgebra" in text
    assert "benchmark: gsm8k; models: base, finetuned" in text
    assert "PROBLEM: Janet has 3 apples" in text
    assert "PREDICTED: '7'   EXPECTED: '7'   CORRECT: True" in text


def test_notebook_shows_the_reporting_outputs_when_they_exist(partial_project, tmp_path):
    """The same project once the reporting pipeline's outputs are there (saved directly: the pipeline itself
    needs every (model, benchmark) pair)."""
    from openmath_kedro.params import ReportingParams
    from openmath_kedro.pipelines.reporting.nodes import (
        accuracy_chart,
        compare_models,
        majority_chart,
        results_table,
    )

    root = tmp_path / "project"
    shutil.copytree(partial_project, root, symlinks=True)
    with project_catalog(root) as (catalog, parameters):
        pairs = list(ANSWERS)
        comparison = compare_models(
            ReportingParams.model_validate(parameters["reporting"]),
            *(catalog.load(f"evaluation.{model}.{benchmark}.problem_results") for model, benchmark in pairs),
        )
        table, markdown = results_table(
            comparison,
            *(catalog.load(f"evaluation.{model}.{benchmark}.metrics") for model, benchmark in pairs),
        )
        catalog.save("reporting.results.paired_comparison", comparison)
        catalog.save("reporting.results.metrics_table", table)
        catalog.save("reporting.results.markdown", markdown)
        catalog.save("reporting.charts.accuracy", accuracy_chart(table))
        catalog.save("reporting.charts.majority_at_k", majority_chart(table))

    executed = execute_notebook(root, NOTEBOOK)
    text = text_of(executed)
    assert "From the reporting pipeline's outputs (reporting.results.*)." in text
    assert markdown in [output.get("data", {}).get("text/markdown") for output in outputs_of(executed)]
    accuracy, majority = plotly_outputs(executed)
    assert {trace["name"] for trace in accuracy["data"]} == {"base", "finetuned"}
    assert {trace["name"] for trace in majority["data"]} == {"base gsm8k", "base math", "finetuned gsm8k"}
