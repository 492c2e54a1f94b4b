"""Checks before work: every parameter is validated when a run starts, engine blocks switch kind with one key,
environments and --params override keys (the short error output: test_short_errors.py)."""

from __future__ import annotations

import copy
import inspect
import os
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from openmath_kedro.benchmark_sets import TRAINING_SETS
from openmath_kedro.engines import ENGINE_KINDS, ENGINE_SETTINGS
from openmath_kedro.params import (
    PARAMETER_MODELS,
    FinetuningParams,
    GenerationParams,
    ParameterError,
    validate_parameters,
)
from tests.conftest import PROJECT_ROOT, make_project_copy


def base_parameters() -> dict:
    """conf/base/parameters_*.yml, as the config loader merges them (one top-level key per file)."""
    merged: dict = {}
    for path in sorted((PROJECT_ROOT / "conf" / "base").glob("parameters_*.yml")):
        merged |= yaml.safe_load(path.read_text())
    return merged


BASE = base_parameters()


def with_params(dotted: str) -> dict:
    """The base parameters with ``--params``-style overrides (``a.b=1,c.d=x``), merged key by key."""
    override = OmegaConf.to_container(OmegaConf.from_dotlist(dotted.split(",")))
    return OmegaConf.to_container(OmegaConf.merge(copy.deepcopy(BASE), override))


def problems_of(params: dict) -> str:
    with pytest.raises(ParameterError) as error:
        validate_parameters(params)
    return str(error.value)


# ------------------------------------------------------------------------------ benchmark names, prompts
@pytest.mark.parametrize(
    ("override", "location"),
    [
        ("generation.benchmarks.gsm8kk.prompt=code_fewshot", "generation.benchmarks.gsm8kk"),
        ("filtering.selection.target_size.gsm8kk=3", "filtering.selection.target_size.gsm8kk"),
        ("grading.conventions.maths.rel_tol=0.01", "grading.conventions.maths"),
    ],
)
def test_an_unknown_benchmark_name_is_an_error_naming_it_and_the_known_names(override, location):
    name = location.rsplit(".", 1)[1]
    expected = f"'{location}': unknown benchmark '{name}'; the training sets are {sorted(TRAINING_SETS)}"
    assert expected in problems_of(with_params(override))


def test_every_training_set_needs_a_generation_entry():
    params = with_params("generation.num_samples=4")
    del params["generation"]["benchmarks"]["math"]
    assert "'generation.benchmarks': no entry for ['math']" in problems_of(params)
    assert set(validate_parameters(BASE)["generation"].benchmarks) == set(TRAINING_SETS)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("filtering.prompt=zero_shott", "'filtering.prompt': unknown template 'zero_shott'"),
        (
            "generation.benchmarks.math.prompt=fewshot",
            "'generation.benchmarks.math.prompt': unknown template",
        ),
        ("generation.benchmarks.gsm8k.examples=gsm9k", "'generation.benchmarks.gsm8k.prompt': "),
        ("generation.masking.prompt=mask", "'generation.masking.prompt': unknown template 'mask'"),
        (
            "grading.conventions.math.tolerance=1",
            "'grading.conventions.math': unknown answer convention keys",
        ),
    ],
)
def test_prompts_and_answer_conventions_are_checked_at_start(override, expected):
    assert expected in problems_of(with_params(override))


def test_every_problem_is_listed_at_once():
    message = problems_of(
        with_params(
            "grading.conventions.mathh.rel_tol=0.1,filtering.prompt=x,generation.engine.vllm.dtyp=auto"
        )
    )
    assert message.count("\n  '") == 3, message


# ------------------------------------------------------------------------------ engine settings
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "generation.engine.vllm.max_modle_len=2048",
            "'generation.engine.vllm.max_modle_len': unknown setting of the vllm engine (its settings: model,",
        ),
        ("generation.engine.vllm.dtype=fp8", "'generation.engine.vllm.dtype': Input should be 'auto'"),
        (
            "generation.engine.max_model_len=2048",
            "'generation.engine.max_model_len': engine settings go under the block of their kind "
            "(engine.vllm.max_model_len)",
        ),
        ("generation.engine.kind=tgi", "'generation.engine.kind': unknown engine kind 'tgi'"),
        (  # a block not in use is checked for names too
            "generation.engine.openai.api_key=sk",
            "'generation.engine.openai.api_key': unknown setting of the openai engine (API keys stay out",
        ),
        (
            "evaluation.engine.vllm.seeds=1",
            "'evaluation.engine.vllm.seeds': unknown setting of the vllm engine",
        ),
        (
            "evaluation.models.finetuned.engine.kind=openai",
            "'evaluation.models.finetuned.engine.openai.model': Field required",
        ),
        (
            "evaluation.models.base.engine.vllm.max_model_len=many",
            "'evaluation.models.base.engine.vllm.max_model_len': Input should be a valid integer",
        ),
    ],
)
def test_an_unknown_or_mistyped_engine_setting_is_an_error_at_start(override, expected):
    assert expected in problems_of(with_params(override))


def test_switching_the_engine_kind_is_one_key():
    validated = validate_parameters(with_params("generation.engine.kind=openai"))
    assert validated["generation"].engine == {
        "kind": "openai",
        "base_urls": BASE["generation"]["engine"]["openai"]["base_urls"],
        "model": BASE["generation"]["engine"]["openai"]["model"],
    }
    # and back: the vLLM block was there all along, exactly what the default run resolves to
    assert validate_parameters(BASE)["generation"].engine == {
        "kind": "vllm",
        **BASE["generation"]["engine"]["vllm"],
    }
    switched = validate_parameters(
        with_params(
            "evaluation.models.base.engine.kind=openai,evaluation.models.base.engine.openai.model=served,"
            "evaluation.models.base.engine.openai.base_urls=http://127.0.0.1:8000/v1"
        )
    )["evaluation"]
    assert switched.engine_for("base") == {
        "kind": "openai",
        "model": "served",
        "base_urls": ["http://127.0.0.1:8000/v1"],
    }
    assert switched.engine_for("finetuned")["kind"] == "vllm"


def test_the_resolved_engine_validates_to_itself():
    """Nodes get dumped blocks (evaluation builds them): the resolved form must round-trip unchanged."""
    settings = GenerationParams.model_validate(BASE["generation"])
    again = GenerationParams.model_validate(settings.model_dump(mode="json"))
    assert (
        again.engine == settings.engine == {"kind": "vllm", "dtype": "auto", "max_model_len": 4096, "seed": 0}
    )


def test_typed_engine_settings_are_the_engine_classes_arguments():
    """The models checked at start name exactly what the engines take (credentials stands for api_key)."""
    assert set(ENGINE_SETTINGS) == set(ENGINE_KINDS)
    for kind, cls in ENGINE_KINDS.items():
        arguments = set(inspect.signature(cls).parameters)
        fields = set(ENGINE_SETTINGS[kind].model_fields)
        if kind == "openai":
            arguments, fields = arguments - {"api_key"}, fields - {"credentials"}
        assert fields == arguments, kind


# ------------------------------------------------------------------------------ environments, --params
ENVIRONMENTS = sorted(
    p.name for p in (PROJECT_ROOT / "conf").iterdir() if p.is_dir() and p.name not in ("base", "local")
)


def test_the_shipped_environments_are_known():
    assert {"gpu", "cpu_full", "self_improvement"} <= set(ENVIRONMENTS)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_files_hold_only_what_differs_from_base(env):
    for path in sorted((PROJECT_ROOT / "conf" / env).glob("parameters_*.yml")):
        overrides = yaml.safe_load(path.read_text())

        def leaves(node, prefix=()):
            if isinstance(node, dict):
                for key, value in node.items():
                    yield from leaves(value, (*prefix, key))
            else:
                yield prefix, node

        for keys, value in leaves(overrides):
            base = BASE
            for key in keys:
                base = base.get(key, "<absent>") if isinstance(base, dict) else "<absent>"
            assert base != value, f"{path.name}: {'.'.join(keys)} is the same as in conf/base"


def _configured(
    root: Path, *, env: str | None = None, runtime_params: dict | None = None
) -> tuple[dict, dict]:
    """(the merged configuration, ``context.params``: those blocks as the models the nodes' type hints name)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    previous = Path.cwd()
    os.chdir(root)
    try:
        bootstrap_project(root)
        with KedroSession.create(project_path=root, env=env, runtime_params=runtime_params) as session:
            context = session.load_context()  # the validation hook has run: these validate
            return context.config_loader["parameters"], context.params
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = make_project_copy(tmp_path_factory.mktemp("params") / "project", local_globals="{}\n")
    (root / "conf" / "local" / "parameters_finetuning.yml").write_text("finetuning:\n  max_steps: 2\n")
    return root


def test_params_on_the_command_line_keep_the_other_keys_of_a_local_block(project):
    raw, params = _configured(project, runtime_params={"finetuning": {"seed": 1}})
    assert raw["finetuning"]["seed"] == 1 and raw["finetuning"]["max_steps"] == 2  # --params and conf/local
    others = {k: v for k, v in BASE["finetuning"].items() if k not in ("seed", "max_steps")}
    assert {k: raw["finetuning"][k] for k in others} == others  # conf/base for the rest
    # and the nodes get that block as the model their type hint names, built once by Kedro
    assert params["finetuning"] == FinetuningParams.model_validate(raw["finetuning"])


def test_nodes_get_every_block_as_its_model(project):
    _, params = _configured(project)
    for key, value in params.items():
        assert isinstance(value, PARAMETER_MODELS[key]) or (
            key == "generation" and type(value) is GenerationParams  # what the code_solutions nodes take
        ), key


def test_the_engine_kind_switches_with_one_runtime_parameter(project):
    _, params = _configured(project, runtime_params={"generation": {"engine": {"kind": "openai"}}})
    # the OpenAI-compatible engine's settings only: vLLM's dtype and context length stay in their block
    assert params["generation"].engine == {"kind": "openai", **BASE["generation"]["engine"]["openai"]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_validates(project, env):
    raw, params = _configured(project, env=env)
    assert set(validate_parameters(raw)) >= {"generation", "evaluation", "finetuning"}
    assert set(validate_parameters(params)) == set(raw)  # Kedro's models validate again as they are


def test_gpu_environment_validates_and_keeps_base_keys(project):
    raw, _ = _configured(project, env="gpu")
    assert raw["generation"]["engine"]["vllm"] == {
        "dtype": "bfloat16", "max_model_len": 4096, "seed": 0, "tensor_parallel_size": 1,
        "gpu_memory_utilization": 0.9,
    }  # fmt: skip
    assert raw["evaluation"]["runs"]["sampled"]["max_problems"] is None  # full runs, not base's 2
    assert raw["finetuning"]["learning_rate"] == BASE["finetuning"]["learning_rate"]
