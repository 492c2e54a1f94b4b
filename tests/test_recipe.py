"""The whole recipe (``__default__``, what `make run` runs) from end to end, on a tiny configuration.

``recipe_project`` (tests/conftest.py) runs it once on the real engine, sandbox and trainer with the embedded
model. These tests check that every dataset along the way exists and that the datasets agree with each other:
ids carry through from problems to the SFT set and to the evaluation results, and counts add up at every
step. A second run of the data-making pipelines with the same seeds must make the same SFT set.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset

from openmath_kedro.benchmark_sets import EVALUATED_MODELS, EVALUATION_RUNS, EVALUATION_SETS, TRAINING_SETS
from openmath_kedro.datasets import GenerationChunksDataset, TrainingCheckpointsDataset
from openmath_kedro.pipeline_registry import register_pipelines
from openmath_kedro.prompts import load_prompt
from tests.conftest import kedro_session, make_tiny_recipe_project

# the first test to ask for recipe_project runs the whole recipe: longer than pytest's default limit
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

KEY = ["problem_id", "sample_index"]


def read_jsonl(path: Path) -> pl.DataFrame:
    return pl.read_ndjson(path, infer_schema_length=None)


def keys(table: pl.DataFrame) -> set[tuple[str, int]]:
    return set(table.select(KEY).iter_rows())


def test_every_dataset_the_recipe_writes_exists(recipe_project: Path, monkeypatch):
    monkeypatch.chdir(recipe_project)  # the catalog's paths are relative to the project
    bootstrap_project(recipe_project)
    with KedroSession.create(project_path=recipe_project) as session:
        catalog = session.load_context().catalog
    recipe = register_pipelines()["__default__"]
    persisted = {
        name: dataset
        for name in sorted(recipe.datasets())
        if not name.startswith("params:") and name != "parameters"
        and not isinstance(dataset := catalog.get(name, fallback_to_runtime_pattern=True), MemoryDataset)
    }  # fmt: skip
    assert len(persisted) > 200  # every namespace of every pipeline: the check covers the whole recipe
    # work saved as it is done (chunks, training checkpoints) never "exists", so that its node always
    # runs and picks up where it stopped: it must hold something
    in_parts = {
        n for n, d in persisted.items() if isinstance(d, GenerationChunksDataset | TrainingCheckpointsDataset)
    }
    assert not [name for name in in_parts if not catalog.load(name)]
    assert not [name for name in persisted.keys() - in_parts if not catalog.exists(name)]


@pytest.mark.parametrize("benchmark", sorted(TRAINING_SETS))
def test_training_data_ids_carry_through_and_counts_add_up(recipe_project: Path, benchmark: str):
    data = recipe_project / "data"
    problems = read_jsonl(data / "03_primary/problems" / benchmark / f"{TRAINING_SETS[benchmark]}.jsonl")
    generations = read_jsonl(data / "07_model_output/generation" / benchmark / "generations.jsonl")
    graded = read_jsonl(data / "07_model_output/grading" / benchmark / "graded_generations.jsonl")
    filtering = data / "07_model_output/filtering" / benchmark
    kept = pl.read_parquet(filtering / "filtered_solutions.parquet")
    removed_by_filters = pl.read_parquet(filtering / "removed_by_filters.parquet")
    selected = pl.read_parquet(filtering / "selected_solutions.parquet")
    removed = pl.read_parquet(data / "08_reporting/filtering" / benchmark / "removed_solutions.parquet")
    funnel = pl.read_parquet(data / "08_reporting/filtering" / benchmark / "funnel.parquet")
    sft = read_jsonl(data / "07_model_output/filtering/sft_training_examples.jsonl").filter(
        pl.col("benchmark") == benchmark
    )

    # generation: the first problems of the split, each with the same number of samples, each sample once
    per_problem = generations.group_by("problem_id").len()["len"]
    assert per_problem.n_unique() == 1 and generations.select(KEY).is_unique().all()
    assert set(generations["problem_id"]) == set(problems["id"].head(generations["problem_id"].n_unique()))
    # grading: one verdict per generated sample
    assert keys(graded) == keys(generations) and len(graded) == len(generations)
    statuses = {verdict["status"] for verdict in graded["verdict"]}
    assert statuses <= {"equivalent", "not_equivalent", "no_answer", "error", "timeout"}
    assert graded["grader_version"].n_unique() == 1
    # filtering: every graded sample is kept or removed (once, by its first failing rule)
    assert keys(kept) | keys(removed_by_filters) == keys(graded)
    assert len(kept) + len(removed_by_filters) == len(graded) and not keys(kept) & keys(removed_by_filters)
    assert set(kept["problem_id"]) <= set(graded.filter(pl.col("is_correct"))["problem_id"])
    # selection, the audit of what was removed, the funnel and the SFT set agree
    assert keys(selected) <= keys(kept)
    assert keys(removed) == keys(graded) - keys(selected)
    assert funnel["rows"][0] == len(graded) and funnel["rows"][-1] == len(selected)
    assert funnel["problems"][-1] == selected["problem_id"].n_unique()
    assert keys(sft) == keys(selected) and len(sft) == len(selected)
    # each example: the zero-shot prompt of its own problem, and its solution as generated (trimmed after
    # the answer at most)
    template = load_prompt("zero_shot")
    texts = dict(zip(problems["id"], problems["problem"], strict=True))
    generated = {
        (r["problem_id"], r["sample_index"]): r["generation"] for r in generations.iter_rows(named=True)
    }
    for row in sft.iter_rows(named=True):
        assert row["prompt"] == template.render(problem=texts[row["problem_id"]])
        assert generated[row["problem_id"], row["sample_index"]].startswith(row["completion"])
    assert set(sft["prompt_hash"]) <= {template.content_hash}


def test_the_student_trains_on_the_whole_sft_set_and_is_averaged(recipe_project: Path):
    data = recipe_project / "data"
    sft = read_jsonl(data / "07_model_output/filtering/sft_training_examples.jsonl")
    assert len(sft) > 0 and set(sft["benchmark"]) <= set(TRAINING_SETS)
    run = json.loads((data / "06_models/finetuning/run.json").read_text())
    assert run["examples"] == len(sft) and run["total_steps"] == 2
    log = pl.read_csv(data / "08_reporting/finetuning/training_log.csv")
    assert log.filter(pl.col("loss").is_not_null())["step"].to_list() == [1, 2]
    averaged = json.loads((data / "06_models/finetuned_student/openmath_checkpoint.json").read_text())
    assert averaged["run_key"] == run["run_key"] and averaged["steps"]


def test_evaluation_ids_carry_through_to_the_results_table(recipe_project: Path):
    data = recipe_project / "data"
    for benchmark in EVALUATION_SETS:
        test_ids = set(read_jsonl(data / "03_primary/problems" / benchmark / "test.jsonl")["id"])
        greedy_ids = {}
        for model in EVALUATED_MODELS:
            for run in EVALUATION_RUNS:
                folder = data / "07_model_output/evaluation" / model / benchmark / run
                generated = read_jsonl(folder / "generations.jsonl")
                graded = read_jsonl(folder / "graded_generations.jsonl")
                assert keys(graded) == keys(generated) and set(graded["problem_id"]) <= test_ids
            greedy_ids[model] = set(
                read_jsonl(data / "07_model_output/evaluation" / model / benchmark / "greedy"
                           / "graded_generations.jsonl")["problem_id"]
            )  # fmt: skip
            metrics = json.loads(
                (data / "08_reporting/evaluation" / model / benchmark / "metrics.json").read_text()
            )
            assert metrics["greedy_n"] == len(greedy_ids[model])
        assert greedy_ids["base"] == greedy_ids["finetuned"]  # paired: the same problems for both models
    table = pl.read_csv(data / "08_reporting/results/metrics_table.csv")
    assert set(table.select("model", "benchmark").iter_rows()) == {
        (model, benchmark) for model in EVALUATED_MODELS for benchmark in EVALUATION_SETS
    }
    markdown = (data / "08_reporting/results/results.md").read_text()
    assert "| base |" in markdown and "| finetuned |" in markdown and "finetuned − base" in markdown


def test_a_second_run_with_the_same_seeds_makes_the_same_sft_set(
    recipe_project: Path, tmp_path, shared_datasets
):
    """generation, grading and filtering again in a fresh copy, on the same teacher: the same SFT set.

    vLLM on CPU seeds its engine, not single requests, so equal batches give equal samples; the filter's
    downsampling and the SFT set's order take their seeds from the parameters.
    """
    again = make_tiny_recipe_project(tmp_path / "again", shared_datasets)
    # the same problem tables (data_preparation has its own tests) and teacher
    shutil.copytree(recipe_project / "data/03_primary", again / "data/03_primary")
    (again / "data/06_models").mkdir(parents=True)
    (again / "data/06_models/teacher").symlink_to(recipe_project / "data/06_models/teacher")
    with kedro_session(again, pipeline_names=["sdg"]):  # the composite, found by selective loading
        pass
    name = "data/07_model_output/filtering/sft_training_examples.jsonl"
    first, second = read_jsonl(recipe_project / name), read_jsonl(again / name)
    assert len(first) > 0
    # the same rows in the same order; only the folder the teacher was read from differs
    different_paths = [c for c in first.columns if c == "source_model"]
    assert first.drop(different_paths).equals(second.drop(different_paths))
