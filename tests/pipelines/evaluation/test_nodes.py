"""The evaluation nodes: settings per (model, benchmark, run), parameter checks, metrics from graded tables."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from openmath_kedro.benchmark_sets import EVALUATED_MODELS, EVALUATION_SETS
from openmath_kedro.params import EvaluationParams, GenerationParams, ParameterError, validate_parameters
from openmath_kedro.pipelines.evaluation.nodes import solution_settings, summarize_benchmark
from tests.conftest import PROJECT_ROOT

BASE_PARAMS = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_evaluation.yml").read_text())[
    "evaluation"
]


def params(**changes) -> dict:
    block = copy.deepcopy(BASE_PARAMS)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = block
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return block


def settings_with(**changes) -> EvaluationParams:
    """The block with ``changes``, as the nodes get it: validated into its model."""
    return EvaluationParams.model_validate(params(**changes))


# ------------------------------------------------------------------------------------------- settings
def test_settings_are_a_generation_block_for_one_benchmark():
    settings = solution_settings(settings_with(), model="base", run="greedy", benchmark="svamp")
    assert isinstance(settings, GenerationParams)  # the code_solutions nodes' input, no dump in between
    assert list(settings.benchmarks) == ["svamp"]
    assert settings.benchmarks["svamp"].prompt == BASE_PARAMS["models"]["base"]["prompt"]
    assert settings.benchmarks["svamp"].examples == "gsm8k"  # code_fewshot shows examples
    assert settings.num_samples == 1 and settings.sampling.temperature == 0.0
    assert settings.interpreter.error_policy == "continue" and settings.interpreter.max_code_rounds == 6


def test_zero_shot_models_get_no_examples_and_sampled_runs_their_own_limit():
    settings = solution_settings(settings_with(), model="finetuned", run="sampled", benchmark="math")
    assert settings.benchmarks["math"].examples is None
    assert settings.num_samples == BASE_PARAMS["runs"]["sampled"]["num_samples"]
    # the smaller of the benchmark's and the run's limits
    expected = min(
        BASE_PARAMS["benchmarks"]["math"]["max_problems"], BASE_PARAMS["runs"]["sampled"]["max_problems"]
    )
    assert settings.benchmarks["math"].max_problems == expected


def test_a_disabled_run_selects_no_problem():
    settings = solution_settings(
        settings_with(runs__sampled__enabled=False), model="base", run="sampled", benchmark="gsm8k"
    )
    assert settings.benchmarks["gsm8k"].max_problems == 0


def test_model_engine_settings_override_or_replace_the_shared_ones():
    same_kind = settings_with(models__base__engine={"max_model_len": 2048})
    engine = solution_settings(same_kind, model="base", run="greedy", benchmark="gsm8k").engine
    assert engine["max_model_len"] == 2048 and engine["kind"] == "vllm" and "dtype" in engine
    endpoint = {"kind": "openai", "base_urls": ["http://127.0.0.1:8000/v1"], "model": "openmath"}
    other_kind = settings_with(models__base__engine=endpoint)
    engine = solution_settings(other_kind, model="base", run="greedy", benchmark="gsm8k").engine
    assert engine == endpoint  # vLLM's dtype and context length mean nothing to a server
    # the shape of parameters files: per-kind blocks, the model's over evaluation.engine's, key by key
    nested = settings_with(
        engine__openai={"base_urls": ["http://127.0.0.1:8000/v1"], "max_concurrency": 4},
        models__base__engine={"kind": "openai", "openai": {"model": "openmath"}},
    )
    engine = solution_settings(nested, model="base", run="greedy", benchmark="gsm8k").engine
    assert engine == endpoint | {"max_concurrency": 4}
    engine = solution_settings(nested, model="finetuned", run="greedy", benchmark="gsm8k").engine
    assert engine == {"kind": "vllm", **BASE_PARAMS["engine"]["vllm"]}


def test_a_model_path_is_served_instead_of_the_slot_checkpoint(tmp_path: Path):
    checkpoint = tmp_path / "released-model"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    settings = solution_settings(
        settings_with(models__base__path=str(checkpoint)), model="base", run="greedy", benchmark="gsm8k"
    )
    assert settings.engine["model"] == str(checkpoint.resolve())
    with pytest.raises(
        ValueError, match=r"evaluation.models.base.path: .*missing is not a Hugging Face checkpoint"
    ):
        solution_settings(
            settings_with(models__base__path=str(tmp_path / "missing")),
            model="base",
            run="greedy",
            benchmark="gsm8k",
        )


# ------------------------------------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"models__teacher": {"prompt": "zero_shot"}},
            r"models: unknown \['teacher'\]; the evaluated models are",
        ),
        (
            {"benchmarks__aime": {"max_problems": 1}},
            r"benchmarks: unknown \['aime'\]; the evaluated benchmarks are",
        ),
        ({"majority_ks": [1, 64]}, r"majority_ks \[64\] exceed runs.sampled.num_samples=4"),
        ({"engine": {"dtype": "auto"}}, r"'evaluation\.engine\.kind': required \(vllm or openai\)"),
        (
            {"models__base__prompt": "few_shot"},
            r"models.base.prompt: unknown template 'few_shot'; available: code_fewshot",
        ),
        (
            {"benchmarks__tabmwp__conventions": {"tolerance": 0.1}},
            r"benchmarks.tabmwp.conventions: .*tolerance",
        ),
    ],
)
def test_bad_parameters_are_refused_when_the_run_starts(changes, message):
    with pytest.raises(ParameterError, match=message):
        validate_parameters({"evaluation": params(**changes)})


def test_every_model_and_benchmark_needs_an_entry():
    block = params()
    del block["benchmarks"]["tabmwp"]
    with pytest.raises(ParameterError, match=r"benchmarks: no entry for \['tabmwp'\]"):
        validate_parameters({"evaluation": block})
    assert set(EvaluationParams.model_validate(params()).models) == set(EVALUATED_MODELS)
    assert set(EvaluationParams.model_validate(params()).benchmarks) == set(EVALUATION_SETS)


# ------------------------------------------------------------------------------------------- metrics
def graded(rows: list[tuple[str, int, str | None, bool]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["problem_id", "sample_index", "predicted_answer", "is_correct"])


PROBLEMS = pd.DataFrame(
    {
        "id": ["math/test/0", "math/test/1", "math/test/2"],
        "expected_answer": ["\\frac{1}{2}", "3", "7"],
        "metadata": [
            {"subject": "Algebra", "level": 1},
            {"subject": "Algebra", "level": 2},
            {"subject": "Geometry", "level": 2},
        ],
    }
)


def test_summary_combines_the_greedy_and_the_sampled_run():
    greedy = graded(
        [("math/test/0", 0, "0.5", True), ("math/test/1", 0, "4", False), ("math/test/2", 0, None, False)]
    )
    sampled = graded(
        [
            # problem 0: two wrong "1" votes beat one correct answer -> maj@4 wrong, pass@4 = 1
            ("math/test/0", 0, "1", False), ("math/test/0", 1, "1.0", False),
            ("math/test/0", 2, "\\frac12", True), ("math/test/0", 3, None, False),
            # problem 1: equivalent notations of the right answer win
            ("math/test/1", 0, "3", True), ("math/test/1", 1, "3.0", True),
            ("math/test/1", 2, "4", False), ("math/test/1", 3, "5", False),
        ]
    )  # fmt: skip
    record, per_problem, votes = summarize_benchmark(
        greedy, sampled, PROBLEMS, settings_with(majority_ks=[1, 4]), model="base", benchmark="math"
    )
    assert record["greedy"] == pytest.approx(1 / 3)
    assert record["greedy_low"] < 1 / 3 < record["greedy_high"]
    assert record["n_problems"] == 3 and record["no_answer_rate"] == pytest.approx(1 / 3)
    assert record["maj@4"] == pytest.approx(1 / 2) and record["maj@4_n"] == 2
    assert record["pass@4"] == pytest.approx(1.0)
    assert record["maj@1"] == pytest.approx(1 / 2)  # sample 0 of each problem: wrong, right
    subjects = {row["subject"]: row for row in record["breakdown"]["subject"]}
    assert subjects["Algebra"]["n_problems"] == 2 and subjects["Algebra"]["greedy"] == pytest.approx(0.5)
    assert subjects["Geometry"]["greedy"] == 0.0
    by_problem = per_problem.set_index("problem_id")
    assert (
        by_problem.loc["math/test/0", "greedy_correct"] and not by_problem.loc["math/test/0", "maj@4_correct"]
    )
    assert by_problem.loc["math/test/1", "maj@4_correct"]
    assert pd.isna(by_problem.loc["math/test/2", "maj@4_correct"])  # not in the sampled run
    assert set(per_problem["model"]) == {"base"} and set(per_problem["benchmark"]) == {"math"}
    problem_0 = votes[votes["problem_id"] == "math/test/0"].sort_values("votes", ascending=False)
    assert problem_0["votes"].tolist() == [2, 1]  # "1" and "1.0" are one cluster


def test_a_disabled_sampled_run_gives_greedy_metrics_only():
    greedy = graded([("math/test/0", 0, "1/2", True)])
    empty = graded([])
    record, per_problem, votes = summarize_benchmark(
        greedy, empty, PROBLEMS, settings_with(), model="finetuned", benchmark="math"
    )
    assert record["greedy"] == 1.0 and not any(key.startswith("maj@") for key in record)
    assert len(per_problem) == 1 and votes.empty
